"""Moving the training channel and the model archive: LocalTrainingJobs (the emulator's SageMaker)
and the solution-version steps that stage the channel and read ``model.tar.gz``."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from picks.models.artifact import ARRAYS_NAME, MANIFEST_NAME, ArtifactError
from picks.workflows import solution_version
from picks.workflows.local_training import LocalTrainingJobs
from picks.workflows.training_contract import TrainingRequest

FILES = {MANIFEST_NAME: b'{"format": "picks-model"}', ARRAYS_NAME: bytes(range(256)) * 4096, "metrics.json": b"{}"}


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
    return TrainingRequest(jobName="job-1", instanceType="ml.m5.xlarge", inputUri=f"s3://{bucket}/in/job-1/",
                           outputUri=f"s3://{bucket}/out/")


def test_uploaded_model_is_a_gzipped_tar_that_register_reads(services, tmp_path: Path):
    for name, payload in FILES.items():
        (tmp_path / name).write_bytes(payload)
    jobs = LocalTrainingJobs(services.s3)
    uri = jobs._upload_model(_request(services.settings.bucket_name), tmp_path)
    bucket, _, key = uri[len("s3://"):].partition("/")
    body = services.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert key.endswith("model.tar.gz") and body[:2] == b"\x1f\x8b"  # SageMaker's format: gzip
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == sorted(FILES)
    assert solution_version._read_archive(services, uri) == FILES


def test_download_channel_copies_every_object(services, tmp_path: Path):
    bucket = services.settings.bucket_name
    objects = {"config.json": b"{}", "interactions/manifest.json": b"[]", "interactions/data.npz": bytes(10_000_000)}
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
        raise ClientError({"Error": {"Code": "InvalidRequest", "Message": "larger than 5368709120"}}, "CopyObject")

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
