"""One scoring pass, ranked both ways: ``FactorModel.rank_sequences`` / ``recommend_known_users(exclude=)``
and ``training.evaluation.evaluate_exclusion`` against the two-pass answers they replace.

The reference here is the batch ranking as it was before the one-pass rewrite (the whole row of
scores written out per user, the history set to -inf, repeat candidates lifted, ``top_k_rows``),
so the lists must be the same to the item, ties and lifted re-interactions included.  Also the
batched ``repeat_candidates_rows`` and the vectorised ``ranking_metrics`` against their per-user
originals.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from picks.serving import batch_ranking
from picks.serving.batch_ranking import TOP_K_SAMPLE_STRIDE, top_k_rows
from picks.serving.rankers import FactorModel
from picks.serving.repeats import RepeatTable, lift_repeats

from tests.unit.planted import fitted_ranking_model, planted
from training import evaluation
from training.evaluation import CUTOFFS, TOP_K, evaluate, evaluate_exclusion, ranking_metrics

K = 25


# --- references: the two-pass computations --------------------------------------------------------


BATCH = 16


def reference_rows(
    model: FactorModel,
    vectors: np.ndarray,
    has_vector: np.ndarray,
    lasts,
    seen,
    repeats,
    k: int,
    exclude: bool,
) -> np.ndarray:
    """The former batch path: normalised factor scores of the whole chunk, then per row the
    recent-item part, the exclusion and the lift written into the row, then ``top_k_rows``.
    (The products in chunks of ``BATCH`` users, as the batch paths under test compute them: BLAS
    may round a product of a few rows differently from one of many.)"""
    raw = np.concatenate(
        [vectors[start : start + BATCH] @ model.item_factors.T for start in range(0, len(vectors), BATCH)]
    )
    peak = np.maximum(raw.max(axis=1), -raw.min(axis=1))[:, None]
    raw = np.divide(raw, peak, out=raw, where=peak > 0)
    out = np.full((len(raw), k), -1, dtype=np.int64)
    fallback = []
    for row, last in enumerate(lasts):
        near = model.blended_scores(None, last)
        if near is not None:
            if has_vector[row]:
                raw[row] += near
            else:
                raw[row] = near
        elif not has_vector[row]:
            fallback.append(row)
            continue
        if exclude and len(seen[row]):
            raw[row, seen[row]] = -np.inf
        if len(repeats[row][0]):
            raw[row] = lift_repeats(raw[row], repeats[row])
    for row in fallback:
        ranked = model.popular(k, seen[row] if exclude else None)
        out[row, : len(ranked.indices)] = ranked.indices
    kk = min(k, raw.shape[1])
    scored = np.ones(len(raw), dtype=bool)
    scored[fallback] = False
    out[scored, :kk] = top_k_rows(raw, kk)[scored]
    return out


def reference_sequences(model: FactorModel, sequences, types, k: int, exclude: bool) -> np.ndarray:
    vectors = np.zeros((len(sequences), model.factors), dtype=np.float32)
    seen = []
    for row, sequence in enumerate(sequences):
        items = np.empty(0, np.int64)
        if len(sequence):
            items, weights = model.sequence_confidence(sequence)
            vectors[row] = model.fold_in(items, weights)
        seen.append(items)
    lasts = [sequence[::-1][: model.recent_window] for sequence in sequences]
    last_types = (
        [np.full(len(last), model._unknown_type, dtype=np.int64) for last in lasts]
        if types is None
        else [np.asarray(t)[::-1][: model.recent_window] for t in types]
    )
    repeats = [model.repeat_candidates(last, t) for last, t in zip(lasts, last_types, strict=True)]
    has_vector = np.array([len(sequence) > 0 for sequence in sequences], dtype=bool)
    return reference_rows(model, vectors, has_vector, lasts, seen, repeats, k, exclude)


def reference_known(model: FactorModel, users: np.ndarray, k: int, exclude: bool) -> np.ndarray:
    lasts = [model.stored_recent(user) for user in users.tolist()]
    seen = [model.history(user)[0] for user in users.tolist()]
    repeats = [
        model.repeat_candidates(last, model.stored_recent_types(user, len(last)))
        for user, last in zip(users.tolist(), lasts, strict=True)
    ]
    return reference_rows(
        model, model.user_factors[users], np.ones(len(users), dtype=bool), lasts, seen, repeats, k, exclude
    )


# --- models ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large():
    """A catalog past the size where the sampled threshold is used."""
    data = planted(users_per_cluster=60, items_per_group=2000, per_user=40, seed=7)
    return data, fitted_ranking_model(data, iterations=4, seed=2)


@pytest.fixture(scope="module")
def small():
    data = planted(seed=11)
    return data, fitted_ranking_model(data, iterations=8, seed=3)


def model_of(artifact, ties: int = 0, lifted: bool = False, **info) -> FactorModel:
    artifact = replace(artifact, info={**artifact.info, **info}, arrays=dict(artifact.arrays))
    if ties:  # factors rounded to 1/ties: equal scores inside the top k and at the cut (in some rows)
        artifact.arrays["item_factors"] = np.round(artifact.arrays["item_factors"] * ties) / ties
    model = FactorModel(artifact)
    if lifted:  # a table that lifts many recent items back into the lists, in a set order
        rng = np.random.default_rng(3)
        model.repeats = RepeatTable(
            rng.uniform(0.0, 1.0, (20, 3, 3)).astype(np.float32), {"click": 0, "buy": 1}, 0.4
        )
    return model


def sequences_of(model: FactorModel, count: int = 60, seed: int = 2):
    rng = np.random.default_rng(seed)
    sequences, types = [], []
    for index in range(count):
        length = 0 if index % 17 == 5 else int(rng.integers(1, 40))
        pool = rng.integers(0, model.item_count, size=max(1, length // 3 + 1))  # repeats too
        sequences.append(rng.choice(pool, size=length).astype(np.int64))
        types.append(rng.integers(0, 3, size=length).astype(np.int64))
    return sequences, types


CASES = [
    {},
    {"ties": 2},
    {"ties": 1000},
    {"lifted": True},
    {"ties": 2, "lifted": True},
    {"ties": 1000, "lifted": True},
    {"recent_item_weight": 0.0},
    {"recent_item_weight": 0.3, "lifted": True},
]


@pytest.mark.parametrize("fixture", ["large", "small"])
@pytest.mark.parametrize("case", CASES)
def test_rank_sequences_both_ways_is_the_two_pass_answer(request, fixture, case):
    _, artifact = request.getfixturevalue(fixture)
    model = model_of(artifact, **case)
    if fixture == "large":
        assert model.item_count >= 8 * TOP_K_SAMPLE_STRIDE * K
    sequences, types = sequences_of(model)
    for kinds in (types, None):
        excluding, keeping = batch_ranking.rank_sequences(
            model, sequences, K, kinds, (True, False), batch=BATCH
        )
        np.testing.assert_array_equal(excluding, reference_sequences(model, sequences, kinds, K, True))
        np.testing.assert_array_equal(keeping, reference_sequences(model, sequences, kinds, K, False))
        # The single-setting path is the same ranking.
        np.testing.assert_array_equal(
            batch_ranking.recommend_sequences(model, sequences, K, kinds, batch=BATCH), excluding
        )


@pytest.mark.parametrize("fixture", ["large", "small"])
@pytest.mark.parametrize("case", CASES)
def test_recommend_known_users_either_way_is_the_two_pass_answer(request, fixture, case):
    _, artifact = request.getfixturevalue(fixture)
    model = model_of(artifact, **case)
    users = np.arange(0, len(model.user_ids), 2)
    for exclude in (True, False):
        batch = batch_ranking.recommend_known_users(model, users, K, batch=BATCH, exclude=exclude)
        np.testing.assert_array_equal(batch, reference_known(model, users, K, exclude))
    own = batch_ranking.recommend_known_users(
        model, users, K, batch=BATCH
    )  # the model's own setting: exclude
    np.testing.assert_array_equal(own, reference_known(model, users, K, True))


def test_one_pass_lists_are_what_recommend_serves(large):
    _, artifact = large
    for exclude in (True, False):
        model = model_of(artifact, exclude_interacted_items=exclude)
        sequences, _ = sequences_of(model, count=30, seed=5)
        lists = batch_ranking.rank_sequences(model, sequences, K, None, (True, False))[0 if exclude else 1]
        for sequence, row in zip(sequences, lists, strict=True):
            single = model.recommend(None, K, recent=model.item_ids[sequence].tolist())
            assert row[row >= 0].tolist() == single.indices.tolist()


def test_repeat_candidates_rows_matches_repeat_candidates(small):
    _, artifact = small
    model = model_of(artifact, lifted=True)
    rng = np.random.default_rng(0)
    lasts, types = [], []
    for _ in range(300):
        length = int(rng.integers(0, 30))  # also past the table's window
        lasts.append(rng.integers(0, 6, size=length))
        types.append(rng.integers(0, 4, size=length))  # codes past the table's types too
    batch = batch_ranking.repeat_candidates_rows(model, lasts, types)
    assert sum(len(items) for items, _ in batch) > 100
    for (items, chances), last, kinds in zip(batch, lasts, types, strict=True):
        expected_items, expected_chances = model.repeat_candidates(last, kinds)
        np.testing.assert_array_equal(items, expected_items)
        np.testing.assert_array_equal(chances, expected_chances)
        assert chances.dtype == expected_chances.dtype


# --- evaluation ------------------------------------------------------------------------------------


def test_evaluate_exclusion_is_evaluate_of_each_setting(large):
    data, artifact = large
    holdout = evaluation.split(data.interactions, 3)
    model = model_of(artifact, lifted=True)
    excluding, keeping = evaluate_exclusion(model, data.interactions, holdout)
    assert excluding == evaluate(
        model_of(artifact, lifted=True, exclude_interacted_items=True),
        data.interactions,
        holdout,
        with_coverage=False,
    )
    assert keeping == evaluate(
        model_of(artifact, lifted=True, exclude_interacted_items=False),
        data.interactions,
        holdout,
        with_coverage=False,
    )
    assert excluding != keeping


def test_coverage_either_way_is_coverage_of_each_setting(large):
    data, artifact = large
    model = model_of(artifact)
    for exclude in (True, False):
        assert evaluation.coverage(model, data.interactions, exclude_history=exclude) == evaluation.coverage(
            model_of(artifact, exclude_interacted_items=exclude), data.interactions
        )


def test_coverage_both_ways_is_coverage_of_each_setting(large):
    data, artifact = large
    model = model_of(artifact, lifted=True)
    both = evaluation.coverage_both_ways(model, data.interactions)
    assert both == tuple(
        evaluation.coverage(model, data.interactions, exclude_history=exclude) for exclude in (True, False)
    )
    users = np.arange(0, data.interactions.user_count, 3)
    ranked = batch_ranking.rank_known_users(model, users, K, (True, False), batch=16)
    for exclude, rows in zip((True, False), ranked, strict=True):
        np.testing.assert_array_equal(
            rows, batch_ranking.recommend_known_users(model, users, K, batch=16, exclude=exclude)
        )


def test_blas_limit_outlives_every_thread_inside_it():
    # Two evaluations at once (the coverage beside the holdout's): the limit holds until the last
    # one leaves, and the original setting comes back whichever leaves first.
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas"}

    with threadpool_limits(2, "blas"):
        limit = evaluation._blas_limit
        limit.__enter__()
        limit.__enter__()
        limit.__exit__(None, None, None)
        assert blas_threads() == {1}
        limit.__exit__(None, None, None)
        assert blas_threads() == {2}


def test_evaluation_scores_with_blas_on_one_thread(large, monkeypatch):
    # The fold-ins' many small products on BLAS threads took several times as long; one thread
    # gives the same metrics, and the limit ends with the evaluation.
    from threadpoolctl import threadpool_info, threadpool_limits

    data, artifact = large
    holdout = evaluation.split(data.interactions, 3)
    model = model_of(artifact, lifted=True)
    threads: list[int] = []

    def recording(original):
        def call(*args, **kwargs):
            threads.extend(entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas")
            return original(*args, **kwargs)

        return call

    with threadpool_limits(2, "blas"):
        # Without the limit (two threads), as before it.
        expected = (
            evaluate.__wrapped__(model, data.interactions, holdout),
            evaluate_exclusion.__wrapped__(model, data.interactions, holdout),
        )
        for name in ("rank_sequences", "recommend_known_users"):
            monkeypatch.setattr(batch_ranking, name, recording(getattr(batch_ranking, name)))
        found = (
            evaluate(model, data.interactions, holdout),
            evaluate_exclusion(model, data.interactions, holdout),
        )
        after = [entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas"]
    assert found == expected
    assert threads and set(threads) == {1}
    assert set(after) == {2}


def reference_ranking_metrics(recommended, relevant) -> dict[str, float]:
    """``ranking_metrics`` as it was: one request at a time."""

    def dcg(hits):
        return float((hits / np.log2(np.arange(2, len(hits) + 2))).sum())

    totals = {f"precision_at_{k}": 0.0 for k in CUTOFFS}
    totals.update({f"normalized_discounted_cumulative_gain_at_{k}": 0.0 for k in CUTOFFS})
    totals["mean_reciprocal_rank_at_25"] = 0.0
    for items, truth in zip(recommended, relevant, strict=True):
        hits = np.fromiter(
            (item in truth for item in items[:TOP_K].tolist()), dtype=float, count=min(len(items), TOP_K)
        )
        for k in CUTOFFS:
            top = hits[:k]
            totals[f"precision_at_{k}"] += top.sum() / k
            ideal = dcg(np.ones(min(len(truth), k)))
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += dcg(top) / ideal if ideal else 0.0
        first = np.flatnonzero(hits)
        totals["mean_reciprocal_rank_at_25"] += 1.0 / (first[0] + 1) if len(first) else 0.0
    count = max(1, len(recommended))
    return {name: value / count for name, value in totals.items()}


@pytest.mark.parametrize("seed", range(4))
def test_ranking_metrics_is_the_per_request_computation_to_the_bit(seed):
    rng = np.random.default_rng(seed)
    recommended, relevant = [], []
    for _ in range(2000):
        length = int(rng.choice([0, 1, 3, 7, 9, 24, 25, 25, 25, 30]))
        recommended.append(rng.choice(60, size=length, replace=False))
        relevant.append(set(rng.choice(60, size=int(rng.integers(0, 40)), replace=False).tolist()))
    got = ranking_metrics(recommended, relevant)
    expected = reference_ranking_metrics(recommended, relevant)
    assert list(got) == list(expected)
    assert all(float(got[name]) == float(expected[name]) for name in expected)
