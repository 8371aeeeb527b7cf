"""aws-sims: item-to-item co-occurrence with popularity damping (RELATED_ITEMS).

Two items are related when the same users interacted with both.  The neighbour score is
``cooccurrences(i, j) / popularity(j) ** popularity_discount_factor``, so a blockbuster does not
become everybody's neighbour.  Hyperparameters, as Personalize names them:

* ``min_cointeraction_count``: pairs seen together fewer times are not neighbours.
* ``min/max_user_history_length_percentile``: users outside these percentiles of history length
  (one-off visitors, bots) do not contribute co-occurrences.
* ``min/max_item_interaction_count_percentile``: item popularity used for damping is clipped to
  these percentiles, so very rare items are not inflated and very popular ones not crushed.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from picks.models.artifact import ModelArtifact
from training.data import Interactions
from training.recipes.common import number, unique_user_counts

RECIPE = "aws-sims"
RECIPE_TYPE = "RELATED_ITEMS"
NEIGHBORS = 200
BLOCK = 1024
# Only the most recent interactions of very long histories count: co-occurrence cost grows with
# the square of a user's history, and old history says little about today's related items.
MAX_HISTORY = 500


def binary_matrix(interactions: Interactions, max_history: int = MAX_HISTORY,
                  users_kept: np.ndarray | None = None) -> sp.csr_matrix:
    """users × items, 1 where the user interacted, from each user's ``max_history`` newest items."""
    pairs, last = np.unique(
        interactions.users * np.int64(interactions.item_count) + interactions.items, return_index=True
    )
    users, items = pairs // interactions.item_count, pairs % interactions.item_count
    timestamps = interactions.timestamps[last]
    if users_kept is not None:
        keep = users_kept[users]
        users, items, timestamps = users[keep], items[keep], timestamps[keep]
    order = np.lexsort((-timestamps, users))
    users, items = users[order], items[order]
    starts = np.searchsorted(users, users, side="left")
    recent = (np.arange(len(users)) - starts) < max_history
    users, items = users[recent], items[recent]
    return sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)),
        shape=(interactions.user_count, interactions.item_count),
    )


def _user_item_matrix(interactions: Interactions, params: Mapping[str, str]) -> sp.csr_matrix:
    lengths = np.bincount(interactions.users, minlength=interactions.user_count)
    active = lengths[lengths > 0]
    low = np.quantile(active, number(params, "min_user_history_length_percentile", float, 0, 1))
    high = np.quantile(active, number(params, "max_user_history_length_percentile", float, 0, 1))
    return binary_matrix(interactions, users_kept=(lengths >= low) & (lengths <= high))


def neighbor_lists(matrix: sp.csr_matrix, damping: np.ndarray, min_together: int,
                   width: int = NEIGHBORS) -> tuple[np.ndarray, np.ndarray]:
    """Per item, its ``width`` best co-occurring items by ``cooccurrences / damping[j]`` (-1 pads).

    Scores are scaled so each item's best neighbour has 1.  Computed in item blocks so memory
    stays bounded by ``BLOCK`` rows of the co-occurrence matrix.
    """
    item_users = matrix.T.tocsr()
    n_items = matrix.shape[1]
    width = min(width, max(n_items - 1, 1))
    neighbors = np.full((n_items, width), -1, dtype=np.int32)
    scores = np.zeros((n_items, width), dtype=np.float32)
    for start in range(0, n_items, BLOCK):
        block = (item_users[start : start + BLOCK] @ matrix).tocsr()
        for row in range(block.shape[0]):
            item = start + row
            lo, hi = block.indptr[row], block.indptr[row + 1]
            cols, together = block.indices[lo:hi], block.data[lo:hi]
            keep = (cols != item) & (together >= max(min_together, 1))
            cols, together = cols[keep], together[keep]
            if len(cols) == 0:
                continue
            value = together / damping[cols]
            take = min(width, len(cols))
            best = np.argpartition(-value, take - 1)[:take] if take < len(cols) else np.arange(len(cols))
            best = best[np.lexsort((cols[best], -value[best]))]
            neighbors[item, :take] = cols[best]
            scores[item, :take] = value[best] / value[best[0]]
    return neighbors, scores


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    matrix = _user_item_matrix(interactions, params)
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    present = counts[counts > 0]
    if len(present):
        low = np.quantile(present, number(params, "min_item_interaction_count_percentile", float, 0, 1))
        high = np.quantile(present, number(params, "max_item_interaction_count_percentile", float, 0, 1))
    else:
        low = high = 1.0
    damping = np.power(np.clip(counts, max(low, 1.0), max(high, 1.0)),
                       number(params, "popularity_discount_factor", float, 0, 1)).astype(np.float32)
    neighbors, scores = neighbor_lists(matrix, damping, number(params, "min_cointeraction_count", int, 0))
    return ModelArtifact(
        recipe=RECIPE,
        recipe_type=RECIPE_TYPE,
        item_ids=interactions.item_ids,
        arrays={"popularity": unique_user_counts(interactions), "neighbors": neighbors, "neighbor_scores": scores},
        info={"hyperParameters": dict(params)},
    )
