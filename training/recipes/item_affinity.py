"""aws-item-affinity (USER_SEGMENTATION): for an item, the users most likely to interact with it.

The factor model of ``segmentation`` (implicit ALS); a segment is the top of the users' scores
for the item's factor vector (``picks.serving.segments.users_for_items``).  Metrics: hits and
recall at the top 1% of users, per held-out item (``segmentation``'s docstring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from picks.serving.segments import SegmentModel

from training.recipes import segmentation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob

RECIPE = "aws-item-affinity"
RECIPE_TYPE = segmentation.RECIPE_TYPE


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    return segmentation.fit(RECIPE, interactions, params, seed)[0]


def evaluate(
    model: ModelArtifact, interactions: Interactions, held_out: np.ndarray, seed: int
) -> dict[str, float]:
    """Metrics of ``model`` (trained without the ``held_out`` rows) on the items users interacted
    with in those rows."""
    truth = segmentation.held_out_users_by_item(interactions, held_out)
    tested = np.flatnonzero(np.diff(truth.indptr) > 0)
    items = tested[segmentation.sample(len(tested), seed)]
    segments = SegmentModel(model)
    actual = [truth.indices[truth.indptr[i] : truth.indptr[i + 1]] for i in items.tolist()]
    return segmentation.segment_metrics(segments, segments.item_factors[items], actual)


def fit_and_measure(job: TrainingJob, params: Mapping[str, str]) -> tuple[ModelArtifact, dict[str, float]]:
    """(the model on all interactions, its holdout metrics)."""
    interactions = job.interactions
    held_out = segmentation.held_out_rows(interactions)
    split_model = fit(interactions.subset(~held_out), params, seed=job.seed)
    metrics = evaluate(split_model, interactions, held_out, job.seed)
    return fit(interactions, params, seed=job.seed), metrics
