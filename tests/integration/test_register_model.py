"""solution_version.register against moto: the training job's uncompressed output becomes the
version's model where it is (nothing copied); SageMaker's default ``model.tar.gz`` is still
unpacked under ``models/``; a missing or damaged model ends the version CREATE FAILED with a
reason naming what is wrong; a stop that lands meanwhile wins over ACTIVE."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from picks.domain.resources import ModelRef, Resource, SolutionVersionState
from picks.model_artifact import ARRAYS_NAME, MANIFEST_NAME, ArtifactError, ModelArtifact, load_s3, save_dir
from picks.workflows import solution_version
from picks.workflows.training_contract import TrainingRequest

from emulator.training_jobs import LocalTrainingJobs
from emulator.workflow_runner import step_error

if TYPE_CHECKING:
    from pathlib import Path

SOLUTION = "arn:aws:personalize:us-east-1:000000000000:solution/reg"
VERSION = f"{SOLUTION}/abc123"
JOB = "picks-reg-abc123"
OUTPUT_PREFIX = f"training-output/{JOB}/output/model/"
METRICS = {"coverage": 0.25, "precision_at_10": 0.125}


def _artifact() -> ModelArtifact:
    return ModelArtifact(
        recipe="aws-popularity-count",
        recipe_type="POPULAR_ITEMS",
        item_ids=np.array(["a", "b", "c"], dtype=object),
        arrays={"popularity": np.array([3.0, 2.0, 1.0], np.float32)},
        info={"metrics": METRICS, "trainingSeconds": 7.2},
    )


@pytest.fixture
def trained(services, tmp_path: Path) -> dict[str, Any]:
    """A version in progress whose job has uploaded its model (as LocalTrainingJobs does); the state
    Register receives."""
    services.resources.create(
        Resource(
            arn=VERSION,
            kind="solution-version",
            parent=SOLUTION,
            doc={
                "solutionVersionArn": VERSION,
                "solutionArn": SOLUTION,
                "status": "CREATE IN_PROGRESS",
            },
            state=SolutionVersionState(events_until=1234),
        ),
        what="Solution version",
    )
    model_dir = tmp_path / "model"
    save_dir(_artifact(), model_dir)
    (model_dir / "metrics.json").write_text(json.dumps(METRICS))
    bucket = services.settings.bucket_name
    request = TrainingRequest(
        jobName=JOB,
        instanceType="ml.m5.xlarge",
        inputUri=f"s3://{bucket}/training-input/{JOB}/",
        outputUri=f"s3://{bucket}/training-output/",
    )
    jobs = LocalTrainingJobs(services.s3)
    jobs._upload_model(request, model_dir)
    job = jobs._description(request, "Completed", time.time())
    return {"solutionVersionArn": VERSION, "trainingJob": job}


def _stored(services) -> Resource:
    return services.resources.get(VERSION, what="Solution version")


def _doc(services) -> dict[str, Any]:
    return _stored(services).doc


def _keys(services, prefix: str) -> list[str]:
    listed = services.s3.list_objects_v2(Bucket=services.settings.bucket_name, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


@pytest.mark.parametrize("trailing_slash", [True, False])
def test_the_uploaded_files_are_the_versions_model(services, trained, trailing_slash):
    # SageMaker's S3ModelArtifacts for uncompressed output is the files' prefix, with or without "/".
    uri = trained["trainingJob"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri.endswith("/output/model/")
    trained["trainingJob"]["ModelArtifacts"]["S3ModelArtifacts"] = uri if trailing_slash else uri.rstrip("/")
    before = _keys(services, "")

    assert solution_version.register(services, trained)["status"] == "ACTIVE"

    version = _stored(services)
    assert version.doc["status"] == "ACTIVE" and version.version_state.metrics == METRICS
    assert version.version_state.model == ModelRef(
        prefix=OUTPUT_PREFIX,
        recipe="aws-popularity-count",
        recipe_type="POPULAR_ITEMS",
        events_until=1234,
    )
    assert _keys(services, "") == before  # nothing copied or re-uploaded
    loaded = load_s3(services.s3, services.settings.bucket_name, version.version_state.model.prefix)
    assert loaded.item_ids.tolist() == ["a", "b", "c"] and loaded.info["metrics"] == METRICS


def test_a_model_tar_gz_is_still_unpacked_under_models(services, trained):
    # A job run with SageMaker's default (GZIP) output, e.g. started before the switch.
    bucket = services.settings.bucket_name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for key in _keys(services, OUTPUT_PREFIX):
            body = services.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            info = tarfile.TarInfo("./" + key[len(OUTPUT_PREFIX) :])
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    archive_key = f"training-output/{JOB}/output/model.tar.gz"
    services.s3.put_object(Bucket=bucket, Key=archive_key, Body=buffer.getvalue())
    trained["trainingJob"]["ModelArtifacts"]["S3ModelArtifacts"] = f"s3://{bucket}/{archive_key}"

    assert solution_version.register(services, trained)["status"] == "ACTIVE"

    model = _stored(services).version_state.model
    assert model is not None
    prefix = model.prefix
    assert prefix == "models/reg/abc123/"
    assert _keys(services, prefix) == [prefix + MANIFEST_NAME, prefix + ARRAYS_NAME]
    assert load_s3(services.s3, bucket, prefix).item_ids.tolist() == ["a", "b", "c"]


def _fails(services, state: dict[str, Any], match: str) -> str:
    """Register raises ``match``; the Catch (record_failure) then ends the version CREATE FAILED."""
    with pytest.raises(ArtifactError, match=match) as raised:
        solution_version.register(services, state)
    result = solution_version.record_failure(services, {**state, "error": step_error(raised.value)})
    assert result["status"] == "CREATE FAILED"
    version = _stored(services)
    assert version.doc["status"] == "CREATE FAILED" and version.version_state.model is None
    return version.doc["failureReason"]


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ([ARRAYS_NAME], "lacks model.npz"),
        ([MANIFEST_NAME], "lacks manifest.json"),
        ([MANIFEST_NAME, ARRAYS_NAME, "metrics.json"], "lacks manifest.json, model.npz"),
    ],
)
def test_missing_model_files_fail_the_version_naming_them(services, trained, missing, named):
    for name in missing:
        services.s3.delete_object(Bucket=services.settings.bucket_name, Key=OUTPUT_PREFIX + name)
    reason = _fails(services, trained, named)
    bucket = services.settings.bucket_name
    assert reason == f"s3://{bucket}/{OUTPUT_PREFIX} {named}"


def test_a_truncated_data_file_fails_the_version(services, trained):
    bucket = services.settings.bucket_name
    data = services.s3.get_object(Bucket=bucket, Key=OUTPUT_PREFIX + ARRAYS_NAME)["Body"].read()
    services.s3.put_object(Bucket=bucket, Key=OUTPUT_PREFIX + ARRAYS_NAME, Body=data[:-10])
    reason = _fails(services, trained, "model.npz is .* bytes; manifest.json says")
    assert f"model.npz is {len(data) - 10} bytes; manifest.json says {len(data)}" in reason


@pytest.mark.parametrize(
    ("manifest", "named"),
    [
        (b"{truncated", "manifest.json is not JSON"),
        (
            json.dumps(
                {
                    "format": "picks-model",
                    "format_version": 1,
                    "recipeType": "POPULAR_ITEMS",
                    "data": {"size": 1, "sha256": "x"},
                }
            ).encode(),
            "lacks recipe",
        ),
        (json.dumps({"format": "something-else"}).encode(), "not a picks-model v1 manifest"),
    ],
)
def test_an_unreadable_manifest_fails_the_version(services, trained, manifest, named):
    bucket = services.settings.bucket_name
    services.s3.put_object(Bucket=bucket, Key=OUTPUT_PREFIX + MANIFEST_NAME, Body=manifest)
    assert named in _fails(services, trained, named)


def test_output_outside_the_picks_bucket_is_refused(services, trained):
    trained["trainingJob"]["ModelArtifacts"]["S3ModelArtifacts"] = f"s3://elsewhere/{OUTPUT_PREFIX}"
    assert "outside the picks bucket" in _fails(services, trained, "outside the picks bucket")


def test_a_stop_that_arrives_while_registering_wins(services, trained, monkeypatch):
    check = solution_version._check_model_files

    def stopped_meanwhile(*args: Any) -> Any:
        found = check(*args)
        services.resources.update(VERSION, lambda r: r.doc.update(status="CREATE STOPPING"), what="v")
        return found

    monkeypatch.setattr(solution_version, "_check_model_files", stopped_meanwhile)
    assert solution_version.register(services, trained)["status"] == "CREATE STOPPED"
    version = _stored(services)
    assert version.doc["status"] == "CREATE STOPPED" and version.version_state.model is None


def test_a_stop_before_registering_skips_the_model(services, trained, monkeypatch):
    services.resources.update(VERSION, lambda r: r.doc.update(status="CREATE STOPPING"), what="v")
    monkeypatch.setattr(solution_version, "_check_model_files", lambda *_: pytest.fail("model checked"))
    assert solution_version.register(services, trained)["status"] == "CREATE STOPPED"
    assert _doc(services)["status"] == "CREATE STOPPED"
