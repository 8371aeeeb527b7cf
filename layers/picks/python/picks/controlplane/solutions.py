"""CreateSolution / DescribeSolution / ListSolutions / UpdateSolution / DeleteSolution.

A solution is only a training configuration (recipe + solutionConfig), so it is ACTIVE as soon as it
is created; training happens per solution version.  CreateSolution is where picks says which
recipes it can train: every Personalize recipe is in the catalog, but a solution can only name one
picks implements, and domain use cases belong to recommenders.  picks has no AutoML, so a solution
must name its recipe.

Solution versions are children of the solution (``parent`` = solution ARN); the queries about them
that this module and ``solution_versions`` share live here, the way ``datasets`` holds the import-job
queries.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from picks import recipe_catalog as catalog
from picks.controlplane import dataset_groups
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource, summary
from picks.controlplane.registry import operation
from picks.domain.resources import CAMPAIGN_KIND, SOLUTION_VERSION_KIND
from picks.domain.states import ACTIVE, VERSION_BUSY_STATES
from picks.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
)

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

KIND = "solution"
WHAT = "Solution"

DEFAULT_SCHEDULE = "rate(7 days)"
_SCHEDULE = re.compile(r"rate\((\d+) days?\)")
MAX_SCHEDULE_DAYS = 30
# Only aws-semantic-similarity supports incremental updates, and picks does not train it.
INCREMENTAL_UPDATE_RECIPES = frozenset({"aws-semantic-similarity"})

VERSION_SUMMARY_FIELDS = (
    "solutionVersionArn",
    "status",
    "trainingMode",
    "trainingType",
    "creationDateTime",
    "lastUpdatedDateTime",
    "failureReason",
)


def get_resource(services: Services, arn: str, *, kind: str, what: str, field: str) -> Resource:
    """The resource at ``arn``, or ResourceNotFoundException naming the request field."""
    resource = services.resources.find(arn)
    if resource is None or resource.kind != kind:
        raise ResourceNotFoundException(f"{field}: {what} {arn} does not exist.")
    return resource


def get_solution(services: Services, arn: str, field: str = "solutionArn") -> Resource:
    return get_resource(services, arn, kind=KIND, what=WHAT, field=field)


def versions_of(services: Services, solution_arn: str) -> list[Resource]:
    """The solution's versions, oldest first."""
    return services.resources.list(SOLUTION_VERSION_KIND, parent=solution_arn)


def busy_version(services: Services, solution_arn: str) -> Resource | None:
    for version in versions_of(services, solution_arn):
        if version.doc.get("status") in VERSION_BUSY_STATES:
            return version
    return None


def _checked_schedule(config: dict[str, Any] | None, field: str) -> None:
    # The model's pattern admits any number of days; the developer guide allows 1 to 30.
    expression = (config or {}).get("schedulingExpression")
    if expression is None:
        return
    match = _SCHEDULE.fullmatch(expression)
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_SCHEDULE_DAYS:
        raise InvalidInputException(
            f"{field}: '{expression}' must be rate(N days) with N from 1 to {MAX_SCHEDULE_DAYS}."
        )


def _check_incremental_update(recipe: catalog.Recipe, requested: bool | None) -> None:
    if requested and recipe.name not in INCREMENTAL_UPDATE_RECIPES:
        raise InvalidInputException(
            "performIncrementalUpdate: only the aws-semantic-similarity recipe supports incremental "
            f"updates, not {recipe.name}."
        )


def _trainable_recipe(params: dict[str, Any]) -> catalog.Recipe:
    if params.get("performAutoML"):
        raise InvalidInputException(
            "performAutoML: picks has no AutoML; leave performAutoML false and name the recipe to train "
            "in recipeArn (ListRecipes lists them)."
        )
    if not params.get("recipeArn"):
        raise InvalidInputException("recipeArn: picks needs the recipe to train; ListRecipes lists them.")
    recipe = catalog.recipe_for_arn(params["recipeArn"])
    if recipe.domain is not None:
        raise InvalidInputException(
            f"recipeArn: {recipe.arn} is a {recipe.domain} domain use case; use it with CreateRecommender, "
            "not CreateSolution."
        )
    if not recipe.implemented:
        trainable = ", ".join(r.name for r in catalog.RECIPES.values() if r.implemented)
        raise InvalidInputException(
            f"recipeArn: recipe {recipe.name} is listed but not trainable by picks yet; "
            f"picks trains {trainable}."
        )
    _check_incremental_update(recipe, params.get("performIncrementalUpdate"))
    if params.get("performHPO") and recipe.recipe_type == catalog.USER_SEGMENTATION:
        # Developer guide, Item-Affinity / Item-Attribute-Affinity: "You can't use hyperparameter
        # optimization (HPO)" with them.
        raise InvalidInputException(
            f"performHPO: recipe {recipe.name} does not support hyperparameter optimization; "
            "leave performHPO false and set algorithmHyperParameters yourself."
        )
    return recipe


@operation("CreateSolution")
def create_solution(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    recipe = _trainable_recipe(params)
    group = dataset_groups.active_group(services, params["datasetGroupArn"])
    limit = services.settings.max_solutions_per_group
    if len(services.resources.list(KIND, parent=group.arn)) >= limit:
        raise LimitExceededException(
            f"datasetGroupArn: cannot create solution '{params['name']}': {group.arn} "
            f"already has {limit} solutions."
        )
    perform_auto_training = params.get("performAutoTraining", True)
    solution_config = dict(params.get("solutionConfig") or {})
    _checked_schedule(
        solution_config.get("autoTrainingConfig"), "solutionConfig.autoTrainingConfig.schedulingExpression"
    )
    if perform_auto_training and not (solution_config.get("autoTrainingConfig") or {}).get(
        "schedulingExpression"
    ):
        solution_config["autoTrainingConfig"] = {"schedulingExpression": DEFAULT_SCHEDULE}
    arn = arn_for(services, KIND, params["name"])
    doc = {
        "name": params["name"],
        "solutionArn": arn,
        "performHPO": params.get("performHPO", False),
        "performAutoML": False,
        "performAutoTraining": perform_auto_training,
        "performIncrementalUpdate": params.get("performIncrementalUpdate"),
        "recipeArn": recipe.arn,
        "datasetGroupArn": group.arn,
        "eventType": params.get("eventType"),
        "solutionConfig": solution_config,
        # Nothing to provision: the solution is usable at once; training happens per version.
        "status": ACTIVE,
    }
    resource = new_resource(services, KIND, arn, doc, parent=group.arn, tags=params.get("tags"))
    create_resource(
        services, resource, what=WHAT, duplicate=f"name: solution {params['name']} already exists ({arn})."
    )
    return {"solutionArn": arn}


@operation("DescribeSolution")
def describe_solution(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    solution = get_solution(services, params["solutionArn"])
    doc = dict(solution.to_wire())
    versions = versions_of(services, solution.arn)
    if versions:
        doc["latestSolutionVersion"] = summary(versions[-1].to_wire(), VERSION_SUMMARY_FIELDS)
    return {"solution": doc}


@operation("ListSolutions")
def list_solutions(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    # The model declares no ResourceNotFoundException here: an unknown group lists nothing.
    parent = params.get("datasetGroupArn")
    fields = ("name", "solutionArn", "status", "creationDateTime", "lastUpdatedDateTime", "recipeArn")
    page, token = list_page(services, params, kind=KIND, fields=fields, parent=parent)
    return {"solutions": page, "nextToken": token}


@operation("UpdateSolution")
def update_solution(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    solution = get_solution(services, params["solutionArn"])
    busy = busy_version(services, solution.arn)
    if busy is not None:
        raise ResourceInUseException(
            f"solutionArn: solution version {busy.arn} is {busy.doc['status']}; "
            "update the solution when it is done."
        )
    recipe = catalog.recipe_for_arn(solution.doc["recipeArn"])
    _check_incremental_update(recipe, params.get("performIncrementalUpdate"))
    update_config = params.get("solutionUpdateConfig") or {}
    _checked_schedule(
        update_config.get("autoTrainingConfig"),
        "solutionUpdateConfig.autoTrainingConfig.schedulingExpression",
    )

    def apply(resource: Resource) -> None:
        now = services.clock()
        doc = resource.doc
        config = dict(doc.get("solutionConfig") or {})
        if "performAutoTraining" in params:
            doc["performAutoTraining"] = params["performAutoTraining"]
        if "performIncrementalUpdate" in params:
            doc["performIncrementalUpdate"] = params["performIncrementalUpdate"]
        if update_config.get("autoTrainingConfig"):
            config["autoTrainingConfig"] = update_config["autoTrainingConfig"]
        elif doc.get("performAutoTraining") and not config.get("autoTrainingConfig"):
            config["autoTrainingConfig"] = {"schedulingExpression": DEFAULT_SCHEDULE}
        if update_config.get("eventsConfig"):
            config["eventsConfig"] = update_config["eventsConfig"]
        doc["solutionConfig"] = config
        doc["lastUpdatedDateTime"] = now
        applied = {key: config[key] for key in ("autoTrainingConfig", "eventsConfig") if key in config}
        doc["latestSolutionUpdate"] = {
            "solutionUpdateConfig": applied,
            # Only configuration changes: nothing to provision, so the update is done at once.
            "status": ACTIVE,
            "performAutoTraining": doc.get("performAutoTraining"),
            "performIncrementalUpdate": doc.get("performIncrementalUpdate"),
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }

    services.resources.update(solution.arn, apply, what=WHAT)
    return {"solutionArn": solution.arn}


@operation("DeleteSolution")
def delete_solution(services: Services, params: dict[str, Any]) -> None:
    solution = get_solution(services, params["solutionArn"])
    campaigns = services.resources.list(CAMPAIGN_KIND, parent=solution.arn)
    if campaigns:
        raise ResourceInUseException(
            f"solutionArn: campaign {campaigns[0].arn} uses {solution.arn}; delete the campaign first."
        )
    busy = busy_version(services, solution.arn)
    if busy is not None:
        raise ResourceInUseException(
            f"solutionArn: solution version {busy.arn} is {busy.doc['status']}; "
            "stop it or wait for it to finish."
        )
    for version in versions_of(services, solution.arn):
        services.resources.delete(version.arn)
    services.resources.delete(solution.arn)
