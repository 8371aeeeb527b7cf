"""Resource records written before private state had its own ``state`` attribute (the durable
emulator keeps them in .picks-data/) kept it inside ``doc`` under underscore-prefixed keys; against
moto, such records read with their typed state, answer Describe, GetSolutionMetrics and the
runtime as before, and are written back in the new layout."""

from __future__ import annotations

import json

from picks import runtime
from picks.controlplane import campaigns, solution_versions
from picks.domain.resources import CampaignState, ModelRef

from tests.conftest import TABLE

SOLUTION = "arn:aws:personalize:us-east-1:000000000000:solution/legacy"
VERSION = f"{SOLUTION}/abc12345"
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/legacy"
GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/legacy"
MODEL = {
    "prefix": "models/legacy/abc12345/",
    "recipe": "aws-sims",
    "recipeType": "RELATED_ITEMS",
    "eventsUntil": 42,
}
METRICS = {"coverage": 0.25}
VERSION_WIRE = {
    "solutionVersionArn": VERSION,
    "solutionArn": SOLUTION,
    "datasetGroupArn": GROUP,
    "status": "ACTIVE",
    "trainingMode": "FULL",
    "creationDateTime": 1700000000.0,
    "lastUpdatedDateTime": 1700000100.0,
}
CAMPAIGN_WIRE = {
    "name": "legacy",
    "campaignArn": CAMPAIGN,
    "solutionVersionArn": VERSION,
    "minProvisionedTPS": 1,
    "campaignConfig": {"enableMetadataWithRecommendations": False, "syncWithLatestSolutionVersion": False},
    "status": "ACTIVE",
    "creationDateTime": 1700000200.0,
    "lastUpdatedDateTime": 1700000300.0,
}


def _put_legacy_item(dynamodb, arn: str, kind: str, parent: str, doc: dict) -> None:
    """An item as picks.dal.resources wrote it before the ``state`` attribute existed."""
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": arn},
            "kind": {"S": kind},
            "sk": {"S": f"{doc['creationDateTime']:020.6f}#{arn}"},
            "parent": {"S": parent},
            "doc": {"S": json.dumps(doc, separators=(",", ":"))},
            "tags": {"S": "[]"},
            "rev": {"N": "3"},
            "created": {"N": repr(doc["creationDateTime"])},
        },
    )


def _raw_item(dynamodb, arn: str) -> dict:
    return dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": arn}})["Item"]


def _legacy(dynamodb) -> None:
    version_doc = {
        **VERSION_WIRE,
        "_model": MODEL,
        "_metrics": METRICS,
        "_trainingJobName": "picks-legacy-abc12345",
    }
    version_doc["_eventsUntil"] = 42
    _put_legacy_item(dynamodb, VERSION, "solution-version", SOLUTION, version_doc)
    campaign_doc = {**CAMPAIGN_WIRE, "_servingVersionArn": VERSION, "_datasetGroupArn": GROUP}
    _put_legacy_item(dynamodb, CAMPAIGN, "campaign", SOLUTION, campaign_doc)


def test_a_legacy_record_reads_with_its_typed_state_and_an_unchanged_describe(services, aws):
    _legacy(aws.client("dynamodb"))

    version = services.resources.get(VERSION, what="Solution version")
    assert version.doc == VERSION_WIRE
    assert version.version_state.model == ModelRef("models/legacy/abc12345/", "aws-sims", "RELATED_ITEMS", 42)
    assert version.version_state.training_job_name == "picks-legacy-abc12345"
    assert version.version_state.events_until == 42
    assert services.resources.get(CAMPAIGN, what="Campaign").campaign_state == CampaignState(VERSION, GROUP)

    described = solution_versions.describe_solution_version(services, {"solutionVersionArn": VERSION})
    assert described == {"solutionVersion": VERSION_WIRE}
    assert campaigns.describe_campaign(services, {"campaignArn": CAMPAIGN}) == {"campaign": CAMPAIGN_WIRE}
    metrics = solution_versions.get_solution_metrics(services, {"solutionVersionArn": VERSION})
    assert metrics == {"solutionVersionArn": VERSION, "metrics": METRICS}
    serving = runtime._read_campaign(services, CAMPAIGN)
    assert (serving.model_prefix, serving.recipe_type, serving.events_since_ms) == (
        MODEL["prefix"],
        "RELATED_ITEMS",
        42,
    )
    assert serving.dataset_group_arn == GROUP


def test_a_legacy_record_is_written_back_in_the_new_layout(services, aws):
    _legacy(aws.client("dynamodb"))
    before = services.resources.get(VERSION, what="Solution version")

    services.resources.update(VERSION, lambda resource: None, what="Solution version")

    item = _raw_item(aws.client("dynamodb"), VERSION)
    assert json.loads(item["doc"]["S"]) == VERSION_WIRE
    assert json.loads(item["state"]["S"]) == {
        "model": MODEL,
        "metrics": METRICS,
        "trainingJobName": "picks-legacy-abc12345",
        "eventsUntil": 42,
    }
    after = services.resources.get(VERSION, what="Solution version")
    assert (after.doc, after.state, after.rev) == (before.doc, before.state, before.rev + 1)
