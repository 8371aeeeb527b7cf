"""Invoke Lambda handlers in-process with the events AWS would send them."""

from __future__ import annotations

import base64
import importlib
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from picks.routes import FUNCTIONS, Route
from picks.settings import DEFAULT_ACCOUNT


@dataclass
class LocalContext:
    """The parts of the Lambda context object Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/picks/local"
    log_stream_name: str = "local"
    # Where the function "runs": the emulator's region and (through MOTO_ACCOUNT_ID) its one account.
    region: str = field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    account: str = field(default_factory=lambda: os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:picks-{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Call ``functions/<function>/handler.py:lambda_handler`` as Lambda would."""
    declared = FUNCTIONS[function]
    module = importlib.import_module(declared.module)
    context = LocalContext(function, declared.memory_mb, declared.timeout_s)
    return module.lambda_handler(event, context)


def api_gateway_event(
    route: Route,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event, as API Gateway builds it."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    request_id = str(uuid.uuid4())
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": method,
            "path": path,
            "stage": "local",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip},
            "accountId": account,
            "apiId": "local",
        },
        "body": text or None,
        "isBase64Encoded": encoded,
    }
