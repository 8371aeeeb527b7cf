"""Moving the training channel and the model: LocalTrainingJobs (the emulator's SageMaker), and the
solution-version steps that stage the channel and register the job's output — uncompressed model
files where the job left them, or SageMaker's default ``model.tar.gz``."""

from __future__ import annotations

import io
import tarfile
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError
from picks.model_artifact import ARRAYS_NAME, MANIFEST_NAME, ArtifactError
from picks.workflows import solution_version
from picks.workflows.training_contract import TrainingRequest

from emulator.training_jobs import LocalTrainingJobs

if TYPE_CHECKING:
    from pathlib import Path

FILES = {
    MANIFEST_NAME: b'{"format": "picks-model"}',
    ARRAYS_NAME: bytes(range(256)) * 4096,
    "metrics.json": b"{}",
}


def _tar(mode: str, prefix: str = "", **options) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, **options) as archive:
        for name, payload in FILES.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _put(services, key: str, body: bytes) -> str:
    services.s3.put_object(Bucket=services.settings.bucket_name, Key=key, Body=body)
    return f"s3://{services.settings.bucket_name}/{key}"


@pytest.mark.parametrize(
    "archive",
    [
        pytest.param(lambda: _tar("w:gz", "./"), id="sagemaker-gzip"),  # SageMaker: gzip level 9, "./" names
        pytest.param(lambda: _tar("w:gz", compresslevel=0), id="gzip-stored"),  # LocalTrainingJobs
        pytest.param(lambda: _tar("w"), id="plain-tar"),
    ],
)
def test_read_archive_accepts_gzip_and_plain_tar(services, archive):
    uri = _put(services, "out/job/output/model.tar.gz", archive())
    assert solution_version._read_archive(services, uri) == FILES


def test_read_archive_names_the_missing_files(services):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("metrics.json")
        archive.addfile(info, io.BytesIO(b""))
    uri = _put(services, "out/job/output/model.tar.gz", buffer.getvalue())
    with pytest.raises(ArtifactError, match="manifest.json, model.npz"):
        solution_version._read_archive(services, uri)


def _request(bucket: str) -> TrainingRequest:
    return TrainingRequest(
        jobName="job-1",
        instanceType="ml.m5.xlarge",
        inputUri=f"s3://{bucket}/in/job-1/",
        outputUri=f"s3://{bucket}/out/",
    )


def test_uploaded_model_is_the_model_directorys_files_manifest_last(services, tmp_path: Path):
    for name, payload in FILES.items():
        (tmp_path / name).write_bytes(payload)
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "notes.txt").write_bytes(b"kept with its folder")
    jobs = LocalTrainingJobs(services.s3)
    put: list[str] = []
    jobs._s3.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: put.append(params["Key"])
    )
    request = _request(services.settings.bucket_name)
    uri = jobs._upload_model(request, tmp_path)
    # SageMaker's uncompressed output: S3ModelArtifacts is the prefix of the files.
    bucket = services.settings.bucket_name
    assert uri == request.model_artifacts_uri == f"s3://{bucket}/out/job-1/output/model/"
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    listed = services.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert sorted(entry["Key"][len(prefix) :] for entry in listed) == sorted([*FILES, "extra/notes.txt"])
    for name, payload in FILES.items():
        assert services.s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read() == payload
    assert put[-1] == prefix + MANIFEST_NAME
    assert jobs._description(request, "Completed", 0.0)["ModelArtifacts"] == {"S3ModelArtifacts": uri}


def test_download_channel_copies_every_object(services, tmp_path: Path):
    bucket = services.settings.bucket_name
    objects = {
        "config.json": b"{}",
        "interactions/manifest.json": b"[]",
        "interactions/data.npz": bytes(10_000_000),
    }
    for relative, payload in objects.items():
        services.s3.put_object(Bucket=bucket, Key=f"in/job-1/{relative}", Body=payload)
    services.s3.put_object(Bucket=bucket, Key="in/job-10/config.json", Body=b"other job")
    LocalTrainingJobs(services.s3)._download_channel(_request(bucket), tmp_path)
    found = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert found == objects


def test_copy_table_copies_both_files(services):
    bucket = services.settings.bucket_name
    for name in solution_version.TABLE_FILES:
        services.s3.put_object(Bucket=bucket, Key=f"datasets/x/{name}", Body=name.encode() * 3)
    solution_version._copy_table(services, "datasets/x/", "channel/interactions")
    for name in solution_version.TABLE_FILES:
        body = services.s3.get_object(Bucket=bucket, Key=f"channel/interactions/{name}")["Body"].read()
        assert body == name.encode() * 3


class _TooLargeForCopyObject:
    """An S3 client whose CopyObject refuses (as S3 does past 5 GB) and whose managed copy works."""

    def __init__(self) -> None:
        self.managed: list[tuple[dict, str, str]] = []

    def copy_object(self, **_):
        raise ClientError(
            {"Error": {"Code": "InvalidRequest", "Message": "larger than 5368709120"}}, "CopyObject"
        )

    def copy(self, source, bucket, key):
        self.managed.append((source, bucket, key))


def test_copy_falls_back_to_the_managed_copy_past_copy_objects_limit():
    s3 = _TooLargeForCopyObject()
    solution_version._copy_object(s3, "bucket", "a/data.npz", "b/data.npz")
    assert s3.managed == [({"Bucket": "bucket", "Key": "a/data.npz"}, "bucket", "b/data.npz")]


def test_copy_errors_other_than_the_size_limit_propagate():
    class Denied(_TooLargeForCopyObject):
        def copy_object(self, **_):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CopyObject")

    with pytest.raises(ClientError):
        solution_version._copy_object(Denied(), "bucket", "a", "b")
