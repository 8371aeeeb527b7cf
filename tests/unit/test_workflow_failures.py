"""What users read in failureReason comes from declared error codes, not from class-name strings."""

from __future__ import annotations

import json

import pytest
from picks.model_artifact import ArtifactError
from picks.workflows import campaign, solution_version
from picks.workflows.failures import (
    DECLARED_ERRORS,
    ERROR_CODES,
    STATES_ERROR_CODES,
    CampaignDeploymentFailed,
    TrainingDataMissing,
    error_code,
    failure_reason,
)


def lambda_error(error: Exception) -> dict[str, str]:
    """What a Step Functions Catch stores for a Python Lambda that raised ``error``."""
    name = type(error).__name__  # the Lambda runtime's errorType
    cause = {"errorMessage": str(error), "errorType": name, "requestId": "r", "stackTrace": ["  File ..."]}
    return {"Error": name, "Cause": json.dumps(cause)}


def local_error(error: Exception) -> dict[str, str]:
    """What the local runner stores (picks' LocalWorkflowRunner mirrors the Catch)."""
    return {"Error": type(error).__name__, "Cause": str(error)}


def test_each_declared_error_maps_from_the_name_step_functions_reports() -> None:
    for declared in DECLARED_ERRORS:
        assert ERROR_CODES[declared.__name__] == declared.error_code
    codes = [declared.error_code for declared in DECLARED_ERRORS] + list(STATES_ERROR_CODES.values())
    assert len(set(codes)) == len(codes)


def test_workflows_expect_only_declared_codes() -> None:
    declared = set(ERROR_CODES.values())
    assert solution_version.EXPECTED_FAILURES <= declared
    assert campaign.EXPECTED_FAILURES <= declared


@pytest.mark.parametrize("shape", [lambda_error, local_error])
def test_solution_version_reasons_are_unchanged(shape) -> None:
    expected = solution_version.EXPECTED_FAILURES
    missing = TrainingDataMissing("INTERACTIONS: needs at least 1000 interactions; the dataset has 12.")
    assert failure_reason(shape(missing), expected) == str(missing)
    artifact = ArtifactError("s3://b/m/ lacks model.npz")
    assert failure_reason(shape(artifact), expected) == str(artifact)
    assert failure_reason(shape(KeyError("x")), expected) == "KeyError: 'x'"


def test_training_job_failure_reports_the_jobs_own_reason() -> None:
    job = {"TrainingJobName": "j", "FailureReason": "AlgorithmError: out of memory"}
    caught = {"Error": "States.TaskFailed", "Cause": json.dumps(job)}
    assert error_code(caught) == STATES_ERROR_CODES["States.TaskFailed"]
    assert failure_reason(caught, solution_version.EXPECTED_FAILURES) == "AlgorithmError: out of memory"


@pytest.mark.parametrize("shape", [lambda_error, local_error])
def test_campaign_reasons_are_unchanged(shape) -> None:
    expected = campaign.EXPECTED_FAILURES
    failed = CampaignDeploymentFailed("solutionVersionArn: arn:x is not an ACTIVE solution version.")
    assert failure_reason(shape(failed), expected) == str(failed)
    # Not expected by this workflow: the name stays, as it always did.
    assert failure_reason(shape(ArtifactError("bad")), expected) == "ArtifactError: bad"


def test_an_undeclared_error_with_a_declared_looking_name_keeps_its_name() -> None:
    assert error_code({"Error": "TRAINING_DATA_MISSING", "Cause": "x"}) is None
    assert failure_reason({"Error": "Boom", "Cause": "x"}, {"TRAINING_DATA_MISSING"}) == "Boom: x"
