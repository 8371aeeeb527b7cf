"""Offline metrics (training.evaluation) against the developer guide's worked examples, and the holdout
split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from picks.model_artifact import ModelArtifact
from picks.serving.rankers import FactorModel, PopularityModel, SimsModel

from training.data import Interactions
from training.evaluation import CUTOFFS, coverage, ranking_metrics, split

NDCG = "normalized_discounted_cumulative_gain_at_{}"


def ranked(length: int = 25, offset: int = 100) -> np.ndarray:
    """A recommendation list of ``length`` distinct items none of which is relevant by default."""
    return np.arange(offset, offset + length)


def with_hits(positions: list[int], relevant: list[int], length: int = 25) -> np.ndarray:
    """A list with ``relevant[j]`` placed at 1-based rank ``positions[j]``."""
    items = ranked(length)
    for position, item in zip(positions, relevant, strict=True):
        items[position - 1] = item
    return items


# --- ranking_metrics -----------------------------------------------------------------------------


def test_mrr_worked_example():
    # Developer guide: three requests whose first relevant items sit at ranks 4, 2 and 6:
    # MRR = (1/4 + 1/2 + 1/6) / 3 = 0.3056.
    recommended = [with_hits([4], [1]), with_hits([2, 9], [2, 3]), with_hits([6], [4])]
    relevant = [{1}, {2, 3}, {4}]
    metrics = ranking_metrics(recommended, relevant)
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 6) / 3)
    assert round(metrics["mean_reciprocal_rank_at_25"], 4) == 0.3056


def test_mrr_counts_only_the_first_25():
    metrics = ranking_metrics([with_hits([26], [1], length=30)], [{1}])
    assert metrics["mean_reciprocal_rank_at_25"] == 0.0
    last = ranking_metrics([with_hits([25], [1], length=30)], [{1}])
    assert last["mean_reciprocal_rank_at_25"] == pytest.approx(1 / 25)


def test_ndcg_worked_example():
    # Developer guide: relevant items recommended at ranks 2 and 5 of 5, two relevant items in all:
    # DCG = 1/log2(3) + 1/log2(6); ideal = 1/log2(2) + 1/log2(3); NDCG@5 = 0.6241.
    metrics = ranking_metrics([with_hits([2, 5], [7, 8])], [{7, 8}])
    expected = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert metrics[NDCG.format(5)] == pytest.approx(expected)
    assert round(metrics[NDCG.format(5)], 4) == 0.6241
    # Nothing else is relevant further down, so the deeper cut-offs agree.
    assert metrics[NDCG.format(10)] == pytest.approx(expected)
    assert metrics[NDCG.format(25)] == pytest.approx(expected)


def test_ndcg_ideal_is_bounded_by_k_and_perfect_lists_score_one():
    # 30 relevant items, the first 25 recommended are all relevant: NDCG is 1 at every cut-off.
    truth = set(range(30))
    metrics = ranking_metrics([np.arange(25)], [truth])
    for k in CUTOFFS:
        assert metrics[NDCG.format(k)] == pytest.approx(1.0)
        assert metrics[f"precision_at_{k}"] == pytest.approx(1.0)
    # A hit at rank 6 does not count for NDCG@5.
    assert ranking_metrics([with_hits([6], [1])], [{1}])[NDCG.format(5)] == 0.0


def test_precision_at_k_is_hits_in_top_k_over_k():
    # Hits at ranks 1, 3, 7 and 20: precision@5 = 2/5, @10 = 3/10, @25 = 4/25.
    metrics = ranking_metrics([with_hits([1, 3, 7, 20], [1, 2, 3, 4])], [{1, 2, 3, 4, 5}])
    assert metrics["precision_at_5"] == pytest.approx(2 / 5)
    assert metrics["precision_at_10"] == pytest.approx(3 / 10)
    assert metrics["precision_at_25"] == pytest.approx(4 / 25)
    # A short list is still divided by K (a list of 3 with one hit: 1/5 at K=5).
    short = ranking_metrics([np.array([9, 1, 8])], [{1}])
    assert short["precision_at_5"] == pytest.approx(1 / 5)
    assert short["precision_at_25"] == pytest.approx(1 / 25)


def test_metrics_are_means_over_requests():
    hit, miss = with_hits([1], [1]), ranked()
    metrics = ranking_metrics([hit, miss, miss, miss], [{1}, {1}, {1}, {1}])
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx(0.25)
    assert metrics["precision_at_5"] == pytest.approx(0.25 / 5)
    assert metrics[NDCG.format(10)] == pytest.approx(0.25)
    assert set(metrics) == {
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
        "mean_reciprocal_rank_at_25",
        NDCG.format(5),
        NDCG.format(10),
        NDCG.format(25),
    }
    assert all(v == 0.0 for v in ranking_metrics([], []).values())


# --- coverage ------------------------------------------------------------------------------------


def interactions(users: list[int], items: list[int], n_users: int, n_items: int) -> Interactions:
    count = len(users)
    return Interactions(
        users=np.asarray(users, dtype=np.int64),
        items=np.asarray(items, dtype=np.int64),
        timestamps=np.arange(count, dtype=np.int64) + 1_700_000_000,
        weights=np.ones(count, dtype=np.float32),
        user_ids=np.array([f"u{i}" for i in range(n_users)], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(n_items)], dtype=object),
    )


def test_coverage_of_popularity_is_one_list():
    n_items = 40
    data = interactions([0, 1, 2], [0, 1, 2], 3, n_items)
    model = PopularityModel(
        ModelArtifact(
            "aws-popularity-count",
            "POPULAR_ITEMS",
            data.item_ids,
            arrays={"popularity": np.linspace(1.0, 0.1, n_items).astype(np.float32)},
        )
    )
    assert coverage(model, data) == pytest.approx(25 / 40)


def test_coverage_of_sims_is_the_union_of_related_lists():
    # 60 items; every item's neighbours are the 25 items after it (mod 60). Users' last items
    # are 0 and 30, so related lists are 1..25 and 31..55: 50 distinct items of 60.
    n_items = 60
    neighbors = np.array([[(i + d) % n_items for d in range(1, 26)] for i in range(n_items)], dtype=np.int32)
    scores = np.tile(np.linspace(1.0, 0.5, 25, dtype=np.float32), (n_items, 1))
    model = SimsModel(
        ModelArtifact(
            "aws-sims",
            "RELATED_ITEMS",
            np.array([f"i{i}" for i in range(n_items)], dtype=object),
            arrays={
                "popularity": np.ones(n_items, np.float32),
                "neighbors": neighbors,
                "neighbor_scores": scores,
            },
        )
    )
    # User 0's last item is 0 (its item 5 is older), user 1's last item is 30.
    data = interactions([0, 1, 0], [5, 30, 0], 2, n_items)
    assert coverage(model, data) == pytest.approx(50 / 60)


def factor_artifact(n_items: int = 60) -> tuple[ModelArtifact, Interactions]:
    """Two users; items 0-29 point along e1 and 30-59 along e2, each group in decreasing strength."""
    strength = np.linspace(1.0, 0.5, 30, dtype=np.float32)
    item_factors = np.zeros((n_items, 2), dtype=np.float32)
    item_factors[:30, 0] = strength
    item_factors[30:, 1] = strength
    user_factors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    # User 0 interacted with item 29 and user 1 with item 59 (the weakest of each group).
    data = interactions([0, 1], [29, 59], 2, n_items)
    artifact = ModelArtifact(
        "aws-user-personalization",
        "USER_PERSONALIZATION",
        data.item_ids,
        data.user_ids,
        arrays={
            "popularity": np.ones(n_items, np.float32),
            "item_factors": item_factors,
            "user_factors": user_factors,
            "gram": item_factors.astype(np.float64).T @ item_factors.astype(np.float64),
            "history_indptr": np.array([0, 1, 2], dtype=np.int64),
            "history_items": np.array([29, 59], dtype=np.int32),
            "history_confidence": np.array([2.0, 2.0], dtype=np.float32),
        },
        info={"regularization": 0.1, "alpha": 2.0, "exclude_interacted_items": True},
    )
    return artifact, data


def test_coverage_of_a_factor_model_counts_top_25_of_known_users():
    artifact, data = factor_artifact()
    model = FactorModel(artifact)
    # User 0: items 0-24; user 1: items 30-54 -> 50 of 60.
    assert coverage(model, data) == pytest.approx(50 / 60)
    # A user without training history (held out) does not count.
    artifact.arrays["history_indptr"] = np.array([0, 1, 1], dtype=np.int64)
    artifact.arrays["history_items"] = np.array([29], dtype=np.int32)
    artifact.arrays["history_confidence"] = np.array([2.0], dtype=np.float32)
    assert coverage(FactorModel(artifact), data) == pytest.approx(25 / 60)


# --- the holdout split ---------------------------------------------------------------------------


def random_interactions(seed: int = 3, n_users: int = 200, n_items: int = 50) -> Interactions:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, size=n_users)  # some users have a single interaction
    users = np.repeat(np.arange(n_users), lengths)
    rng.shuffle(users)  # rows in no particular order
    count = len(users)
    return Interactions(
        users=users.astype(np.int64),
        items=rng.integers(0, n_items, size=count).astype(np.int64),
        timestamps=rng.permutation(count).astype(np.int64) + 1_700_000_000,  # distinct times
        weights=np.ones(count, dtype=np.float32),
        user_ids=np.array([f"u{i}" for i in range(n_users)], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(n_items)], dtype=object),
    )


def test_split_holds_out_ten_percent_of_eligible_users():
    data = random_interactions()
    counts = np.bincount(data.users, minlength=data.user_count)
    eligible = np.flatnonzero(counts >= 2)
    holdout = split(data, seed=7)
    assert len(holdout.users) == round(len(eligible) * 0.1)
    assert set(holdout.users.tolist()) <= set(eligible.tolist())
    assert len(set(holdout.users.tolist())) == len(holdout.users)
    # Held-out users have no training rows; everyone else keeps every row.
    held = np.isin(data.users, holdout.users)
    assert not holdout.train_mask[held].any()
    assert holdout.train_mask[~held].all()


def test_split_truth_is_the_newest_ten_percent_in_time_order():
    data = random_interactions()
    holdout = split(data, seed=7)
    for user, inputs, truth in zip(holdout.users, holdout.inputs, holdout.truths, strict=True):
        rows = np.flatnonzero(data.users == user)
        rows = rows[np.argsort(data.timestamps[rows])]
        n = len(rows)
        n_truth = max(1, int(n * 0.1))
        assert len(truth) == n_truth and len(inputs) == n - n_truth
        assert inputs.tolist() == data.items[rows[: n - n_truth]].tolist()  # oldest first
        assert truth.tolist() == data.items[rows[n - n_truth :]].tolist()  # the newest


def test_split_is_deterministic_per_seed():
    data = random_interactions()
    first, again, other = split(data, seed=1), split(data, seed=1), split(data, seed=2)
    assert first.users.tolist() == again.users.tolist()
    assert np.array_equal(first.train_mask, again.train_mask)
    assert all(np.array_equal(a, b) for a, b in zip(first.truths, again.truths, strict=True))
    assert first.users.tolist() != other.users.tolist()


def test_split_holds_out_at_least_one_user():
    data = interactions([0, 0, 1, 2], [0, 1, 2, 3], 3, 4)  # one eligible user
    holdout = split(data, seed=0)
    assert holdout.users.tolist() == [0]
    assert holdout.inputs[0].tolist() == [0] and holdout.truths[0].tolist() == [1]
    assert holdout.train_mask.tolist() == [False, False, True, True]
    # Nobody eligible: nothing is held out and every row trains.
    none = split(interactions([0, 1], [0, 1], 2, 2), seed=0)
    assert len(none.users) == 0 and none.train_mask.all()
