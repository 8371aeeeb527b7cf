"""Item exploration (``picks.serving.exploration``): the bonus' shape, and how GetRecommendations'
model path and batch inference apply it (the same lists and scores, bit for bit)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from picks.serving import batch_ranking
from picks.serving.exploration import (
    CREATED,
    IMPRESSIONS,
    INTERACTIONS,
    REFERENCE,
    ExplorationConfig,
    ItemEvidence,
    bonus_scale,
    request_seed,
)
from picks.serving.rankers import FactorModel, RankingRequest

from tests.unit.planted import fitted_ranking_model, planted
from training import exploration as training_exploration

K = 10
DAY = 86_400.0
weights = st.floats(0.0, 1.0)
ages = st.floats(0.0, 400.0)
counts = st.floats(0.0, 1e6)
cutoffs = st.floats(1.0, 365.0)


def _scale(weight: float, age: float, cutoff: float, interactions: float, impressions: float) -> float:
    return float(
        bonus_scale(weight, np.array([age]), cutoff, np.array([interactions]), np.array([impressions]))[0]
    )


@settings(max_examples=300, deadline=None)
@given(weights, weights, ages, cutoffs, counts, counts)
def test_bonus_grows_with_the_weight(w1, w2, age, cutoff, n, m):
    low, high = sorted((w1, w2))
    assert _scale(low, age, cutoff, n, m) <= _scale(high, age, cutoff, n, m)


@settings(max_examples=300, deadline=None)
@given(weights, ages, ages, cutoffs, counts, counts)
def test_bonus_shrinks_with_age_and_is_zero_past_the_cutoff(w, a1, a2, cutoff, n, m):
    young, old = sorted((a1, a2))
    assert _scale(w, young, cutoff, n, m) >= _scale(w, old, cutoff, n, m)
    assert _scale(w, max(old, cutoff), cutoff, n, m) == 0.0


@settings(max_examples=300, deadline=None)
@given(weights, ages, cutoffs, counts, counts, counts)
def test_bonus_shrinks_with_impressions_and_interactions(w, age, cutoff, n, m1, m2):
    few, many = sorted((m1, m2))
    assert _scale(w, age, cutoff, n, few) >= _scale(w, age, cutoff, n, many)
    assert _scale(w, age, cutoff, few, n) >= _scale(w, age, cutoff, many, n)


def test_bonus_is_zero_at_weight_zero_and_positive_for_a_new_unseen_item():
    assert _scale(0.0, 0.0, 30.0, 0.0, 0.0) == 0.0
    assert _scale(1.0, 0.0, 30.0, 0.0, 0.0) == pytest.approx(2.0)


def _evidence(ages_days: np.ndarray, interactions: np.ndarray, impressions: np.ndarray) -> ItemEvidence:
    return ItemEvidence(ages_days, interactions, impressions, np.empty(0, np.int64), salt=7)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(ages, counts, counts), min_size=1, max_size=20), weights, weights, st.integers(0, 99)
)
def test_a_request_bonus_is_monotone_in_the_weight_with_the_same_seed(items, w1, w2, seed):
    """The random draw is the seed's: with it fixed, a larger weight never gives an item less."""
    age, n, m = (np.array(column, dtype=np.float64) for column in zip(*items, strict=True))
    evidence = _evidence(age, n, m)
    low, high = sorted((w1, w2))
    scores = []
    for weight in (low, high):
        score = np.zeros(len(items), dtype=np.float32)
        explorer = evidence.explorer(ExplorationConfig(weight, 30.0, seed=seed))
        explorer.apply(score, "user-1")
        scores.append(score)
    assert (scores[0] <= scores[1]).all()


def test_draws_depend_on_the_seed_and_user_only():
    evidence = _evidence(np.zeros(50), np.zeros(50), np.zeros(50))
    explorer = evidence.explorer(ExplorationConfig(0.5, 30.0))
    np.testing.assert_array_equal(explorer.bonus("u1"), explorer.bonus("u1"))
    assert not np.array_equal(explorer.bonus("u1"), explorer.bonus("u2"))
    seeded = evidence.explorer(ExplorationConfig(0.5, 30.0, seed=3))
    assert not np.array_equal(explorer.bonus("u1"), seeded.bonus("u1"))
    assert request_seed("u1", 7) == request_seed("u1", 7) != request_seed("u1", 8)


def test_wire_config_defaults_are_personalizes():
    assert ExplorationConfig.from_wire(None) == ExplorationConfig(0.3, 30.0)
    assert ExplorationConfig.from_wire({"explorationWeight": "0.9"}) == ExplorationConfig(0.9, 30.0)
    assert ExplorationConfig.from_wire({"explorationItemAgeCutOff": "5"}).age_cutoff_days == 5.0


# --- the model paths ---------------------------------------------------------------------------------

COLD = ["new-a", "new-b", "new-c"]


@pytest.fixture(scope="module")
def fitted():
    data = planted(users_per_cluster=30, items_per_group=40, per_user=12, seed=3)
    return data, fitted_ranking_model(data, iterations=4, seed=1)


def _with_evidence(artifact, cold: list[str], ages_days: float = 100.0):
    """``artifact`` with exploration's arrays: its items ``ages_days`` old (past the default
    cut-off), and ``cold`` catalogue items created at the data's end, as training attaches them."""
    artifact = replace(artifact, arrays=dict(artifact.arrays), info=dict(artifact.info))
    training_exploration.extend(artifact, cold)
    n = len(artifact.item_ids)
    reference = 1_800_000_000
    created = np.full(n, reference - ages_days * DAY)
    created[n - len(cold) :] = reference
    interactions = np.zeros(n, dtype=np.float32)
    interactions[: n - len(cold)] = artifact.arrays["popularity"][: n - len(cold)]
    artifact.arrays[CREATED] = created
    artifact.arrays[INTERACTIONS] = interactions
    artifact.arrays[IMPRESSIONS] = np.zeros(n, dtype=np.float32)
    artifact.info[REFERENCE] = reference
    return artifact


def _answer(model: FactorModel, user: str, config: ExplorationConfig | None, k: int = K):
    return model.recommend_request(RankingRequest(user, exploration=config), k)


def test_weight_zero_changes_nothing_without_cold_items(fitted):
    data, artifact = fitted
    plain = FactorModel(artifact)
    explored = FactorModel(_with_evidence(artifact, [], ages_days=0.0))  # every item young
    config = ExplorationConfig(0.0, 30.0)
    for user in plain.user_ids.tolist()[:20]:
        before, after = _answer(plain, user, None), _answer(explored, user, config)
        np.testing.assert_array_equal(before.indices, after.indices)
        np.testing.assert_array_equal(before.scores, after.scores)  # bit for bit


def test_cold_items_only_come_through_exploration(fitted):
    data, artifact = fitted
    plain = FactorModel(artifact)
    model = FactorModel(_with_evidence(artifact, COLD))
    cold = set(model.indices_of(COLD).tolist())
    users = model.user_ids.tolist()
    for user in users:
        assert _answer(model, user, ExplorationConfig(0.0, 30.0)).indices.tolist() == (
            _answer(plain, user, None).indices.tolist()
        )
    shown = [
        len(cold & set(_answer(model, user, ExplorationConfig(0.9, 30.0)).indices.tolist())) for user in users
    ]
    assert sum(1 for count in shown if count) >= len(users) // 4  # a brand-new item beats relevance often
    # The old items are past the cut-off: at weight 0.9 the rest of each list is relevance order.
    for user in users[:10]:
        explored = _answer(model, user, ExplorationConfig(0.9, 30.0)).indices.tolist()
        warm = [item for item in explored if item not in cold]
        assert warm == _answer(plain, user, None).indices.tolist()[: len(warm)]


def test_impressions_lower_a_cold_items_share(fitted):
    data, artifact = fitted
    fresh = _with_evidence(artifact, COLD)
    shown = replace(fresh, arrays=dict(fresh.arrays))
    impressions = shown.arrays[IMPRESSIONS].copy()
    impressions[-len(COLD) :] = 200
    shown.arrays[IMPRESSIONS] = impressions
    config = ExplorationConfig(0.9, 30.0)

    def share(model: FactorModel) -> int:
        cold = set(model.indices_of(COLD).tolist())
        return sum(
            len(cold & set(_answer(model, u, config).indices.tolist())) for u in model.user_ids.tolist()
        )

    assert share(FactorModel(fresh)) > share(FactorModel(shown))


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.9])
def test_batch_inference_equals_get_recommendations_with_exploration(fitted, weight):
    data, artifact = fitted
    model = FactorModel(_with_evidence(artifact, COLD, ages_days=3.0))  # warm items explored too
    config = ExplorationConfig(weight, 30.0)
    users = list(range(0, len(model.user_ids), 2))
    rng = np.random.default_rng(0)
    masks = [None if user % 4 else rng.random(model.item_count) < 0.7 for user in users]
    batch = batch_ranking.recommend_users(model, users, K, masks, batch=8, exploration=config)
    for user, mask, answer in zip(users, masks, batch, strict=True):
        single = model.recommend_request(
            RankingRequest(model.user_ids[user], exploration=config), K, allowed=mask
        )
        np.testing.assert_array_equal(answer.indices, single.indices)
        np.testing.assert_array_equal(answer.scores, single.scores)


def test_put_events_impressions_are_exported_as_the_impression_column():
    from picks.dal.event_store import StoredEvent
    from picks.realtime import events_table

    shown = StoredEvent("e1", "s", "View", 1.0, user_id="u", item_id="i1", impression=["i1", "new-a"])
    plain = StoredEvent("e2", "s", "View", 2.0, user_id="u", item_id="i2")
    table = events_table([shown, plain])
    assert table is not None
    column = table["IMPRESSION"]
    assert [None if code < 0 else column.string_dictionary[code] for code in column.data.tolist()] == [
        "i1|new-a",
        None,
    ]
    index = {"i1": 0, "i2": 1, "new-a": 2}
    assert training_exploration.impression_counts(column, index, 3).tolist() == [1.0, 0.0, 1.0]
    without = events_table([plain])
    assert without is not None and "IMPRESSION" not in without  # tables without impressions unchanged


@pytest.fixture(scope="module")
def large_catalogue():
    """Past the size where batch inference's thresholded ranking runs."""
    data = planted(users_per_cluster=60, items_per_group=2000, per_user=30, seed=7)
    return fitted_ranking_model(data, iterations=3, seed=2)


@pytest.mark.parametrize("case", [{}, {"lifted": True}, {"ties": 1000, "lifted": True}, {"ties": 2}])
@pytest.mark.parametrize(("weight", "block"), [(0.0, 7), (0.3, 512), (0.9, 7), (0.9, 1)])
def test_batch_blocks_explore_as_requests_do(large_catalogue, case, weight, block):
    """Unknown users, filters (some leaving fewer than k items), repeats lifted, ties: each line's
    answer is GetRecommendations' with the same exploration, bit for bit."""
    from tests.unit.test_batch_inference_blocks import model_of, requests_of

    model = model_of(_with_evidence(large_catalogue, COLD, ages_days=10.0), **case)
    config = ExplorationConfig(weight, 30.0)
    ids, masks = requests_of(model, seed=block)
    index = model.user_index
    answers = batch_ranking.recommend_users(
        model, [index.get(i) for i in ids], K, masks, batch=block, exploration=config
    )
    explored = 0
    cold = set(model.indices_of(COLD).tolist())
    for user_id, mask, answer in zip(ids, masks, answers, strict=True):
        expected = model.recommend_request(RankingRequest(user_id, exploration=config), K, allowed=mask)
        assert answer.indices.tolist() == expected.indices.tolist(), user_id
        np.testing.assert_array_equal(answer.scores, expected.scores, err_msg=user_id)
        explored += bool(cold & set(answer.indices.tolist()))
    if weight == 0.0:
        assert explored == 0
    if weight == 0.9:
        assert explored > 0


def test_a_recommendation_id_names_up_to_six_explored_items_in_40_characters():
    from picks.serving.exploration import (
        MAX_EXPLORED_IN_ID,
        item_token,
        recommendation_id,
        shown_tokens,
    )

    plain = recommendation_id([])
    assert plain.startswith("RID-") and len(plain) == 36 and shown_tokens(plain) == []
    items = [f"item-{n}" for n in range(9)]
    for count in range(1, 9):
        rid = recommendation_id(items[:count])
        assert rid.startswith("RIE-") and len(rid) <= 40
        assert shown_tokens(rid) == [item_token(item) for item in items[: min(count, MAX_EXPLORED_IN_ID)]]
    assert recommendation_id(items[:2]) != recommendation_id(items[:2])  # a nonce: ids stay unique
    for garbage in ("RIE-", "RIE-!!!!", "RIE-AAAAA", "other", None):
        assert shown_tokens(garbage) == []


def test_impression_counts_match_recommendation_id_tokens_to_the_catalogue():
    from picks.dataset_schema import Field
    from picks.ingest.columnar import string_column
    from picks.serving.exploration import item_token

    from training.exploration import impression_counts

    index = {"a": 0, "b": 1, "c": 2}
    values = np.array([f"a|{item_token('c')}", item_token("b"), "#00000000|zz"], dtype=object)
    column = string_column(
        Field("IMPRESSION", "string", nullable=True), np.array([0, 1, 0, 2], np.int32), values
    )
    assert impression_counts(column, index, 3).tolist() == [2.0, 1.0, 2.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_item_counts_and_first_times_match_the_per_row_definition(seed):
    # Counted per dictionary code and moved to the items (rows without an item, items the model
    # lacks, a name listed twice in the dictionary): what a per-row index column gave.
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    dictionary = np.array([f"i{n}" for n in range(12)] + ["i3"], dtype=object)
    codes = rng.integers(-1, len(dictionary), 400).astype(np.int32)
    times = rng.integers(1_600_000_000, 1_700_000_000, 400).astype(np.int64)
    index = {f"i{n}": position for position, n in enumerate(rng.permutation(15)) if n != 5}
    n = len(index) + 3
    counts, first = np.zeros(n), np.full(n, np.inf)
    column = SimpleNamespace(data=codes, string_dictionary=dictionary)
    training_exploration._count_rows_and_first_times(column, times, index, counts, first)
    mapping = np.array([index.get(v, -1) for v in dictionary.tolist()] + [-1], dtype=np.int64)
    rows = mapping[codes]
    known = rows >= 0
    expected_first = np.full(n, np.inf)
    np.minimum.at(expected_first, rows[known], times[known].astype(np.float64))
    np.testing.assert_array_equal(counts, np.bincount(rows[known], minlength=n).astype(np.float64))
    np.testing.assert_array_equal(first, expected_first)
