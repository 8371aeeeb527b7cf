"""aws-similar-items: related items from interactions and item metadata (RELATED_ITEMS).

Two signals, blended per item:

* **co-occurrence**, as SIMS computes it (``training.recipes.sims.cooccurrence``, with the SIMS
  hyperparameters): each item's neighbours scaled so its best has 1;
* **metadata similarity**: the cosine of the items' feature rows (``training.features.featurize``
  over the ITEMS dataset: categorical values, numbers binned, TF-IDF of textual fields), negative
  cosines counted as 0.

The neighbour score of ``j`` for ``i`` is ``(1 - w_i) * cooccurrence(i, j) + w_i * cosine(i, j)``,
where ``w_i = metadata_weight + (1 - metadata_weight) * max(0, 1 - n_i / cold_item_interactions)``
and ``n_i`` is the number of users who interacted with ``i``: an item with no interactions is
described by its metadata alone, one with ``cold_item_interactions`` users or more by
``metadata_weight`` of it.  An item without metadata has ``w_i = 0`` (co-occurrence only).
A cold item ``j`` has no co-occurrence of its own: ``co(i, j)`` is estimated from the
``LOOK_ALIKES`` fully warm items it resembles most (``estimated_cooccurrence``), times its coldness,
so it enters the lists of the items its look-alikes co-occur with (on the demo data, holding out 10%
of items with all their interactions: recall@25 of a held-out item among its users' related items
0.20, SIMS 0; warm NDCG@25 0.190, SIMS 0.185).  Each
item keeps its ``NEIGHBORS`` best, scaled so the best has 1, as a SIMS model does: the same serving
model (``picks.serving.rankers.SimsModel``) answers, popular items for an unknown itemId.

The catalogue is every item with interactions (in the interactions' order, so holdout indices
line up) followed by the ITEMS dataset's items without interactions (cold items, popularity 0):
their neighbours come from metadata, and they can be neighbours of any item.

Hyperparameters: Personalize's ``item_id_hidden_dim`` / ``item_metadata_hidden_dim`` (sizes of its
neural embeddings) are accepted, as documented, and do not change picks' model, which works on the
sparse features directly.  picks' own: ``metadata_weight`` (0.3), ``cold_item_interactions`` (5,
the guide's "fewer than five interactions"), and SIMS's co-occurrence settings with SIMS's defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from picks.model_artifact import ModelArtifact

from training.features import featurize
from training.recipes import sims
from training.recipes.common import number, unique_user_counts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.ingest.columnar import ColumnTable

    from training.data import Interactions

RECIPE = "aws-similar-items"
RECIPE_TYPE = "RELATED_ITEMS"
# The dataset tables ``fit`` takes besides the interactions (training.train passes them by name).
TABLES = ("items",)
NEIGHBORS = sims.NEIGHBORS
# How many fully warm items a cold item's co-occurrence is estimated from (estimated_cooccurrence).
LOOK_ALIKES = 20
# Dense similarity rows held at once: rows × catalogue float32 stays under ~128 MB.
BLOCK_CELLS = 1 << 25


def catalogue(interactions: Interactions, items: ColumnTable | None) -> np.ndarray:
    """The model's item ids: the interactions' items, then the ITEMS dataset's other items."""
    if items is None or "ITEM_ID" not in items:
        return interactions.item_ids
    listed = [value for value in items["ITEM_ID"].decoded().tolist() if value is not None]
    cold = np.setdiff1d(np.array(listed, dtype=object), interactions.item_ids)
    if len(cold) == 0:
        return interactions.item_ids
    return np.concatenate([interactions.item_ids, cold.astype(object)])


def metadata_weights(
    popularity: np.ndarray, has_metadata: np.ndarray, metadata_weight: float, cold_interactions: int
) -> np.ndarray:
    """``w_i`` of the module docstring per item."""
    if cold_interactions > 0:
        coldness = np.clip(1.0 - popularity / cold_interactions, 0.0, 1.0)
    else:  # no item counts as cold: with metadata_weight 0, metadata is not used at all
        coldness = np.zeros(len(popularity))
    weight = metadata_weight + (1.0 - metadata_weight) * coldness
    return np.where(has_metadata, weight, 0.0).astype(np.float32)


def blend(
    co_neighbors: np.ndarray,
    co_scores: np.ndarray,
    features: sp.csr_matrix,
    weights: np.ndarray,
    width: int = NEIGHBORS,
    estimated: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per item of ``features``' rows, its ``width`` best neighbours by the blended score (-1
    pads), best scaled to 1.  ``co_neighbors`` / ``co_scores`` cover the first rows (items with
    interactions); ``weights`` are the ``w_i``; ``estimated`` (those rows × every item), the
    co-occurrence of cold items as ``estimated_cooccurrence`` guesses it, counts as co-occurrence."""
    n_items = features.shape[0]
    width = min(width, max(n_items - 1, 1))
    neighbors = np.full((n_items, width), -1, dtype=np.int32)
    scores = np.zeros((n_items, width), dtype=np.float32)
    if features.nnz == 0:  # no metadata: co-occurrence as it is (no dense rows over the catalogue)
        kept = min(width, co_neighbors.shape[1])
        neighbors[: len(co_neighbors), :kept] = co_neighbors[:, :kept]
        scores[: len(co_scores), :kept] = co_scores[:, :kept]
        return neighbors, scores
    transposed = sp.csr_matrix(features.T)
    step = max(1, min(sims.BLOCK, BLOCK_CELLS // max(n_items, 1)))
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        rows = np.arange(start, stop)
        similarity = np.asarray((features[start:stop] @ transposed).todense(), dtype=np.float32)
        blended = np.maximum(similarity, 0.0) * weights[start:stop, None]
        warm = rows[rows < len(co_neighbors)]
        if len(warm):
            cols = co_neighbors[warm]
            valid = cols >= 0
            owner = np.broadcast_to((warm - start)[:, None], cols.shape)[valid]
            share = np.broadcast_to((1.0 - weights[warm])[:, None], cols.shape)[valid]
            blended[owner, cols[valid]] += share * co_scores[warm][valid]
            if estimated is not None:
                guessed = estimated[warm[0] : warm[-1] + 1].toarray()
                blended[warm - start] += (1.0 - weights[warm])[:, None] * guessed
        blended[rows - start, rows] = 0.0  # an item is not its own neighbour
        _keep_top(neighbors, scores, blended, start, width)
    return neighbors, scores


def estimated_cooccurrence(
    co_neighbors: np.ndarray,
    co_scores: np.ndarray,
    features: sp.csr_matrix,
    coldness: np.ndarray,
    look_alikes: int = LOOK_ALIKES,
) -> sp.csr_matrix:
    """(items with interactions × every item): for each cold item ``j`` (``coldness`` > 0, with
    metadata), ``coldness[j]`` times its co-occurrence as its ``look_alikes`` most similar fully
    warm items have it, weighted by their cosine: ``sum_k cos(j, k) * co(i, k) / sum_k cos(j, k)``.
    A cold item thus follows the items it resembles into their co-occurring items' lists."""
    n_warm, n_items = len(co_neighbors), features.shape[0]
    has_metadata = np.diff(features.indptr) > 0
    donors = np.flatnonzero((coldness[:n_warm] == 0) & has_metadata[:n_warm])
    targets = np.flatnonzero((coldness > 0) & has_metadata)
    if len(donors) == 0 or len(targets) == 0:
        return sp.csr_matrix((n_warm, n_items), dtype=np.float32)
    valid = co_neighbors >= 0
    cooccurrence = sp.csr_matrix(
        (co_scores[valid], (np.nonzero(valid)[0], co_neighbors[valid])), shape=(n_warm, n_items)
    )
    keep = min(look_alikes, len(donors))
    donor_features = sp.csr_matrix(features[donors].T)
    step = max(1, BLOCK_CELLS // len(donors))
    rows, cols, values = [], [], []
    for start in range(0, len(targets), step):
        chunk = targets[start : start + step]
        similarity = np.maximum(np.asarray((features[chunk] @ donor_features).todense()), 0.0)
        similarity[chunk[:, None] == donors[None, :]] = 0.0  # a partly warm item is not its own donor
        best = np.argpartition(-similarity, keep - 1, axis=1)[:, :keep]
        weight = np.take_along_axis(similarity, best, axis=1)
        total = weight.sum(axis=1, keepdims=True)
        weight = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0) * coldness[chunk, None]
        rows.append(donors[best].ravel())
        cols.append(np.repeat(chunk, keep))
        values.append(weight.ravel())
    transfer = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    )
    return sp.csr_matrix(cooccurrence @ transfer, dtype=np.float32)


def _keep_top(neighbors: np.ndarray, scores: np.ndarray, blended: np.ndarray, start: int, width: int) -> None:
    """Rows ``start ..`` of (neighbors, scores) from a dense block of blended scores: the ``width``
    best positive entries of each row, ordered as SIMS orders them (``sims._keep_best_rows``)."""
    if blended.shape[1] > width:
        top = np.argpartition(-blended, width - 1, axis=1)[:, :width]
    else:
        top = np.broadcast_to(np.arange(blended.shape[1]), blended.shape)
    values = np.take_along_axis(blended, top, axis=1)
    row, position = np.nonzero(values > 0)
    sims._keep_best_rows(
        neighbors,
        scores,
        (row + start).astype(np.int64),
        top[row, position].astype(np.int64),
        values[row, position],
    )


def fit(
    interactions: Interactions,
    params: Mapping[str, str],
    *,
    seed: int = 0,
    items: ColumnTable | None = None,
) -> ModelArtifact:
    item_ids = catalogue(interactions, items)
    popularity = np.zeros(len(item_ids), dtype=np.float32)
    popularity[: interactions.item_count] = unique_user_counts(interactions)
    co_neighbors, co_scores = sims.cooccurrence(interactions, params)
    features = featurize(item_ids, items)
    cold_interactions = number(params, "cold_item_interactions", int, 0)
    weights = metadata_weights(
        popularity, features.has_metadata, number(params, "metadata_weight", float, 0, 1), cold_interactions
    )
    coldness = metadata_weights(popularity, np.ones(len(item_ids), dtype=bool), 0.0, cold_interactions)
    estimated = estimated_cooccurrence(co_neighbors, co_scores, features.matrix, coldness)
    neighbors, scores = blend(co_neighbors, co_scores, features.matrix, weights, estimated=estimated)
    return ModelArtifact(
        recipe=RECIPE,
        recipe_type=RECIPE_TYPE,
        item_ids=item_ids,
        arrays={"popularity": popularity, "neighbors": neighbors, "neighbor_scores": scores},
        info={
            "hyperParameters": dict(params),
            "metadataFeatures": {name: stop - begin for name, (begin, stop) in features.groups.items()},
        },
    )
