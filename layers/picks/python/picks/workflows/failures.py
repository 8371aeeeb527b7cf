"""The failureReason a workflow's Catch reports, from the error Step Functions (or the local runner) caught.

A Lambda step's Cause is JSON with ``errorMessage``; a SageMaker ``.sync`` task's Cause is the job
description with ``FailureReason``; the local runner passes the message itself.

Errors the steps raise on purpose carry a declared ``error_code``: a constant that stays when the
class is renamed.  Step Functions names a caught Lambda error by its ``errorType``, the exception
class's ``__name__``, so ``ERROR_CODES`` maps that name (derived from the classes, never spelled
out) and Step Functions' own error names to the codes.  A workflow lists the codes it reports as
their message alone; anything else keeps its name.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from picks.model_artifact import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Collection

TRAINING_JOB_FAILED = "TRAINING_JOB_FAILED"
# Errors Step Functions itself names (not exception classes), by that name.
STATES_ERROR_CODES = {"States.TaskFailed": TRAINING_JOB_FAILED}


class WorkflowFailure(Exception):
    """A failure a step reports on purpose; subclasses declare ``error_code``."""

    error_code: ClassVar[str]


class TrainingDataMissing(WorkflowFailure):
    """The dataset group cannot train this solution; the message becomes failureReason."""

    error_code = "TRAINING_DATA_MISSING"


class CampaignDeploymentFailed(WorkflowFailure):
    """The campaign cannot serve; the message becomes failureReason."""

    error_code = "CAMPAIGN_NOT_DEPLOYABLE"


class BatchJobFailed(WorkflowFailure):
    """A batch job cannot run (unreadable input, missing bucket, refused role...); the message
    becomes failureReason."""

    error_code = "BATCH_JOB_FAILED"


DECLARED_ERRORS: tuple[type[WorkflowFailure] | type[ArtifactError], ...] = (
    TrainingDataMissing,
    CampaignDeploymentFailed,
    BatchJobFailed,
    ArtifactError,
)

ERROR_CODES: dict[str, str] = {
    **{error.__name__: error.error_code for error in DECLARED_ERRORS},
    **STATES_ERROR_CODES,
}


def error_code(error: dict[str, Any]) -> str | None:
    """The declared code of a caught error (``{"Error": name, "Cause": ...}``), None if undeclared."""
    return ERROR_CODES.get(error.get("Error", ""))


def failure_reason(error: dict[str, Any], expected: Collection[str] = ()) -> str:
    """What users read: an error with a code in ``expected`` as its message alone, else ``name: message``."""
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict):
        cause = parsed.get("FailureReason") or parsed.get("errorMessage") or cause
    name = error.get("Error", "Error")
    return str(cause) if error_code(error) in expected else f"{name}: {cause}"
