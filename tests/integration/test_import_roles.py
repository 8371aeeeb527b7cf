"""Dataset import jobs read a user's bucket only as the caller's roleArn (or from a bucket picks trusts).

The control plane and the workflow step run in-process against moto; STS and the S3 client built from
the assumed role's credentials are wrapped so the tests can see (or refuse) what picks asks for.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from picks.controlplane.dispatch import dispatch
from picks.errors import InvalidInputException
from picks.workflows import dataset_import

from tests.e2e.test_control_plane import INTERACTIONS

USER_BUCKET = "someone-elses-bucket"
ROLE = "arn:aws:iam::000000000000:role/PicksImportReader"
GOOD = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,View\nu2,i2,1700000100,View\n"


def _denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, operation)


class RecordingSts:
    """The moto STS client, with every AssumeRole call recorded (and optionally refused)."""

    def __init__(self, inner: Any, refuse: bool = False) -> None:
        self.inner, self.refuse, self.calls = inner, refuse, []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.refuse:
            raise _denied("AssumeRole")
        return self.inner.assume_role(**kwargs)


class DeniedS3:
    """An S3 client for a role the bucket policy does not let in."""

    def head_object(self, **_: Any) -> Any:
        raise _denied("HeadObject")

    def get_object(self, **_: Any) -> Any:
        raise _denied("GetObject")

    def get_paginator(self, _: str) -> Any:
        raise _denied("ListObjectsV2")


@pytest.fixture
def dataset(services, aws) -> str:
    aws.client("s3").create_bucket(Bucket=USER_BUCKET)
    aws.client("s3").put_object(Bucket=USER_BUCKET, Key="data.csv", Body=GOOD)
    group = dispatch(services, "CreateDatasetGroup", {"name": "roles"})["datasetGroupArn"]
    schema = dispatch(services, "CreateSchema", {"name": "roles", "schema": INTERACTIONS})["schemaArn"]
    return dispatch(
        services,
        "CreateDataset",
        {
            "name": "roles",
            "schemaArn": schema,
            "datasetGroupArn": group,
            "datasetType": "INTERACTIONS",
        },
    )["datasetArn"]


@pytest.fixture
def sts(services, aws) -> RecordingSts:
    recording = RecordingSts(aws.client("sts"))
    services.sts = recording
    return recording


def _import(services, dataset: str, name: str, location: str, **extra: Any) -> dict[str, Any]:
    arn = dispatch(
        services,
        "CreateDatasetImportJob",
        {
            "jobName": name,
            "datasetArn": dataset,
            "dataSource": {"dataLocation": location},
            **extra,
        },
    )["datasetImportJobArn"]
    services.workflows.wait_idle()
    return dispatch(services, "DescribeDatasetImportJob", {"datasetImportJobArn": arn})["datasetImportJob"]


def _imported_objects(services) -> list[str]:
    listed = services.s3.list_objects_v2(Bucket=services.settings.bucket_name, Prefix="datasets/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_user_bucket_is_read_as_the_callers_role(services, dataset, sts):
    built: list[dict[str, Any]] = []
    moto_client = services.s3

    def s3_with(credentials: dict[str, Any], region: str) -> Any:
        built.append({"credentials": credentials, "region": region})
        return moto_client

    services.s3_with_credentials = s3_with
    job = _import(services, dataset, "as-role", f"s3://{USER_BUCKET}/data.csv", roleArn=ROLE)

    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["roleArn"] == ROLE
    (call,) = sts.calls
    assert call["RoleArn"] == ROLE
    assert call["RoleSessionName"].startswith("picks-") and "as-role" in call["RoleSessionName"]
    # The source was read with the assumed role's temporary credentials, in the job's region.
    assert [b["credentials"]["AccessKeyId"] for b in built] and all(b["region"] == "us-east-1" for b in built)


def test_untrusted_bucket_without_role_arn_is_rejected(services, dataset, sts):
    with pytest.raises(InvalidInputException, match="roleArn"):
        dispatch(
            services,
            "CreateDatasetImportJob",
            {
                "jobName": "no-role",
                "datasetArn": dataset,
                "dataSource": {"dataLocation": f"s3://{USER_BUCKET}/data.csv"},
            },
        )
    assert sts.calls == []


def test_role_arn_must_name_an_iam_role(services, dataset):
    # The model's pattern (``role/?``) also lets "roleX" through; AssumeRole takes only roles.
    with pytest.raises(InvalidInputException, match="roleArn"):
        dispatch(
            services,
            "CreateDatasetImportJob",
            {
                "jobName": "not-a-role",
                "datasetArn": dataset,
                "roleArn": "arn:aws:iam::000000000000:roleX",
                "dataSource": {"dataLocation": f"s3://{USER_BUCKET}/data.csv"},
            },
        )


def test_refused_assume_role_fails_the_job_and_touches_nothing(services, dataset, sts):
    sts.refuse = True
    job = _import(services, dataset, "refused", f"s3://{USER_BUCKET}/data.csv", roleArn=ROLE)

    assert job["status"] == "CREATE FAILED"
    assert ROLE in job["failureReason"] and USER_BUCKET in job["failureReason"]
    assert "AccessDenied" in job["failureReason"]
    assert _imported_objects(services) == []
    assert services.resources.get(dataset, what="Dataset").dataset_state.data is None


def test_access_denied_as_the_role_fails_the_job(services, dataset, sts):
    services.s3_with_credentials = lambda credentials, region: DeniedS3()
    job = _import(services, dataset, "denied", f"s3://{USER_BUCKET}/data.csv", roleArn=ROLE)

    assert job["status"] == "CREATE FAILED"
    assert ROLE in job["failureReason"] and USER_BUCKET in job["failureReason"]
    assert "access denied" in job["failureReason"].lower()
    assert _imported_objects(services) == []


def test_trusted_buckets_are_read_with_picks_own_role(services, dataset, sts):
    services.s3.put_object(Bucket=services.settings.bucket_name, Key="uploads/data.csv", Body=GOOD)
    own = _import(services, dataset, "own-bucket", f"s3://{services.settings.bucket_name}/uploads/data.csv")
    assert own["status"] == "ACTIVE", own.get("failureReason")

    services.settings = replace(services.settings, trusted_buckets=(USER_BUCKET,))
    trusted = _import(services, dataset, "trusted", f"s3://{USER_BUCKET}/data.csv")
    assert trusted["status"] == "ACTIVE", trusted.get("failureReason")
    assert sts.calls == []


def test_internal_error_reason_is_a_short_prefix():
    cause = json.dumps(
        {
            "errorMessage": "secret-cell-" + "x" * 500,
            "errorType": "KeyError",
            "stackTrace": ['  File "/opt/python/picks/ingest/importer.py", line 1'],
        }
    )

    class Jobs:
        doc = {"status": "CREATE IN_PROGRESS"}
        arn = "arn:aws:personalize:us-east-1:000000000000:dataset-import-job/j"
        reasons: list[str] = []

    class Store:
        def find(self, arn):
            return Jobs

        def update(self, arn, apply, what):
            apply(Jobs)
            return Jobs

    class FakeServices:
        resources = Store()
        clock = staticmethod(lambda: 0.0)

    dataset_import.record_failure(
        FakeServices(), {"datasetImportJobArn": Jobs.arn, "error": {"Error": "KeyError", "Cause": cause}}
    )
    reason = Jobs.doc["failureReason"]
    assert "stackTrace" not in reason and "importer.py" not in reason
    assert "x" * 65 not in reason
    assert "KeyError" in reason
