"""Stock boto3 clients drive recipes, solutions, solution versions and campaigns through the emulator.

Training and deployment run in workflows written elsewhere, so every test here swaps the emulator's
workflow starter for a recorder: the tests see exactly which workflow each call starts, and move
versions and campaigns between states by writing their records, as the workflow steps would.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from picks import recipe_catalog as catalog
from picks import services as picks_services
from picks.domain.resources import ModelRef, TableRef

from demo.waiting import wait_for
from tests.conftest import client_for
from tests.e2e.test_control_plane import INTERACTIONS
from tests.signed import control_plane as signed_control_plane

if TYPE_CHECKING:
    from picks.domain.resources import Resource

pytestmark = pytest.mark.e2e

UP = "arn:aws:personalize:::recipe/aws-user-personalization"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
TRENDING = "arn:aws:personalize:::recipe/aws-trending-now"
NEXT_BEST_ACTION = "arn:aws:personalize:::recipe/aws-next-best-action"
VOD_TOP_PICKS = "arn:aws:personalize:::recipe/aws-vod-top-picks"
MISSING_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/no-such-group"
CAMPAIGN_STATES = ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
SOURCE_BUCKET = "training-sources"
_unique = itertools.count()


class RecordingStarter:
    """Stands in for the workflow runner: records each start, or fails like an unreachable state machine."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = False

    def start(self, workflow: str, execution_name: str, payload: dict[str, Any]) -> str:
        if self.fail:
            raise RuntimeError("state machine unavailable")
        self.started.append((workflow, execution_name, payload))
        return f"recorded:{workflow}:{execution_name}"


class RecordingTrainingJobs:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop(self, job_name: str) -> None:
        self.stopped.append(job_name)


@pytest.fixture(scope="module")
def personalize(emulator):
    return client_for(emulator, "personalize")


@pytest.fixture(autouse=True)
def workflows(emulator):
    services = picks_services.get_services()
    original = services.workflows
    recorder = RecordingStarter()
    services.workflows = recorder
    yield recorder
    services.workflows = original


@pytest.fixture
def settings_override(emulator):
    services = picks_services.get_services()
    original = services.settings

    def override(**changes: Any) -> None:
        services.settings = dataclasses.replace(original, **changes)

    yield override
    services.settings = original


def set_doc(arn: str, private: dict[str, Any] | None = None, **fields: Any) -> None:
    """Write fields into a resource record (``private``: into its typed private state), as a workflow
    step would."""

    def apply(resource: Resource) -> None:
        resource.doc.update(fields)
        for name, value in (private or {}).items():
            assert hasattr(resource.state, name), (resource.kind, name)
            setattr(resource.state, name, value)

    picks_services.get_services().resources.update(arn, apply, what="Resource")


def stored_doc(arn: str) -> dict[str, Any]:
    return picks_services.get_services().resources.get(arn, what="Resource").doc


def stored(arn: str) -> Resource:
    return picks_services.get_services().resources.get(arn, what="Resource")


def group_with_interactions(personalize, name: str, *, imported: bool = True) -> str:
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    schema = personalize.create_schema(name=f"{name}-interactions", schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(
        name=f"{name}-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    if imported:
        # What a finished import leaves on the dataset (see picks.workflows.dataset_import).
        set_doc(dataset, private={"data": TableRef(f"datasets/{name}/INTERACTIONS/x/", row_count=3)})
    return group


def solution_in(personalize, group: str, name: str, recipe: str = UP, **extra: Any) -> str:
    return personalize.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe, **extra)[
        "solutionArn"
    ]


def message(caught: pytest.ExceptionInfo) -> str:
    return caught.value.response["Error"]["Message"]


# --- Recipes, algorithms, feature transformations ---


def test_catalog_is_consistent():
    # Exactly the recipes picks trains are marked implemented
    implemented = {name for name, recipe in catalog.RECIPES.items() if recipe.implemented}
    assert implemented == {
        "aws-popularity-count",
        "aws-sims",
        "aws-similar-items",
        "aws-user-personalization",
        "aws-personalized-ranking",
        "aws-trending-now",
        "aws-item-affinity",
        "aws-item-attribute-affinity",
    }
    assert catalog.RECIPES["aws-next-best-action"].implemented is False
    assert len([r for r in catalog.RECIPES.values() if r.domain is None]) == 15
    assert len([r for r in catalog.RECIPES.values() if r.domain is not None]) == 10
    for recipe in catalog.RECIPES.values():
        assert catalog.recipe_for_arn(recipe.arn) is recipe
        if recipe.feature_transformation is not None:
            assert recipe.feature_transformation in catalog.FEATURE_TRANSFORMATIONS
        ranges = {r.name: r for r in recipe.hyperparameter_ranges}
        # Every default is a string, has a range, and lies inside it
        assert set(recipe.default_hyperparameters) == set(ranges), recipe.name
        for name, value in recipe.default_hyperparameters.items():
            assert isinstance(value, str)
            bounds = ranges[name]
            if bounds.kind == catalog.CATEGORICAL:
                assert value in bounds.values, (recipe.name, name)
            else:
                assert bounds.min_value <= float(value) <= bounds.max_value, (recipe.name, name)
    assert catalog.RECIPES["aws-popularity-count"].default_hyperparameters == {}


def test_list_recipes_lists_every_documented_recipe(personalize):
    # Given the catalog, When listed page by page with botocore's own paginator
    pages = personalize.get_paginator("list_recipes").paginate(PaginationConfig={"PageSize": 7})
    listed = [recipe for page in pages for recipe in page["recipes"]]

    # Then every recipe appears once, ACTIVE, under its real Personalize ARN
    arns = [recipe["recipeArn"] for recipe in listed]
    assert len(arns) == len(set(arns)) == len(catalog.RECIPES)
    for name in (
        "aws-user-personalization",
        "aws-sims",
        "aws-trending-now",
        "aws-next-best-action",
        "aws-ecomm-recommended-for-you",
        "aws-vod-because-you-watched-x",
    ):
        assert f"arn:aws:personalize:::recipe/{name}" in arns
    assert {recipe["status"] for recipe in listed} == {"ACTIVE"}


def test_list_recipes_pages_and_filters_by_domain(personalize):
    first = personalize.list_recipes(maxResults=10)
    assert len(first["recipes"]) == 10 and "nextToken" in first
    second = personalize.list_recipes(maxResults=10, nextToken=first["nextToken"])
    assert not {r["name"] for r in first["recipes"]} & {r["name"] for r in second["recipes"]}

    ecommerce = personalize.list_recipes(domain="ECOMMERCE", recipeProvider="SERVICE")["recipes"]
    assert len(ecommerce) == 5
    assert {r["domain"] for r in ecommerce} == {"ECOMMERCE"}
    assert "arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views" in [
        r["recipeArn"] for r in ecommerce
    ]

    # A token belongs to the listing it came from
    with pytest.raises(personalize.exceptions.InvalidNextTokenException, match="nextToken"):
        personalize.list_recipes(domain="VIDEO_ON_DEMAND", nextToken=first["nextToken"])
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.list_recipes(recipeProvider="CUSTOM")
    assert "at 'recipeProvider'" in message(caught)


def test_describe_recipe(personalize):
    recipe = personalize.describe_recipe(recipeArn=UP)["recipe"]
    assert recipe["name"] == "aws-user-personalization"
    assert recipe["recipeType"] == "USER_PERSONALIZATION"
    assert recipe["algorithmArn"] == "arn:aws:personalize:::algorithm/aws-user-personalization"
    assert recipe["status"] == "ACTIVE" and recipe["description"]

    sims = personalize.describe_recipe(recipeArn=SIMS)["recipe"]
    assert sims["recipeType"] == "RELATED_ITEMS"
    assert sims["featureTransformationArn"] == "arn:aws:personalize:::feature-transformation/sims"
    assert personalize.describe_recipe(recipeArn=POPULARITY)["recipe"]["recipeType"] == "POPULAR_ITEMS"
    trending = personalize.describe_recipe(recipeArn=TRENDING)["recipe"]
    assert trending["algorithmArn"] == "arn:aws:personalize:::algorithm/aws-trending-now-custom"

    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="recipeArn"):
        personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-crystal-ball")


def test_describe_algorithm(personalize):
    algorithm = personalize.describe_algorithm(algorithmArn="arn:aws:personalize:::algorithm/aws-sims")[
        "algorithm"
    ]
    assert algorithm["name"] == "aws-sims"
    assert algorithm["defaultHyperParameters"] == dict(catalog.RECIPES["aws-sims"].default_hyperparameters)
    assert algorithm["defaultHyperParameters"]["min_cointeraction_count"] == "3"
    assert algorithm["trainingInputMode"] == "File"
    assert algorithm["algorithmImage"]["dockerURI"]
    ranges = algorithm["defaultHyperParameterRanges"]
    assert {"name": "min_cointeraction_count", "minValue": 0, "maxValue": 10, "isTunable": True} in ranges[
        "integerHyperParameterRanges"
    ]
    continuous = {r["name"]: r for r in ranges["continuousHyperParameterRanges"]}
    assert continuous["popularity_discount_factor"]["maxValue"] == 1.0
    assert continuous["min_item_interaction_count_percentile"]["isTunable"] is False

    up = personalize.describe_algorithm(
        algorithmArn="arn:aws:personalize:::algorithm/aws-user-personalization"
    )
    up_defaults = up["algorithm"]["defaultHyperParameters"]
    assert up_defaults["hidden_dimension"] == "32" and up_defaults["als_iterations"] == "15"
    categorical = {
        r["name"]: r
        for r in up["algorithm"]["defaultHyperParameterRanges"]["categoricalHyperParameterRanges"]
    }
    assert categorical["recency_mask"]["values"] == ["true", "false"]

    popularity = personalize.describe_algorithm(
        algorithmArn="arn:aws:personalize:::algorithm/aws-popularity-count"
    )
    assert popularity["algorithm"].get("defaultHyperParameters", {}) == {}

    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="algorithmArn"):
        personalize.describe_algorithm(algorithmArn="arn:aws:personalize:::algorithm/aws-crystal-ball")


def test_describe_feature_transformation(personalize):
    sims = personalize.describe_feature_transformation(
        featureTransformationArn="arn:aws:personalize:::feature-transformation/sims"
    )["featureTransformation"]
    assert sims["name"] == "sims" and sims["status"] == "ACTIVE"
    assert sims["defaultParameters"]["min_item_interaction_count_percentile"] == "0.01"
    coldstart = personalize.describe_feature_transformation(
        featureTransformationArn="arn:aws:personalize:::feature-transformation/featurize_coldstart"
    )["featureTransformation"]
    assert coldstart["defaultParameters"]["cold_start_relative_from"] == "latestItem"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="featureTransformationArn"):
        personalize.describe_feature_transformation(
            featureTransformationArn="arn:aws:personalize:::feature-transformation/no-such-thing"
        )


# --- Solutions ---


def test_create_solution_defaults_listing_and_tags(personalize):
    # Given a dataset group
    group = group_with_interactions(personalize, "sol-basics", imported=False)
    other = personalize.create_dataset_group(name="sol-basics-other")["datasetGroupArn"]

    # When a solution is created with only a recipe, an event type and tags
    arn = solution_in(
        personalize, group, "basics", eventType="Purchase", tags=[{"tagKey": "team", "tagValue": "recs"}]
    )

    # Then it is ACTIVE at once with Personalize's defaults
    assert arn == "arn:aws:personalize:us-east-1:000000000000:solution/basics"
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "ACTIVE"
    assert solution["recipeArn"] == UP and solution["datasetGroupArn"] == group
    assert solution["performAutoTraining"] is True
    assert solution["solutionConfig"]["autoTrainingConfig"] == {"schedulingExpression": "rate(7 days)"}
    assert solution["performHPO"] is False and solution["performAutoML"] is False
    assert solution["eventType"] == "Purchase"
    assert "latestSolutionVersion" not in solution

    # And given config is kept, and auto training can be off
    manual = solution_in(
        personalize,
        group,
        "basics-manual",
        recipe=SIMS,
        performAutoTraining=False,
        solutionConfig={"algorithmHyperParameters": {"min_cointeraction_count": "5"}},
    )
    described = personalize.describe_solution(solutionArn=manual)["solution"]
    assert described["performAutoTraining"] is False
    assert described["solutionConfig"] == {"algorithmHyperParameters": {"min_cointeraction_count": "5"}}

    listed = personalize.list_solutions(datasetGroupArn=group)["solutions"]
    assert [(s["solutionArn"], s["recipeArn"]) for s in listed] == [(arn, UP), (manual, SIMS)]
    assert personalize.list_solutions(datasetGroupArn=other)["solutions"] == []
    assert arn in [s["solutionArn"] for s in personalize.list_solutions()["solutions"]]

    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "team", "tagValue": "recs"}
    ]
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "stage", "tagValue": "dev"}])
    personalize.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "stage", "tagValue": "dev"}
    ]
    with pytest.raises(personalize.exceptions.TooManyTagsException, match="tags"):
        solution_in(
            personalize,
            group,
            "too-many-tags",
            tags=[{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)],
        )


@pytest.mark.parametrize(
    ("extra", "error", "field", "words"),
    [
        ({"recipeArn": NEXT_BEST_ACTION}, "InvalidInputException", "recipeArn", "not trainable by picks yet"),
        ({"recipeArn": VOD_TOP_PICKS}, "InvalidInputException", "recipeArn", "CreateRecommender"),
        (
            {"recipeArn": "arn:aws:personalize:::recipe/aws-crystal-ball"},
            "ResourceNotFoundException",
            "recipeArn",
            "does not exist",
        ),
        ({"recipeArn": UP, "performAutoML": True}, "InvalidInputException", "performAutoML", "no AutoML"),
        (
            {"recipeArn": "arn:aws:personalize:::recipe/aws-item-affinity", "performHPO": True},
            "InvalidInputException",
            "performHPO",
            "does not support hyperparameter optimization",
        ),
        ({"performAutoML": True}, "InvalidInputException", "performAutoML", "recipeArn"),
        ({}, "InvalidInputException", "recipeArn", "ListRecipes"),
        (
            {"recipeArn": UP, "performIncrementalUpdate": True},
            "InvalidInputException",
            "performIncrementalUpdate",
            "aws-semantic-similarity",
        ),
        (
            {
                "recipeArn": UP,
                "solutionConfig": {"autoTrainingConfig": {"schedulingExpression": "rate(31 days)"}},
            },
            "InvalidInputException",
            "solutionConfig.autoTrainingConfig.schedulingExpression",
            "1 to 30",
        ),
    ],
)
def test_create_solution_rejections(personalize, extra, error, field, words):
    group = personalize.create_dataset_group(name=f"rejects-{next(_unique)}")["datasetGroupArn"]
    with pytest.raises(getattr(personalize.exceptions, error)) as caught:
        personalize.create_solution(name="rejected", datasetGroupArn=group, **extra)
    assert message(caught).startswith(f"{field}:")
    assert words in message(caught)
    assert personalize.list_solutions(datasetGroupArn=group)["solutions"] == []


def test_create_solution_model_validation_and_missing_group(personalize):
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution(
            name="weekly",
            datasetGroupArn=MISSING_GROUP,
            recipeArn=UP,
            solutionConfig={"autoTrainingConfig": {"schedulingExpression": "weekly"}},
        )
    assert "at 'solutionConfig.autoTrainingConfig.schedulingExpression'" in message(caught)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException) as caught:
        personalize.create_solution(name="orphan", datasetGroupArn=MISSING_GROUP, recipeArn=UP)
    assert message(caught).startswith("datasetGroupArn:") and "no-such-group" in message(caught)


def test_duplicate_solution_name_and_limit(personalize, settings_override):
    group = personalize.create_dataset_group(name="sol-limits")["datasetGroupArn"]
    solution_in(personalize, group, "only-one")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException) as caught:
        solution_in(personalize, group, "only-one", recipe=SIMS)
    assert message(caught).startswith("name:")

    settings_override(max_solutions_per_group=1)
    with pytest.raises(personalize.exceptions.LimitExceededException) as caught:
        solution_in(personalize, group, "one-too-many")
    assert message(caught).startswith("datasetGroupArn:") and "1 solutions" in message(caught)


def test_update_solution(personalize):
    group = group_with_interactions(personalize, "sol-update")
    arn = solution_in(personalize, group, "updatable")
    personalize.update_solution(
        solutionArn=arn,
        performAutoTraining=False,
        solutionUpdateConfig={"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}},
    )
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["performAutoTraining"] is False
    assert solution["solutionConfig"]["autoTrainingConfig"] == {"schedulingExpression": "rate(3 days)"}
    update = solution["latestSolutionUpdate"]
    assert update["status"] == "ACTIVE" and update["performAutoTraining"] is False
    assert update["solutionUpdateConfig"]["autoTrainingConfig"]["schedulingExpression"] == "rate(3 days)"

    with pytest.raises(personalize.exceptions.InvalidInputException, match="schedulingExpression"):
        personalize.update_solution(
            solutionArn=arn,
            solutionUpdateConfig={"autoTrainingConfig": {"schedulingExpression": "rate(0 days)"}},
        )
    # Not while a version trains
    personalize.create_solution_version(solutionArn=arn)
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="solutionArn"):
        personalize.update_solution(solutionArn=arn, performAutoTraining=True)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionArn"):
        personalize.update_solution(solutionArn=arn + "-gone", performAutoTraining=True)


# --- Solution versions ---


def test_create_solution_version_needs_imported_interactions(personalize):
    # A group with an INTERACTIONS dataset that was never imported into
    group = group_with_interactions(personalize, "no-data", imported=False)
    solution = solution_in(personalize, group, "no-data")
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution_version(solutionArn=solution)
    assert message(caught).startswith("solutionArn:") and "import" in message(caught)
    # ... and a group without any dataset
    bare = personalize.create_dataset_group(name="no-datasets")["datasetGroupArn"]
    with pytest.raises(personalize.exceptions.InvalidInputException, match="INTERACTIONS"):
        personalize.create_solution_version(solutionArn=solution_in(personalize, bare, "no-datasets"))
    assert personalize.list_solution_versions(solutionArn=solution)["solutionVersions"] == []


def test_training_modes(personalize):
    group = group_with_interactions(personalize, "modes")
    up = solution_in(personalize, group, "modes-up")
    sims = solution_in(personalize, group, "modes-sims", recipe=SIMS)
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution_version(solutionArn=up, trainingMode="UPDATE")
    assert message(caught).startswith("trainingMode:") and "FULL" in message(caught)
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution_version(solutionArn=sims, trainingMode="UPDATE")
    assert message(caught).startswith("trainingMode:") and "aws-user-personalization" in message(caught)
    with pytest.raises(personalize.exceptions.InvalidInputException, match="trainingMode"):
        personalize.create_solution_version(solutionArn=up, trainingMode="AUTOTRAIN")
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution_version(solutionArn=up, trainingMode="PARTIAL")
    assert "at 'trainingMode'" in message(caught)

    # With an ACTIVE FULL version, UPDATE is accepted
    full = personalize.create_solution_version(solutionArn=up)["solutionVersionArn"]
    set_doc(full, status="ACTIVE")
    update = personalize.create_solution_version(solutionArn=up, trainingMode="UPDATE")["solutionVersionArn"]
    assert (
        personalize.describe_solution_version(solutionVersionArn=update)["solutionVersion"]["trainingMode"]
        == "UPDATE"
    )


def test_create_solution_version_starts_training(personalize, workflows):
    # Given a solution on a group with imported interactions
    group = group_with_interactions(personalize, "train")
    solution = solution_in(
        personalize,
        group,
        "train",
        eventType="Purchase",
        solutionConfig={"algorithmHyperParameters": {"hidden_dimension": "32"}},
    )

    # When a version is created
    arn = personalize.create_solution_version(
        solutionArn=solution, name="first", tags=[{"tagKey": "run", "tagValue": "1"}]
    )["solutionVersionArn"]

    # Then it is <solutionArn>/<8 hex>, CREATE PENDING, and the training workflow started for it
    assert re.fullmatch(re.escape(solution) + r"/[0-9a-f]{8}", arn)
    assert [(w, p) for w, _, p in workflows.started] == [
        ("SolutionVersionTraining", {"solutionVersionArn": arn})
    ]
    version = personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert version["status"] == "CREATE PENDING"
    assert version["name"] == "first" and version["solutionArn"] == solution
    assert version["trainingMode"] == "FULL" and version["trainingType"] == "MANUAL"
    assert (
        version["recipeArn"] == UP
        and version["datasetGroupArn"] == group
        and version["eventType"] == "Purchase"
    )
    assert version["solutionConfig"]["algorithmHyperParameters"] == {"hidden_dimension": "32"}
    assert version["performHPO"] is False
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "run", "tagValue": "1"}]
    latest = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]
    assert latest["solutionVersionArn"] == arn and latest["status"] == "CREATE PENDING"
    listed = personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]
    assert [(v["solutionVersionArn"], v["trainingType"]) for v in listed] == [(arn, "MANUAL")]

    # And one version trains at a time
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.create_solution_version(solutionArn=solution)
    assert message(caught).startswith("solutionArn:") and arn in message(caught)

    # And version names are unique per solution
    set_doc(arn, status="ACTIVE")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException) as caught:
        personalize.create_solution_version(solutionArn=solution, name="first")
    assert message(caught).startswith("name:")

    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionArn"):
        personalize.list_solution_versions(solutionArn=solution + "-gone")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionVersionArn"):
        personalize.describe_solution_version(solutionVersionArn=solution + "/00000000")


def test_private_keys_never_reach_the_wire(emulator, personalize):
    group = group_with_interactions(personalize, "private")
    solution = solution_in(personalize, group, "private")
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    set_doc(
        arn,
        status="ACTIVE",
        private={
            "model": ModelRef("models/x/", "aws-user-personalization", "USER_PERSONALIZATION"),
            "metrics": {"coverage": 0.5},
            "training_job_name": "job-1",
        },
        trainingHours=0.25,
    )
    answer = signed_control_plane(
        emulator.url, "DescribeSolutionVersion", json.dumps({"solutionVersionArn": arn}).encode()
    )
    assert answer.status == 200
    body = answer.json()
    assert body["solutionVersion"]["trainingHours"] == 0.25
    assert not [key for key in body["solutionVersion"] if key.startswith("_")]
    assert "models/x/" not in json.dumps(body)


def test_failed_workflow_start_leaves_no_version(personalize, workflows):
    group = group_with_interactions(personalize, "no-start")
    solution = solution_in(personalize, group, "no-start")
    workflows.fail = True
    with pytest.raises(ClientError) as caught:
        personalize.create_solution_version(solutionArn=solution)
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert personalize.list_solution_versions(solutionArn=solution)["solutionVersions"] == []
    # Nothing is left in progress, so training can be retried
    workflows.fail = False
    assert personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]


def test_stop_solution_version_creation(personalize):
    services = picks_services.get_services()
    group = group_with_interactions(personalize, "stops")
    solution = solution_in(personalize, group, "stops")

    # CREATE PENDING stops at once
    pending = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    personalize.stop_solution_version_creation(solutionVersionArn=pending)
    assert personalize.describe_solution_version(solutionVersionArn=pending)["solutionVersion"]["status"] == (
        "CREATE STOPPED"
    )
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.stop_solution_version_creation(solutionVersionArn=pending)
    assert message(caught).startswith("solutionVersionArn:") and "CREATE STOPPED" in message(caught)

    # CREATE IN_PROGRESS goes to CREATE STOPPING and its training job is stopped
    running = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    set_doc(running, status="CREATE IN_PROGRESS", private={"training_job_name": "picks-stops-job"})
    jobs = RecordingTrainingJobs()
    services.training_jobs = jobs
    try:
        personalize.stop_solution_version_creation(solutionVersionArn=running)
    finally:
        services.training_jobs = None
    assert personalize.describe_solution_version(solutionVersionArn=running)["solutionVersion"]["status"] == (
        "CREATE STOPPING"
    )
    assert jobs.stopped == ["picks-stops-job"]
    # A stopping version still blocks a new one
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="CREATE STOPPING"):
        personalize.create_solution_version(solutionArn=solution)

    set_doc(running, status="ACTIVE")
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="solutionVersionArn"):
        personalize.stop_solution_version_creation(solutionVersionArn=running)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionVersionArn"):
        personalize.stop_solution_version_creation(solutionVersionArn=solution + "/ffffffff")


def test_get_solution_metrics(personalize):
    group = group_with_interactions(personalize, "metrics")
    solution = solution_in(personalize, group, "metrics")
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.get_solution_metrics(solutionVersionArn=arn)
    assert message(caught).startswith("solutionVersionArn:") and "CREATE PENDING" in message(caught)

    metrics = {"coverage": 0.4, "precision_at_25": 0.031, "normalized_discounted_cumulative_gain_at_10": 0.12}
    set_doc(arn, status="ACTIVE", private={"metrics": metrics})
    answer = personalize.get_solution_metrics(solutionVersionArn=arn)
    assert answer["solutionVersionArn"] == arn
    assert answer["metrics"] == metrics


def test_imported_interactions_enable_training(emulator, personalize, workflows):
    # The contract with the import workflow: a real, finished import is what training needs.
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    s3.put_object(
        Bucket=SOURCE_BUCKET,
        Key="i.csv",
        Body=b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,View\nu2,i1,1700000100,View\n",
    )
    group = group_with_interactions(personalize, "real-import", imported=False)
    dataset = personalize.list_datasets(datasetGroupArn=group)["datasets"][0]["datasetArn"]
    solution = solution_in(personalize, group, "real-import")

    original = workflows
    services = picks_services.get_services()
    services.workflows = emulator.runner  # the import itself runs for real
    try:
        job = personalize.create_dataset_import_job(
            jobName="training-source",
            datasetArn=dataset,
            dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/i.csv"},
            roleArn="arn:aws:iam::000000000000:role/PicksImport",
        )["datasetImportJobArn"]
        wait_for(
            lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
            lambda imported: imported["status"] == "ACTIVE",
            timeout=60,
            what="the import",
        )
    finally:
        services.workflows = original

    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert workflows.started[-1][2] == {"solutionVersionArn": arn}


# --- Campaigns ---


def trained_solution(personalize, name: str, group: str | None = None) -> tuple[str, str]:
    """A solution with one ACTIVE version (as the training workflow would leave it)."""
    group = group or group_with_interactions(personalize, name)
    solution = solution_in(personalize, group, name)
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    model = ModelRef(f"models/{name}/", "aws-user-personalization", "USER_PERSONALIZATION")
    set_doc(version, status="ACTIVE", private={"metrics": {"coverage": 0.3}, "model": model})
    return solution, version


def test_create_campaign_needs_an_active_version(personalize):
    group = group_with_interactions(personalize, "camp-states")
    solution = solution_in(personalize, group, "camp-states")
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]

    # Still training: not yet (ResourceInUse, as Personalize says for resources that are not ACTIVE yet)
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.create_campaign(name="too-early", solutionVersionArn=version)
    assert message(caught).startswith("solutionVersionArn:") and "CREATE PENDING" in message(caught)
    # $LATEST while the only version trains: not yet either
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="solutionVersionArn"):
        personalize.create_campaign(
            name="too-early",
            solutionVersionArn=f"{solution}/$LATEST",
            campaignConfig={"syncWithLatestSolutionVersion": True},
        )

    # Failed: it will never be deployable, so the input is wrong
    set_doc(version, status="CREATE FAILED", failureReason="not enough interactions")
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_campaign(name="failed", solutionVersionArn=version)
    assert message(caught).startswith("solutionVersionArn:") and "CREATE FAILED" in message(caught)

    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionVersionArn"):
        personalize.create_campaign(name="nowhere", solutionVersionArn=f"{solution}/0badc0de")
    assert personalize.list_campaigns(solutionArn=solution)["campaigns"] == []


def test_latest_and_sync_flag_go_together(personalize):
    solution, version = trained_solution(personalize, "camp-sync")
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_campaign(name="latest-no-sync", solutionVersionArn=f"{solution}/$LATEST")
    assert message(caught).startswith("campaignConfig.syncWithLatestSolutionVersion:")
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_campaign(
            name="sync-concrete",
            solutionVersionArn=version,
            campaignConfig={"syncWithLatestSolutionVersion": True},
        )
    assert message(caught).startswith(
        "campaignConfig.syncWithLatestSolutionVersion:"
    ) and "$LATEST" in message(caught)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionVersionArn"):
        personalize.create_campaign(
            name="latest-gone",
            solutionVersionArn=f"{solution}-gone/$LATEST",
            campaignConfig={"syncWithLatestSolutionVersion": True},
        )


@pytest.fixture(scope="module")
def explorable_version(personalize) -> str:
    services = picks_services.get_services()
    original, services.workflows = services.workflows, RecordingStarter()
    try:
        return trained_solution(personalize, "camp-explore")[1]
    finally:
        services.workflows = original


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("explorationWeight", "1.5"),
        ("explorationWeight", "lots"),
        ("explorationWeight", "nan"),
        ("explorationItemAgeCutOff", "0.5"),
        ("explorationBudget", "0.1"),
    ],
)
def test_item_exploration_config_is_checked(personalize, explorable_version, key, value):
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_campaign(
            name="explore",
            solutionVersionArn=explorable_version,
            campaignConfig={"itemExplorationConfig": {key: value}},
        )
    assert message(caught).startswith(f"campaignConfig.itemExplorationConfig.{key}:")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_campaign(
            campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/explore"
        )


def test_create_campaign_deploys_an_active_version(personalize, workflows):
    # Given a solution with an ACTIVE version
    solution, version = trained_solution(personalize, "camp-ok")

    # When a campaign is created with defaults
    arn = personalize.create_campaign(name="camp-ok", solutionVersionArn=version)["campaignArn"]

    # Then it deploys through the CampaignDeployment workflow, with Personalize's defaults
    assert arn == "arn:aws:personalize:us-east-1:000000000000:campaign/camp-ok"
    assert [(w, p) for w, _, p in workflows.started][-1] == ("CampaignDeployment", {"campaignArn": arn})
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] in CAMPAIGN_STATES
    assert campaign["solutionVersionArn"] == version and campaign["minProvisionedTPS"] == 1
    assert campaign["campaignConfig"]["enableMetadataWithRecommendations"] is False
    assert campaign["campaignConfig"]["syncWithLatestSolutionVersion"] is False
    assert "latestCampaignUpdate" not in campaign
    assert stored(arn).campaign_state.serving_version_arn == version

    # And a $LATEST campaign keeps the ARN it was given and serves the newest ACTIVE version
    newer = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    set_doc(newer, status="ACTIVE")
    synced = personalize.create_campaign(
        name="camp-ok-latest",
        solutionVersionArn=f"{solution}/$LATEST",
        minProvisionedTPS=3,
        campaignConfig={
            "syncWithLatestSolutionVersion": True,
            "enableMetadataWithRecommendations": True,
            "itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"},
        },
        tags=[{"tagKey": "env", "tagValue": "test"}],
    )["campaignArn"]
    described = personalize.describe_campaign(campaignArn=synced)["campaign"]
    assert described["solutionVersionArn"] == f"{solution}/$LATEST"
    assert described["minProvisionedTPS"] == 3
    assert described["campaignConfig"]["itemExplorationConfig"] == {
        "explorationWeight": "0.3",
        "explorationItemAgeCutOff": "30",
    }
    assert stored(synced).campaign_state.serving_version_arn == newer
    assert personalize.list_tags_for_resource(resourceArn=synced)["tags"] == [
        {"tagKey": "env", "tagValue": "test"}
    ]

    listed = personalize.list_campaigns(solutionArn=solution)["campaigns"]
    assert [c["campaignArn"] for c in listed] == [arn, synced]
    assert {c["status"] for c in listed} <= set(CAMPAIGN_STATES)

    # Campaign names are unique in the account
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException) as caught:
        personalize.create_campaign(name="camp-ok", solutionVersionArn=newer)
    assert message(caught).startswith("name:")


def test_failed_deployment_start_leaves_no_campaign(personalize, workflows):
    _, version = trained_solution(personalize, "camp-no-start")
    workflows.fail = True
    with pytest.raises(ClientError) as caught:
        personalize.create_campaign(name="camp-no-start", solutionVersionArn=version)
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="campaignArn"):
        personalize.describe_campaign(
            campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/camp-no-start"
        )


def test_campaign_limit_per_dataset_group(personalize, settings_override):
    solution, version = trained_solution(personalize, "camp-limit")
    personalize.create_campaign(name="camp-limit-1", solutionVersionArn=version)
    settings_override(max_campaigns_per_group=1)
    with pytest.raises(personalize.exceptions.LimitExceededException) as caught:
        personalize.create_campaign(name="camp-limit-2", solutionVersionArn=version)
    assert message(caught).startswith("solutionVersionArn:") and "1 campaigns" in message(caught)
    # Other dataset groups have their own quota
    _, elsewhere = trained_solution(personalize, "camp-limit-other")
    assert personalize.create_campaign(name="camp-limit-3", solutionVersionArn=elsewhere)["campaignArn"]


def test_update_campaign(personalize, workflows):
    solution, version = trained_solution(personalize, "camp-update")
    arn = personalize.create_campaign(name="camp-update", solutionVersionArn=version)["campaignArn"]

    # Not while it is being created
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.update_campaign(campaignArn=arn, minProvisionedTPS=5)
    assert message(caught).startswith("campaignArn:") and "CREATE PENDING" in message(caught)

    # Once ACTIVE, an update is recorded beside what is served, and deployed by the workflow
    set_doc(arn, status="ACTIVE")
    newer = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    set_doc(newer, status="ACTIVE")
    assert (
        personalize.update_campaign(
            campaignArn=arn,
            solutionVersionArn=f"{solution}/$LATEST",
            minProvisionedTPS=5,
            campaignConfig={"syncWithLatestSolutionVersion": True},
        )["campaignArn"]
        == arn
    )
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE"
    assert campaign["solutionVersionArn"] == version and campaign["minProvisionedTPS"] == 1
    update = campaign["latestCampaignUpdate"]
    assert update["status"] == "CREATE PENDING"
    assert update["solutionVersionArn"] == f"{solution}/$LATEST" and update["minProvisionedTPS"] == 5
    assert update["campaignConfig"]["syncWithLatestSolutionVersion"] is True
    assert stored(arn).campaign_state.update_serving_version_arn == newer
    assert [(w, p) for w, _, p in workflows.started][-1] == (
        "CampaignDeployment",
        {"campaignArn": arn, "update": True},
    )

    # One update at a time
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="campaignArn"):
        personalize.update_campaign(campaignArn=arn, minProvisionedTPS=2)

    # A version of another solution is refused
    set_doc(arn, latestCampaignUpdate={**stored_doc(arn)["latestCampaignUpdate"], "status": "ACTIVE"})
    _, foreign = trained_solution(personalize, "camp-update-foreign")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="solutionVersionArn"):
        personalize.update_campaign(
            campaignArn=arn,
            solutionVersionArn=foreign,
            campaignConfig={"syncWithLatestSolutionVersion": False},
        )


def test_delete_in_use(personalize):
    # Given a group -> solution -> version -> campaign chain
    group = group_with_interactions(personalize, "in-use")
    solution, version = trained_solution(personalize, "in-use", group=group)
    campaign = personalize.create_campaign(name="in-use", solutionVersionArn=version)["campaignArn"]

    # Then nothing upstream of the campaign can be deleted
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.delete_solution(solutionArn=solution)
    assert message(caught).startswith("solutionArn:") and campaign in message(caught)
    bare = personalize.create_dataset_group(name="in-use-bare")["datasetGroupArn"]
    bare_solution = solution_in(personalize, bare, "in-use-bare")
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.delete_dataset_group(datasetGroupArn=bare)
    assert message(caught).startswith("datasetGroupArn:") and bare_solution in message(caught)
    # ... and the campaign itself not while it deploys
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="campaignArn"):
        personalize.delete_campaign(campaignArn=campaign)

    set_doc(campaign, status="ACTIVE")
    personalize.delete_campaign(campaignArn=campaign)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="campaignArn"):
        personalize.describe_campaign(campaignArn=campaign)

    # A version in training blocks deleting the solution
    training = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    with pytest.raises(personalize.exceptions.ResourceInUseException) as caught:
        personalize.delete_solution(solutionArn=solution)
    assert message(caught).startswith("solutionArn:") and training in message(caught)

    # Once it stops, the solution and all its versions go
    personalize.stop_solution_version_creation(solutionVersionArn=training)
    personalize.delete_solution(solutionArn=solution)
    for arn in (version, training):
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            personalize.describe_solution_version(solutionVersionArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="solutionArn"):
        personalize.describe_solution(solutionArn=solution)
    for dataset in personalize.list_datasets(datasetGroupArn=group)["datasets"]:
        personalize.delete_dataset(datasetArn=dataset["datasetArn"])
    personalize.delete_dataset_group(datasetGroupArn=group)
    personalize.delete_solution(solutionArn=bare_solution)
    personalize.delete_dataset_group(datasetGroupArn=bare)


# --- USER_SEGMENTATION recipes ---

ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY = "arn:aws:personalize:::recipe/aws-item-attribute-affinity"


def items_dataset(personalize, group: str, name: str, *fields: tuple[str, ...]) -> str:
    schema = json.dumps(
        {
            "type": "record",
            "name": "Items",
            "namespace": "com.amazonaws.personalize.schema",
            "fields": [
                {"name": "ITEM_ID", "type": "string"},
                *[
                    {"name": field, "type": kind, **({flag: True} if flag else {})}
                    for field, kind, flag in fields
                ],
            ],
            "version": "1.0",
        }
    )
    schema_arn = personalize.create_schema(name=f"{name}-items", schema=schema)["schemaArn"]
    return personalize.create_dataset(
        name=f"{name}-items", schemaArn=schema_arn, datasetGroupArn=group, datasetType="ITEMS"
    )["datasetArn"]


def test_item_attribute_affinity_needs_a_queryable_items_dataset(personalize, workflows):
    group = group_with_interactions(personalize, "attr-affinity")
    solution = solution_in(personalize, group, "attr-affinity", ITEM_ATTRIBUTE_AFFINITY)
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution_version(solutionArn=solution)
    assert message(caught).startswith("solutionArn:") and "needs an Items dataset" in message(caught)
    # Item-Affinity needs only interactions.
    affinity = solution_in(personalize, group, "item-affinity", ITEM_AFFINITY)
    assert personalize.create_solution_version(solutionArn=affinity)["solutionVersionArn"]

    textual = personalize.create_dataset_group(name="attr-affinity-textual")["datasetGroupArn"]
    items_dataset(personalize, textual, "attr-affinity-textual", ("BLURB", ["null", "string"], "textual"))
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_solution_version(
            solutionArn=solution_in(personalize, textual, "attr-textual", ITEM_ATTRIBUTE_AFFINITY)
        )
    assert "at least one non-textual, non-reserved metadata column" in message(caught)
    assert personalize.list_solution_versions(solutionArn=solution)["solutionVersions"] == []

    queryable = group_with_interactions(personalize, "attr-affinity-ok")
    items_dataset(personalize, queryable, "attr-affinity-ok", ("GENRES", "string", "categorical"))
    started = personalize.create_solution_version(
        solutionArn=solution_in(personalize, queryable, "attr-ok", ITEM_ATTRIBUTE_AFFINITY)
    )["solutionVersionArn"]
    assert workflows.started[-1][2] == {"solutionVersionArn": started}


def test_campaigns_refuse_user_segmentation_versions(personalize):
    group = group_with_interactions(personalize, "segment-camp")
    solution = solution_in(personalize, group, "segment-camp", ITEM_AFFINITY)
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    model = ModelRef("models/segment-camp/", "aws-item-affinity", "USER_SEGMENTATION")
    set_doc(version, status="ACTIVE", private={"metrics": {"coverage": 0.3}, "model": model})
    for request in (
        {"solutionVersionArn": version},
        {
            "solutionVersionArn": f"{solution}/$LATEST",
            "campaignConfig": {"syncWithLatestSolutionVersion": True},
        },
    ):
        with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
            personalize.create_campaign(name="segments", **request)
        assert message(caught).startswith("solutionVersionArn:")
        assert "CreateBatchSegmentJob" in message(caught) and "aws-item-affinity" in message(caught)
    # Nor can a campaign move to one.
    _, served = trained_solution(personalize, "segment-camp-up")
    campaign = personalize.create_campaign(name="segment-camp-up", solutionVersionArn=served)["campaignArn"]
    set_doc(campaign, status="ACTIVE")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="CreateBatchSegmentJob"):
        personalize.update_campaign(campaignArn=campaign, solutionVersionArn=version)
    assert personalize.list_campaigns(solutionArn=solution)["campaigns"] == []
