"""Large dataset imports run as a job (training/train.py's "import" task) instead of in the Lambda
step: the threshold (``Settings.max_lambda_import_bytes``) picks the path, the job builds the very
table the Lambda step builds, and a bad file fails the job with the same line/column reason while
the dataset keeps its earlier data.  The control plane, the workflow steps and the job (a
subprocess under the SageMaker contract, as the emulator runs it) run against moto."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from picks.controlplane.dispatch import dispatch
from picks.ingest.columnar import read_manifest, read_table

from emulator.training_jobs import LocalTrainingJobs
from tests.e2e.test_control_plane import INTERACTIONS, ITEMS
from tests.integration.test_import_roles import RecordingSts

USER_BUCKET = "someone-elses-bucket"
ROLE = "arn:aws:iam::000000000000:role/PicksImportReader"
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
FIRST = HEADER + "u1,i1,1700000000,View\nu2,i2,1700000100,View\nu1,i3,1700000050,Purchase\n"
SECOND = HEADER + "u3,i1,1700000200,View\nu2,i1,1700000300,Purchase\n"
BAD = HEADER + "u1,i1,1700000000,View\nu2,i2,not-a-time,View\n"


@pytest.fixture
def jobs(monkeypatch) -> list[str]:
    """The names of the import jobs the runner started."""
    started: list[str] = []
    run = LocalTrainingJobs.run

    def recording(self: LocalTrainingJobs, request: Any) -> dict[str, Any]:
        started.append(request.jobName)
        return run(self, request)

    monkeypatch.setattr(LocalTrainingJobs, "run", recording)
    return started


def _dataset(services, name: str, schema_text: str = INTERACTIONS, dataset_type: str = "INTERACTIONS") -> str:
    group = dispatch(services, "CreateDatasetGroup", {"name": name})["datasetGroupArn"]
    schema = dispatch(services, "CreateSchema", {"name": name, "schema": schema_text})["schemaArn"]
    return dispatch(
        services,
        "CreateDataset",
        {"name": name, "schemaArn": schema, "datasetGroupArn": group, "datasetType": dataset_type},
    )["datasetArn"]


def _put(services, key: str, body: str) -> str:
    services.s3.put_object(Bucket=services.settings.bucket_name, Key=key, Body=body.encode())
    return f"s3://{services.settings.bucket_name}/{key}"


def _import(services, dataset: str, name: str, location: str, **extra: Any) -> dict[str, Any]:
    arn = dispatch(
        services,
        "CreateDatasetImportJob",
        {"jobName": name, "datasetArn": dataset, "dataSource": {"dataLocation": location}, **extra},
    )["datasetImportJobArn"]
    services.workflows.wait_idle(timeout=120)
    return dispatch(services, "DescribeDatasetImportJob", {"datasetImportJobArn": arn})["datasetImportJob"]


def _table_prefix(services, dataset: str) -> str | None:
    return services.resources.get(dataset, what="Dataset").dataset_state.data_prefix


def _manifest(services, dataset: str) -> dict[str, Any]:
    prefix = _table_prefix(services, dataset)
    assert prefix is not None
    return read_manifest(services.s3, services.settings.bucket_name, prefix)


def _same_table(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same table: everything in the manifests (the data's SHA-256 included) but when it was written."""
    return {**one, "created_at": None} == {**other, "created_at": None}


def _staged(services) -> list[str]:
    keys = []
    for prefix in ("training-input/", "training-output/"):
        listed = services.s3.list_objects_v2(Bucket=services.settings.bucket_name, Prefix=prefix)
        keys += [o["Key"] for o in listed.get("Contents", [])]
    return keys


def _on_job_path(services) -> None:
    services.settings = replace(services.settings, max_lambda_import_bytes=0)


def test_small_imports_stay_in_the_lambda_step_and_large_ones_run_as_a_job(services, jobs):
    location = _put(services, "uploads/first.csv", FIRST)
    in_lambda = _dataset(services, "in-lambda")
    assert _import(services, in_lambda, "small", location)["status"] == "ACTIVE"
    assert jobs == []  # under the default threshold (256 MB)

    # Exactly at the threshold still runs in the step; one byte more is a job.
    services.settings = replace(services.settings, max_lambda_import_bytes=len(FIRST))
    assert _import(services, in_lambda, "at-threshold", location)["status"] == "ACTIVE"
    assert jobs == []
    services.settings = replace(services.settings, max_lambda_import_bytes=len(FIRST) - 1)
    as_job = _dataset(services, "as-job")
    job = _import(services, as_job, "large", location)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert len(jobs) == 1 and jobs[0].startswith("picks-import-large-")

    # The same table, byte for byte (the manifest holds the data's SHA-256), under the dataset's own prefix.
    lambda_manifest, job_manifest = _manifest(services, in_lambda), _manifest(services, as_job)
    assert _same_table(job_manifest, lambda_manifest)
    assert job_manifest["row_count"] == 3
    assert _table_prefix(services, as_job).startswith("datasets/as-job/INTERACTIONS/large-")
    assert _staged(services) == []  # the job's channel and output are removed


def test_a_folder_and_an_incremental_import_as_a_job_match_the_lambda_step(services, jobs):
    _put(services, "folder/a.csv", FIRST)
    folder = _put(services, "folder/b.csv", SECOND)[: -len("b.csv")]
    items = "ITEM_ID,CATEGORY\ni1,shoes\ni2,hats\n"
    update = "ITEM_ID,CATEGORY\ni2,coats\ni3,socks\n"
    results = {}
    for path in ("lambda", "job"):
        if path == "job":
            _on_job_path(services)
        interactions = _dataset(services, f"folder-{path}")
        assert _import(services, interactions, f"folder-{path}", folder)["status"] == "ACTIVE"
        catalog = _dataset(services, f"items-{path}", ITEMS, "ITEMS")
        assert (
            _import(services, catalog, f"full-{path}", _put(services, "items.csv", items))["status"]
            == "ACTIVE"
        )
        job = _import(
            services, catalog, f"more-{path}", _put(services, "more.csv", update), importMode="INCREMENTAL"
        )
        assert job["status"] == "ACTIVE", job.get("failureReason")
        results[path] = (_manifest(services, interactions), _manifest(services, catalog), catalog)
    assert len(jobs) == 3
    assert results["job"][0]["row_count"] == 5 and _same_table(results["job"][0], results["lambda"][0])
    # INCREMENTAL: upserted into the earlier table (the manifests differ only in the prefix they name).
    job_items, lambda_items = results["job"][1], results["lambda"][1]
    assert job_items["data"] == lambda_items["data"] and job_items["row_count"] == 3
    table = read_table(services.s3, services.settings.bucket_name, _table_prefix(services, results["job"][2]))
    assert {row["ITEM_ID"]: row["CATEGORY"] for row in table.to_pylist()} == {
        "i1": "shoes",
        "i2": "coats",
        "i3": "socks",
    }


def test_a_bad_file_fails_the_job_with_its_line_and_column_and_keeps_the_earlier_data(services, jobs):
    bad = _put(services, "uploads/bad.csv", BAD)
    in_lambda = _dataset(services, "bad-in-lambda")
    lambda_reason = _import(services, in_lambda, "bad-lambda", bad)["failureReason"]
    assert "line 3" in lambda_reason and "TIMESTAMP" in lambda_reason

    dataset = _dataset(services, "bad-as-job")
    assert _import(services, dataset, "good", _put(services, "uploads/good.csv", FIRST))["status"] == "ACTIVE"
    before = _table_prefix(services, dataset)
    _on_job_path(services)
    job = _import(services, dataset, "bad-job", bad)

    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == lambda_reason  # the job's own message, as the Lambda step reports it
    assert len(jobs) == 1
    assert _table_prefix(services, dataset) == before
    assert read_manifest(services.s3, services.settings.bucket_name, before)["row_count"] == 3
    assert _staged(services) == []


class _ListOnlyS3:
    """The role may list and head the source but not read it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_object(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")


def test_a_job_reads_the_users_bucket_only_as_the_role(services, aws, jobs):
    aws.client("s3").create_bucket(Bucket=USER_BUCKET)
    aws.client("s3").put_object(Bucket=USER_BUCKET, Key="big.csv", Body=FIRST.encode())
    sts = RecordingSts(aws.client("sts"))
    services.sts = sts
    as_role: list[Any] = []

    def s3_with(credentials: dict[str, Any], region: str) -> Any:
        as_role.append(_ListOnlyS3(services.s3) if len(as_role) == 0 else services.s3)
        return as_role[-1]

    services.s3_with_credentials = s3_with
    _on_job_path(services)
    dataset = _dataset(services, "role-job")
    denied = _import(services, dataset, "denied", f"s3://{USER_BUCKET}/big.csv", roleArn=ROLE)
    assert denied["status"] == "CREATE FAILED"
    assert "access denied" in denied["failureReason"] and ROLE in denied["failureReason"]
    assert jobs == [] and _staged(services) == []  # staging failed: no job, nothing left behind

    job = _import(services, dataset, "allowed", f"s3://{USER_BUCKET}/big.csv", roleArn=ROLE)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert [call["RoleArn"] for call in sts.calls] == [ROLE, ROLE] and len(jobs) == 1
    assert _manifest(services, dataset)["row_count"] == 3
