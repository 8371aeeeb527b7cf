"""Regions and the account, as clients in two regions see them through one emulator."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from tests.conftest import client_for

pytestmark = pytest.mark.e2e


def _client_in(emulator, service: str, region: str):
    return boto3.client(
        service,
        endpoint_url=emulator.url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_arns_name_the_clients_region_and_regions_are_isolated(emulator):
    dublin = _client_in(emulator, "personalize", "eu-west-1")
    virginia = _client_in(emulator, "personalize", "us-east-1")

    arn = dublin.create_dataset_group(name="regional")["datasetGroupArn"]
    assert arn.split(":")[3] == "eu-west-1"
    assert dublin.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["name"] == "regional"
    assert arn in {g["datasetGroupArn"] for g in dublin.list_dataset_groups()["datasetGroups"]}

    # Another region is another service: it neither lists nor finds the resource ...
    assert arn not in {g["datasetGroupArn"] for g in virginia.list_dataset_groups()["datasetGroups"]}
    with pytest.raises(virginia.exceptions.ResourceNotFoundException):
        virginia.describe_dataset_group(datasetGroupArn=arn)
    # ... and the same name is free there.
    there = virginia.create_dataset_group(name="regional")["datasetGroupArn"]
    assert there.split(":")[3] == "us-east-1" and there != arn
    assert there not in {g["datasetGroupArn"] for g in dublin.list_dataset_groups()["datasetGroups"]}


def test_the_account_of_arns_is_the_account_sts_answers_for(emulator):
    account = client_for(emulator, "sts").get_caller_identity()["Account"]
    arn = client_for(emulator, "personalize").create_dataset_group(name="accounted")["datasetGroupArn"]
    assert arn.split(":")[4] == account
    assert emulator.settings.account == account


def test_runtime_and_events_apis_are_regional_too(emulator):
    dublin = _client_in(emulator, "personalize", "eu-west-1")
    group = dublin.create_dataset_group(name="regional-events")["datasetGroupArn"]
    tracking = dublin.create_event_tracker(name="regional-clicks", datasetGroupArn=group)["trackingId"]
    event = {"eventType": "click", "itemId": "i1", "sentAt": 1_700_000_000}

    # Seen from its own region the tracker takes events (and is cached in this process) ...
    _client_in(emulator, "personalize-events", "eu-west-1").put_events(
        trackingId=tracking, userId="u1", sessionId="s1", eventList=[event]
    )
    # ... from another region it does not exist, cached or not.
    virginia = _client_in(emulator, "personalize-events", "us-east-1")
    with pytest.raises(virginia.exceptions.ResourceNotFoundException):
        virginia.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=[event])
