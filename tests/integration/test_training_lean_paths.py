"""The training paths that avoid whole-column work on stored (user, time)-ordered interactions
must give exactly what the plain computations give: lazy subsets, each user's newest rows read
from the end of its history, the sliced recency ramp, the batched neighbour lists, implicit's
row solver and sliced column counts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from tests.unit.planted import planted
from training.data import Interactions, column_counts, in_user_time_order
from training.evaluation import split
from training.recipes import sims
from training.recipes import user_personalization as up
from training.recipes.common import resolved_hyperparameters

PARAMS = resolved_hyperparameters(
    "aws-user-personalization",
    {"hidden_dimension": "8", "als_iterations": "4", "recency_mask": "true"},
)


def _random_interactions(
    rng: np.random.Generator, size: int, users: int, items: int, span: int
) -> Interactions:
    return Interactions(
        users=rng.integers(0, users, size),
        items=rng.integers(0, items, size),
        timestamps=rng.integers(0, span, size),  # a small span: many ties inside a user's history
        weights=rng.choice([0.5, 1.0, 2.0], size=size).astype(np.float32),
        user_ids=np.array([f"u{i}" for i in range(users)], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(items)], dtype=object),
    )


def _unflagged(interactions: Interactions) -> Interactions:
    """The same rows without the 'stored by user and time' flag: the general (sorting) paths."""
    copy = replace(interactions)
    copy.__dict__["rows_by_user_time"] = False
    return copy


def test_subset_by_mask_copies_columns_only_when_read():
    data = in_user_time_order(planted(seed=5).interactions)
    holdout = split(data, seed=1)
    part = data.subset(holdout.train_mask)
    assert len(part) == int(holdout.train_mask.sum())
    assert part.latest_timestamp == int(data.timestamps[holdout.train_mask].max())
    assert part.rows_by_user_time  # carried over from the parent, no pass over the rows
    assert not {"users", "items", "timestamps", "weights"} & set(part.__dict__)
    # A split model trained from prepared arrays reads none of the columns.
    up.fit(part, PARAMS, seed=1, prepared=up.prepare(data, PARAMS).without(holdout.users))
    assert not {"users", "items", "timestamps", "weights"} & set(part.__dict__)
    for name in ("users", "items", "timestamps", "weights"):
        np.testing.assert_array_equal(getattr(part, name), getattr(data, name)[holdout.train_mask])
    assert len(part) == len(part.users)
    rows = np.flatnonzero(holdout.train_mask)[::-1]  # row numbers: copied at once, any order
    by_rows = data.subset(rows)
    np.testing.assert_array_equal(by_rows.items, data.items[rows])
    assert "rows_by_user_time" not in by_rows.__dict__


@pytest.mark.parametrize("span", [3, 50, 10_000])
def test_newest_rows_read_from_the_end_of_each_history_are_the_sorted_ones(span):
    rng = np.random.default_rng(span)
    for size, users in ((1, 1), (40, 3), (3000, 60)):
        stored = in_user_time_order(_random_interactions(rng, size, users, 30, span))
        assert stored.rows_by_user_time
        for window in (1, 2, 7, 40):
            mine, general = up._newest_rows(stored, window), up._newest_rows(_unflagged(stored), window)
            np.testing.assert_array_equal(mine[0], general[0])
            np.testing.assert_array_equal(mine[1], general[1])


def test_recency_ramp_in_slices_is_the_same_matrix(monkeypatch):
    stored = in_user_time_order(_random_interactions(np.random.default_rng(2), 5000, 70, 40, 20))
    whole = up.confidence_matrix(stored, PARAMS)
    monkeypatch.setattr(up, "ROW_CHUNK", 7)
    sliced = up.confidence_matrix(stored, PARAMS)
    general = up.confidence_matrix(_unflagged(stored), PARAMS)
    for other in (sliced, general):
        np.testing.assert_array_equal(other.indptr, whole.indptr)
        np.testing.assert_array_equal(other.indices, whole.indices)
        np.testing.assert_array_equal(other.data, whole.data)


def _reference_neighbours(matrix: sp.csr_matrix, damping: np.ndarray, min_together: int, width: int):
    """Per item: co-occurring items by count / damping, descending, ties by column, best = 1."""
    together = (matrix.T @ matrix).toarray()
    n = together.shape[0]
    width = min(width, max(n - 1, 1))
    neighbors = np.full((n, width), -1, dtype=np.int32)
    scores = np.zeros((n, width), dtype=np.float32)
    for item in range(n):
        cols = np.flatnonzero((together[item] >= max(min_together, 1)) & (np.arange(n) != item))
        value = together[item, cols].astype(np.float32) / damping[cols]
        ranked = sorted(zip((-value).tolist(), cols.tolist(), strict=True))[:width]
        if ranked:
            neighbors[item, : len(ranked)] = [c for _, c in ranked]
            best = value[cols == ranked[0][1]][0]
            scores[item, : len(ranked)] = [value[cols == c][0] / best for _, c in ranked]
    return neighbors, scores


@pytest.mark.parametrize("width", [1, 3, 500])
@pytest.mark.parametrize("min_together", [1, 2])
def test_neighbour_lists_are_the_best_co_occurring_items(width, min_together):
    rng = np.random.default_rng(width * 10 + min_together)
    matrix = sp.random(120, 60, density=0.15, format="csr", random_state=width, dtype=np.float32)
    matrix.data[:] = 1.0
    damping = rng.integers(1, 3, 60).astype(np.float32)  # few distinct values: many tied scores
    neighbors, scores = sims.neighbor_lists(matrix, damping, min_together, width)
    expected_neighbors, expected_scores = _reference_neighbours(matrix, damping, min_together, width)
    if width < 60:
        # Where a row is cut, which of several equal scores at the cut survive is argpartition's
        # choice: compare the scores there, and the full lists where nothing is cut.
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
        uncut = expected_neighbors[:, -1] == -1
        np.testing.assert_array_equal(neighbors[uncut], expected_neighbors[uncut])
    else:
        np.testing.assert_array_equal(neighbors, expected_neighbors)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)


def _row_by_row_neighbours(matrix: sp.csr_matrix, damping: np.ndarray, min_together: int, width: int):
    """``sims.neighbor_lists`` as it was, one co-occurrence row at a time: each row filtered and,
    when longer than ``width``, cut by ``np.argpartition`` on its own values."""
    item_users = matrix.T.tocsr()
    n_items = matrix.shape[1]
    width = min(width, max(n_items - 1, 1))
    neighbors = np.full((n_items, width), -1, dtype=np.int32)
    scores = np.zeros((n_items, width), dtype=np.float32)
    for start in range(0, n_items, sims.BLOCK):
        block = (item_users[start : start + sims.BLOCK] @ matrix).tocsr()
        for row in range(block.shape[0]):
            lo, hi = block.indptr[row], block.indptr[row + 1]
            cols, together = block.indices[lo:hi], block.data[lo:hi]
            keep = (cols != start + row) & (together >= max(min_together, 1))
            cols = cols[keep]
            value = together[keep] / damping[cols]
            if len(cols) > width:
                best = np.argpartition(-value, width - 1)[:width]
                cols, value = cols[best], value[best]
            sims._keep_best(neighbors, scores, start + row, cols, value)
    return neighbors, scores


@pytest.mark.parametrize(("width", "min_together", "block"), [(5, 1, 7), (40, 2, 1024), (3, 1, 1)])
def test_neighbour_lists_of_whole_blocks_are_the_row_by_row_ones_bit_for_bit(
    monkeypatch, width, min_together, block
):
    # Few distinct damping values and small counts: many ties exactly at the cut, where which
    # items survive is np.argpartition's choice, so this compares the items kept, not only scores.
    rng = np.random.default_rng(width)
    matrix = sp.random(400, 90, density=0.2, format="csr", random_state=width, dtype=np.float32)
    matrix.data[:] = 1.0
    damping = np.sqrt(rng.integers(1, 4, 90) + 1.0).astype(np.float32)
    monkeypatch.setattr(sims, "BLOCK", block)
    neighbors, scores = sims.neighbor_lists(matrix, damping, min_together, width)
    expected_neighbors, expected_scores = _row_by_row_neighbours(matrix, damping, min_together, width)
    assert (expected_neighbors[:, -1] >= 0).all()  # every row was cut: the argpartition path ran
    np.testing.assert_array_equal(neighbors, expected_neighbors)
    np.testing.assert_array_equal(scores.view(np.uint32), expected_scores.view(np.uint32))


def test_packed_item_score_column_order_is_the_three_key_lexsort():
    rng = np.random.default_rng(4)
    items = np.sort(rng.integers(3, 40, 5000))
    cols = rng.integers(0, 70_000, 5000)
    value = rng.choice([0.0, 0.25, 1.5, 3.0], 5000).astype(np.float32)
    expected = np.lexsort((cols, -value, items))
    order = sims._by_item_score_column(items, cols, value)
    keys = np.stack([items, -value, cols])
    np.testing.assert_array_equal(keys[:, order], keys[:, expected])  # equal keys may swap rows only
    # Outside what packs (float64 scores, negative scores) it is the lexsort itself.
    np.testing.assert_array_equal(sims._by_item_score_column(items, cols, value.astype(np.float64)), expected)
    negative = value - 1.0
    np.testing.assert_array_equal(
        sims._by_item_score_column(items, cols, negative), np.lexsort((cols, -negative, items))
    )


def test_row_solver_is_the_exact_least_squares_solution():
    rng = np.random.default_rng(8)
    targets = sp.random(50, 30, density=0.2, format="csr", random_state=3, dtype=np.float32)
    targets.data = (1.0 + 3.0 * targets.data).astype(np.float32)
    factors = rng.normal(0, 0.3, (30, 6)).astype(np.float32)
    rows = np.array([4, 0, 17, 49, 4])
    targets.data[targets.indptr[17] : targets.indptr[18]] = 0.0  # an empty row solves to 0
    targets.eliminate_zeros()
    solved = up._solve_rows(targets, rows, factors, 0.1)
    f = factors.astype(np.float64)
    for position, row in enumerate(rows.tolist()):
        lo, hi = targets.indptr[row], targets.indptr[row + 1]
        chosen, c = f[targets.indices[lo:hi]], targets.data[lo:hi].astype(np.float64)
        system = f.T @ f + 0.1 * np.eye(6) + (chosen.T * (c - 1.0)) @ chosen
        np.testing.assert_allclose(solved[position], np.linalg.solve(system, chosen.T @ c), atol=1e-5)
    assert not solved[2].any()
    assert up._solve_rows(targets, np.array([], dtype=np.int64), factors, 0.1).shape == (0, 6)


def test_column_counts_in_slices_are_bincount():
    indices = np.random.default_rng(1).integers(0, 97, 10_001).astype(np.int32)
    np.testing.assert_array_equal(
        column_counts(indices, 100, chunk=1000), np.bincount(indices, minlength=100)
    )
    assert column_counts(indices[:0], 5).tolist() == [0] * 5


def test_history_items_are_stored_as_small_as_the_catalog_allows():
    from picks.serving.rankers import FactorModel

    data = in_user_time_order(planted(seed=5).interactions)
    artifact = up.fit(data, PARAMS, seed=1)
    assert artifact.arrays["history_items"].dtype == np.uint16  # under 65,536 items
    model = FactorModel(artifact)
    matrix = up.confidence_matrix(data, PARAMS)
    for user in (0, 7, data.user_count - 1):
        items, confidences = model.history(user)
        assert items.dtype == np.int64
        np.testing.assert_array_equal(items, matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]])
        np.testing.assert_allclose(confidences, matrix.data[matrix.indptr[user] : matrix.indptr[user + 1]])


def test_user_counts_are_counted_once_and_cannot_be_changed():
    data = planted(seed=5).interactions
    counts = data.user_counts
    np.testing.assert_array_equal(counts, np.bincount(data.users, minlength=data.user_count))
    assert data.user_counts is counts
    with pytest.raises(ValueError):
        counts[0] += 1


def test_fit_loop_gives_implicits_factors_bit_for_bit():
    rng = np.random.default_rng(3)
    matrix = sp.random(300, 80, density=0.08, format="csr", dtype=np.float32, random_state=rng)
    matrix.data += 1.0
    reference = up._als(PARAMS, seed=5)
    reference.fit(matrix, show_progress=False)
    items, users = up._fit_factors(up._als(PARAMS, seed=5), matrix)
    assert np.array_equal(items, reference.item_factors)
    assert np.array_equal(users, reference.user_factors)
    assert items.shape == (80, 8) and np.abs(users).sum() > 0
    # The matrix's data is used as it is, not copied and not changed.
    before = matrix.data.copy()
    up._fit_factors(up._als(PARAMS, seed=5), matrix)
    assert np.array_equal(matrix.data, before)
