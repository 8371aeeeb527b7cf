"""What the USER_SEGMENTATION recipes (item_affinity, item_attribute_affinity) share: the factor
model, the holdout Personalize documents for them, and their offline metrics.

The model is the implicit-feedback ALS of ``user_personalization`` (same confidence matrix, same
solver): users × ``hidden_dimension`` and items × ``hidden_dimension`` factors, so a user's score
for an item is one dot product and a segment is the top of one matrix-vector product
(``picks.serving.segments``).

Holdout (developer guide, "Evaluating a solution version"): for USER_SEGMENTATION recipes 80% of
each user's interactions train and 20% test.  picks holds out each user's newest 20% (at least one
interaction of every user with two or more), so the test is the future, as for the other recipes.

Metrics (the guide's "hit (hit at K)" and "recall (recall at K)", K = the top 1% of users; the
JSON keys Personalize uses are not documented, so picks names them after K):

* ``hits_at_1_percent``: per segment, how many of its top-K users interacted with the segment's
  items in the test set; the mean over the evaluated segments.
* ``recall_at_1_percent``: the same hits as a share of the users who did interact with them in the
  test set (of at most K of them, so 1.0 is reachable), averaged.
* ``coverage``: the share of users that are in at least one evaluated segment.

The segments evaluated are up to ``EVALUATED_SEGMENTS`` (the batch job's own limit for items),
drawn with the job's seed among those with test interactions; each is scored by the very
functions a batch segment job calls.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from picks.model_artifact import ModelArtifact
from picks.serving.segments import SegmentModel, top_users

from training.data import Interactions, position_in_run
from training.recipes import user_personalization
from training.recipes.common import number, unique_user_counts

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

RECIPE_TYPE = "USER_SEGMENTATION"
TEST_SHARE = 0.2
SEGMENT_SHARE = 0.01
EVALUATED_SEGMENTS = 500
HIDDEN_DIMENSION = (32, 256)  # the documented range (defaults: picks.recipe_catalog)


def held_out_rows(interactions: Interactions, share: float = TEST_SHARE) -> np.ndarray:
    """Boolean mask over the rows: each user's newest ``share`` of interactions (rounded up; none
    for a user with a single interaction)."""
    order = interactions.by_user_newest
    users = interactions.users[order]
    counts = interactions.user_counts
    held = np.where(counts >= 2, np.ceil(share * counts), 0).astype(np.int64)
    mask = np.zeros(len(interactions), dtype=bool)
    mask[order[position_in_run(users) < held[users]]] = True
    return mask


def fit(
    recipe: str, interactions: Interactions, params: Mapping[str, str], seed: int
) -> tuple[ModelArtifact, sp.csr_matrix]:
    """(the factor model of ``interactions``, its confidence matrix)."""
    from threadpoolctl import threadpool_limits

    number(params, "hidden_dimension", int, *HIDDEN_DIMENSION)
    matrix = user_personalization.confidence_matrix(interactions, params)
    model = user_personalization._als(params, seed)  # noqa: SLF001 - the same solver settings
    with threadpool_limits(1, "blas"):  # implicit parallelises itself
        item_factors, user_factors = user_personalization._fit_factors(model, matrix)  # noqa: SLF001
    artifact = ModelArtifact(
        recipe=recipe,
        recipe_type=RECIPE_TYPE,
        item_ids=interactions.item_ids,
        user_ids=interactions.user_ids,
        arrays={
            "item_factors": np.ascontiguousarray(item_factors, dtype=np.float32),
            "user_factors": np.ascontiguousarray(user_factors, dtype=np.float32),
            "popularity": unique_user_counts(interactions),
        },
        info={"hyperParameters": dict(params), "latestInteraction": interactions.latest_timestamp},
    )
    return artifact, matrix


def segment_size(user_count: int) -> int:
    """K: the top 1% of users (at least one)."""
    return max(1, math.ceil(SEGMENT_SHARE * user_count))


def held_out_users_by_item(interactions: Interactions, test: np.ndarray) -> sp.csr_matrix:
    """items × users, 1 where the user interacted with the item in the test rows."""
    matrix = sp.csr_matrix(
        (
            np.ones(int(test.sum()), dtype=np.float32),
            (interactions.items[test], interactions.users[test]),
        ),
        shape=(interactions.item_count, interactions.user_count),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def segment_metrics(
    model: SegmentModel, vectors: np.ndarray, actual: Sequence[np.ndarray]
) -> dict[str, float]:
    """hits / recall at 1% and coverage of the segments of ``vectors`` (one per row) against the
    users who actually interacted (``actual``: user indices per segment)."""
    k = segment_size(model.user_count)
    if len(actual) == 0:
        return {"hits_at_1_percent": 0.0, "recall_at_1_percent": 0.0, "coverage": 0.0}
    ranked = top_users(model, vectors, k)
    pairs = zip(ranked, actual, strict=True)
    hits = np.array(
        [len(np.intersect1d(users, truth, assume_unique=True)) for (users, _), truth in pairs],
        dtype=np.float64,
    )
    reachable = np.array([min(k, len(truth)) for truth in actual], dtype=np.float64)
    covered = np.unique(np.concatenate([users for users, _ in ranked]))
    return {
        "hits_at_1_percent": float(hits.mean()),
        "recall_at_1_percent": float((hits / reachable).mean()),
        "coverage": len(covered) / max(1, model.user_count),
    }


def sample(count: int, seed: int, limit: int = EVALUATED_SEGMENTS) -> np.ndarray:
    """Up to ``limit`` of ``range(count)``, drawn with ``seed``, in increasing order."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))
