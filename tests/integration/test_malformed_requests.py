"""Malformed API Gateway events reach the Lambda handlers as AWS would send them: always a 400 SDKs parse."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from emulator.lambda_bridge import LocalContext
from functions.control_plane import handler as control_plane
from functions.events import handler as events
from functions.runtime import handler as runtime
from tests.e2e.test_wire_hardening import MALFORMED_BODIES
from tests.utils import load_event, response_header

HANDLERS = {
    "control_plane": (control_plane, "control_plane_create_dataset_group"),
    "runtime": (runtime, "runtime_get_recommendations"),
    "events": (events, "events_put_events"),
}


def _invoke(function: str, body: bytes, headers: dict[str, str] | None = None) -> dict:
    handler, sample = HANDLERS[function]
    event = load_event(sample)
    event["headers"].update(headers or {})
    try:
        event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
    except UnicodeDecodeError:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return handler.lambda_handler(event, LocalContext(function))


def _assert_invalid_input(response: dict) -> str:
    assert response["statusCode"] == 400, response["body"][:300]
    assert response_header(response, "x-amzn-ErrorType") == "InvalidInputException"
    body = json.loads(response["body"])
    assert body["__type"] == "InvalidInputException" and body["message"]
    return body["message"]


@pytest.mark.parametrize("function", list(HANDLERS))
@pytest.mark.parametrize("body", list(MALFORMED_BODIES.values()), ids=list(MALFORMED_BODIES))
def test_malformed_bodies_are_400s(services, function, body):
    _assert_invalid_input(_invoke(function, body))


@pytest.mark.parametrize("function", list(HANDLERS))
def test_body_that_is_not_base64_is_a_400(services, function):
    handler, sample = HANDLERS[function]
    event = load_event(sample, body="@@not base64@@", isBase64Encoded=True)
    _assert_invalid_input(handler.lambda_handler(event, LocalContext(function)))


@pytest.mark.parametrize("function", list(HANDLERS))
def test_content_encoding_gzip_that_is_not_gzip_is_a_400(services, function):
    assert "gzip" in _assert_invalid_input(_invoke(function, b"{}", {"Content-Encoding": "gzip"}))


def test_gzip_body_is_read(services):
    response = _invoke("control_plane", gzip.compress(b'{"name": "zipped"}'), {"Content-Encoding": "gzip"})
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["datasetGroupArn"].endswith("/zipped")


def test_gzip_bomb_is_refused(services):
    bomb = gzip.compress(b'{"name": "' + b"a" * 50_000_000 + b'"}')
    assert "large" in _assert_invalid_input(_invoke("control_plane", bomb, {"Content-Encoding": "gzip"}))
