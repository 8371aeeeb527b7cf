"""Recommenders against moto: the control plane's operations and the workflow steps, one step at a
time (the workflows recorded, not run), so every status the machine passes through is seen:
Stop (STOP PENDING -> STOP IN_PROGRESS -> INACTIVE), Start (START PENDING -> ... -> ACTIVE),
UpdateRecommender (latestRecommenderUpdate CREATE PENDING -> ACTIVE, or CREATE FAILED while the
recommender serves on), a failed creation, Delete (DELETE PENDING -> gone), the per-group quota, and
trainingDataConfig's excluded columns left out of the staged Items table."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest
from picks.controlplane.dispatch import dispatch
from picks.dataset_schema import DOMAIN_DEFAULT_SCHEMAS, parse_schema
from picks.domain.resources import TableRef
from picks.errors import LimitExceededException, ResourceInUseException
from picks.ingest.columnar import read_table, table_from_records, write_table
from picks.ingest.csv_reader import read_csv
from picks.workflows import recommender as steps

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

ECOMMERCE = "ECOMMERCE"
RECIPE = "arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you"


class RecordedWorkflows:
    """Records the workflows the control plane starts instead of running them."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def start(self, workflow: str, name: str, payload: dict[str, Any]) -> None:
        self.started.append((workflow, payload))


@pytest.fixture
def recorded(services: Services) -> tuple[Services, RecordedWorkflows]:
    workflows = RecordedWorkflows()
    return dataclasses.replace(services, workflows=workflows), workflows


# The domain's interactions schema with one context column, DEVICE.
WITH_DEVICE = json.dumps(
    {
        **json.loads(DOMAIN_DEFAULT_SCHEMAS[(ECOMMERCE, "INTERACTIONS")]),
        "fields": [
            *json.loads(DOMAIN_DEFAULT_SCHEMAS[(ECOMMERCE, "INTERACTIONS")])["fields"],
            {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
        ],
    }
)


def _group_with_items(services: Services, device: bool = False) -> tuple[str, str]:
    """An ECOMMERCE group whose interactions count as imported and whose Items table is stored
    (``device``: the interactions have a DEVICE column)."""
    group = dispatch(services, "CreateDatasetGroup", {"name": "shop", "domain": ECOMMERCE})["datasetGroupArn"]
    arns = {}
    schemas = {
        "INTERACTIONS": WITH_DEVICE if device else DOMAIN_DEFAULT_SCHEMAS[(ECOMMERCE, "INTERACTIONS")],
        "ITEMS": DOMAIN_DEFAULT_SCHEMAS[(ECOMMERCE, "ITEMS")],
    }
    for kind in ("INTERACTIONS", "ITEMS"):
        schema = dispatch(
            services,
            "CreateSchema",
            {"name": f"shop-{kind.lower()}", "schema": schemas[kind], "domain": ECOMMERCE},
        )["schemaArn"]
        arns[kind] = dispatch(
            services,
            "CreateDataset",
            {
                "name": f"shop-{kind.lower()}",
                "schemaArn": schema,
                "datasetGroupArn": group,
                "datasetType": kind,
            },
        )["datasetArn"]
    items = table_from_records(
        parse_schema(DOMAIN_DEFAULT_SCHEMAS[(ECOMMERCE, "ITEMS")]),
        "ITEMS",
        [("i1", {"PRICE": 1.5, "CATEGORY_L1": "A"}), ("i2", {"PRICE": 2.5, "CATEGORY_L1": "B"})],
    )
    assert items is not None
    extra = ",phone" if device else ""
    rows = "".join(f"u{n % 50},i{1 + n % 2},View,{1_700_000_000 + n}{extra}\n" for n in range(1200))
    interactions = read_csv(
        (f"USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP{',DEVICE' if device else ''}\n" + rows).encode(),
        parse_schema(schemas["INTERACTIONS"]),
        "INTERACTIONS",
    )
    tables = {"INTERACTIONS": interactions, "ITEMS": items}
    for kind, table in tables.items():
        prefix = f"datasets/shop/{kind.lower()}/"
        write_table(services.s3, services.settings.bucket_name, prefix, table)

        def imported(resource: Resource, prefix: str = prefix, count: int = table.row_count) -> None:
            resource.dataset_state.data = TableRef(prefix=prefix, row_count=count)

        services.resources.update(arns[kind], imported, what="Dataset")
    return group, arns["ITEMS"]


def _status(services: Services, arn: str) -> str:
    return str(dispatch(services, "DescribeRecommender", {"recommenderArn": arn})["recommender"]["status"])


def _run_last(services: Services, workflows: RecordedWorkflows) -> dict[str, Any]:
    workflow, payload = workflows.started[-1]
    if workflow == "RecommenderStatusChange":
        return steps.change_status(services, payload)
    return steps.prepare(services, payload)


def test_status_machine(recorded: tuple[Services, RecordedWorkflows]) -> None:
    services, workflows = recorded
    group, _ = _group_with_items(services)
    arn = dispatch(
        services, "CreateRecommender", {"name": "for-you", "datasetGroupArn": group, "recipeArn": RECIPE}
    )["recommenderArn"]
    assert _status(services, arn) == "CREATE PENDING"
    assert workflows.started[-1] == (
        "RecommenderTraining",
        {"recommenderArn": arn, "purpose": "create", "jobName": workflows.started[-1][1]["jobName"]},
    )
    with pytest.raises(ResourceInUseException, match="^recommenderArn: .* is CREATE PENDING"):
        dispatch(services, "StopRecommender", {"recommenderArn": arn})
    # What Prepare and Register leave (the training itself is the e2e tests' part).
    services.resources.update(arn, lambda r: r.doc.update(status="ACTIVE"), what="Recommender")

    dispatch(services, "StopRecommender", {"recommenderArn": arn})
    assert _status(services, arn) == "STOP PENDING"
    with pytest.raises(ResourceInUseException):
        dispatch(services, "StartRecommender", {"recommenderArn": arn})
    assert _run_last(services, workflows)["status"] == "INACTIVE"
    assert _status(services, arn) == "INACTIVE"
    with pytest.raises(ResourceInUseException, match="update it when it is ACTIVE"):
        dispatch(services, "UpdateRecommender", {"recommenderArn": arn, "recommenderConfig": {}})

    dispatch(services, "StartRecommender", {"recommenderArn": arn})
    assert _status(services, arn) == "START PENDING"
    assert _run_last(services, workflows)["status"] == "ACTIVE"
    assert _status(services, arn) == "ACTIVE"

    # A configuration-only update is applied by Prepare; the workflow asks for no training.
    dispatch(
        services,
        "UpdateRecommender",
        {"recommenderArn": arn, "recommenderConfig": {"minRecommendationRequestsPerSecond": 3}},
    )
    pending = dispatch(services, "DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert pending["latestRecommenderUpdate"]["status"] == "CREATE PENDING"
    assert pending["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 1
    assert workflows.started[-1][1]["retrain"] is False
    assert "training" not in _run_last(services, workflows)
    done = dispatch(services, "DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert done["latestRecommenderUpdate"]["status"] == "ACTIVE"
    assert done["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 3

    # A failed update leaves the recommender serving what it served.
    config = {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE"]}}}
    dispatch(services, "UpdateRecommender", {"recommenderArn": arn, "recommenderConfig": config})
    assert workflows.started[-1][1]["retrain"] is True
    steps.record_failure(
        services,
        {**workflows.started[-1][1], "recommenderArn": arn, "error": {"Error": "X", "Cause": "boom"}},
    )
    failed = dispatch(services, "DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert failed["status"] == "ACTIVE" and failed["latestRecommenderUpdate"]["status"] == "CREATE FAILED"
    assert "boom" in failed["latestRecommenderUpdate"]["failureReason"]
    assert failed["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 3

    dispatch(services, "DeleteRecommender", {"recommenderArn": arn})
    assert _status(services, arn) == "DELETE PENDING"
    with pytest.raises(ResourceInUseException):
        dispatch(services, "DeleteRecommender", {"recommenderArn": arn})
    _run_last(services, workflows)
    assert services.resources.find(arn) is None


def test_a_failed_creation_ends_create_failed(recorded: tuple[Services, RecordedWorkflows]) -> None:
    services, workflows = recorded
    group, _ = _group_with_items(services)
    arn = dispatch(
        services, "CreateRecommender", {"name": "r", "datasetGroupArn": group, "recipeArn": RECIPE}
    )["recommenderArn"]
    payload = workflows.started[-1][1]
    error = {"Error": "TrainingDataMissing", "Cause": '{"errorMessage": "too few Purchase events"}'}
    steps.record_failure(services, {**payload, "error": error})
    failed = dispatch(services, "DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert failed["status"] == "CREATE FAILED" and "too few Purchase events" in failed["failureReason"]
    dispatch(services, "DeleteRecommender", {"recommenderArn": arn})  # a failed one can be deleted


def test_quota_per_dataset_group_is_a_setting(recorded: tuple[Services, RecordedWorkflows]) -> None:
    services, _ = recorded
    services = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, max_recommenders_per_group=1)
    )
    group, _ = _group_with_items(services)
    dispatch(services, "CreateRecommender", {"name": "one", "datasetGroupArn": group, "recipeArn": RECIPE})
    with pytest.raises(LimitExceededException, match="^datasetGroupArn: .* already has 1 recommenders"):
        dispatch(
            services, "CreateRecommender", {"name": "two", "datasetGroupArn": group, "recipeArn": RECIPE}
        )


def test_excluded_columns_are_left_out_of_the_staged_items(
    recorded: tuple[Services, RecordedWorkflows],
) -> None:
    services, workflows = recorded
    group, _ = _group_with_items(services)
    config = {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE"]}}}
    arn = dispatch(
        services,
        "CreateRecommender",
        {"name": "r", "datasetGroupArn": group, "recipeArn": RECIPE, "recommenderConfig": config},
    )["recommenderArn"]
    payload = workflows.started[-1][1]
    state = steps.prepare(services, payload)
    assert _status(services, arn) == "CREATE IN_PROGRESS"
    channel = state["training"]["inputUri"].split("/", 3)[3]
    staged = read_table(services.s3, services.settings.bucket_name, channel + "items")
    assert set(staged.columns) == {"ITEM_ID", "CATEGORY_L1"}
    config_json = services.s3.get_object(Bucket=services.settings.bucket_name, Key=channel + "config.json")[
        "Body"
    ].read()
    assert b'"recipe": "aws-ecomm-recommended-for-you"' in config_json


def test_excluded_interaction_columns_are_left_out_of_the_staged_interactions(
    recorded: tuple[Services, RecordedWorkflows],
) -> None:
    services, workflows = recorded
    group, _ = _group_with_items(services, device=True)
    config = {"trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["device"]}}}
    dispatch(
        services,
        "CreateRecommender",
        {"name": "r", "datasetGroupArn": group, "recipeArn": RECIPE, "recommenderConfig": config},
    )
    state = steps.prepare(services, workflows.started[-1][1])
    channel = state["training"]["inputUri"].split("/", 3)[3]
    staged = read_table(services.s3, services.settings.bucket_name, channel + "interactions")
    assert set(staged.columns) == {"USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"}
    assert staged.row_count == 1200
    # Without the exclusion the context column is trained on.
    dispatch(
        services,
        "CreateRecommender",
        {
            "name": "r2",
            "datasetGroupArn": group,
            "recipeArn": RECIPE.replace("recommended-for-you", "popular-items-by-views"),
        },
    )
    state = steps.prepare(services, workflows.started[-1][1])
    channel = state["training"]["inputUri"].split("/", 3)[3]
    assert (
        "DEVICE" in read_table(services.s3, services.settings.bucket_name, channel + "interactions").columns
    )


def test_a_restart_ends_what_no_workflow_runs_any_more(recorded: tuple[Services, RecordedWorkflows]) -> None:
    """The emulator's restart recovery: a recommender left being created ends CREATE FAILED, one
    left stopping is ACTIVE again, and a maintenance job left running fails in the history (the
    recommender keeps serving); each with the interruption as the reason."""
    from picks.domain.resources import ModelRef, ModelUpdate

    from emulator.recovery import end_interrupted_jobs

    services, _ = recorded
    group, _ = _group_with_items(services)
    arns = [
        dispatch(
            services, "CreateRecommender", {"name": name, "datasetGroupArn": group, "recipeArn": RECIPE}
        )["recommenderArn"]
        for name in ("creating", "stopping", "maintained")
    ]
    creating, stopping, maintained = arns
    model = ModelRef("models/m/", "aws-user-personalization", "USER_PERSONALIZATION")
    for arn in (stopping, maintained):
        services.resources.update(arn, lambda r: r.doc.update(status="ACTIVE"), what="Recommender")
    dispatch(services, "StopRecommender", {"recommenderArn": stopping})

    def running(resource: Any) -> None:
        resource.recommender_state.model = model
        resource.recommender_state.maintenance = [ModelUpdate(1.0, "picks-rec-u", "CREATE IN_PROGRESS")]

    services.resources.update(maintained, running, what="Recommender")

    assert sorted(end_interrupted_jobs(services)) == sorted(arns)
    created = dispatch(services, "DescribeRecommender", {"recommenderArn": creating})["recommender"]
    assert created["status"] == "CREATE FAILED" and "server stopped" in created["failureReason"]
    assert _status(services, stopping) == "ACTIVE"
    after = services.resources.get(maintained, what="Recommender")
    assert after.doc["status"] == "ACTIVE" and after.recommender_state.model == model
    [update] = after.recommender_state.maintenance
    assert update.status == "CREATE FAILED" and "server stopped" in (update.failure_reason or "")
    assert end_interrupted_jobs(services) == []  # nothing is left running
