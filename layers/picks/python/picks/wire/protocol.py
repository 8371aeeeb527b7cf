"""Error encoding that botocore parses into typed exceptions, per protocol."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from picks.wire.service_model import protocol, service_model

if TYPE_CHECKING:
    from picks.errors import PicksError

CONTENT_TYPES = {"json": "application/x-amz-json-1.1", "rest-json": "application/json"}


def error_status(service: str, error: PicksError) -> int:
    """HTTP status from the model's ``error.httpStatusCode``; the control plane documents 400 for all."""
    for shape in service_model(service).error_shapes:
        if shape.name == error.code and "httpStatusCode" in shape.metadata.get("error", {}):
            return int(shape.metadata["error"]["httpStatusCode"])
    if protocol(service) == "json":
        return 500 if error.status >= 500 else 400
    return error.status


# Messages are built from short excerpts of user data; this bound holds even if one is not.
MAX_MESSAGE_CHARS = 2048


def error_body(error: PicksError) -> str:
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    return json.dumps({"__type": error.code, "message": message})


def error_headers(service: str, error: PicksError, request_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": CONTENT_TYPES[protocol(service)],
        "x-amzn-ErrorType": error.code,
        "x-amzn-RequestId": request_id or str(uuid.uuid4()),
    }
