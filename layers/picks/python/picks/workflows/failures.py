"""The failureReason a workflow's Catch reports, from the error Step Functions (or the local runner) caught.

A Lambda step's Cause is JSON with ``errorMessage``; a SageMaker ``.sync`` task's Cause is the job
description with ``FailureReason``; the local runner passes the message itself.  Errors the steps
raise on purpose (``expected``) are reported as their message alone; anything else keeps its name.
"""

from __future__ import annotations

import json
from typing import Any


def failure_reason(error: dict[str, Any], expected: tuple[str, ...] = ()) -> str:
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict):
        cause = parsed.get("FailureReason") or parsed.get("errorMessage") or cause
    name = error.get("Error", "Error")
    return str(cause) if name in expected else f"{name}: {cause}"
