"""The BatchInference workflow against moto: the control plane, Prepare / Publish / RecordFailure and
the scoring job (a subprocess of training/train.py, as the emulator runs it), with a popularity
model written directly.  Every failure ends CREATE FAILED with a reason naming the problem, the
output location holds no file of a failed job, and picks' bucket keeps no copy of the input."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from picks.controlplane.dispatch import dispatch
from picks.domain.resources import ModelRef, Resource, SolutionVersionState
from picks.errors import InvalidInputException, LimitExceededException, ResourceInUseException
from picks.model_artifact import ModelArtifact, publish_files, serialize

from tests.integration.test_import_roles import DeniedS3, RecordingSts

USER_BUCKET = "someone-elses-bucket"
ROLE = "arn:aws:iam::000000000000:role/PicksBatch"
VERSION = "arn:aws:personalize:us-east-1:000000000000:solution/pop/abcd1234"
ITEMS = [f"i{n}" for n in range(12)]


def _denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, operation)


def _version(services, recipe: str = "aws-popularity-count", recipe_type: str = "POPULAR_ITEMS") -> str:
    artifact = ModelArtifact(
        recipe=recipe,
        recipe_type=recipe_type,
        item_ids=np.array(ITEMS, dtype=object),
        arrays={"popularity": np.arange(len(ITEMS), dtype=np.float32)[::-1].copy()},
    )
    prefix = "models/pop/abcd1234/"
    publish_files(services.s3, services.settings.bucket_name, prefix, *serialize(artifact))
    state = SolutionVersionState(model=ModelRef(prefix, recipe, recipe_type))
    doc = {"solutionVersionArn": VERSION, "status": "ACTIVE", "datasetGroupArn": "g"}
    services.resources.create(
        Resource(VERSION, "solution-version", doc, parent=VERSION.rsplit("/", 1)[0], state=state),
        what="Solution version",
    )
    return VERSION


@pytest.fixture
def version(services, aws) -> str:
    aws.client("s3").create_bucket(Bucket=USER_BUCKET)
    return _version(services)


@pytest.fixture
def sts(services, aws) -> RecordingSts:
    recording = RecordingSts(aws.client("sts"))
    services.sts = recording
    return recording


def _put(services, key: str, lines: list[Any]) -> None:
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    services.s3.put_object(Bucket=USER_BUCKET, Key=key, Body=body.encode())


def _request(name: str, source: str, output: str = "out/", **extra: Any) -> dict[str, Any]:
    return {
        "jobName": name,
        "solutionVersionArn": VERSION,
        "jobInput": {"s3DataSource": {"path": f"s3://{USER_BUCKET}/{source}"}},
        "jobOutput": {"s3DataDestination": {"path": f"s3://{USER_BUCKET}/{output}"}},
        "roleArn": ROLE,
        **extra,
    }


def _run(services, name: str, source: str, **extra: Any) -> dict[str, Any]:
    arn = dispatch(services, "CreateBatchInferenceJob", _request(name, source, **extra))[
        "batchInferenceJobArn"
    ]
    services.workflows.wait_idle(timeout=120)
    return dispatch(services, "DescribeBatchInferenceJob", {"batchInferenceJobArn": arn})["batchInferenceJob"]


def _keys(services, bucket: str, prefix: str) -> list[str]:
    listed = services.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _staged(services) -> list[str]:
    bucket = services.settings.bucket_name
    return _keys(services, bucket, "training-input/") + _keys(services, bucket, "training-output/")


def test_job_reads_and_writes_as_the_role_and_leaves_no_copy(services, version, sts):
    _put(services, "in/users.json", [{"userId": "u1"}, {"userId": "u2"}, "", "[1]"])
    job = _run(services, "ok", "in/users.json", numResults=3)

    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert {call["RoleArn"] for call in sts.calls} == {ROLE}
    body = services.s3.get_object(Bucket=USER_BUCKET, Key="out/users.json.out")["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[:2] == [
        {"input": {"userId": u}, "output": {"recommendedItems": ["i0", "i1", "i2"]}, "error": None}
        for u in ("u1", "u2")
    ]
    assert lines[2] == {"input": [1], "error": "the line must be a JSON object."}
    assert len(lines) == 3  # the blank line is not a record
    assert _staged(services) == []


def test_refused_assume_role_fails_the_job(services, version, sts):
    sts.refuse = True
    _put(services, "in/users.json", [{"userId": "u1"}])
    job = _run(services, "refused", "in/users.json")
    assert job["status"] == "CREATE FAILED"
    assert ROLE in job["failureReason"] and "AccessDenied" in job["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == [] and _staged(services) == []


def test_unreadable_input_fails_the_job(services, version, sts):
    services.s3_with_credentials = lambda credentials, region: DeniedS3()
    job = _run(services, "denied", "in/users.json")
    assert job["status"] == "CREATE FAILED"
    assert "access denied reading" in job["failureReason"] and ROLE in job["failureReason"]
    assert _staged(services) == []


def test_missing_input_and_missing_buckets_fail_the_job(services, version, sts):
    missing = _run(services, "missing", "in/none.json")
    assert missing["status"] == "CREATE FAILED" and "no input file" in missing["failureReason"]
    _put(services, "in/users.json", [{"userId": "u1"}])
    request = _request("no-bucket", "in/users.json")
    request["jobOutput"] = {"s3DataDestination": {"path": "s3://no-such-bucket/out/"}}
    arn = dispatch(services, "CreateBatchInferenceJob", request)["batchInferenceJobArn"]
    services.workflows.wait_idle(timeout=120)
    job = dispatch(services, "DescribeBatchInferenceJob", {"batchInferenceJobArn": arn})["batchInferenceJob"]
    assert job["status"] == "CREATE FAILED"
    assert "no-such-bucket" in job["failureReason"] and "does not exist" in job["failureReason"]
    assert _staged(services) == []


class FailingSecondPut:
    """The role's client: writes the first output file, is refused the second."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.puts = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_fileobj(self, body: Any, bucket: str, key: str, **kwargs: Any) -> None:
        self.puts += 1
        if self.puts == 2:
            raise _denied("PutObject")
        self.inner.upload_fileobj(body, bucket, key, **kwargs)


def test_a_refused_write_leaves_no_output_file(services, version, sts):
    moto_client = services.s3
    services.s3_with_credentials = lambda credentials, region: FailingSecondPut(moto_client)
    _put(services, "folder/a.json", [{"userId": "u1"}])
    _put(services, "folder/b.json", [{"userId": "u2"}])
    job = _run(services, "half", "folder/")
    assert job["status"] == "CREATE FAILED"
    assert "access denied writing" in job["failureReason"] and "b.json.out" in job["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == []  # a.json.out was written, then removed
    assert _staged(services) == []


def test_input_quotas(services, version, sts):
    _put(services, "folder/a.json", [{"userId": "u1"}, {"userId": "u2"}, {"userId": "u3"}])
    _put(services, "folder/b.json", [{"userId": "u1"}])
    services.settings = replace(services.settings, max_batch_input_files=1)
    too_many = _run(services, "files", "folder/")
    assert too_many["status"] == "CREATE FAILED" and "2 files; the limit is 1" in too_many["failureReason"]
    services.settings = replace(services.settings, max_batch_input_files=1000, max_batch_records_per_file=2)
    too_long = _run(services, "records", "folder/a.json")
    assert too_long["status"] == "CREATE FAILED"
    assert "more than 2 records" in too_long["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == [] and _staged(services) == []


def test_concurrent_jobs_quota(services, version, sts):
    services.settings = replace(services.settings, max_batch_inference_jobs=0)
    with pytest.raises(LimitExceededException, match="limit is 0"):
        dispatch(services, "CreateBatchInferenceJob", _request("one-too-many", "in/users.json"))


def test_create_checks(services, version, sts):
    with pytest.raises(InvalidInputException, match="THEME_GENERATION"):
        dispatch(
            services,
            "CreateBatchInferenceJob",
            _request("t", "in/x.json", batchInferenceJobMode="THEME_GENERATION"),
        )
    with pytest.raises(InvalidInputException, match="itemExplorationConfig: only for"):
        dispatch(
            services,
            "CreateBatchInferenceJob",
            _request(
                "e",
                "in/x.json",
                batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "0.3"}},
            ),
        )
    with pytest.raises(InvalidInputException, match="roleArn"):
        dispatch(
            services,
            "CreateBatchInferenceJob",
            _request("r", "in/x.json", roleArn="arn:aws:iam::000000000000:roleX"),
        )

    def deactivate(resource: Resource) -> None:
        resource.doc["status"] = "CREATE IN_PROGRESS"

    services.resources.update(VERSION, deactivate, what="Solution version")
    with pytest.raises(ResourceInUseException, match="ACTIVE"):
        dispatch(services, "CreateBatchInferenceJob", _request("v", "in/x.json"))
