"""CreateSolutionVersion / DescribeSolutionVersion / ListSolutionVersions /
StopSolutionVersionCreation / GetSolutionMetrics.

Creating a version records it as CREATE PENDING and starts the SolutionVersionTraining workflow;
its steps (``picks.workflows``) move it to CREATE IN_PROGRESS and then ACTIVE or CREATE FAILED, and
set the trained model and its metrics in the version's private state
(``picks.domain.resources.SolutionVersionState``).  If the workflow cannot be started the record is
removed and the caller gets the error, so no version is left pending forever.  Everything a
version needs is checked here first (imported interactions, the training mode, one version in
progress per solution), so a request that cannot train fails at once with a field-naming error
instead of as a CREATE FAILED version minutes later.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from picks import arns
from picks import recipe_catalog as catalog
from picks.controlplane import solutions
from picks.controlplane.common import list_page, new_resource
from picks.controlplane.registry import operation
from picks.dataset_schema import metadata_fields
from picks.domain.queries import dataset_schema, group_dataset, has_imported_interactions
from picks.domain.resources import SOLUTION_VERSION_KIND
from picks.domain.states import ACTIVE, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPED, CREATE_STOPPING
from picks.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

KIND = SOLUTION_VERSION_KIND
WHAT = "Solution version"
# Declared in picks.workflows.declaration; named here so this module does not depend on the steps.
TRAINING_WORKFLOW = "SolutionVersionTraining"
TRAINING_MODES = ("FULL", "UPDATE", "AUTOTRAIN")
_ID_ATTEMPTS = 3
ITEM_ATTRIBUTE_AFFINITY = "aws-item-attribute-affinity"


def get_version(services: Services, arn: str, field: str = "solutionVersionArn") -> Resource:
    return solutions.get_resource(services, arn, kind=KIND, what=WHAT, field=field)


def _check_recipe_datasets(services: Services, group_arn: str, recipe: catalog.Recipe) -> None:
    """Item-Attribute-Affinity trains on item metadata (developer guide): the group needs an Items
    dataset whose schema has a non-textual, non-reserved metadata column to query."""
    if recipe.name != ITEM_ATTRIBUTE_AFFINITY:
        return
    items = group_dataset(services, group_arn, "ITEMS")
    if items is None:
        raise InvalidInputException(
            f"solutionArn: recipe {recipe.name} needs an Items dataset; dataset group {group_arn} has "
            "none. Create one with a non-textual metadata column (e.g. a categorical GENRES) and import "
            "items."
        )
    queryable = [
        f.name
        for f in metadata_fields(dataset_schema(services, items), "ITEMS")
        if not f.textual and f.type != "boolean"
    ]
    if not queryable:
        raise InvalidInputException(
            f"solutionArn: recipe {recipe.name} needs an Items dataset with at least one non-textual, "
            f"non-reserved metadata column; the schema of {items.arn} has none."
        )


def _check_training_mode(services: Services, solution: Resource, recipe: catalog.Recipe, mode: str) -> None:
    if mode != "UPDATE":
        return
    if not recipe.update_training:
        allowed = ", ".join(r.name for r in catalog.RECIPES.values() if r.update_training and r.implemented)
        raise InvalidInputException(
            f"trainingMode: UPDATE is only for {allowed}; recipe {recipe.name} retrains with FULL."
        )
    has_full = any(
        version.doc.get("status") == ACTIVE and version.doc.get("trainingMode") == "FULL"
        for version in solutions.versions_of(services, solution.arn)
    )
    if not has_full:
        raise InvalidInputException(
            f"trainingMode: UPDATE needs an ACTIVE FULL version of {solution.arn}; "
            "create one with trainingMode FULL first."
        )


@operation("CreateSolutionVersion")
def create_solution_version(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    solution = solutions.get_solution(services, params["solutionArn"])
    mode = params.get("trainingMode", "FULL")
    if mode == "AUTOTRAIN":
        raise InvalidInputException(
            "trainingMode: AUTOTRAIN marks versions that automatic training creates; use FULL or UPDATE."
        )
    arn = start_training(services, solution, mode=mode, name=params.get("name"), tags=params.get("tags"))
    return {"solutionVersionArn": arn}


def start_training(
    services: Services,
    solution: Resource,
    *,
    mode: str,
    name: str | None = None,
    tags: list[dict[str, str]] | None = None,
    version_id: str | None = None,
) -> str:
    """Record a new version of ``solution`` (CREATE PENDING) and start its training; returns its ARN.

    CreateSolutionVersion and automatic training (``mode`` AUTOTRAIN, ``trainingType`` AUTOMATIC)
    share every check.  A given ``version_id`` names the version (automatic training derives it
    from the schedule's slot, so a repeated tick finds the version it made instead of making
    another: ResourceAlreadyExistsException)."""
    if solution.doc.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"solutionArn: {solution.arn} is {solution.doc.get('status')}, not ACTIVE."
        )
    recipe = catalog.recipe_for_arn(solution.doc["recipeArn"])
    _check_training_mode(services, solution, recipe, mode)
    group_arn = solution.doc["datasetGroupArn"]
    _check_recipe_datasets(services, group_arn, recipe)
    if not has_imported_interactions(services, group_arn):
        raise InvalidInputException(
            f"solutionArn: dataset group {group_arn} has no imported interactions; import them into its "
            "INTERACTIONS dataset with CreateDatasetImportJob first."
        )
    busy = solutions.busy_version(services, solution.arn)
    if busy is not None:
        raise ResourceInUseException(
            f"solutionArn: solution version {busy.arn} is {busy.doc['status']}; one version trains at a time."
        )
    if name is not None and any(
        v.doc.get("name") == name for v in solutions.versions_of(services, solution.arn)
    ):
        raise ResourceAlreadyExistsException(f"name: {solution.arn} already has a version named {name}.")
    doc = {
        "name": name,
        "solutionArn": solution.arn,
        "performHPO": solution.doc.get("performHPO", False),
        "performAutoML": solution.doc.get("performAutoML", False),
        "performIncrementalUpdate": solution.doc.get("performIncrementalUpdate"),
        "recipeArn": solution.doc["recipeArn"],
        "eventType": solution.doc.get("eventType"),
        "datasetGroupArn": group_arn,
        "solutionConfig": solution.doc.get("solutionConfig") or {},
        "trainingMode": mode,
        "trainingType": "AUTOMATIC" if mode == "AUTOTRAIN" else "MANUAL",
        "status": CREATE_PENDING,
    }
    arn = _create_with_fresh_id(services, solution, doc, tags, version_id)
    execution = f"{arns.parse(solution.arn).path}-{arn.rsplit('/', 1)[1]}"
    try:
        services.workflows.start(TRAINING_WORKFLOW, execution, {"solutionVersionArn": arn})
    except Exception:
        services.resources.delete(arn)
        raise
    return arn


def _create_with_fresh_id(
    services: Services,
    solution: Resource,
    doc: dict[str, Any],
    tags: list[dict[str, str]] | None,
    version_id: str | None = None,
) -> str:
    # Versions are <solutionArn>/<8 hex chars>, like Personalize's; retry the rare collision.
    for attempt in range(_ID_ATTEMPTS):
        arn = f"{solution.arn}/{version_id or uuid.uuid4().hex[:8]}"
        resource = new_resource(
            services, KIND, arn, {**doc, "solutionVersionArn": arn}, parent=solution.arn, tags=tags
        )
        try:
            services.resources.create(resource, what=WHAT)
            return arn
        except ResourceAlreadyExistsException:
            if version_id is not None or attempt == _ID_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@operation("DescribeSolutionVersion")
def describe_solution_version(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"solutionVersion": get_version(services, params["solutionVersionArn"]).to_wire()}


@operation("ListSolutionVersions")
def list_solution_versions(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("solutionArn")
    if parent:
        solutions.get_solution(services, parent)
    page, token = list_page(
        services, params, kind=KIND, fields=solutions.VERSION_SUMMARY_FIELDS, parent=parent
    )
    return {"solutionVersions": page, "nextToken": token}


@operation("StopSolutionVersionCreation")
def stop_solution_version_creation(services: Services, params: dict[str, Any]) -> None:
    version = get_version(services, params["solutionVersionArn"])

    def apply(resource: Resource) -> None:
        # Decided on the freshly read record: the workflow may have moved it meanwhile.
        status = resource.doc.get("status")
        if status == CREATE_PENDING:
            resource.doc["status"] = CREATE_STOPPED
        elif status == CREATE_IN_PROGRESS:
            resource.doc["status"] = CREATE_STOPPING
        else:
            raise ResourceInUseException(
                f"solutionVersionArn: {resource.arn} is {status}; only a CREATE PENDING or "
                "CREATE IN_PROGRESS version can be stopped."
            )
        resource.doc["lastUpdatedDateTime"] = services.clock()

    stopped = services.resources.update(version.arn, apply, what=WHAT)
    training_jobs = getattr(services, "training_jobs", None)
    job_name = stopped.version_state.training_job_name
    if stopped.doc["status"] == CREATE_STOPPING and training_jobs is not None and job_name:
        training_jobs.stop(job_name)


@operation("GetSolutionMetrics")
def get_solution_metrics(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    version = get_version(services, params["solutionVersionArn"])
    if version.doc.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"solutionVersionArn: {version.arn} is {version.doc.get('status')}; "
            "metrics exist once it is ACTIVE."
        )
    return {"solutionVersionArn": version.arn, "metrics": version.version_state.metrics}
