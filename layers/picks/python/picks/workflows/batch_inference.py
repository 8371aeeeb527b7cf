"""Steps of the BatchInference workflow (declared in ``declaration.BATCH_INFERENCE``).

The plumbing is ``picks.workflows.batch_jobs``'; what is particular to batch inference is the
job's ``config.json``: the recipe type (which input lines mean what), ``numResults``, and the
filter with what it reads — the Items table (bulk data merged with PutItems records, as training
stages it) and, for a filter on ``CurrentUser``, the Users table — so the job evaluates filters
exactly as the runtime does (``training/batch_inference.py``).  Interaction filters read the
model's copy of the training interactions: like Personalize, batch inference uses the historical
data the solution version was trained on, not events recorded since.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.domain.queries import group_datasets
from picks.filters import parse_cached
from picks.workflows.batch_jobs import BatchJobKind, filter_expression, step_actions
from picks.workflows.solution_version import stage_entities

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

TASK = "batch-inference"
KIND = BatchJobKind(
    what="Batch inference job", arn_key="batchInferenceJobArn", task=TASK, session="batch-inference"
)
DEFAULT_RESULTS = 25
ENTITY_FOLDERS = {"ITEMS": "items", "USERS": "users"}


def configure(services: Services, job: Resource, version: Resource, channel: str) -> dict[str, Any]:
    model = version.version_state.model
    assert model is not None  # batch_jobs checked the version
    config: dict[str, Any] = {
        "recipe": model.recipe,
        "recipeType": model.recipe_type,
        "numResults": int(job.doc.get("numResults") or DEFAULT_RESULTS),
        "solutionVersionArn": version.arn,
        "batchInferenceJobConfig": job.doc.get("batchInferenceJobConfig") or {},
    }
    expression = filter_expression(services, job)
    if expression is None:
        return config
    config["filterExpression"] = expression
    needed = ["ITEMS"] + (["USERS"] if parse_cached(expression).uses_current_user else [])
    datasets = group_datasets(services, version.doc["datasetGroupArn"])
    for dataset_type in needed:
        dataset = datasets.get(dataset_type)
        if dataset is None:
            continue
        folder = ENTITY_FOLDERS[dataset_type]
        stage_entities(services, dataset, channel + folder)
        schema = services.resources.get(dataset.doc["schemaArn"], what="Schema")
        config[f"{folder}Schema"] = schema.doc["schema"]
    return config


ACTIONS = step_actions("batch_inference", KIND, configure)
