"""PutItems / PutUsers / PutActions / PutEvents `properties`: camel-case keys, bulk-CSV value rules."""

from __future__ import annotations

import json

import pytest
from picks.dataset_schema import DatasetSchema, Field
from picks.errors import InvalidInputException
from picks.ingest.csv_reader import MAX_TEXTUAL_CHARS, value_problem
from picks.records import (
    camel_case,
    property_field,
    validate_event_properties,
    validate_record_properties,
)

ITEMS = DatasetSchema(
    "Items",
    (
        Field("ITEM_ID", "string"),
        Field("GENRES", "string", nullable=True, categorical=True),
        Field("CATEGORY_L1", "string", categorical=True),
        Field("NUMBER_OF_RATINGS", "int", nullable=True),
        Field("PRICE", "double", nullable=True),
        Field("WEIGHT", "float", nullable=True),
        Field("IN_STOCK", "boolean", nullable=True),
        Field("CREATION_TIMESTAMP", "long", nullable=True),
        Field("DESCRIPTION", "string", nullable=True, textual=True),
    ),
)
USERS = DatasetSchema(
    "Users", (Field("USER_ID", "string"), Field("MEMBERSHIP_TYPE", "string", categorical=True))
)
INTERACTIONS = DatasetSchema(
    "Interactions",
    (
        Field("USER_ID", "string"),
        Field("ITEM_ID", "string"),
        Field("TIMESTAMP", "long"),
        Field("EVENT_TYPE", "string"),
        Field("EVENT_VALUE", "float", nullable=True),
        Field("IMPRESSION", "string", nullable=True),
        Field("NUM_RATINGS", "int", nullable=True),
        Field("DEVICE", "string", nullable=True, categorical=True),
    ),
)


def items(properties: dict | str | None, path: str = "items.0.properties") -> dict:
    text = properties if isinstance(properties, str) or properties is None else json.dumps(properties)
    return validate_record_properties(ITEMS, "ITEMS", text, path)


def rejected_item(properties: dict | str | None, path: str = "items.0.properties") -> str:
    with pytest.raises(InvalidInputException) as caught:
        items(properties, path)
    return caught.value.message


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("NUMBER_OF_RATINGS", "numberOfRatings"),
        ("CREATION_TIMESTAMP", "creationTimestamp"),
        ("GENRES", "genres"),
        ("MEMBERSHIP_TYPE", "membershipType"),
        ("CATEGORY_L1", "categoryL1"),
        ("NUM_RATINGS", "numRatings"),
        ("ITEM_ID", "itemId"),
    ],
)
def test_camel_case_follows_the_developer_guide(field: str, key: str) -> None:
    assert camel_case(field) == key


def test_keys_in_camel_case_or_in_the_schema_form_name_the_field() -> None:
    assert property_field(ITEMS, "numberOfRatings").name == "NUMBER_OF_RATINGS"
    assert property_field(ITEMS, "NUMBER_OF_RATINGS").name == "NUMBER_OF_RATINGS"
    assert property_field(ITEMS, "number_of_ratings").name == "NUMBER_OF_RATINGS"
    assert property_field(ITEMS, "categoryL1").name == "CATEGORY_L1"
    assert property_field(ITEMS, "colour") is None
    assert property_field(ITEMS, "numberofratings") is None  # neither camel case nor the field name


def test_valid_record_becomes_typed_values_keyed_by_field_name() -> None:
    record = items(
        {
            "genres": "Horror|Action",
            "categoryL1": "films",
            "numberOfRatings": 12,
            "price": 9.5,
            "weight": "1.25",
            "inStock": True,
            "creationTimestamp": 1700000000,
            "description": "A film.",
        }
    )
    assert record == {
        "GENRES": "Horror|Action",
        "CATEGORY_L1": "films",
        "NUMBER_OF_RATINGS": 12,
        "PRICE": 9.5,
        "WEIGHT": 1.25,
        "IN_STOCK": True,
        "CREATION_TIMESTAMP": 1700000000,
        "DESCRIPTION": "A film.",
    }


def test_numbers_and_booleans_may_be_sent_as_strings_as_the_guide_does() -> None:
    record = items({"categoryL1": "x", "numberOfRatings": "12", "price": "-2e3", "inStock": "false"})
    assert record == {"CATEGORY_L1": "x", "NUMBER_OF_RATINGS": 12, "PRICE": -2000.0, "IN_STOCK": False}


def test_keys_in_the_schema_form_are_accepted() -> None:
    assert items({"CATEGORY_L1": "x", "NUMBER_OF_RATINGS": 3}) == {"CATEGORY_L1": "x", "NUMBER_OF_RATINGS": 3}


def test_unknown_key_names_the_key_the_record_and_the_dataset_type() -> None:
    message = rejected_item({"categoryL1": "x", "colour": "red"}, path="items.2.properties")
    assert message.startswith("items.2.properties: 'colour' is not a field of the ITEMS schema")
    assert "numberOfRatings" in message  # the keys it does accept


def test_a_field_named_twice_is_rejected() -> None:
    message = rejected_item('{"categoryL1": "x", "CATEGORY_L1": "y"}')
    assert "'CATEGORY_L1'" in message and "second time" in message
    assert "second time" in rejected_item('{"categoryL1": "x", "categoryL1": "y"}')


def test_the_id_is_the_record_member_not_a_property() -> None:
    message = rejected_item({"categoryL1": "x", "itemId": "i1"})
    assert "'itemId'" in message and "itemId member" in message


def test_non_nullable_fields_are_required() -> None:
    message = rejected_item({"genres": "a"})
    assert "'categoryL1' is missing" in message and "CATEGORY_L1" in message
    assert "'categoryL1' is missing" in rejected_item(None)
    assert validate_record_properties(USERS, "USERS", '{"membershipType": "gold"}', "users.0.properties") == {
        "MEMBERSHIP_TYPE": "gold"
    }


# --------------------------------------------------------------------------- documents and values


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{genres: 1}", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"price": NaN, "categoryL1": "x"}', "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('"genres"', "must be a JSON object"),
        ("null", "must be a JSON object"),
    ],
)
def test_properties_must_be_a_json_object(text: str, reason: str) -> None:
    message = rejected_item(text, path="items.1.properties")
    assert message.startswith("items.1.properties: ") and reason in message


@pytest.mark.parametrize(
    ("properties", "fragments"),
    [
        ({"numberOfRatings": "many"}, ("'numberOfRatings'", "not a valid int")),
        ({"numberOfRatings": 1.5}, ("'numberOfRatings'", "not a valid int")),
        ({"numberOfRatings": 2**31}, ("out of range for int",)),
        ({"creationTimestamp": 1700000000000}, ("'creationTimestamp'", "milliseconds")),
        ({"price": "cheap"}, ("'price'", "not a valid double")),
        ({"weight": 1e300}, ("out of range for float",)),
        ({"inStock": "True"}, ("'inStock'", "lower-case true or false")),
        ({"inStock": 1}, ("'inStock'", "is a number")),
        ({"genres": 7}, ("'genres'", "is a number", "JSON string")),
        (
            {"genres": ["Horror", "Action"]},
            ("'genres'", "an array", "join multiple categorical values with '|'"),
        ),
        ({"genres": {"a": 1}}, ("'genres'", "an object")),
        ({"price": True}, ("'price'", "true is not a valid double")),
        ({"genres": "x" * 1001}, ("'genres'", "at most 1000")),
    ],
)
def test_value_types_follow_the_schema(properties: dict, fragments: tuple[str, ...]) -> None:
    message = rejected_item({"categoryL1": "x", **properties})
    assert message.startswith("items.0.properties: ")
    for fragment in fragments:
        assert fragment in message


def test_null_and_empty_values() -> None:
    assert items({"categoryL1": "x", "genres": None, "price": ""}) == {
        "CATEGORY_L1": "x",
        "GENRES": None,
        "PRICE": None,
    }
    assert "not nullable" in rejected_item({"categoryL1": None})
    assert "not nullable" in rejected_item({"categoryL1": ""})


def test_categorical_multi_values_count_as_one_value_and_textual_values_are_truncated() -> None:
    joined = "|".join(["g" * 99] * 10)  # 999 characters with the separators
    assert items({"categoryL1": "x", "genres": joined})["GENRES"] == joined
    long_text = "t" * (MAX_TEXTUAL_CHARS + 50)
    assert items({"categoryL1": "x", "description": long_text})["DESCRIPTION"] == "t" * MAX_TEXTUAL_CHARS


def test_value_problem_is_the_bulk_csv_rule() -> None:
    assert value_problem(Field("N", "long"), "12") is None
    assert "not a valid long" in value_problem(Field("N", "long"), "1_000")
    assert value_problem(Field("B", "boolean", nullable=True), "") is None
    assert "not nullable" in value_problem(Field("S", "string"), "")


# --------------------------------------------------------------------------- events


def test_event_properties_are_interactions_fields() -> None:
    values = validate_event_properties(
        INTERACTIONS,
        json.dumps({"itemId": "i1", "eventValue": "4", "numRatings": 13, "device": "ios|web"}),
        "eventList.0.properties",
    )
    assert values == {"ITEM_ID": "i1", "EVENT_VALUE": 4.0, "NUM_RATINGS": 13, "DEVICE": "ios|web"}
    assert validate_event_properties(INTERACTIONS, None, "eventList.0.properties") == {}


@pytest.mark.parametrize(
    "key",
    [
        "userId",
        "sessionId",
        "eventType",
        "timestamp",
        "recommendationId",
        "impression",
        "USERID",
        "Impression",
    ],
)
def test_event_properties_refuse_the_reserved_keys_whatever_their_case(key: str) -> None:
    with pytest.raises(InvalidInputException) as caught:
        validate_event_properties(INTERACTIONS, json.dumps({key: "x"}), "eventList.1.properties")
    assert caught.value.message.startswith(f"eventList.1.properties: '{key}' can't be a property")


def test_event_properties_refuse_reserved_fields_in_schema_form_unknown_keys_and_bad_values() -> None:
    with pytest.raises(InvalidInputException, match="'EVENT_TYPE' sets EVENT_TYPE"):
        validate_event_properties(INTERACTIONS, '{"EVENT_TYPE": "click"}', "eventList.0.properties")
    with pytest.raises(InvalidInputException, match="'colour' is not a field of the INTERACTIONS schema"):
        validate_event_properties(INTERACTIONS, '{"colour": "red"}', "eventList.0.properties")
    with pytest.raises(InvalidInputException, match="'numRatings'.*not a valid int"):
        validate_event_properties(INTERACTIONS, '{"numRatings": "lots"}', "eventList.0.properties")
    with pytest.raises(InvalidInputException, match="maximum is 1024"):
        validate_event_properties(INTERACTIONS, json.dumps({"device": "d" * 1100}), "eventList.0.properties")
