"""Stock boto3 clients drive the data control plane through the emulator's HTTP port."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from picks import services as picks_services
from picks.dataset_schema import DOMAIN_DEFAULT_SCHEMAS

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.conftest import client_for
from tests.signed import control_plane as signed_control_plane

pytestmark = pytest.mark.e2e

INTERACTIONS = avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string"))
ITEMS = avro_schema("Items", ("ITEM_ID", "string"), ("CATEGORY", "string", "categorical"))
ITEMS_V2 = avro_schema(
    "Items", ("ITEM_ID", "string"), ("CATEGORY", "string", "categorical"), ("PRICE", ["null", "float"])
)
USERS = avro_schema("Users", ("USER_ID", "string"), ("TIER", "string", "categorical"))
ACTIONS = avro_schema("Actions", ("ACTION_ID", "string"), ("CHANNEL", "string", "categorical"))
ACTION_INTERACTIONS = avro_schema(
    "ActionInteractions",
    ("USER_ID", "string"),
    ("ACTION_ID", "string"),
    ("TIMESTAMP", "long"),
    ("EVENT_TYPE", "string"),
)
SCHEMAS = {
    "INTERACTIONS": INTERACTIONS,
    "ITEMS": ITEMS,
    "USERS": USERS,
    "ACTIONS": ACTIONS,
    "ACTION_INTERACTIONS": ACTION_INTERACTIONS,
}
MISSING = "arn:aws:personalize:us-east-1:000000000000:dataset-group/does-not-exist"


@pytest.fixture(scope="module")
def personalize(emulator):
    return client_for(emulator, "personalize")


def test_dataset_group_lifecycle(personalize):
    # Given a new dataset group with a domain and tags
    created = personalize.create_dataset_group(
        name="lifecycle", domain="ECOMMERCE", tags=[{"tagKey": "team", "tagValue": "recs"}]
    )
    arn = created["datasetGroupArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:dataset-group/lifecycle"
    assert created["domain"] == "ECOMMERCE"

    # When described
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]

    # Then it is ACTIVE with timestamps and appears in the listing
    assert group["status"] == "ACTIVE"
    assert group["domain"] == "ECOMMERCE"
    assert group["creationDateTime"] <= group["lastUpdatedDateTime"]
    listed = [g["datasetGroupArn"] for g in personalize.list_dataset_groups()["datasetGroups"]]
    assert arn in listed
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "team", "tagValue": "recs"}
    ]

    personalize.delete_dataset_group(datasetGroupArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="lifecycle"):
        personalize.describe_dataset_group(datasetGroupArn=arn)


def test_list_dataset_groups_paginates(personalize):
    for index in range(3):
        personalize.create_dataset_group(name=f"page-{index}")
    first = personalize.list_dataset_groups(maxResults=2)
    assert len(first["datasetGroups"]) == 2 and "nextToken" in first
    seen = [g["name"] for g in first["datasetGroups"]]
    token = first["nextToken"]
    while token:
        page = personalize.list_dataset_groups(maxResults=2, nextToken=token)
        seen += [g["name"] for g in page["datasetGroups"]]
        token = page.get("nextToken")
    assert {"page-0", "page-1", "page-2"} <= set(seen)
    assert len(seen) == len(set(seen))
    # botocore's own paginator works against picks too
    names = [
        g["name"]
        for p in personalize.get_paginator("list_dataset_groups").paginate(PaginationConfig={"PageSize": 1})
        for g in p["datasetGroups"]
    ]
    assert set(seen) == set(names)


def test_invalid_next_token(personalize):
    with pytest.raises(personalize.exceptions.InvalidNextTokenException, match="nextToken"):
        personalize.list_dataset_groups(nextToken="not-a-token")


def test_duplicate_dataset_group(personalize):
    personalize.create_dataset_group(name="twice")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="twice"):
        personalize.create_dataset_group(name="twice")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"name": "ok", "domain": "RETAIL"}, "domain"),
        ({"name": "ok", "roleArn": "not-an-arn"}, "roleArn"),
        ({"name": "ok", "tags": [{"tagKey": "k$", "tagValue": "v"}]}, "tags.1.member.tagKey"),
    ],
)
def test_create_dataset_group_validates_against_the_model(personalize, params, field):
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_dataset_group(**params)
    assert f"at '{field}'" in caught.value.response["Error"]["Message"]


def test_dataset_group_limit(personalize, emulator):
    services = picks_services.get_services()
    original = services.settings
    existing = len(personalize.list_dataset_groups()["datasetGroups"])
    services.settings = dataclasses.replace(original, max_dataset_groups=existing)
    try:
        with pytest.raises(personalize.exceptions.LimitExceededException, match="name"):
            personalize.create_dataset_group(name="one-too-many")
    finally:
        services.settings = original


def test_schema_lifecycle_and_validation(personalize):
    arn = personalize.create_schema(name="interactions-schema", schema=INTERACTIONS)["schemaArn"]
    described = personalize.describe_schema(schemaArn=arn)["schema"]
    assert json.loads(described["schema"]) == json.loads(INTERACTIONS)
    assert arn in [s["schemaArn"] for s in personalize.list_schemas()["schemas"]]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_schema(name="interactions-schema", schema=INTERACTIONS)
    with pytest.raises(personalize.exceptions.InvalidInputException, match="schema"):
        personalize.create_schema(name="broken", schema="{not json")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="ARRAY|array"):
        personalize.create_schema(
            name="bad-type",
            schema=json.dumps(
                {
                    "type": "record",
                    "name": "Items",
                    "fields": [
                        {"name": "ITEM_ID", "type": "string"},
                        {"name": "TAGS", "type": {"type": "array", "items": "string"}},
                    ],
                }
            ),
        )
    personalize.delete_schema(schemaArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_schema(schemaArn=arn)


def test_domain_schema_and_dataset(personalize):
    group = personalize.create_dataset_group(name="vod", domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    schema = personalize.create_schema(
        name="vod-interactions",
        domain="VIDEO_ON_DEMAND",
        schema=DOMAIN_DEFAULT_SCHEMAS[("VIDEO_ON_DEMAND", "INTERACTIONS")],
    )["schemaArn"]
    assert personalize.describe_schema(schemaArn=schema)["schema"]["domain"] == "VIDEO_ON_DEMAND"
    dataset = personalize.create_dataset(
        name="vod-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    assert dataset.endswith(":dataset/vod/INTERACTIONS")
    # A domain dataset group refuses a schema without the domain.
    plain = personalize.create_schema(name="vod-plain-items", schema=ITEMS)["schemaArn"]
    with pytest.raises(personalize.exceptions.InvalidInputException, match="domain"):
        personalize.create_dataset(name="items", schemaArn=plain, datasetGroupArn=group, datasetType="ITEMS")


def test_all_five_dataset_types(personalize):
    group = personalize.create_dataset_group(name="five-types")["datasetGroupArn"]
    arns = {}
    for dataset_type, schema_text in SCHEMAS.items():
        schema = personalize.create_schema(name=f"five-{dataset_type.lower()}", schema=schema_text)[
            "schemaArn"
        ]
        arns[dataset_type] = personalize.create_dataset(
            name=f"five-{dataset_type.lower()}",
            schemaArn=schema,
            datasetGroupArn=group,
            datasetType=dataset_type.title() if dataset_type == "INTERACTIONS" else dataset_type,
            tags=[{"tagKey": "type", "tagValue": dataset_type}],
        )["datasetArn"]
    for dataset_type, arn in arns.items():
        dataset = personalize.describe_dataset(datasetArn=arn)["dataset"]
        assert dataset["datasetType"] == dataset_type
        assert dataset["status"] == "ACTIVE"
        assert dataset["datasetGroupArn"] == group
    listed = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert {d["datasetType"] for d in listed} == set(SCHEMAS)
    # One dataset per type per group
    again = personalize.create_schema(name="five-interactions-again", schema=INTERACTIONS)["schemaArn"]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="datasetType"):
        personalize.create_dataset(
            name="dup", schemaArn=again, datasetGroupArn=group, datasetType="INTERACTIONS"
        )
    # A group with datasets cannot be deleted; a schema in use neither
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="datasetGroupArn"):
        personalize.delete_dataset_group(datasetGroupArn=group)
    used_schema = personalize.describe_dataset(datasetArn=arns["USERS"])["dataset"]["schemaArn"]
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="schemaArn"):
        personalize.delete_schema(schemaArn=used_schema)
    for arn in arns.values():
        personalize.delete_dataset(datasetArn=arn)
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_create_dataset_errors(personalize):
    schema = personalize.create_schema(name="err-users", schema=USERS)["schemaArn"]
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="does-not-exist"):
        personalize.create_dataset(name="d", schemaArn=schema, datasetGroupArn=MISSING, datasetType="USERS")
    group = personalize.create_dataset_group(name="err-group")["datasetGroupArn"]
    with pytest.raises(personalize.exceptions.InvalidInputException, match="ITEM_ID"):
        personalize.create_dataset(name="d", schemaArn=schema, datasetGroupArn=group, datasetType="ITEMS")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="datasetType"):
        personalize.create_dataset(name="d", schemaArn=schema, datasetGroupArn=group, datasetType="WIDGETS")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="schema"):
        personalize.create_dataset(
            name="d", schemaArn=schema + "-gone", datasetGroupArn=group, datasetType="USERS"
        )


def test_update_dataset(personalize):
    group = personalize.create_dataset_group(name="update-group")["datasetGroupArn"]
    v1 = personalize.create_schema(name="items-v1", schema=ITEMS)["schemaArn"]
    v2 = personalize.create_schema(name="items-v2", schema=ITEMS_V2)["schemaArn"]
    dataset = personalize.create_dataset(
        name="items", schemaArn=v1, datasetGroupArn=group, datasetType="ITEMS"
    )["datasetArn"]
    assert personalize.update_dataset(datasetArn=dataset, schemaArn=v2)["datasetArn"] == dataset
    described = personalize.describe_dataset(datasetArn=dataset)["dataset"]
    assert described["schemaArn"] == v2
    assert described["latestDatasetUpdate"]["schemaArn"] == v2
    assert described["latestDatasetUpdate"]["status"] == "ACTIVE"
    # Dropping a field would orphan existing data
    with pytest.raises(personalize.exceptions.InvalidInputException, match="PRICE"):
        personalize.update_dataset(datasetArn=dataset, schemaArn=v1)


def test_tags(personalize):
    arn = personalize.create_dataset_group(name="tagged")["datasetGroupArn"]
    personalize.tag_resource(
        resourceArn=arn, tags=[{"tagKey": "a", "tagValue": "1"}, {"tagKey": "b", "tagValue": "2"}]
    )
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "a", "tagValue": "3"}])
    assert sorted(
        (t["tagKey"], t["tagValue"]) for t in personalize.list_tags_for_resource(resourceArn=arn)["tags"]
    ) == [("a", "3"), ("b", "2")]
    personalize.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "b", "tagValue": "2"}]
    too_many = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)]
    with pytest.raises(personalize.exceptions.TooManyTagsException, match="tags"):
        personalize.tag_resource(resourceArn=arn, tags=too_many)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_tags_for_resource(resourceArn=MISSING)


def test_unknown_operation_is_a_clear_error(emulator):
    answer = signed_control_plane(emulator.url, "MakeCoffee", b"{}")
    assert answer.status == 400
    body = answer.json()
    assert body["__type"] == "UnknownOperationException"
    assert "MakeCoffee" in body["message"]


def test_aws_cli_lists_dataset_groups(emulator, personalize):
    personalize.create_dataset_group(name="cli-visible")
    aws = Path(sys.executable).with_name("aws")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    completed = subprocess.run(
        [str(aws), "personalize", "list-dataset-groups", "--endpoint-url", emulator.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    names = [g["name"] for g in json.loads(completed.stdout)["datasetGroups"]]
    assert "cli-visible" in names
