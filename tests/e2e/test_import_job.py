"""A dataset import forced onto the job path over HTTP with stock boto3: the emulator started with
``PICKS_MAX_LAMBDA_IMPORT_BYTES=0`` runs every import as the DatasetImport workflow's Import job
(training/train.py's "import" task, a subprocess) and the dataset gets the same table; a bad file
fails the job with its line and column and the dataset keeps its earlier data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from picks import services as picks_services
from picks.ingest.columnar import read_table

from emulator.server import Emulator
from emulator.training_jobs import LocalTrainingJobs
from tests.conftest import client_for
from tests.e2e.test_control_plane import INTERACTIONS
from tests.e2e.test_imports import GOOD, ROLE_ARN, SOURCE_BUCKET, wait_for_job

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

STARTED: list[str] = []


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """This module's emulator, with the import threshold lowered through the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PICKS_MAX_LAMBDA_IMPORT_BYTES", "0")
        run = LocalTrainingJobs.run

        def recording(self: LocalTrainingJobs, request: Any) -> dict[str, Any]:
            STARTED.append(request.jobName)
            return run(self, request)

        patch.setattr(LocalTrainingJobs, "run", recording)
        server = Emulator(port=0).start()
        yield server
        server.wait_idle()
        server.stop()


def _rows(dataset: str) -> list[dict[str, Any]]:
    services = picks_services.get_services()
    prefix = services.resources.get(dataset, what="Dataset").dataset_state.data_prefix
    assert prefix is not None
    return read_table(services.s3, services.settings.bucket_name, prefix).to_pylist()


def _import(personalize, s3, dataset: str, name: str, body: bytes) -> dict[str, Any]:
    s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{name}.csv", Body=body)
    arn = personalize.create_dataset_import_job(
        jobName=name,
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/{name}.csv"},
        roleArn=ROLE_ARN,
    )["datasetImportJobArn"]
    return wait_for_job(personalize, arn, timeout=120)


def test_an_import_over_the_threshold_runs_as_a_job(emulator):
    assert emulator.settings.max_lambda_import_bytes == 0
    personalize, s3 = client_for(emulator, "personalize"), client_for(emulator, "s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    group = personalize.create_dataset_group(name="import-job")["datasetGroupArn"]
    schema = personalize.create_schema(name="import-job", schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(
        name="import-job", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]

    job = _import(personalize, s3, dataset, "as-job", GOOD.encode())
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert len(STARTED) == 1 and STARTED[0].startswith("picks-import-as-job-")
    rows = _rows(dataset)
    assert sorted((r["USER_ID"], r["ITEM_ID"]) for r in rows) == [("u1", "i1"), ("u1", "i2"), ("u2", "i1")]

    bad = _import(personalize, s3, dataset, "bad-job", GOOD.encode() + b"u3,i3,soon,View\n")
    assert bad["status"] == "CREATE FAILED"
    assert bad["failureReason"].startswith(f"s3://{SOURCE_BUCKET}/bad-job.csv line 5, column TIMESTAMP: ")
    assert len(STARTED) == 2
    assert _rows(dataset) == rows  # the earlier data, untouched
