"""The Lambda handlers, invoked with API Gateway / EventBridge events, against moto."""

from __future__ import annotations

import json

import pytest

from demo.schemas import USER_ITEM_TIME, avro_schema
from emulator.lambda_bridge import LocalContext
from functions.control_plane import handler as control_plane
from functions.events import handler as events
from functions.runtime import handler as runtime
from functions.s3_drop import handler as s3_drop
from functions.workflow_steps import handler as workflow_steps
from tests.utils import load_event, response_header


def _control_plane(operation: str, body: dict | str) -> dict:
    event = load_event("control_plane_create_dataset_group")
    event["headers"]["X-Amz-Target"] = f"AmazonPersonalize.{operation}"
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return control_plane.lambda_handler(event, LocalContext("control_plane"))


def test_create_dataset_group_event(services):
    response = control_plane.lambda_handler(
        load_event("control_plane_create_dataset_group"), LocalContext("control_plane")
    )
    assert response["statusCode"] == 200
    assert response_header(response, "Content-Type") == "application/x-amz-json-1.1"
    body = json.loads(response["body"])
    assert body == {
        "datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/sample-group",
        "domain": "ECOMMERCE",
    }
    stored = services.resources.get(body["datasetGroupArn"], what="Dataset group")
    assert stored.doc["status"] == "ACTIVE"


def test_modelled_error_is_encoded_for_botocore(services):
    _control_plane("CreateDatasetGroup", {"name": "dup"})
    response = _control_plane("CreateDatasetGroup", {"name": "dup"})
    assert response["statusCode"] == 400
    assert response_header(response, "x-amzn-ErrorType") == "ResourceAlreadyExistsException"
    body = json.loads(response["body"])
    assert body["__type"] == "ResourceAlreadyExistsException"
    assert "dup" in body["message"]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ("{not json", "InvalidInputException", "JSON"),
        ("[1, 2]", "InvalidInputException", "object"),
        ({}, "InvalidInputException", "'name'"),
    ],
)
def test_bad_bodies(services, body, code, words):
    response = _control_plane("CreateDatasetGroup", body)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["__type"] == code
    assert words in json.loads(response["body"])["message"]


def test_missing_target(services):
    event = load_event("control_plane_create_dataset_group")
    del event["headers"]["X-Amz-Target"]
    response = control_plane.lambda_handler(event, LocalContext("control_plane"))
    assert response["statusCode"] == 400
    assert "X-Amz-Target" in json.loads(response["body"])["message"]


def test_runtime_unknown_campaign_is_404(services):
    response = runtime.lambda_handler(load_event("runtime_get_recommendations"), LocalContext("runtime"))
    assert response["statusCode"] == 404
    assert response_header(response, "x-amzn-ErrorType") == "ResourceNotFoundException"


def test_runtime_validates_against_model(services):
    event = load_event("runtime_get_recommendations")
    event["body"] = json.dumps(
        {"campaignArn": "arn:aws:personalize:us-east-1:0:campaign/x", "userId": "u" * 257}
    )
    response = runtime.lambda_handler(event, LocalContext("runtime"))
    assert response["statusCode"] == 400
    assert "at 'userId'" in json.loads(response["body"])["message"]


def test_events_unknown_tracker_is_rejected_not_dropped(services):
    response = events.lambda_handler(load_event("events_put_events"), LocalContext("events"))
    assert response["statusCode"] == 404
    assert response_header(response, "x-amzn-ErrorType") == "ResourceNotFoundException"
    assert "trackingId" in json.loads(response["body"])["message"]


def test_events_put_items_unknown_dataset_is_404(services):
    event = load_event("events_put_events", path="/items", resource="/items")
    event["requestContext"]["resourcePath"] = "/items"
    event["body"] = json.dumps(
        {
            "datasetArn": "arn:aws:personalize:us-east-1:000000000000:dataset/none/ITEMS",
            "items": [{"itemId": "i1"}],
        }
    )
    response = events.lambda_handler(event, LocalContext("events"))
    assert response["statusCode"] == 404
    assert response_header(response, "x-amzn-ErrorType") == "ResourceNotFoundException"


def test_drop_for_unknown_dataset_is_ignored_with_reason(services):
    result = s3_drop.lambda_handler(load_event("s3_drop_object_created"), LocalContext("s3_drop"))
    assert result["status"] == "IGNORED"
    assert "sample-group/INTERACTIONS" in result["reason"]


def test_drop_outside_layout_is_ignored(services):
    event = load_event("s3_drop_object_created")
    event["detail"]["object"]["key"] = "drop/just-a-file.csv"
    assert s3_drop.lambda_handler(event, LocalContext("s3_drop"))["status"] == "IGNORED"


def test_workflow_step_unknown_action(services):
    with pytest.raises(ValueError, match="unknown workflow step"):
        workflow_steps.lambda_handler({"action": "nope", "input": {}}, LocalContext("workflow_steps"))


DROP_SCHEMA = avro_schema("Interactions", *USER_ITEM_TIME)


def _drop_target(services) -> str:
    """The dataset the sample drop event's key names, and the dropped object itself."""
    group = json.loads(_control_plane("CreateDatasetGroup", {"name": "sample-group"})["body"])[
        "datasetGroupArn"
    ]
    schema = json.loads(
        _control_plane("CreateSchema", {"name": "drop-schema", "schema": DROP_SCHEMA})["body"]
    )
    dataset = json.loads(
        _control_plane(
            "CreateDataset",
            {
                "name": "drop-interactions",
                "schemaArn": schema["schemaArn"],
                "datasetGroupArn": group,
                "datasetType": "INTERACTIONS",
            },
        )["body"]
    )["datasetArn"]
    key = load_event("s3_drop_object_created")["detail"]["object"]["key"]
    services.s3.put_object(
        Bucket=services.settings.bucket_name,
        Key=key,
        Body=b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu2,i2,1700000001\n",
    )
    return dataset


def _drop_jobs(services, dataset: str) -> list:
    return [
        job
        for job in services.resources.list("dataset-import-job", parent=dataset)
        if job.doc["jobName"].startswith("drop-")
    ]


def test_a_redelivered_drop_event_imports_once(services):
    dataset = _drop_target(services)
    event = load_event("s3_drop_object_created")
    first = s3_drop.lambda_handler(event, LocalContext("s3_drop"))
    again = s3_drop.lambda_handler(
        load_event("s3_drop_object_created"), LocalContext("s3_drop")
    )  # at-least-once
    services.workflows.wait_idle()
    assert first["status"] == "STARTED"
    assert again == {"status": "ALREADY_STARTED", "datasetImportJobArn": first["datasetImportJobArn"]}
    assert [job.arn for job in _drop_jobs(services, dataset)] == [first["datasetImportJobArn"]]
    data = services.resources.get(dataset, what="Dataset").dataset_state.data
    assert data is not None and data.row_count == 2

    # The next write of the same key is another object write: it imports.
    event["detail"]["object"]["sequencer"] = "00617F08299329D190"
    later = s3_drop.lambda_handler(event, LocalContext("s3_drop"))
    services.workflows.wait_idle()
    assert later["status"] == "STARTED"
    assert later["datasetImportJobArn"] != first["datasetImportJobArn"]
    assert len(_drop_jobs(services, dataset)) == 2
