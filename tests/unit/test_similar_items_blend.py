"""The blend of co-occurrence and metadata similarity in aws-similar-items
(training/recipes/similar_items.py), on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from training.recipes import similar_items
from training.recipes.similar_items import blend, metadata_weights

# Items 0-2 have interactions (co-occurrence rows), 3 and 4 are cold.  Metadata: 0, 3 share a
# category; 1, 2, 4 another; 4 is closest to 2.
FEATURES = sp.csr_matrix(
    np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.8, 0.6],
            [1.0, 0.0, 0.0],
            [0.0, 0.6, 0.8],
        ],
        dtype=np.float32,
    )
)
CO_NEIGHBORS = np.array([[1, 2], [0, -1], [0, 1]], dtype=np.int32)
CO_SCORES = np.array([[1.0, 0.5], [1.0, 0.0], [1.0, 0.2]], dtype=np.float32)


def test_metadata_weight_grows_as_interactions_shrink():
    popularity = np.array([0, 1, 4, 5, 100, 0], dtype=np.float32)
    has_metadata = np.array([True] * 5 + [False])
    weights = metadata_weights(popularity, has_metadata, 0.3, 5)
    assert weights[0] == pytest.approx(1.0)  # no interactions: metadata only
    assert weights[3] == pytest.approx(0.3) and weights[4] == pytest.approx(0.3)  # warm: metadata_weight
    assert np.all(np.diff(weights[:4]) <= 0) and weights[1] > weights[2] > weights[3]
    assert weights[5] == 0  # no metadata: co-occurrence only
    assert metadata_weights(popularity, has_metadata, 0.0, 0)[:5].tolist() == [0.0] * 5


def test_cold_items_get_metadata_neighbours_and_warm_items_keep_cooccurrence():
    weights = np.array([0.0, 0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    neighbors, scores = blend(CO_NEIGHBORS, CO_SCORES, FEATURES, weights, width=3)
    # Without metadata weight a warm item's list is its co-occurrence list, scores as they were.
    assert neighbors[0].tolist() == [1, 2, -1] and scores[0, :2].tolist() == pytest.approx([1.0, 0.5])
    assert neighbors[1].tolist() == [0, -1, -1]
    # Cold item 3 is like item 0 only; cold item 4 like 2, then 1 (cosine 0.96, 0.6), never itself.
    assert neighbors[3].tolist() == [0, -1, -1] and scores[3, 0] == pytest.approx(1.0)
    assert neighbors[4].tolist() == [2, 1, -1]
    assert scores[4].tolist() == pytest.approx([1.0, 0.6 / 0.96, 0.0])


def test_metadata_adds_neighbours_below_strong_cooccurrence():
    weights = np.full(5, 0.3, dtype=np.float32)
    neighbors, scores = blend(CO_NEIGHBORS, CO_SCORES, FEATURES, weights, width=4)
    # Item 0: its co-occurring items keep their order (0.7 * 1, 0.7 * 0.5), and the cold item 3 of
    # its category joins after them (0.3 * 1); item 4 (cosine 0) does not.
    assert neighbors[0].tolist() == [1, 2, 3, -1]
    assert scores[0].tolist() == pytest.approx([1.0, 0.35 / 0.7, 0.3 / 0.7, 0.0])
    # Item 1 gains its metadata neighbours 2 (0.3 * 0.8) and 4 (0.3 * 0.6) after its co-occurring 0.
    assert neighbors[1, :3].tolist() == [0, 2, 4]
    assert np.all(np.diff(scores, axis=1) <= 1e-7)


def test_blocks_give_the_same_lists(monkeypatch):
    rng = np.random.default_rng(3)
    n_items, n_warm = 23, 15
    features = sp.random(n_items, 9, density=0.3, random_state=4, format="csr", dtype=np.float32)
    co_neighbors = np.stack([rng.permutation(n_items)[:6] for _ in range(n_warm)]).astype(np.int32)
    for row in range(n_warm):
        co_neighbors[row][co_neighbors[row] == row] = -1
    co_scores = np.sort(rng.random((n_warm, 6)).astype(np.float32), axis=1)[:, ::-1].copy()
    weights = rng.random(n_items).astype(np.float32)
    whole = blend(co_neighbors, co_scores, features, weights, width=5)
    monkeypatch.setattr(similar_items, "BLOCK_CELLS", 3 * n_items)  # three rows per block
    parts = blend(co_neighbors, co_scores, features, weights, width=5)
    assert np.array_equal(whole[0], parts[0]) and np.allclose(whole[1], parts[1])


def test_no_metadata_leaves_cooccurrence_as_it_is():
    empty = sp.csr_matrix((5, 0), dtype=np.float32)
    neighbors, scores = blend(CO_NEIGHBORS, CO_SCORES, empty, np.zeros(5, np.float32), width=2)
    assert np.array_equal(neighbors[:3], CO_NEIGHBORS) and np.array_equal(scores[:3], CO_SCORES)
    assert (neighbors[3:] == -1).all()


def two_groups() -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """40 warm items in two groups of 20, each co-occurring (score 1) with its group only, and one
    feature per group; items 40 and 41, without interactions, have group 0's and group 1's."""
    group = np.repeat([0, 1], 20)
    co_neighbors = np.array(
        [[k for k in range(40) if group[k] == group[i] and k != i] for i in range(40)], dtype=np.int32
    )
    features = np.zeros((42, 2), dtype=np.float32)
    features[np.arange(40), group] = 1.0
    features[40, 0] = features[41, 1] = 1.0
    return co_neighbors, np.ones(co_neighbors.shape, np.float32), sp.csr_matrix(features)


def test_a_cold_item_gets_the_cooccurrence_its_metadata_predicts_on_the_warm_items_scale():
    co_neighbors, co_scores, features = two_groups()
    coldness = np.array([0.0] * 40 + [1.0, 0.5])
    estimated = similar_items.cold_cooccurrence(co_neighbors, co_scores, features, coldness, rank=4)
    assert estimated is not None and estimated.items.tolist() == [40, 41]
    guessed = estimated.rows @ estimated.vectors.T  # warm items × cold items
    # Item 40 co-occurs with group 0 about as its members do with each other (1), not with group 1.
    assert guessed[:20, 0] == pytest.approx(np.ones(20), abs=0.1)
    assert np.abs(guessed[20:, 0]).max() < 0.05
    # Item 41 is half cold: half of group 1's co-occurrence.
    assert guessed[20:, 1] == pytest.approx(np.full(20, 0.5), abs=0.05)
    assert np.abs(guessed[:20, 1]).max() < 0.05
    # In the blend, group 0's items list item 40 right after their co-occurring items, item 41 far below.
    weights = np.concatenate([np.full(40, 0.1), [1.0, 1.0]]).astype(np.float32)
    neighbors, scores = blend(co_neighbors, co_scores, features, weights, 25, estimated=estimated)
    assert neighbors[0, 19] == 40 and scores[0, 19] > 0.8
    assert 41 not in neighbors[0, :20].tolist()
    assert neighbors[25, 19] == 41 and 40 not in neighbors[25, :20].tolist()


def test_no_estimate_without_cold_items_or_enough_warm_ones():
    co_neighbors, co_scores, features = two_groups()
    assert similar_items.cold_cooccurrence(co_neighbors, co_scores, features, np.zeros(42), 4) is None
    few = np.concatenate([np.ones(30), np.zeros(10), [1.0, 1.0]])  # 10 fully warm items: too few
    assert similar_items.cold_cooccurrence(co_neighbors, co_scores, features, few, 4) is None


def test_truncated_svd_is_seeded_and_recovers_a_low_rank_matrix():
    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix(rng.random((30, 3)) @ rng.random((3, 25)))
    rows, columns = similar_items.truncated_svd(matrix, 3, seed=1)
    assert rows @ columns.T == pytest.approx(matrix.toarray(), abs=1e-8)
    again = similar_items.truncated_svd(matrix, 3, seed=1)
    assert np.array_equal(rows, again[0]) and np.array_equal(columns, again[1])
