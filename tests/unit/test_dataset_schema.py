"""Dataset schema parsing and per-dataset-type / per-domain rules, as Personalize documents them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from picks.dataset_schema import (
    DATASET_TYPES,
    DOMAIN_DEFAULT_SCHEMAS,
    MAX_METADATA_FIELDS,
    MAX_SCHEMA_LENGTH,
    DatasetSchema,
    Field,
    check_for_dataset_type,
    dataset_schema_errors,
    domain_schema_errors,
    max_distinct_event_types,
    metadata_fields,
    normalize_dataset_type,
    parse_schema,
)
from picks.errors import InvalidInputException


def _schema_text(*fields: dict[str, Any], name: str = "Interactions") -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": list(fields),
            "version": "1.0",
        }
    )


def _parse(*fields: dict[str, Any]) -> DatasetSchema:
    return parse_schema(_schema_text(*fields))


def _rejects(text: str, *fragments: str) -> str:
    with pytest.raises(InvalidInputException) as caught:
        parse_schema(text)
    for fragment in fragments:
        assert fragment in caught.value.message
    return caught.value.message


def _rejects_for(schema: DatasetSchema, dataset_type: str, *fragments: str, domain: str | None = None) -> str:
    with pytest.raises(InvalidInputException) as caught:
        check_for_dataset_type(schema, dataset_type, domain)
    for fragment in fragments:
        assert fragment in caught.value.message
    return caught.value.message


USER_ID = {"name": "USER_ID", "type": "string"}
ITEM_ID = {"name": "ITEM_ID", "type": "string"}
ACTION_ID = {"name": "ACTION_ID", "type": "string"}
TIMESTAMP = {"name": "TIMESTAMP", "type": "long"}
EVENT_TYPE = {"name": "EVENT_TYPE", "type": "string"}
GENRES = {"name": "GENRES", "type": ["null", "string"], "categorical": True}
AGE = {"name": "AGE", "type": "int"}


def _interactions(*extra: dict[str, Any]) -> DatasetSchema:
    return _parse(USER_ID, ITEM_ID, TIMESTAMP, *extra)


def _items(*extra: dict[str, Any]) -> DatasetSchema:
    return _parse(ITEM_ID, *extra)


# ------------------------------------------------------------------------ parse_schema


def test_parses_the_guides_interactions_example() -> None:
    schema = _parse(
        USER_ID,
        ITEM_ID,
        EVENT_TYPE,
        {"name": "EVENT_VALUE", "type": ["float", "null"]},
        {"name": "LOCATION", "type": "string", "categorical": True},
        {"name": "DEVICE", "type": ["string", "null"], "categorical": True},
        TIMESTAMP,
        {"name": "IMPRESSION", "type": "string"},
    )
    assert schema.name == "Interactions"
    assert schema.field_names == (
        "USER_ID",
        "ITEM_ID",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "LOCATION",
        "DEVICE",
        "TIMESTAMP",
        "IMPRESSION",
    )
    assert schema.field("EVENT_VALUE") == Field("EVENT_VALUE", "float", nullable=True)
    assert schema.field("DEVICE") == Field("DEVICE", "string", nullable=True, categorical=True)
    assert schema.field("TIMESTAMP") == Field("TIMESTAMP", "long")
    check_for_dataset_type(schema, "INTERACTIONS")


@pytest.mark.parametrize("primitive", ["string", "int", "long", "float", "double", "boolean"])
def test_every_primitive_type_is_accepted(primitive: str) -> None:
    schema = _parse({"name": "F", "type": primitive})
    assert schema.fields == (Field("F", primitive),)


@pytest.mark.parametrize("union", [["null", "string"], ["string", "null"]])
def test_union_with_null_makes_a_nullable_field(union: list[str]) -> None:
    assert _parse({"name": "F", "type": union}).fields == (Field("F", "string", nullable=True),)


def test_one_member_union_is_a_plain_field() -> None:
    # The domain default schemas write "type": ["string"].
    assert _parse({"name": "F", "type": ["string"], "categorical": True}).fields == (
        Field("F", "string", categorical=True),
    )


def test_field_name_casing_is_kept_and_lookup_is_case_insensitive() -> None:
    schema = _parse({"name": "User_Id", "type": "string"})
    assert schema.field_names == ("User_Id",)
    assert schema.field("USER_ID") is schema.fields[0]


def test_textual_and_item_name_attributes_are_parsed() -> None:
    schema = _parse(
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "TITLE", "type": "string", "itemName": True},
    )
    assert schema.field("DESCRIPTION") == Field("DESCRIPTION", "string", nullable=True, textual=True)
    assert schema.field("TITLE") == Field("TITLE", "string", item_name=True)


def test_extra_avro_attributes_are_ignored() -> None:
    text = json.dumps(
        {
            "type": "record",
            "name": "Users",
            "doc": "users",
            "fields": [{"name": "USER_ID", "type": "string", "doc": "id", "default": "x"}],
        }
    )
    assert parse_schema(text).field_names == ("USER_ID",)


def test_rejects_invalid_json() -> None:
    _rejects('{"type": "record",', "schema:", "not valid JSON")


def test_rejects_the_trailing_comma_in_the_guides_items_example() -> None:
    _rejects(
        '{"type": "record", "name": "Items", "fields": [{"name": "ITEM_ID", "type": "string"},]}',
        "not valid JSON",
    )


def test_rejects_non_string_input() -> None:
    with pytest.raises(InvalidInputException, match="must be a JSON string"):
        parse_schema({"type": "record"})  # type: ignore[arg-type]


def test_rejects_schema_over_the_length_limit() -> None:
    padding = " " * (MAX_SCHEMA_LENGTH + 1)
    _rejects(_schema_text(USER_ID) + padding, str(MAX_SCHEMA_LENGTH))


@pytest.mark.parametrize("document", ["[1, 2]", '"record"', "42"])
def test_rejects_top_level_that_is_not_an_object(document: str) -> None:
    _rejects(document, "must be a JSON object")


@pytest.mark.parametrize("record_type", ["enum", "array", None])
def test_rejects_top_level_type_other_than_record(record_type: str | None) -> None:
    document: dict[str, Any] = {"name": "X", "fields": [USER_ID]}
    if record_type is not None:
        document["type"] = record_type
    _rejects(json.dumps(document), 'top-level "type" must be "record"')


@pytest.mark.parametrize("name", [None, "", 7])
def test_rejects_missing_record_name(name: Any) -> None:
    document: dict[str, Any] = {"type": "record", "fields": [USER_ID]}
    if name is not None:
        document["name"] = name
    _rejects(json.dumps(document), '"name"')


def test_rejects_invalid_record_name() -> None:
    _rejects(
        json.dumps({"type": "record", "name": "1st-schema", "fields": [USER_ID]}),
        "'1st-schema'",
        "not a valid Avro name",
    )


def test_rejects_invalid_namespace() -> None:
    _rejects(
        json.dumps({"type": "record", "name": "X", "namespace": "com..x", "fields": [USER_ID]}),
        "namespace 'com..x'",
    )
    _rejects(
        json.dumps({"type": "record", "name": "X", "namespace": 3, "fields": [USER_ID]}),
        '"namespace" must be a string',
    )


@pytest.mark.parametrize("fields", [None, {}, "USER_ID"])
def test_rejects_fields_that_are_not_a_list(fields: Any) -> None:
    document: dict[str, Any] = {"type": "record", "name": "X"}
    if fields is not None:
        document["fields"] = fields
    _rejects(json.dumps(document), '"fields" list')


def test_rejects_empty_fields() -> None:
    _rejects(_schema_text(), "at least one field")


def test_rejects_field_that_is_not_an_object() -> None:
    _rejects(_schema_text("USER_ID"), "fields[0]", "must be an object")  # type: ignore[arg-type]


def test_rejects_field_without_name() -> None:
    _rejects(_schema_text({"type": "string"}), "fields[0]", '"name"')


@pytest.mark.parametrize("name", ["1ST", "USER-ID", "user id", "É"])
def test_rejects_field_name_that_is_not_an_avro_name(name: str) -> None:
    _rejects(_schema_text({"name": name, "type": "string"}), repr(name), "not a valid Avro name")


def test_rejects_field_without_type() -> None:
    _rejects(_schema_text({"name": "AGE"}), "'AGE'", 'no "type"')


def test_rejects_duplicate_field_names_ignoring_case() -> None:
    _rejects(_schema_text(USER_ID, {"name": "user_id", "type": "string"}), "'user_id'", "'USER_ID'", "unique")


def test_rejects_field_names_equal_after_dropping_non_alphanumerics() -> None:
    # The guide's own example: GENRES_FIELD_1 and GENRESFIELD1 can't both exist.
    _rejects(
        _schema_text({"name": "GENRES_FIELD_1", "type": "int"}, {"name": "GENRESFIELD1", "type": "int"}),
        "'GENRESFIELD1'",
        "'GENRES_FIELD_1'",
    )


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        ({"type": "array", "items": "string"}, "complex type (array)"),
        ({"type": "map", "values": "string"}, "complex type (map)"),
        ({"type": "record", "name": "N", "fields": []}, "complex type (record)"),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "complex type (enum)"),
        ({"type": "string"}, 'write "type": "string" instead'),
        ("array", "complex type (array)"),
        ("bytes", "unsupported type 'bytes'"),
        ("uuid", "unsupported type 'uuid'"),
        ("null", 'can\'t be only "null"'),
        (["null"], 'can\'t be only "null"'),
        ([], "empty union"),
        (["string", "int"], "one type"),
        (["null", "string", "long"], "one type"),
        (["null", "null", "string"], "twice"),
        (["null", {"type": "array", "items": "string"}], "nested type"),
        (["null", "bytes"], "unsupported type 'bytes'"),
        (5, "invalid type 5"),
    ],
)
def test_rejects_types_that_are_not_flat_primitives(declared: Any, fragment: str) -> None:
    _rejects(_schema_text({"name": "F", "type": declared}), "field 'F'", fragment)


@pytest.mark.parametrize("attribute", ["categorical", "textual", "itemName"])
@pytest.mark.parametrize("primitive", ["int", "long", "float", "double", "boolean"])
def test_string_only_attributes_are_rejected_on_other_types(attribute: str, primitive: str) -> None:
    _rejects(
        _schema_text({"name": "F", "type": ["null", primitive], attribute: True}),
        "field 'F'",
        f"type {primitive}",
        f"only string fields can be {attribute}",
    )


@pytest.mark.parametrize("attribute", ["categorical", "textual", "itemName"])
def test_string_only_attributes_must_be_booleans(attribute: str) -> None:
    _rejects(
        _schema_text({"name": "F", "type": "string", attribute: "true"}),
        "field 'F'",
        f'"{attribute}" must be true or false',
    )


def test_rejects_field_both_categorical_and_textual() -> None:
    _rejects(
        _schema_text({"name": "F", "type": "string", "categorical": True, "textual": True}),
        "field 'F'",
        "both categorical and textual",
    )


def test_false_attributes_are_fine_on_any_type() -> None:
    assert _parse({"name": "F", "type": "int", "categorical": False}).fields == (Field("F", "int"),)


# ---------------------------------------------------------------- dataset type names


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Interactions", "INTERACTIONS"), ("items", "ITEMS"), ("Action_Interactions", "ACTION_INTERACTIONS")],
)
def test_dataset_type_is_case_insensitive(given: str, expected: str) -> None:
    assert normalize_dataset_type(given) == expected


@pytest.mark.parametrize("dataset_type", ["EVENTS", "", "ACTION-INTERACTIONS", "ITEM"])
def test_unknown_dataset_type_is_rejected(dataset_type: str) -> None:
    with pytest.raises(InvalidInputException, match="datasetType .* is not valid"):
        check_for_dataset_type(_interactions(), dataset_type)


def test_lowercase_dataset_type_is_checked_like_uppercase() -> None:
    check_for_dataset_type(_interactions(), "interactions")
    _rejects_for(_items(), "Interactions", "'USER_ID'")


# ------------------------------------------------------------------------ INTERACTIONS


def test_minimal_interactions_schema_is_valid() -> None:
    check_for_dataset_type(_interactions(), "INTERACTIONS")


def test_reserved_names_match_case_insensitively() -> None:
    schema = _parse(
        {"name": "user_id", "type": "string"},
        {"name": "Item_Id", "type": "string"},
        {"name": "timestamp", "type": "long"},
    )
    check_for_dataset_type(schema, "INTERACTIONS")
    _rejects_for(
        _parse({"name": "user_id", "type": "string"}, ITEM_ID, {"name": "timestamp", "type": "int"}),
        "INTERACTIONS",
        "field 'timestamp' must be of type long, not int",
    )


@pytest.mark.parametrize("missing", ["USER_ID", "ITEM_ID", "TIMESTAMP"])
def test_interactions_require_user_item_and_timestamp(missing: str) -> None:
    fields = [f for f in (USER_ID, ITEM_ID, TIMESTAMP) if f["name"] != missing]
    _rejects_for(_parse(*fields, EVENT_TYPE), "INTERACTIONS", "INTERACTIONS schemas require", f"'{missing}'")


def test_timestamp_must_be_long() -> None:
    message = _rejects_for(_parse(USER_ID, ITEM_ID, {"name": "TIMESTAMP", "type": "string"}), "INTERACTIONS")
    assert message == "schema: field 'TIMESTAMP' must be of type long, not string"


@pytest.mark.parametrize("name", ["USER_ID", "ITEM_ID"])
def test_id_fields_must_be_strings(name: str) -> None:
    fields = [
        {"name": name, "type": "int"} if f["name"] == name else f for f in (USER_ID, ITEM_ID, TIMESTAMP)
    ]
    _rejects_for(_parse(*fields), "INTERACTIONS", f"field '{name}' must be of type string, not int")


@pytest.mark.parametrize("name", ["USER_ID", "ITEM_ID", "TIMESTAMP"])
def test_required_interactions_fields_cannot_be_nullable(name: str) -> None:
    fields = [
        dict(f, type=["null", f["type"]]) if f["name"] == name else f for f in (USER_ID, ITEM_ID, TIMESTAMP)
    ]
    _rejects_for(_parse(*fields), "INTERACTIONS", f"field '{name}' is required", "can't be nullable")


def test_required_id_field_cannot_be_categorical() -> None:
    _rejects_for(
        _parse(dict(USER_ID, categorical=True), ITEM_ID, TIMESTAMP),
        "INTERACTIONS",
        "field 'USER_ID'",
        "can't be categorical",
    )


def test_every_reserved_interactions_keyword_with_its_type_is_valid() -> None:
    schema = _interactions(
        EVENT_TYPE,
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "IMPRESSION", "type": ["null", "string"]},
        {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    )
    check_for_dataset_type(schema, "INTERACTIONS")
    assert metadata_fields(schema, "INTERACTIONS") == ()


def test_event_value_may_be_double() -> None:
    check_for_dataset_type(_interactions({"name": "EVENT_VALUE", "type": "double"}), "INTERACTIONS")


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ({"name": "EVENT_TYPE", "type": "int"}, "field 'EVENT_TYPE' must be of type string, not int"),
        (
            {"name": "EVENT_TYPE", "type": "string", "categorical": True},
            "field 'EVENT_TYPE' is a reserved keyword and can't be categorical",
        ),
        (
            {"name": "EVENT_TYPE", "type": ["null", "string"]},
            "field 'EVENT_TYPE' is a reserved keyword and can't be nullable",
        ),
        (
            {"name": "EVENT_VALUE", "type": "string"},
            "field 'EVENT_VALUE' must be of type float or double, not string",
        ),
        (
            {"name": "EVENT_VALUE", "type": "long"},
            "field 'EVENT_VALUE' must be of type float or double, not long",
        ),
        ({"name": "IMPRESSION", "type": "long"}, "field 'IMPRESSION' must be of type string, not long"),
        (
            {"name": "IMPRESSION", "type": "string", "categorical": True},
            "field 'IMPRESSION' is a reserved keyword",
        ),
        ({"name": "RECOMMENDATION_ID", "type": "int"}, "field 'RECOMMENDATION_ID' must be of type string"),
        (
            {"name": "EVENT_ATTRIBUTION_SOURCE", "type": "boolean"},
            "field 'EVENT_ATTRIBUTION_SOURCE' must be of type string",
        ),
    ],
)
def test_reserved_interactions_keywords_must_have_their_declared_type(
    field: dict[str, Any], fragment: str
) -> None:
    _rejects_for(_interactions(field), "INTERACTIONS", fragment)


def test_interactions_cannot_have_textual_fields() -> None:
    _rejects_for(
        _interactions({"name": "REVIEW", "type": "string", "textual": True}),
        "INTERACTIONS",
        "field 'REVIEW' is textual",
        "only ITEMS",
    )


def test_interactions_allow_five_metadata_fields_besides_reserved_ones() -> None:
    metadata = [{"name": f"CTX_{i}", "type": "string", "categorical": True} for i in range(5)]
    schema = _interactions(
        EVENT_TYPE,
        {"name": "EVENT_VALUE", "type": "float"},
        {"name": "IMPRESSION", "type": "string"},
        *metadata,
    )
    check_for_dataset_type(schema, "INTERACTIONS")
    assert [f.name for f in metadata_fields(schema, "INTERACTIONS")] == [f"CTX_{i}" for i in range(5)]
    too_many = _interactions(*metadata, {"name": "CTX_5", "type": "int"})
    _rejects_for(too_many, "INTERACTIONS", "at most 5 metadata fields", "has 6")


def test_event_type_budget_counts_optional_columns() -> None:
    assert max_distinct_event_types(_interactions()) == 10
    assert max_distinct_event_types(_interactions(EVENT_TYPE)) == 9
    schema = _interactions(
        EVENT_TYPE,
        {"name": "EVENT_VALUE", "type": "float"},
        {"name": "IMPRESSION", "type": "string"},
        {"name": "DEVICE", "type": "string"},
    )
    assert max_distinct_event_types(schema) == 7


def test_interactions_need_no_metadata_and_no_event_type_without_a_domain() -> None:
    assert dataset_schema_errors(_interactions(), "INTERACTIONS") == []


def test_all_problems_are_reported_together() -> None:
    schema = _parse({"name": "USER_ID", "type": "int"}, {"name": "TIMESTAMP", "type": ["null", "long"]})
    message = _rejects_for(schema, "INTERACTIONS")
    assert "field 'USER_ID' must be of type string, not int" in message
    assert "'ITEM_ID'" in message
    assert "field 'TIMESTAMP' is required and can't be nullable" in message


# ------------------------------------------------------------------------------ ITEMS


def test_guides_items_example_is_valid() -> None:
    schema = _items(
        GENRES,
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
    )
    check_for_dataset_type(schema, "ITEMS")
    assert [f.name for f in metadata_fields(schema, "ITEMS")] == ["GENRES", "DESCRIPTION"]


def test_items_require_item_id() -> None:
    _rejects_for(_parse(GENRES), "ITEMS", "ITEMS schemas require a field 'ITEM_ID' of type string")


def test_item_id_cannot_be_nullable() -> None:
    _rejects_for(
        _parse({"name": "ITEM_ID", "type": ["null", "string"]}, GENRES),
        "ITEMS",
        "field 'ITEM_ID' is required and can't be nullable",
    )


def test_items_need_a_metadata_field() -> None:
    _rejects_for(_items(), "ITEMS", "at least 1 metadata field")
    # A reserved keyword is not metadata.
    _rejects_for(_items({"name": "CREATION_TIMESTAMP", "type": "long"}), "ITEMS", "at least 1 metadata field")


@pytest.mark.parametrize(
    "metadata",
    [
        GENRES,
        {"name": "PRICE", "type": "double"},
        {"name": "TITLE", "type": "string"},
        {"name": "BLURB", "type": "string", "textual": True},
    ],
)
def test_any_single_metadata_field_satisfies_items(metadata: dict[str, Any]) -> None:
    check_for_dataset_type(_items(metadata), "ITEMS")


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        ("int", "field 'CREATION_TIMESTAMP' must be of type long, not int"),
        ("string", "field 'CREATION_TIMESTAMP' must be of type long, not string"),
    ],
)
def test_creation_timestamp_must_be_long(declared: str, fragment: str) -> None:
    _rejects_for(_items(GENRES, {"name": "CREATION_TIMESTAMP", "type": declared}), "ITEMS", fragment)


def test_creation_timestamp_may_be_nullable() -> None:
    check_for_dataset_type(_items(GENRES, {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]}), "ITEMS")


def test_items_allow_one_textual_field_only() -> None:
    two = _items(
        {"name": "DESCRIPTION", "type": "string", "textual": True},
        {"name": "REVIEWS", "type": "string", "textual": True},
    )
    _rejects_for(two, "ITEMS", "at most 1 textual field", "'DESCRIPTION'", "'REVIEWS'")


def test_items_allow_one_item_name_field() -> None:
    check_for_dataset_type(_items({"name": "TITLE", "type": "string", "itemName": True}), "ITEMS")
    two = _items(
        {"name": "TITLE", "type": "string", "itemName": True},
        {"name": "NAME", "type": "string", "itemName": True},
    )
    _rejects_for(two, "ITEMS", 'only one field can set "itemName"')


def test_item_name_is_items_only() -> None:
    _rejects_for(
        _parse(USER_ID, {"name": "NAME", "type": "string", "itemName": True}),
        "USERS",
        "field 'NAME'",
        "only ITEMS schemas",
    )


def test_items_metadata_limit() -> None:
    limit = MAX_METADATA_FIELDS["ITEMS"]
    metadata = [{"name": f"M{i}", "type": "int"} for i in range(limit)]
    check_for_dataset_type(_items(*metadata, {"name": "CREATION_TIMESTAMP", "type": "long"}), "ITEMS")
    _rejects_for(
        _items(*metadata, {"name": "EXTRA", "type": "int"}),
        "ITEMS",
        f"at most {limit} metadata fields",
        f"has {limit + 1}",
    )


# ------------------------------------------------------------------------------ USERS


def test_guides_users_example_is_valid() -> None:
    check_for_dataset_type(
        _parse(USER_ID, AGE, {"name": "GENDER", "type": "string", "categorical": True}), "USERS"
    )


def test_users_require_user_id_and_a_metadata_field() -> None:
    _rejects_for(_parse(AGE), "USERS", "USERS schemas require a field 'USER_ID'")
    _rejects_for(_parse(USER_ID), "USERS", "USERS schemas need at least 1 metadata field")


def test_users_cannot_have_textual_fields() -> None:
    _rejects_for(
        _parse(USER_ID, {"name": "BIO", "type": "string", "textual": True}),
        "USERS",
        "field 'BIO' is textual",
        "only ITEMS",
    )


def test_users_metadata_limit() -> None:
    limit = MAX_METADATA_FIELDS["USERS"]
    metadata = [{"name": f"M{i}", "type": "int"} for i in range(limit)]
    check_for_dataset_type(_parse(USER_ID, *metadata), "USERS")
    _rejects_for(
        _parse(USER_ID, *metadata, {"name": "EXTRA", "type": "long"}),
        "USERS",
        f"at most {limit} metadata fields",
    )


# ---------------------------------------------------------------------------- ACTIONS


def _actions(*extra: dict[str, Any]) -> DatasetSchema:
    return _parse(ACTION_ID, *extra)


def test_guides_actions_example_is_valid() -> None:
    schema = _actions(
        {"name": "VALUE", "type": ["null", "long"]},
        {"name": "MEMBERSHIP_LEVEL", "type": ["null", "string"], "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "REPEAT_FREQUENCY", "type": ["null", "long"]},
        {"name": "TYPE", "type": ["null", "string"]},
        {"name": "EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
    )
    check_for_dataset_type(schema, "ACTIONS")
    assert [f.name for f in metadata_fields(schema, "ACTIONS")] == ["MEMBERSHIP_LEVEL"]


def test_actions_require_action_id_and_a_metadata_field() -> None:
    _rejects_for(_parse(AGE), "ACTIONS", "ACTIONS schemas require a field 'ACTION_ID' of type string")
    _rejects_for(_actions({"name": "VALUE", "type": "long"}), "ACTIONS", "at least 1 metadata field")


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ({"name": "VALUE", "type": "float"}, "field 'VALUE' must be of type long, not float"),
        ({"name": "REPEAT_FREQUENCY", "type": "int"}, "field 'REPEAT_FREQUENCY' must be of type long"),
        (
            {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": "string"},
            "field 'ACTION_EXPIRATION_TIMESTAMP' must be of type long",
        ),
        (
            {"name": "TYPE", "type": "string", "categorical": True},
            "field 'TYPE' is a reserved keyword and can't be categorical",
        ),
    ],
)
def test_reserved_actions_keywords_must_have_their_declared_type(
    field: dict[str, Any], fragment: str
) -> None:
    _rejects_for(_actions(AGE, field), "ACTIONS", fragment)


def test_actions_cannot_have_textual_fields() -> None:
    _rejects_for(_actions({"name": "BLURB", "type": "string", "textual": True}), "ACTIONS", "only ITEMS")


def test_actions_metadata_limit() -> None:
    metadata = [{"name": f"M{i}", "type": "int"} for i in range(11)]
    _rejects_for(_actions(*metadata), "ACTIONS", "at most 10 metadata fields")
    check_for_dataset_type(_actions(*metadata[:10]), "ACTIONS")


# ---------------------------------------------------------------- ACTION_INTERACTIONS


def test_guides_action_interactions_example_is_valid() -> None:
    schema = _parse(
        USER_ID,
        ACTION_ID,
        EVENT_TYPE,
        TIMESTAMP,
        {"name": "IMPRESSION", "type": ["null", "string"]},
        {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
    )
    check_for_dataset_type(schema, "ACTION_INTERACTIONS")


@pytest.mark.parametrize("missing", ["USER_ID", "ACTION_ID", "EVENT_TYPE", "TIMESTAMP"])
def test_action_interactions_require_four_fields(missing: str) -> None:
    fields = [f for f in (USER_ID, ACTION_ID, EVENT_TYPE, TIMESTAMP) if f["name"] != missing]
    _rejects_for(
        _parse(*fields), "ACTION_INTERACTIONS", "ACTION_INTERACTIONS schemas require", f"'{missing}'"
    )


def test_action_interactions_event_type_cannot_be_nullable() -> None:
    _rejects_for(
        _parse(USER_ID, ACTION_ID, dict(EVENT_TYPE, type=["null", "string"]), TIMESTAMP),
        "ACTION_INTERACTIONS",
        "field 'EVENT_TYPE' is required and can't be nullable",
    )


def test_action_interactions_metadata_limit() -> None:
    metadata = [{"name": f"M{i}", "type": "int"} for i in range(6)]
    _rejects_for(
        _parse(USER_ID, ACTION_ID, EVENT_TYPE, TIMESTAMP, *metadata),
        "ACTION_INTERACTIONS",
        "at most 5 metadata fields",
    )


# ---------------------------------------------------------------------------- domains


@pytest.mark.parametrize("key", sorted(DOMAIN_DEFAULT_SCHEMAS))
def test_domain_default_schemas_are_valid(key: tuple[str, str]) -> None:
    domain, dataset_type = key
    schema = parse_schema(DOMAIN_DEFAULT_SCHEMAS[key])
    check_for_dataset_type(schema, dataset_type, domain)
    check_for_dataset_type(schema, dataset_type)


def test_domain_defaults_cover_every_domain_and_entity_dataset() -> None:
    assert set(DOMAIN_DEFAULT_SCHEMAS) == {
        (domain, dataset_type)
        for domain in ("ECOMMERCE", "VIDEO_ON_DEMAND")
        for dataset_type in ("INTERACTIONS", "ITEMS", "USERS")
    }


def test_unknown_domain_is_rejected() -> None:
    with pytest.raises(InvalidInputException, match="domain 'RETAIL' is not valid"):
        check_for_dataset_type(_interactions(EVENT_TYPE), "INTERACTIONS", "RETAIL")


@pytest.mark.parametrize("dataset_type", ["ACTIONS", "ACTION_INTERACTIONS"])
@pytest.mark.parametrize("domain", ["ECOMMERCE", "VIDEO_ON_DEMAND"])
def test_action_datasets_are_not_allowed_in_domain_groups(dataset_type: str, domain: str) -> None:
    schema = _parse(USER_ID, ACTION_ID, EVENT_TYPE, TIMESTAMP, AGE)
    _rejects_for(
        schema,
        dataset_type,
        f"{dataset_type} datasets can't be created in a domain dataset group",
        domain=domain,
    )


@pytest.mark.parametrize("domain", ["ECOMMERCE", "VIDEO_ON_DEMAND"])
def test_domain_interactions_require_event_type(domain: str) -> None:
    _rejects_for(
        _interactions(),
        "INTERACTIONS",
        f"{domain} INTERACTIONS schemas require a field 'EVENT_TYPE'",
        domain=domain,
    )
    check_for_dataset_type(_interactions(EVENT_TYPE), "INTERACTIONS", domain)


def test_domain_event_type_type_error_is_reported_once() -> None:
    message = _rejects_for(
        _interactions({"name": "EVENT_TYPE", "type": "int"}), "INTERACTIONS", domain="ECOMMERCE"
    )
    assert message == "schema: field 'EVENT_TYPE' must be of type string, not int"


def _ecommerce_items(*extra: dict[str, Any]) -> DatasetSchema:
    return _items(
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": "string", "categorical": True},
        *extra,
    )


def test_full_ecommerce_items_schema_is_valid() -> None:
    schema = _ecommerce_items(
        {"name": "CATEGORY_L2", "type": ["null", "string"], "categorical": True},
        {"name": "CATEGORY_L3", "type": "string", "categorical": True},
        {"name": "PRODUCT_DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "AGE_GROUP", "type": "string", "categorical": True},
        {"name": "ADULT", "type": "string", "categorical": True},
        {"name": "GENDER", "type": "string", "categorical": True},
        {"name": "BRAND", "type": "string", "categorical": True},
    )
    check_for_dataset_type(schema, "ITEMS", "ECOMMERCE")


@pytest.mark.parametrize(
    ("schema_fields", "fragment"),
    [
        (
            [{"name": "CATEGORY_L1", "type": "string", "categorical": True}],
            "ECOMMERCE ITEMS schemas require a field 'PRICE' of type float or double",
        ),
        (
            [{"name": "PRICE", "type": "float"}],
            "ECOMMERCE ITEMS schemas require a field 'CATEGORY_L1' of type string with \"categorical\": true",
        ),
        (
            [
                {"name": "PRICE", "type": "string"},
                {"name": "CATEGORY_L1", "type": "string", "categorical": True},
            ],
            "field 'PRICE' must be of type float or double, not string",
        ),
        (
            [
                {"name": "PRICE", "type": ["null", "float"]},
                {"name": "CATEGORY_L1", "type": "string", "categorical": True},
            ],
            "field 'PRICE' is required and can't be nullable",
        ),
        (
            [{"name": "PRICE", "type": "float"}, {"name": "CATEGORY_L1", "type": "string"}],
            "field 'CATEGORY_L1' must be a categorical string; add \"categorical\": true",
        ),
        (
            [{"name": "PRICE", "type": "float"}, {"name": "CATEGORY_L1", "type": "int"}],
            "field 'CATEGORY_L1' must be of type string, not int",
        ),
    ],
)
def test_ecommerce_items_required_fields(schema_fields: list[dict[str, Any]], fragment: str) -> None:
    _rejects_for(_items(*schema_fields), "ITEMS", fragment, domain="ECOMMERCE")


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ({"name": "CATEGORY_L2", "type": "string"}, "field 'CATEGORY_L2' must be a categorical string"),
        ({"name": "gender", "type": "string"}, "field 'gender' must be a categorical string"),
        (
            {"name": "PRODUCT_DESCRIPTION", "type": "string"},
            "field 'PRODUCT_DESCRIPTION' must be a textual string",
        ),
        (
            {"name": "PRODUCT_DESCRIPTION", "type": "string", "categorical": True},
            "field 'PRODUCT_DESCRIPTION' must be a textual string",
        ),
        (
            {"name": "CREATION_TIMESTAMP", "type": "float"},
            "field 'CREATION_TIMESTAMP' must be of type long, not float",
        ),
    ],
)
def test_ecommerce_items_reserved_fields(field: dict[str, Any], fragment: str) -> None:
    _rejects_for(_ecommerce_items(field), "ITEMS", fragment, domain="ECOMMERCE")


def test_ecommerce_rules_do_not_apply_without_the_domain() -> None:
    check_for_dataset_type(_items({"name": "CATEGORY_L2", "type": "string"}), "ITEMS")
    assert domain_schema_errors(_items({"name": "CATEGORY_L2", "type": "string"}), "ITEMS", "ECOMMERCE")


def _vod_items(*extra: dict[str, Any]) -> DatasetSchema:
    return _items(
        {"name": "GENRES", "type": "string", "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        *extra,
    )


def test_full_vod_items_schema_is_valid() -> None:
    schema = _vod_items(
        {"name": "PRICE", "type": ["null", "float"]},
        {"name": "DURATION", "type": ["null", "float"]},
        {"name": "GENRE_L2", "type": "string", "categorical": True},
        {"name": "GENRE_L3", "type": ["null", "string"], "categorical": True},
        {"name": "AVERAGE_RATING", "type": ["null", "double"]},
        {"name": "PRODUCT_DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "CONTENT_OWNER", "type": "string", "categorical": True},
        {"name": "CONTENT_CLASSIFICATION", "type": "string", "categorical": True},
    )
    check_for_dataset_type(schema, "ITEMS", "VIDEO_ON_DEMAND")


@pytest.mark.parametrize(
    ("schema_fields", "fragment"),
    [
        (
            [{"name": "CREATION_TIMESTAMP", "type": "long"}],
            "VIDEO_ON_DEMAND ITEMS schemas require a field 'GENRES'",
        ),
        ([GENRES], "VIDEO_ON_DEMAND ITEMS schemas require a field 'CREATION_TIMESTAMP' of type long"),
        (
            [{"name": "GENRES", "type": "string"}, {"name": "CREATION_TIMESTAMP", "type": "long"}],
            "field 'GENRES' must be a categorical string",
        ),
        (
            [
                {"name": "GENRES", "type": "string", "categorical": True},
                {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
            ],
            "field 'CREATION_TIMESTAMP' is required and can't be nullable",
        ),
    ],
)
def test_vod_items_required_fields(schema_fields: list[dict[str, Any]], fragment: str) -> None:
    _rejects_for(_items(*schema_fields), "ITEMS", fragment, domain="VIDEO_ON_DEMAND")


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ({"name": "DURATION", "type": "int"}, "field 'DURATION' must be of type float or double, not int"),
        (
            {"name": "AVERAGE_RATING", "type": "string"},
            "field 'AVERAGE_RATING' must be of type float or double",
        ),
        ({"name": "CONTENT_OWNER", "type": "string"}, "field 'CONTENT_OWNER' must be a categorical string"),
        (
            {"name": "PRODUCT_DESCRIPTION", "type": "int"},
            "field 'PRODUCT_DESCRIPTION' must be of type string",
        ),
    ],
)
def test_vod_items_reserved_fields(field: dict[str, Any], fragment: str) -> None:
    _rejects_for(_vod_items(field), "ITEMS", fragment, domain="VIDEO_ON_DEMAND")


def test_domain_items_still_allow_one_textual_field() -> None:
    _rejects_for(
        _vod_items(
            {"name": "PRODUCT_DESCRIPTION", "type": "string", "textual": True},
            {"name": "SYNOPSIS", "type": "string", "textual": True},
        ),
        "ITEMS",
        "at most 1 textual field",
        domain="VIDEO_ON_DEMAND",
    )


def test_vod_users_subscription_model_must_be_categorical() -> None:
    _rejects_for(
        _parse(USER_ID, {"name": "SUBSCRIPTION_MODEL", "type": "string"}),
        "USERS",
        "field 'SUBSCRIPTION_MODEL' must be a categorical string",
        domain="VIDEO_ON_DEMAND",
    )
    # Outside VOD it is ordinary metadata.
    check_for_dataset_type(
        _parse(USER_ID, {"name": "SUBSCRIPTION_MODEL", "type": "string"}), "USERS", "ECOMMERCE"
    )


@pytest.mark.parametrize("domain", ["ECOMMERCE", "VIDEO_ON_DEMAND"])
def test_domain_users_still_need_user_id_and_metadata(domain: str) -> None:
    _rejects_for(_parse(USER_ID), "USERS", "at least 1 metadata field", domain=domain)
    _rejects_for(_parse(AGE), "USERS", "'USER_ID'", domain=domain)


def test_dataset_types_constant_lists_all_five() -> None:
    assert DATASET_TYPES == ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")
