"""aws-ecomm-customers-who-viewed-x-also-viewed (Customers who viewed X also
viewed): the items most viewed by the customers who viewed a given one.

``aws-sims`` (item-to-item co-occurrence in user histories, damped by popularity, with SIMS's
defaults) over the ``View`` events alone, so the neighbours are co-views and nothing else; at
least 1000 ``View`` events are required (``use_cases.common``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import sims
from training.recipes.common import resolved_hyperparameters
from training.recipes.use_cases.common import UseCase

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob

RECIPE = "aws-ecomm-customers-who-viewed-x-also-viewed"
RECIPE_TYPE = sims.RECIPE_TYPE
USE_CASE = UseCase(RECIPE, "Customers who viewed X also viewed", event_type="View")
DEFAULTS = resolved_hyperparameters(sims.RECIPE, None)


def training_job(job: TrainingJob) -> TrainingJob:
    return USE_CASE.training_job(job)


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    return USE_CASE.labelled(sims.fit(interactions, {**DEFAULTS, **params}, seed=seed))
