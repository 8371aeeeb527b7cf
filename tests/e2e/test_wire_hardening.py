"""Malformed, unsigned and oversized requests over HTTP: always a 4xx JSON error that the SDKs parse."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import client_for
from tests.signed import control_plane, rest, send, signed, signed_headers

pytestmark = pytest.mark.e2e

MISSING_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/none"
MISSING_CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/none"

# Bodies no JSON parser should turn into a 500: each names what is wrong with it.
MALFORMED_BODIES = {
    "a 5,001-digit number": b'{"maxResults": ' + b"1" * 5001 + b"}",
    "100,000 nested brackets": b"[" * 100_000,
    "100,000 nested objects": b'{"a":' * 100_000,
    "invalid UTF-8": b'{"name": "\xff\xfe\xc3"}',
    "UTF-16 with a BOM": '{"name": "x"}'.encode("utf-16"),
    "truncated UTF-16": '{"name": "x"}'.encode("utf-16")[:-1],
    "NaN": b'{"maxResults": NaN}',
    "a float overflowing to infinity": b'{"maxResults": 1e999}',
    "a lone surrogate escape": b'{"name": "\\ud800"}',
    "not JSON": b"{not json",
    "a JSON array": b"[1, 2]",
    "JSON null": b"null",
}


def _assert_parseable_client_error(answer, code="InvalidInputException", status=400):
    assert answer.status == status, answer.body[:300]
    assert answer.headers["content-type"].startswith("application/")
    body = answer.json()
    assert body["__type"] == code and body["message"], body
    assert answer.headers["x-amzn-errortype"] == code
    return body["message"]


@pytest.mark.parametrize("body", list(MALFORMED_BODIES.values()), ids=list(MALFORMED_BODIES))
def test_malformed_control_plane_body_is_a_400(emulator, body):
    _assert_parseable_client_error(control_plane(emulator.url, "ListDatasetGroups", body))


@pytest.mark.parametrize("operation", ["GetRecommendations", "PutEvents"])
@pytest.mark.parametrize("body", list(MALFORMED_BODIES.values()), ids=list(MALFORMED_BODIES))
def test_malformed_rest_json_body_is_a_400(emulator, operation, body):
    _assert_parseable_client_error(rest(emulator.url, operation, body))


@pytest.mark.parametrize("send_as", [control_plane, rest])
def test_content_encoding_gzip_that_is_not_gzip_is_a_400(emulator, send_as):
    operation = "ListDatasetGroups" if send_as is control_plane else "GetRecommendations"
    answer = send_as(emulator.url, operation, b"{}", {"Content-Encoding": "gzip"})
    message = _assert_parseable_client_error(answer)
    assert "gzip" in message


def test_gzip_bodies_are_decompressed(emulator):
    answer = control_plane(
        emulator.url, "ListDatasetGroups", gzip.compress(b'{"maxResults": 5}'), {"Content-Encoding": "gzip"}
    )
    assert answer.status == 200 and "datasetGroups" in answer.json()
    body = json.dumps({"campaignArn": MISSING_CAMPAIGN, "userId": "u"}).encode()
    answer = rest(emulator.url, "GetRecommendations", gzip.compress(body), {"Content-Encoding": "gzip"})
    _assert_parseable_client_error(answer, "ResourceNotFoundException", 404)


def test_unsupported_content_encoding_is_a_400(emulator):
    message = _assert_parseable_client_error(
        control_plane(emulator.url, "ListDatasetGroups", b"{}", {"Content-Encoding": "br"})
    )
    assert "Content-Encoding" in message


def test_invalid_content_length_is_a_400(emulator):
    headers = signed_headers(
        emulator.url,
        "personalize",
        "POST",
        "/",
        b"{}",
        {"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"},
    )
    for length in ("abc", "-5", "\u00b2"):  # "²": a digit to str.isdigit(), not to int()
        answer = send(emulator.url, "POST", "/", b"{}", {**headers, "Content-Length": length})
        assert answer.status == 400
        assert answer.json()["__type"] == "InvalidInputException"
        assert answer.json()["message"].startswith("Content-Length:")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/recommendations", {}),
        ("POST", "/personalize-ranking", {"Authorization": "garbage"}),
        ("POST", "/events", {}),
        ("POST", "/events", {"Authorization": "AWS4-HMAC-SHA256 Credential=oops"}),
        ("POST", "/items/", {}),
        ("GET", "/users", {}),
        ("POST", "/", {"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"}),
        ("GET", "/", {"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"}),
    ],
)
def test_unsigned_personalize_requests_get_api_gateways_json_403(emulator, method, path, headers):
    answer = send(emulator.url, method, path, b"{}", headers)
    assert answer.status == 403
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["message"]
    assert answer.headers["x-amzn-errortype"] in (
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
    )
    assert answer.json()["__type"] == answer.headers["x-amzn-errortype"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_signed_control_plane_target_with_another_method_is_json_not_s3_xml(emulator, method):
    answer = signed(emulator.url, method, "/", b"{}", {"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    assert answer.status in (403, 404)
    assert answer.json()["message"] and answer.json()["__type"]


def test_signed_personalize_request_to_an_unknown_path_is_json_not_s3_xml(emulator):
    for method, path in (("GET", "/recommendations"), ("POST", "/nothing-here"), ("GET", "/")):
        answer = signed(emulator.url, method, path, b"")
        assert answer.status in (403, 404)
        assert answer.json()["__type"], (method, path)


def test_s3_paths_that_look_like_personalize_routes_still_reach_s3(emulator):
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket="recommendations")
    s3.put_object(Bucket="recommendations", Key="events", Body=b"x")
    listed = s3.list_objects_v2(Bucket="recommendations")
    assert [o["Key"] for o in listed["Contents"]] == ["events"]


def test_a_request_the_http_server_cannot_read_gets_json(emulator):
    answer = control_plane(emulator.url, "X" * 100_000, b"{}")  # a header line over the server's limit
    assert 400 <= answer.status < 500
    assert answer.json()["__type"] and answer.json()["message"]


def test_operations_not_built_yet_raise_a_modelled_exception(emulator):
    personalize = client_for(emulator, "personalize")
    not_supported = personalize.exceptions.InvalidInputException
    with pytest.raises(not_supported, match="ListMetricAttributions is not supported"):
        personalize.list_metric_attributions()
    with pytest.raises(not_supported, match="CreateDatasetExportJob is not supported"):
        personalize.create_dataset_export_job(
            jobName="export",
            datasetArn=MISSING_GROUP,
            roleArn="arn:aws:iam::000000000000:role/PicksExport",
            jobOutput={"s3DataDestination": {"path": "s3://bucket/export/"}},
        )


def test_unknown_target_is_parseable_json(emulator):
    answer = control_plane(emulator.url, "MakeCoffee", b"{}")
    assert _assert_parseable_client_error(answer, "UnknownOperationException").count("MakeCoffee") == 1


def test_error_messages_quote_only_a_prefix_of_long_values(emulator):
    personalize = client_for(emulator, "personalize")
    huge = "arn:aws:personalize:us-east-1:000000000000:dataset-group/" + "x" * 1_000_000
    with pytest.raises(personalize.exceptions.InvalidInputException) as caught:
        personalize.describe_dataset_group(datasetGroupArn=huge)
    message = caught.value.response["Error"]["Message"]
    assert "datasetGroupArn" in message and "..." in message
    assert len(message) < 1000
    long_target = control_plane(emulator.url, "X" * 20_000, b"{}")
    assert long_target.json()["__type"] == "UnknownOperationException"
    assert len(long_target.json()["message"]) < 1000
    runtime = client_for(emulator, "personalize-runtime")
    with pytest.raises(runtime.exceptions.InvalidInputException) as caught:
        runtime.get_recommendations(campaignArn=MISSING_CAMPAIGN, userId="u" * 1_000_000)
    assert len(caught.value.response["Error"]["Message"]) < 1000
