"""Steps of the BatchSegment workflow (declared in ``declaration.BATCH_SEGMENT``).

The plumbing is ``picks.workflows.batch_jobs``' (input read as the job's roleArn, quotas, staging,
all-or-nothing Publish); what is particular to a segment job is its ``config.json``: the recipe
(which member each input line has), ``numResults`` (users per line), the per-file query limit, and
the filter with the Users table it reads (bulk data merged with PutUsers records, as training
stages it) when it has a ``Users.FIELD`` condition.  A filter on ``Interactions.EVENT_TYPE`` reads
the model's copy of the training interactions (``training/batch_segment.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.domain.queries import group_datasets
from picks.filters import parse_cached
from picks.serving.segments import DEFAULT_USERS_PER_SEGMENT, ITEM_AFFINITY
from picks.workflows.batch_jobs import BatchJobKind, filter_expression, step_actions
from picks.workflows.solution_version import stage_entities

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

TASK = "batch-segment"
KIND = BatchJobKind(
    what="Batch segment job", arn_key="batchSegmentJobArn", task=TASK, session="batch-segment"
)
USERS_FOLDER = "users"


def configure(services: Services, job: Resource, version: Resource, channel: str) -> dict[str, Any]:
    model = version.version_state.model
    assert model is not None  # batch_jobs checked the version
    settings = services.settings
    config: dict[str, Any] = {
        "recipe": model.recipe,
        "recipeType": model.recipe_type,
        "numResults": int(job.doc.get("numResults") or DEFAULT_USERS_PER_SEGMENT),
        "solutionVersionArn": version.arn,
        "maxQueriesPerFile": settings.max_item_affinity_queries
        if model.recipe == ITEM_AFFINITY
        else settings.max_item_attribute_affinity_queries,
    }
    expression = filter_expression(services, job)
    if expression is None:
        return config
    config["filterExpression"] = expression
    if any(dataset == "USERS" for dataset, _ in parse_cached(expression).fields):
        users = group_datasets(services, version.doc["datasetGroupArn"]).get("USERS")
        if users is not None:
            stage_entities(services, users, channel + USERS_FOLDER)
            schema = services.resources.get(users.doc["schemaArn"], what="Schema")
            config["usersSchema"] = schema.doc["schema"]
    return config


ACTIONS = step_actions("batch_segment", KIND, configure)
