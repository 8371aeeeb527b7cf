"""picks.client: stock boto3 clients re-signed for API Gateway IAM auth (execute-api), offline.

A ``before-send`` handler captures the prepared request and answers with a canned response,
so nothing leaves the process.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.credentials import Credentials
from picks.client import picks_client

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
REGION = "eu-west-1"
CREDENTIALS = {
    "aws_access_key_id": "AKIDPICKSTEST",
    "aws_secret_access_key": "secret",
    "aws_session_token": "token",
}
CAMPAIGN = "arn:aws:personalize:eu-west-1:000000000000:campaign/c"
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 "
    r"Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Any:
        yield self._payload


class CapturingTransport:
    """Records every prepared request and answers it with ``body`` (HTTP 200)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.requests: list[AWSPreparedRequest] = []
        self._body = json.dumps(body).encode()

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.requests.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body(self._body))


@pytest.fixture
def session() -> boto3.session.Session:
    return boto3.session.Session(region_name=REGION, **CREDENTIALS)


def _client(
    session: boto3.session.Session, service: str, response: dict[str, Any]
) -> tuple[Any, CapturingTransport]:
    client = picks_client(service, ENDPOINT, session=session)
    transport = CapturingTransport(response)
    client.meta.events.register("before-send", transport)
    return client, transport


def _header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers[name]  # botocore keeps some header values as bytes
    return value.decode() if isinstance(value, bytes) else value


def _authorization(request: AWSPreparedRequest) -> re.Match[str]:
    match = AUTHORIZATION.match(_header(request, "Authorization"))
    assert match, _header(request, "Authorization")
    return match


def test_runtime_request_is_signed_for_execute_api(session: boto3.session.Session) -> None:
    # Given a personalize-runtime client for a deployed picks API
    client, transport = _client(session, "personalize-runtime", {"itemList": [{"itemId": "i1"}]})

    # When calling an operation
    response = client.get_recommendations(campaignArn=CAMPAIGN, userId="u1")

    # Then boto3 parsed the canned answer and the one request was signed for execute-api
    assert response["itemList"] == [{"itemId": "i1"}]
    (request,) = transport.requests
    assert request.url == f"{ENDPOINT}/recommendations"
    auth = _authorization(request)
    assert _header(request, "Authorization").split(", ")[0].endswith(f"/{REGION}/execute-api/aws4_request")
    assert auth["key"] == CREDENTIALS["aws_access_key_id"]
    assert _header(request, "X-Amz-Security-Token") == CREDENTIALS["aws_session_token"]
    assert auth["date"] == _header(request, "X-Amz-Date")[:8]


def test_control_plane_keeps_its_target_header_and_signs_it(session: boto3.session.Session) -> None:
    # Given a personalize (control plane, AWS JSON 1.1) client
    client, transport = _client(
        session, "personalize", {"datasetGroupArn": "arn:aws:personalize:::dataset-group/g"}
    )

    # When creating a dataset group
    client.create_dataset_group(name="g")

    # Then the request goes to the stage root with its X-Amz-Target, and the target is signed
    (request,) = transport.requests
    assert request.url.rstrip("/") == ENDPOINT
    assert request.method == "POST"
    assert _header(request, "X-Amz-Target") == "AmazonPersonalize.CreateDatasetGroup"
    auth = _authorization(request)
    assert auth["service"] == "execute-api"
    assert "x-amz-target" in auth["signed"].split(";")


def test_signature_verifies_for_execute_api(session: boto3.session.Session) -> None:
    # Given a request captured from a personalize-events client
    client, transport = _client(session, "personalize-events", {})
    client.put_events(
        trackingId="t",
        sessionId="s",
        eventList=[{"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i"}],
    )
    (request,) = transport.requests
    auth = _authorization(request)

    # When recomputing the signature an execute-api verifier would, from the signed headers alone
    signed = auth["signed"].split(";")
    headers = {k: _header(request, k) for k in request.headers if k.lower() in signed and k.lower() != "host"}
    replay = AWSRequest(method=request.method, url=request.url, data=request.body, headers=headers)
    replay.context["timestamp"] = _header(request, "X-Amz-Date")
    frozen = Credentials(
        CREDENTIALS["aws_access_key_id"],
        CREDENTIALS["aws_secret_access_key"],
        CREDENTIALS["aws_session_token"],
    )
    verifier = SigV4Auth(frozen, "execute-api", REGION)
    expected = verifier.signature(verifier.string_to_sign(replay, verifier.canonical_request(replay)), replay)

    # Then it matches the one sent
    assert auth["signature"] == expected


def test_retries_are_signed_again(session: boto3.session.Session) -> None:
    # Given a transport that throttles the first attempt
    client = picks_client("personalize-runtime", ENDPOINT, session=session)
    seen: list[AWSPreparedRequest] = []

    def flaky(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        seen.append(request)
        if len(seen) == 1:
            body = json.dumps({"message": "slow down"}).encode()
            headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "ThrottlingException"}
            return AWSResponse(request.url, 429, headers, _Body(body))
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body(b'{"itemList": []}'))

    client.meta.events.register("before-send", flaky)

    # When the call is retried
    client.get_recommendations(campaignArn=CAMPAIGN, userId="u1")

    # Then both attempts carry an execute-api signature
    assert len(seen) == 2
    assert all(_authorization(request)["service"] == "execute-api" for request in seen)


def test_unknown_service_is_rejected(session: boto3.session.Session) -> None:
    # When asking for a service the picks API does not serve
    with pytest.raises(ValueError, match="service_name must be one of"):
        picks_client("s3", ENDPOINT, session=session)
