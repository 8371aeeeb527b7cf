"""CreateFilter / DescribeFilter / ListFilters / DeleteFilter over HTTP with a stock boto3 client."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from picks import services as picks_services

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.conftest import client_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e


INTERACTIONS = avro_schema(
    "Interactions",
    ("USER_ID", "string"),
    ("ITEM_ID", "string"),
    ("EVENT_TYPE", "string"),
    ("TIMESTAMP", "long"),
)
INTERACTIONS_WITHOUT_EVENT_TYPE = avro_schema("Interactions", *USER_ITEM_TIME)
ITEMS = avro_schema(
    "Items",
    ("ITEM_ID", "string"),
    ("GENRES", ["null", "string"], "categorical"),
    ("COLOR", ["null", "string"]),
    ("PRICE", ["null", "double"]),
    ("CREATION_TIMESTAMP", ["null", "long"]),
    ("ON_SALE", ["null", "boolean"]),
    ("DESCRIPTION", ["null", "string"], "textual"),
)
USERS = avro_schema(
    "Users",
    ("USER_ID", "string"),
    ("AGE", ["null", "int"]),
    ("MEMBERSHIP", ["null", "string"], "categorical"),
)


@pytest.fixture(scope="module")
def personalize(emulator):
    return client_for(emulator, "personalize")


def make_group(personalize, name: str, datasets: dict[str, str]) -> str:
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    for dataset_type, text in datasets.items():
        schema_arn = personalize.create_schema(name=f"{name}-{dataset_type.lower()}", schema=text)[
            "schemaArn"
        ]
        personalize.create_dataset(
            name=f"{name}-{dataset_type.lower()}",
            datasetGroupArn=group,
            datasetType=dataset_type,
            schemaArn=schema_arn,
        )
    return group


@pytest.fixture(scope="module")
def group(personalize) -> str:
    return make_group(personalize, "filtered", {"INTERACTIONS": INTERACTIONS, "ITEMS": ITEMS, "USERS": USERS})


@contextmanager
def limits(**changes: int) -> Iterator[None]:
    """Lower the emulator's filter quotas for one test."""
    services = picks_services.get_services()
    original = services.settings
    services.settings = replace(original, **changes)
    try:
        yield
    finally:
        services.settings = original


def test_filter_lifecycle(personalize, group):
    expression = (
        "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) AND Items.PRICE <= $PRICE IF CurrentUser.AGE > 17 | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    )
    created = personalize.create_filter(
        name="affordable",
        datasetGroupArn=group,
        filterExpression=expression,
        tags=[{"tagKey": "team", "tagValue": "recs"}],
    )
    arn = created["filterArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:filter/affordable"

    described = personalize.describe_filter(filterArn=arn)["filter"]
    assert described["name"] == "affordable"
    assert described["filterArn"] == arn
    assert described["datasetGroupArn"] == group
    assert described["filterExpression"] == expression
    assert described["status"] == "ACTIVE"
    assert described["creationDateTime"] <= described["lastUpdatedDateTime"]
    assert "failureReason" not in described
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "team", "tagValue": "recs"}
    ]

    listed = personalize.list_filters(datasetGroupArn=group)
    assert "Filters" in listed and "filters" not in listed  # the model's capital F
    assert [f["filterArn"] for f in listed["Filters"]] == [arn]
    assert set(listed["Filters"][0]) == {
        "name",
        "filterArn",
        "creationDateTime",
        "lastUpdatedDateTime",
        "datasetGroupArn",
        "status",
    }
    assert arn in [f["filterArn"] for f in personalize.list_filters()["Filters"]]
    assert personalize.list_filters(datasetGroupArn=group + "-missing")["Filters"] == []

    personalize.delete_filter(filterArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="filterArn"):
        personalize.describe_filter(filterArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="filterArn"):
        personalize.delete_filter(filterArn=arn)
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []


def test_names_are_unique_and_the_group_must_exist(personalize, group):
    text = 'EXCLUDE ItemID WHERE Items.COLOR IN ("red")'
    arn = personalize.create_filter(name="no-red", datasetGroupArn=group, filterExpression=text)["filterArn"]
    try:
        with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="no-red"):
            personalize.create_filter(name="no-red", datasetGroupArn=group, filterExpression=text)
    finally:
        personalize.delete_filter(filterArn=arn)
    missing = "arn:aws:personalize:us-east-1:000000000000:dataset-group/no-such-group"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="datasetGroupArn"):
        personalize.create_filter(name="orphan", datasetGroupArn=missing, filterExpression=text)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        (
            "INCLUDE ItemID WHERE Items.PRICE BETWEEN 1 AND 2",
            "filterExpression: at position 34: expected IN, NOT IN or a comparison after Items.PRICE, "
            "found 'BETWEEN'",
        ),
        (
            "EXCLUDE ItemID WHERE Items.GENRES NOT IN ($GENRE)",
            "filterExpression: at position 43: placeholder $GENRE can't be used with NOT IN",
        ),
        (
            'INCLUDE ItemID WHERE Items.GENRES IN ("a") AND Interactions.EVENT_TYPE IN ("click")',
            "filterExpression: at position 48: Items and Interactions conditions can't be in one expression",
        ),
    ],
)
def test_parse_errors_name_the_position(personalize, group, expression, fragment):
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_filter(name="broken", datasetGroupArn=group, filterExpression=expression)
    assert fragment in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        (
            'INCLUDE ItemID WHERE Items.COLOUR IN ("red")',
            "filterExpression: at position 22: Items.COLOUR: COLOUR is not a field of the ITEMS dataset's "
            "schema",
        ),
        (
            "INCLUDE ItemID WHERE Items.GENRES IN CurrentItem.GENRE",
            "at position 38: CurrentItem.GENRE: GENRE is not a field of the ITEMS dataset's schema",
        ),
        (
            'INCLUDE ItemID WHERE Items.COLOR IN ("red") IF CurrentUser.GENDER IN ("f")',
            "at position 48: CurrentUser.GENDER: GENDER is not a field of the USERS dataset's schema",
        ),
        ('INCLUDE ItemID WHERE Items.ON_SALE IN ("true")', "Items.ON_SALE is a boolean field"),
        ('EXCLUDE ItemID WHERE Items.DESCRIPTION IN ("boot")', "Items.DESCRIPTION is a textual field"),
        ("INCLUDE ItemID WHERE Items.COLOR > 3", "Items.COLOR is a string field; comparisons"),
        ("INCLUDE ItemID WHERE Items.PRICE < CurrentItem.COLOR", "CurrentItem.COLOR is a string field"),
        ("INCLUDE ActionID WHERE Actions.VALUE > 3", "has no ACTIONS dataset"),
    ],
)
def test_fields_are_checked_against_the_schemas(personalize, group, expression, fragment):
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.create_filter(name="unknown-field", datasetGroupArn=group, filterExpression=expression)
    assert fragment in caught.value.response["Error"]["Message"]


def test_event_type_needs_an_interactions_schema_with_event_type(personalize):
    bare = make_group(personalize, "no-event-type", {"INTERACTIONS": INTERACTIONS_WITHOUT_EVENT_TYPE})
    with pytest.raises(
        personalize.exceptions.InvalidInputException,
        match="EVENT_TYPE is not a field of the INTERACTIONS dataset's schema",
    ):
        personalize.create_filter(
            name="clicked",
            datasetGroupArn=bare,
            filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
        )
    with pytest.raises(personalize.exceptions.InvalidInputException, match="has no ITEMS dataset"):
        personalize.create_filter(
            name="genre", datasetGroupArn=bare, filterExpression='EXCLUDE ItemID WHERE Items.GENRES IN ("x")'
        )


def test_filters_per_group_limit(personalize, group):
    created = []
    with limits(max_filters_per_group=2):
        try:
            for index in range(2):
                created.append(
                    personalize.create_filter(
                        name=f"quota-{index}",
                        datasetGroupArn=group,
                        filterExpression='EXCLUDE ItemID WHERE Items.COLOR IN ("red")',
                    )["filterArn"]
                )
            with pytest.raises(personalize.exceptions.LimitExceededException) as caught:
                personalize.create_filter(
                    name="quota-2",
                    datasetGroupArn=group,
                    filterExpression='EXCLUDE ItemID WHERE Items.COLOR IN ("blue")',
                )
            message = caught.value.response["Error"]["Message"]
            assert "already has 2 filters" in message and "Settings.max_filters_per_group" in message
        finally:
            for arn in created:
                personalize.delete_filter(filterArn=arn)


def test_fields_per_filter_limit(personalize, group):
    text = (
        'INCLUDE ItemID WHERE Items.COLOR IN ("red") AND Items.PRICE < 3 | '
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    )
    with limits(max_fields_per_filter=2):
        with pytest.raises(personalize.exceptions.LimitExceededException) as caught:
            personalize.create_filter(name="wide", datasetGroupArn=group, filterExpression=text)
    message = caught.value.response["Error"]["Message"]
    assert message.startswith("filterExpression: the filter uses 3 distinct dataset fields")
    assert "Interactions.EVENT_TYPE, Items.COLOR, Items.PRICE" in message
    assert "Settings.max_fields_per_filter" in message


def test_fields_per_group_limit(personalize, group):
    with limits(max_filter_fields_per_group=3):
        first = personalize.create_filter(
            name="fields-a",
            datasetGroupArn=group,
            filterExpression="INCLUDE ItemID WHERE Items.PRICE < $P AND Items.CREATION_TIMESTAMP > $T",
        )["filterArn"]
        try:
            # The same fields again, plus one: three distinct fields in the group.
            second = personalize.create_filter(
                name="fields-b",
                datasetGroupArn=group,
                filterExpression="INCLUDE ItemID WHERE Items.PRICE < 10 IF CurrentUser.AGE >= 18",
            )["filterArn"]
            personalize.delete_filter(filterArn=second)
            second = personalize.create_filter(
                name="fields-b",
                datasetGroupArn=group,
                filterExpression="INCLUDE ItemID WHERE Items.PRICE < 10 IF CurrentUser.AGE >= 18",
            )["filterArn"]
            with pytest.raises(personalize.exceptions.LimitExceededException) as caught:
                personalize.create_filter(
                    name="fields-c",
                    datasetGroupArn=group,
                    filterExpression='EXCLUDE ItemID WHERE Items.COLOR IN ("red")',
                )
            message = caught.value.response["Error"]["Message"]
            assert "would use 4 distinct dataset fields" in message
            assert "Settings.max_filter_fields_per_group" in message and "adds: Items.COLOR" in message
            personalize.delete_filter(filterArn=second)
        finally:
            personalize.delete_filter(filterArn=first)


def test_default_limits(personalize, group):
    settings = picks_services.get_services().settings
    assert (
        settings.max_filters_per_group,
        settings.max_fields_per_filter,
        settings.max_filter_fields_per_group,
    ) == (30, 10, 20)


def test_list_filters_paginates(personalize, group):
    arns = [
        personalize.create_filter(
            name=f"page-{index}",
            datasetGroupArn=group,
            filterExpression=f'EXCLUDE ItemID WHERE Items.COLOR IN ("c{index}")',
        )["filterArn"]
        for index in range(3)
    ]
    try:
        first = personalize.list_filters(datasetGroupArn=group, maxResults=2)
        assert len(first["Filters"]) == 2 and first["nextToken"]
        rest = personalize.list_filters(datasetGroupArn=group, maxResults=2, nextToken=first["nextToken"])
        assert "nextToken" not in rest
        assert [f["filterArn"] for f in first["Filters"] + rest["Filters"]] == arns
        pages = personalize.get_paginator("list_filters").paginate(
            datasetGroupArn=group, PaginationConfig={"PageSize": 1}
        )
        assert [f["filterArn"] for page in pages for f in page["Filters"]] == arns
    finally:
        for arn in arns:
            personalize.delete_filter(filterArn=arn)
