"""FactorModel (picks.serving.rankers): exact fold-in, the per-request paths and their batch twins.

The batch paths (``recommend_sequences``, ``recommend_known_users``) compute the offline metrics,
so they must return exactly what ``recommend`` serves.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from picks.serving import batch_ranking
from picks.serving.rankers import FactorModel
from picks.serving.topk import top_k

from tests.unit.planted import planted
from training.recipes import user_personalization
from training.recipes.common import resolved_hyperparameters

K = 25


@pytest.fixture(scope="module")
def data():
    return planted(seed=11)


@pytest.fixture(scope="module")
def artifact(data):
    params = resolved_hyperparameters(
        "aws-user-personalization",
        {"hidden_dimension": "8", "als_iterations": "8", "exclude_interacted_items": "true"},
    )
    return user_personalization.fit(data.interactions, params, seed=3)


@pytest.fixture
def model(artifact):
    return FactorModel(copy.deepcopy(artifact))


def variant(artifact, **info) -> FactorModel:
    changed = copy.deepcopy(artifact)
    changed.info.update(info)
    return FactorModel(changed)


# --- fold-in ------------------------------------------------------------------------------------


def test_fold_in_equals_implicits_exact_solve(model):
    from implicit.cpu.als import AlternatingLeastSquares

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # implicit's OpenBLAS thread advice
        als = AlternatingLeastSquares(factors=model.factors, regularization=model.regularization, alpha=1.0)
    als.item_factors = model.item_factors.copy()
    rng = np.random.default_rng(0)
    for size in (1, 3, 12):
        items = np.sort(rng.choice(model.item_count, size=size, replace=False))
        weights = rng.uniform(0.5, 6.0, size=size)
        row = sp.csr_matrix(
            (weights.astype(np.float32), (np.zeros(size, int), items)), shape=(1, model.item_count)
        )
        expected = als.recalculate_user(0, row)
        np.testing.assert_allclose(model.fold_in(items, weights), expected, atol=1e-4, rtol=1e-4)


def test_fold_in_solves_the_weighted_least_squares_problem(model):
    # min_x Σ_i c_i (p_i - x·y_i)² + λ|x|² over every item: p_i = 1 and c_i = the confidence for
    # the user's items, p_i = 0 and c_i = 1 for all others.
    items = np.array([2, 5, 7, 30])
    weights = np.array([2.0, 4.5, 1.2, 3.0])
    y = model.item_factors.astype(np.float64)
    c = np.ones(model.item_count)
    p = np.zeros(model.item_count)
    c[items], p[items] = weights, 1.0
    system = y.T @ (c[:, None] * y) + model.regularization * np.eye(model.factors)
    expected = np.linalg.solve(system, y.T @ (c * p))
    np.testing.assert_allclose(model.fold_in(items, weights), expected, atol=1e-4, rtol=1e-4)
    assert not model.fold_in(np.empty(0, np.int64), np.empty(0)).any()


# --- recommend ----------------------------------------------------------------------------------


def test_known_user_without_recent_events_is_served_from_its_stored_vector(artifact, data):
    changed = copy.deepcopy(artifact)
    changed.info["recent_item_weight"] = 0.0
    user = int(data.users_of(0)[0])
    seen = set(data.interactions.items[data.interactions.users == user].tolist())
    # Plant a vector pointing at an item of the other group: only the stored vector can yield it.
    target = next(int(i) for i in data.items_of(1) if int(i) not in seen)
    changed.arrays["user_factors"][user] = changed.arrays["item_factors"][target] * 3.0
    model = FactorModel(changed)
    ranked = model.recommend(model.user_ids[user], 5)
    expected = top_k(model.item_factors @ model.user_factors[user], 5, np.array(sorted(seen)))
    assert ranked.indices.tolist() == expected.indices.tolist()
    assert ranked.indices[0] == target
    # Fold-in of the same history would not: it recommends the user's own group first.
    history = model.history(user)
    folded = top_k(model.item_factors @ model.fold_in(*history), 5, history[0])
    assert data.item_group[folded.indices[0]] == 0


def test_recent_events_fold_in_without_retraining(model, data):
    user = int(data.users_of(0)[3])
    user_id = model.user_ids[user]
    stored = model.user_factors[user].copy()
    before = model.recommend(user_id, 10)
    recent_items = [int(i) for i in data.items_of(1)[:8]]  # a burst of the other group's items
    recent = [model.item_ids[i] for i in recent_items]
    after = model.recommend(user_id, 10, recent=recent)
    assert after.indices.tolist() != before.indices.tolist()
    group_b = lambda ranked: int((data.item_group[ranked.indices] == 1).sum())  # noqa: E731
    assert group_b(after) > group_b(before)
    # Exactly one ALS solve over history merged with the new events, and the session blend.
    items, weights = model.interactions_for(user, np.array(recent_items))
    assert set(recent_items) <= set(items.tolist())
    last = np.array(recent_items[::-1] + model.stored_recent(user).tolist())[: model.recent_window]
    score = model.blended_scores(model.fold_in(items, weights), last)
    assert after.indices.tolist() == top_k(score, 10, items).indices.tolist()
    np.testing.assert_array_equal(model.user_factors[user], stored)  # the model itself is unchanged
    assert model.recommend(user_id, 10).indices.tolist() == before.indices.tolist()


def test_unknown_user_without_events_gets_popularity_order(model):
    ranked = model.recommend("nobody", 10)
    # Most popular first: the same popularity values, in the same order, as the popularity list.
    np.testing.assert_array_equal(
        model.popularity[ranked.indices], model.popularity[model.popular_order[:10]]
    )
    assert len(set(ranked.indices.tolist())) == 10
    assert model.recommend(None, 10).indices.tolist() == ranked.indices.tolist()
    # Unknown item ids in the recent events are ignored.
    assert model.recommend("nobody", 10, recent=["no-such-item"]).indices.tolist() == ranked.indices.tolist()


def test_fallback_scores_are_on_the_zero_to_one_scale(model):
    ranked = model.recommend("nobody", 10)
    assert np.all((ranked.scores >= 0) & (ranked.scores <= 1))


def test_unknown_user_gets_exactly_the_popularity_list(model):
    assert model.recommend("nobody", 10).indices.tolist() == model.popular_order[:10].tolist()


def test_unknown_user_with_recent_events_is_folded_in(model, data):
    recent = [model.item_ids[i] for i in data.items_of(1)[:5]]
    ranked = model.recommend("newcomer", 10, recent=recent)
    assert ranked.indices.tolist() != model.popular_order[:10].tolist()
    assert (data.item_group[ranked.indices] == 1).mean() >= 0.8
    assert not set(ranked.indices.tolist()) & set(data.items_of(1)[:5].tolist())  # excluded as seen


@pytest.mark.parametrize("user_id", ["u4", "u70", "nobody"])
def test_excluded_and_allowed_are_honoured(model, user_id):
    full = model.recommend(user_id, model.item_count)
    excluded = full.indices[:5]
    allowed = np.zeros(model.item_count, dtype=bool)
    allowed[::2] = True
    ranked = model.recommend(user_id, 10, excluded=excluded, allowed=allowed)
    assert len(ranked.indices) == 10
    assert not set(ranked.indices.tolist()) & set(excluded.tolist())
    assert allowed[ranked.indices].all()
    kept = [
        (i, s)
        for i, s in zip(full.indices.tolist(), full.scores.tolist(), strict=True)
        if allowed[i] and i not in set(excluded.tolist())
    ][:10]
    # Same scores in the same order (popularity ties may be broken either way).
    np.testing.assert_allclose(ranked.scores, [s for _, s in kept], rtol=1e-6)
    if user_id != "nobody":
        assert ranked.indices.tolist() == [i for i, _ in kept]


def test_scores_are_softmax_probabilities_in_rank_order(model):
    ranked = model.recommend("u1", 25)
    assert np.all(np.diff(ranked.scores) <= 0)
    assert np.all((ranked.scores > 0) & (ranked.scores <= 1))
    assert model.recommend("u1", model.item_count).scores.sum() <= 1.0 + 1e-6


# --- batch paths --------------------------------------------------------------------------------


def sequences(data, count: int = 40, seed: int = 2) -> list[np.ndarray]:
    """Input sequences like the holdout's: at least one item, repeats allowed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        length = int(rng.integers(1, 16))
        out.append(rng.integers(0, data.interactions.item_count, size=length).astype(np.int64))  # repeats too
    return out


@pytest.mark.parametrize("info", [{}, {"exclude_interacted_items": False}, {"recent_item_weight": 0.0}])
def test_recommend_sequences_matches_recommend(artifact, data, info):
    model = variant(artifact, **info)
    batch = batch_ranking.recommend_sequences(model, sequences(data), K)
    for row, sequence in zip(batch, sequences(data), strict=True):
        single = model.recommend(None, K, recent=model.item_ids[sequence].tolist())
        assert row[row >= 0].tolist() == single.indices.tolist()


@pytest.mark.parametrize("info", [{}, {"exclude_interacted_items": False}])
def test_recommend_sequences_without_input_is_the_popularity_fallback(artifact, info):
    model = variant(artifact, **info)
    row = batch_ranking.recommend_sequences(model, [np.empty(0, dtype=np.int64)], K)[0]
    single = model.recommend(None, K)
    np.testing.assert_array_equal(model.popularity[row], model.popularity[single.indices])


def test_recommend_sequences_without_input_matches_recommend_exactly(artifact):
    model = variant(artifact, exclude_interacted_items=False)
    row = batch_ranking.recommend_sequences(model, [np.empty(0, dtype=np.int64)], K)[0]
    assert row.tolist() == model.recommend(None, K).indices.tolist()


@pytest.mark.parametrize("info", [{}, {"exclude_interacted_items": False}, {"recent_item_weight": 0.0}])
def test_recommend_known_users_matches_recommend(artifact, info):
    model = variant(artifact, **info)
    users = np.arange(len(model.user_ids))
    batch = batch_ranking.recommend_known_users(model, users, K, batch=7)  # several chunks, a ragged last one
    for user, row in zip(users.tolist(), batch, strict=True):
        single = model.recommend(model.user_ids[user], K)
        assert row[row >= 0].tolist() == single.indices.tolist(), user


def test_recommend_known_users_pads_when_the_catalog_runs_out(artifact):
    model = variant(artifact)
    count = model.item_count
    batch = batch_ranking.recommend_known_users(model, np.array([0]), count)
    seen = len(model.history(0)[0])
    assert (batch[0] == -1).sum() == seen
    assert batch[0][: count - seen].tolist() == model.recommend(model.user_ids[0], count).indices.tolist()


# --- rank and explain ---------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["u2", "u90", "nobody"])
def test_rank_orders_candidates_with_softmax_scores(model, user_id):
    candidates = np.array([3, 25, 7, 38, 12, 0, 21], dtype=np.int64)
    ranked = model.rank(user_id, candidates)
    assert sorted(ranked.indices.tolist()) == sorted(candidates.tolist())
    assert np.all(np.diff(ranked.scores) <= 1e-12)
    assert ranked.scores.sum() == pytest.approx(1.0)
    vector, _, last, _ = model._context(user_id, ())
    raw = model.blended_scores(vector, last)
    raw = model.popularity if raw is None else raw
    assert ranked.indices.tolist() == candidates[np.argsort(-raw[candidates], kind="stable")].tolist()
    empty = model.rank(user_id, np.empty(0, dtype=np.int64))
    assert len(empty.indices) == 0


def test_explain_names_history_items_with_positive_shares(model, data):
    for user in (0, 65, 100):
        user_id = model.user_ids[user]
        history = set(data.interactions.items[data.interactions.users == user].tolist())
        for item in model.recommend(user_id, 5).indices.tolist():
            reasons = model.explain(user_id, item)
            assert 1 <= len(reasons) <= 3
            assert {source for source, _ in reasons} <= history
            shares = [share for _, share in reasons]
            assert all(share > 0 for share in shares)
            assert sum(shares) <= 1.0 + 1e-9
            assert shares == sorted(shares, reverse=True)
    # Items given as recent events explain too; a user with nothing to go on gets no reasons.
    recent = [model.item_ids[i] for i in data.items_of(1)[:3]]
    item = int(model.recommend("newcomer", 1, recent=recent).indices[0])
    sources = {source for source, _ in model.explain("newcomer", item, recent=recent)}
    assert sources <= set(data.items_of(1)[:3].tolist())
    assert model.explain("nobody", item) == []


def test_an_item_is_never_explained_by_itself(model, data):
    """A recommended item the user already interacted with (a repeat) is explained by the user's
    other interactions: "because interacted with item X" for X itself explains nothing."""
    for user in (0, 65, 100):
        user_id = model.user_ids[user]
        history = data.interactions.items[data.interactions.users == user].tolist()
        for item in history[:5]:
            reasons = model.explain(user_id, item)
            assert reasons, item
            assert item not in {source for source, _ in reasons}
            assert sum(share for _, share in reasons) <= 1.0 + 1e-9
