"""Raw HTTP requests to the emulator, SigV4-signed as boto3 signs them, with exact control of the bytes.

Stock boto3 clients cannot send malformed bodies or headers; these helpers can, so the wire layer's
answers to them can be checked byte for byte.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from picks.routes import routes

CONTROL_PLANE_CONTENT_TYPE = "application/x-amz-json-1.1"
CREDENTIALS = Credentials("test", "test")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        """The error code as botocore reads it: ``__type`` (after any ``#``), else ``x-amzn-ErrorType``."""
        code = None
        try:
            parsed = self.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            code = parsed.get("__type") or parsed.get("code")
        code = code or self.headers.get("x-amzn-errortype")
        return code.split("#")[-1].split(":")[0] if code else None


def rest_path(operation: str) -> str:
    return next(r.path for r in routes() if r.operation == operation)


def send(
    url: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Answer:
    """Send exactly ``body`` and ``headers`` (no signing) and read the whole answer."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def signed_headers(
    url: str,
    service: str,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    region: str = "us-east-1",
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url + path, data=body, headers=dict(headers or {}))
    SigV4Auth(CREDENTIALS, service, region).add_auth(request)
    return dict(request.headers.items())


def signed(
    url: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Answer:
    """A request signed for ``personalize`` (the signing name of all three Personalize APIs)."""
    headers = signed_headers(url, "personalize", method, path, body, headers)
    return send(url, method, path, body, headers, timeout)


def control_plane(url: str, operation: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
    base = {"X-Amz-Target": f"AmazonPersonalize.{operation}", "Content-Type": CONTROL_PLANE_CONTENT_TYPE}
    return signed(url, "POST", "/", body, {**base, **(headers or {})})


def rest(url: str, operation: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
    headers = {"Content-Type": "application/json", **(headers or {})}
    return signed(url, "POST", rest_path(operation), body, headers)
