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
A cold item ``j`` has no co-occurrence of its own: ``co(i, j)`` is estimated through a factor
space learned from the warm items (``cold_cooccurrence``: a truncated SVD of the co-occurrence,
a ridge map from the feature rows to the items' factors, calibrated so predictions spread as the
warm items' factors do), times its coldness, so it enters the lists of the items whose users its
metadata predicts.  Measured (holding out 10% of the items with all their interactions; recall@25
of the held-out items in the list of each of their users' latest training item; warm NDCG@25 of
the training holdout): ml-latest-small (``bench.coldstart_bench``) recall 0.0092 against 0.0034 for
the metadata kNN of the same item and 0.0011 with the earlier look-alike estimate, NDCG@25 0.132
(0.134 before); demo data (1,000 users, 500 items) recall 0.18 (SIMS 0, look-alike estimate 0.06),
NDCG@25 0.196 (SIMS 0.191, look-alike estimate with ``metadata_weight`` 0.3 0.220).  Each
item keeps its ``NEIGHBORS`` best, scaled so the best has 1, as a SIMS model does: the same serving
model (``picks.serving.rankers.SimsModel``) answers, popular items for an unknown itemId.

The catalogue is every item with interactions (in the interactions' order, so holdout indices
line up) followed by the ITEMS dataset's items without interactions (cold items, popularity 0):
their neighbours come from metadata, and they can be neighbours of any item.

Hyperparameters: Personalize's ``item_id_hidden_dim`` (100) is the rank of the co-occurrence factors
above; ``item_metadata_hidden_dim`` is accepted, as documented, and does not change picks' model,
which works on the sparse features directly.  picks' own: ``metadata_weight`` (0.1: on
ml-latest-small 0.3 costs warm NDCG@25 0.132 → 0.125 with the estimate above; on the demo data,
whose metadata is more telling, 0.3 measures 0.207), ``cold_item_interactions`` (5, the guide's
"fewer than five interactions"), and SIMS's co-occurrence settings with SIMS's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from picks.model_artifact import ModelArtifact

from training import metadata
from training.data import listed_ids
from training.features import FeatureMatrix, featurize
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
# Dense similarity rows held at once: rows × catalogue float32 stays under ~128 MB.
BLOCK_CELLS = 1 << 25
# The regularization of the map from metadata to co-occurrence factors (cold_cooccurrence; on
# ml-latest-small 0.3 and 1.0 measured alike, 0.01 over-fits).
RIDGE = 1.0
# A map learned from fewer fully warm items with metadata than this says little: no estimate.
MIN_DONORS = 20


@dataclass(frozen=True)
class ColdCooccurrence:
    """The estimated co-occurrence of cold items: ``rows[i] @ vectors[c]`` for item ``i`` with
    interactions and cold item ``items[c]`` (``cold_cooccurrence``)."""

    rows: np.ndarray  # items with interactions × rank
    items: np.ndarray  # the cold items' indices
    vectors: np.ndarray  # one per cold item × rank


@dataclass(frozen=True)
class Prepared:
    """What ``fit`` derives from the ITEMS dataset: the catalogue and its feature rows.  Built once
    per job (``prepare``) and used as it is by the holdout split's model, the final one and every
    HPO trial: a subset of the interactions keeps their item ids, so the catalogue, and neither the
    catalogue nor the features depend on users or hyperparameters."""

    interaction_items: np.ndarray  # the item ids of the interactions it was built for
    item_ids: np.ndarray  # catalogue(interactions, items)
    features: FeatureMatrix  # featurize(item_ids, items)

    def without(self, users: np.ndarray) -> Prepared:
        """The same (``users`` are ignored): no part of it depends on users."""
        return self

    def fits(self, interactions: Interactions, params: Mapping[str, str]) -> bool:
        """Whether it was built for these interactions' items (any ``params``)."""
        return self.interaction_items is interactions.item_ids or np.array_equal(
            self.interaction_items, interactions.item_ids
        )


def prepare(
    interactions: Interactions, params: Mapping[str, str], *, items: ColumnTable | None = None
) -> Prepared:
    """The catalogue of ``interactions`` and ``items`` and its feature rows, for ``fit(prepared=)``."""
    del params  # accepted as every recipe's prepare takes it: the metadata does not depend on them
    item_ids = catalogue(interactions, items)
    return Prepared(interactions.item_ids, item_ids, featurize(item_ids, items))


def catalogue(interactions: Interactions, items: ColumnTable | None) -> np.ndarray:
    """The model's item ids: the interactions' items, then the ITEMS dataset's other items (sorted)."""
    listed, _ = listed_ids(items, "ITEM_ID")
    if len(listed) == 0:
        return interactions.item_ids
    cold = np.setdiff1d(listed, interactions.item_ids)
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
    estimated: ColdCooccurrence | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per item of ``features``' rows, its ``width`` best neighbours by the blended score (-1
    pads), best scaled to 1.  ``co_neighbors`` / ``co_scores`` cover the first rows (items with
    interactions); ``weights`` are the ``w_i``; ``estimated``, the co-occurrence of cold items with
    those rows as ``cold_cooccurrence`` estimates it (negative estimates as 0), counts as
    co-occurrence."""
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
                guessed = np.maximum(estimated.rows[warm] @ estimated.vectors.T, 0.0)
                blended[(warm - start)[:, None], estimated.items] += (1.0 - weights[warm])[:, None] * guessed
        blended[rows - start, rows] = 0.0  # an item is not its own neighbour
        _keep_top(neighbors, scores, blended, start, width)
    return neighbors, scores


def cold_cooccurrence(
    co_neighbors: np.ndarray,
    co_scores: np.ndarray,
    features: sp.csr_matrix,
    coldness: np.ndarray,
    rank: int,
    seed: int = 0,
) -> ColdCooccurrence | None:
    """The co-occurrence of each cold item ``j`` (``coldness`` > 0, with metadata) with the items
    that have interactions, estimated through a factor space learned from the warm ones:

    * factors: ``C ≈ U S Vᵀ`` at ``rank`` (``truncated_svd``), ``C`` the items' co-occurrence
      (rows as ``co_neighbors`` / ``co_scores`` hold them, best 1): item ``k`` as a column is ``v_k``;
    * a ridge map (``training.metadata.ridge``, features plus a constant) from the feature rows of
      the fully warm items with metadata to their ``v_k``, and ``j``'s prediction ``v̂_j``;
    * calibrated so the predictions of the warm items spread as their factors do (``‖S v̂‖`` summed
      over them equals ``‖S v‖`` summed): a ridge prediction is an average of alike items' factors,
      narrower than any of them, and uncalibrated a cold item would never reach a list;
    * ``co(i, j) ≈ (U S)_i · v̂_j``, times ``coldness[j]``.

    None when no item is cold or fewer than ``MIN_DONORS`` fully warm items have metadata."""
    n_warm = len(co_neighbors)
    has_metadata = np.diff(features.indptr) > 0
    donors = np.flatnonzero((coldness[:n_warm] == 0) & has_metadata[:n_warm])
    targets = np.flatnonzero((coldness > 0) & has_metadata)
    if len(donors) < MIN_DONORS or len(targets) == 0:
        return None
    valid = co_neighbors >= 0
    cooccurrence = sp.csr_matrix(
        (co_scores[valid].astype(np.float64), (np.nonzero(valid)[0], co_neighbors[valid])),
        shape=(n_warm, n_warm),
    )
    rows, columns = truncated_svd(cooccurrence, max(1, min(rank, n_warm - 1)), seed)
    design = metadata.with_constant(features)
    weights = metadata.ridge(design[donors], columns[donors], RIDGE)
    strength = np.linalg.norm(rows, axis=0)
    fitted = float(((np.asarray(design[donors] @ weights) * strength) ** 2).sum())
    observed = float(((columns[donors] * strength) ** 2).sum())
    spread = np.sqrt(observed / fitted) if fitted > 0 else 0.0
    vectors = np.asarray(design[targets] @ weights) * (spread * coldness[targets, None])
    return ColdCooccurrence(rows.astype(np.float32), targets, vectors.astype(np.float32))


def truncated_svd(
    matrix: sp.csr_matrix, rank: int, seed: int, passes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """(``U·S``, ``V``) of ``matrix ≈ U S Vᵀ`` at ``rank`` (randomized range finder with power
    iterations, seeded: the same matrix and seed give the same factors)."""
    rng = np.random.default_rng(seed)
    sketch = matrix @ rng.standard_normal((matrix.shape[1], rank + 10))
    basis = np.linalg.qr(sketch)[0]
    for _ in range(passes):
        basis = np.linalg.qr(matrix.T @ basis)[0]
        basis = np.linalg.qr(matrix @ basis)[0]
    left, values, right = np.linalg.svd(np.asarray((matrix.T @ basis).T), full_matrices=False)
    return (basis @ left)[:, :rank] * values[:rank], right[:rank].T


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
    prepared: Prepared | None = None,
) -> ModelArtifact:
    """The model of ``interactions`` and ``items``; ``prepared``: their ``prepare`` output when the
    caller has it already (where it fits ``interactions``, ``items`` is not read)."""
    if prepared is None or not prepared.fits(interactions, params):
        prepared = prepare(interactions, params, items=items)
    item_ids, features = prepared.item_ids, prepared.features
    popularity = np.zeros(len(item_ids), dtype=np.float32)
    popularity[: interactions.item_count] = unique_user_counts(interactions)
    co_neighbors, co_scores = sims.cooccurrence(interactions, params)
    cold_interactions = number(params, "cold_item_interactions", int, 0)
    weights = metadata_weights(
        popularity, features.has_metadata, number(params, "metadata_weight", float, 0, 1), cold_interactions
    )
    coldness = metadata_weights(popularity, np.ones(len(item_ids), dtype=bool), 0.0, cold_interactions)
    rank = number(params, "item_id_hidden_dim", int, 1)
    estimated = cold_cooccurrence(co_neighbors, co_scores, features.matrix, coldness, rank, seed)
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
