"""The wire layer: validation and serialization driven by botocore's Personalize models."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import pytest
from botocore.model import ShapeResolver
from picks.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from picks.routes import FUNCTIONS, route_for, routes
from picks.wire.protocol import error_headers, error_status
from picks.wire.serialize import _shaper, serialize_output
from picks.wire.validation import _checker, _Collector, _translate_java_pattern, validate_input

if TYPE_CHECKING:
    from botocore.model import Shape


def test_valid_input_passes():
    validate_input("personalize", "CreateDatasetGroup", {"name": "good-name_1", "domain": "ECOMMERCE"})


@pytest.mark.parametrize(
    ("operation", "params", "fragment"),
    [
        (
            "CreateDatasetGroup",
            {},
            "Value null at 'name' failed to satisfy constraint: Member must not be null",
        ),
        ("CreateDatasetGroup", {"name": "-starts-with-dash"}, "regular expression pattern"),
        ("CreateDatasetGroup", {"name": "a" * 64}, "length less than or equal to 63"),
        (
            "CreateDatasetGroup",
            {"name": "ok", "domain": "retail"},
            "enum value set: [ECOMMERCE, VIDEO_ON_DEMAND]",
        ),
        ("ListDatasetGroups", {"maxResults": 0}, "value greater than or equal to 1"),
        ("ListDatasetGroups", {"maxResults": "10"}, "Member must be an integer"),
        ("ListDatasetGroups", {"nextToken": "naïve"}, "at 'nextToken'"),
        (
            "CreateDatasetImportJob",
            {
                "jobName": "j",
                "datasetArn": "arn:aws:personalize:r:a:dataset/x",
                "dataSource": {"dataLocation": "ftp://x"},
            },
            "at 'dataSource.dataLocation'",
        ),
        (
            "TagResource",
            {"resourceArn": "arn:aws:personalize:r:a:x/y", "tags": [{"tagKey": "k"}]},
            "at 'tags.1.member.tagValue'",
        ),
    ],
)
def test_invalid_input_names_the_member(operation, params, fragment):
    with pytest.raises(InvalidInputException) as caught:
        validate_input("personalize", operation, params)
    assert fragment in caught.value.message


def test_every_error_is_listed():
    with pytest.raises(InvalidInputException, match="^2 validation errors detected"):
        validate_input("personalize", "CreateSchema", {"name": "bad name", "schema": "x" * 20001})


def test_java_unicode_classes_are_kept_and_ascii_shorthands_translated():
    # The regex package knows \p{..} as Java does; Java's \d and . differ from Python's
    # (see test_wire_patterns).
    assert _translate_java_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$") == r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
    translated = _translate_java_pattern(r"arn:([a-z\d-]+):x:.+")
    assert translated == r"arn:([a-z0-9-]+):x:[^\n\r\u0085\u2028\u2029]+"
    validate_input(
        "personalize",
        "TagResource",
        {
            "resourceArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g",
            "tags": [{"tagKey": "Équipe name", "tagValue": "recs:v1"}],
        },
    )


def test_runtime_model_constraints_are_enforced():
    with pytest.raises(InvalidInputException, match="at 'promotions'"):
        validate_input(
            "personalize-runtime",
            "GetRecommendations",
            {
                "campaignArn": "arn:aws:personalize:us-east-1:0:campaign/c",
                "promotions": [
                    {"name": "a", "percentPromotedItems": 10},
                    {"name": "b", "percentPromotedItems": 10},
                ],
            },
        )


def test_serialize_drops_undeclared_members_and_converts_timestamps():
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    out = serialize_output(
        "personalize",
        "DescribeDatasetGroup",
        {
            "datasetGroup": {
                "name": "g",
                "status": "ACTIVE",
                "creationDateTime": when,
                "_private": 1,
                "failureReason": None,
            }
        },
    )
    assert out == {"datasetGroup": {"name": "g", "status": "ACTIVE", "creationDateTime": 1704067200.0}}


def test_error_status_follows_the_model():
    # Control plane: 400 for every modelled error; events: 404/409 as its model declares.
    assert error_status("personalize", ResourceNotFoundException("x")) == 400
    assert error_status("personalize-events", ResourceNotFoundException("x")) == 404
    assert error_status("personalize-events", ResourceInUseException("x")) == 409
    assert error_headers("personalize-runtime", ResourceNotFoundException("x"))["x-amzn-ErrorType"] == (
        "ResourceNotFoundException"
    )


def test_routes_come_from_the_model():
    paths = {(r.service, r.path) for r in routes()}
    assert ("personalize", "/") in paths
    assert ("personalize-runtime", "/recommendations") in paths
    assert ("personalize-events", "/action-interactions") in paths
    assert len(routes()) == 1 + 3 + 5
    assert route_for("POST", "/events/").function == "events"
    assert route_for("GET", "/events") is None
    assert {r.function for r in routes()} <= set(FUNCTIONS)


def test_validation_lists_failures_in_model_order_with_nested_paths():
    # Members in the model's order (not the request's), list elements and map keys by path.
    with pytest.raises(InvalidInputException) as raised:
        validate_input(
            "personalize-runtime",
            "GetRecommendations",
            {
                "promotions": [{"name": "", "percentPromotedItems": 101}],
                "filterValues": {"bad key": "x", "ok": 3},
                "campaignArn": 5,
            },
        )
    assert raised.value.message == (
        "6 validation errors detected: "
        "Value 5 at 'campaignArn' failed to satisfy constraint: Member must be a string; "
        "Value 'bad key' at 'filterValues.key' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: [A-Za-z0-9_]+; "
        "Value 3 at 'filterValues.ok' failed to satisfy constraint: Member must be a string; "
        "Value '' at 'promotions.1.member.name' failed to satisfy constraint: Member must have length "
        "greater than or equal to 1; "
        "Value '' at 'promotions.1.member.name' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*; "
        "Value 101 at 'promotions.1.member.percentPromotedItems' failed to satisfy constraint: Member must "
        "have value less than or equal to 100"
    )


def test_serialize_writes_members_in_model_order_and_copies_nested_values():
    reason = ("picks: interacted with item a (60%)",)
    metadata = {"GENRE": "drama"}
    item = {
        "reason": reason,
        "score": 0.5,
        "metadata": metadata,
        "itemId": "i",
        "promotionName": None,
        "x": 1,
    }
    out = serialize_output(
        "personalize-runtime", "GetRecommendations", {"recommendationId": "r", "itemList": [item]}
    )
    assert json.dumps(out) == json.dumps(
        {
            "itemList": [
                {"itemId": "i", "score": 0.5, "metadata": {"GENRE": "drama"}, "reason": [reason[0]]}
            ],
            "recommendationId": "r",
        }
    )
    assert out["itemList"][0]["metadata"] is not metadata
    assert serialize_output("personalize-runtime", "GetRecommendations", None) == {}


def _recursive_shape() -> Shape:
    # No Personalize shape contains itself today; a model that did must still compile.
    resolver = ShapeResolver(
        {
            "Node": {
                "type": "structure",
                "required": ["name"],
                "members": {"name": {"shape": "Name"}, "children": {"shape": "Nodes"}},
            },
            "Nodes": {"type": "list", "member": {"shape": "Node"}},
            "Name": {"type": "string", "max": 3},
        }
    )
    shape: Shape = resolver.get_shape_by_name("Node")
    return shape


def test_shapes_that_contain_themselves_compile():
    shape = _recursive_shape()
    tree = {"name": "a", "children": [{"name": "b", "x": 1, "children": [{"name": "long"}, {}]}]}
    assert _shaper(shape, {})(tree) == {
        "name": "a",
        "children": [{"name": "b", "children": [{"name": "long"}, {}]}],
    }
    out = _Collector()
    check = _checker(shape, {})
    assert check is not None
    check(tree, "", out)
    assert out.errors == [
        "Value 'long' at 'children.1.member.children.1.member.name' failed to satisfy constraint: "
        "Member must have length less than or equal to 3",
        "Value null at 'children.1.member.children.2.member.name' failed to satisfy constraint: "
        "Member must not be null",
    ]
