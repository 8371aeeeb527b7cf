"""A drop the previous server acknowledged but never delivered (it stopped before the import
started) is delivered at the next start, once: the object is not left behind unimported."""

from __future__ import annotations

import time

import pytest
from picks import services as picks_services

from emulator.server import Emulator
from tests.conftest import client_for
from tests.e2e.test_control_plane import INTERACTIONS
from tests.e2e.test_imports import wait_for_job

pytestmark = pytest.mark.e2e

KEY = "drop/redelivered/INTERACTIONS/batch.csv"
BODY = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,View\nu2,i2,1700000001,View\n"


def drop_jobs(personalize, dataset: str, expect: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
        if len(jobs) >= expect or time.monotonic() > deadline:
            return jobs
        time.sleep(0.05)


def test_an_undelivered_drop_is_delivered_once_at_the_next_start(tmp_path):
    server = Emulator(port=0, data_dir=tmp_path, fsync=False).start()
    try:
        personalize = client_for(server, "personalize")
        group = personalize.create_dataset_group(name="redelivered")["datasetGroupArn"]
        schema = personalize.create_schema(name="redelivered-interactions", schema=INTERACTIONS)["schemaArn"]
        dataset = personalize.create_dataset(
            name="redelivered-interactions",
            schemaArn=schema,
            datasetGroupArn=group,
            datasetType="INTERACTIONS",
        )["datasetArn"]
        # Stored (journaled) but not through the server's port: no Object Created event is delivered,
        # as when the server dies between acknowledging the PutObject and starting the import.
        picks_services.get_services().s3.put_object(Bucket=server.settings.bucket_name, Key=KEY, Body=BODY)
        assert drop_jobs(personalize, dataset, expect=1, timeout=0.5) == []
    finally:
        server.stop()

    server = Emulator(port=0, data_dir=tmp_path, fsync=False).start()
    try:
        personalize = client_for(server, "personalize")
        jobs = drop_jobs(personalize, dataset, expect=1)
        assert len(jobs) == 1, "the drop was not delivered at the start"
        finished = wait_for_job(personalize, jobs[0]["datasetImportJobArn"])
        assert finished["status"] == "ACTIVE", finished.get("failureReason")
        assert finished["dataSource"]["dataLocation"] == f"s3://{server.settings.bucket_name}/{KEY}"
        server.wait_idle()
    finally:
        server.stop()

    server = Emulator(port=0, data_dir=tmp_path, fsync=False).start()
    try:
        server.wait_idle()
        jobs = client_for(server, "personalize").list_dataset_import_jobs(datasetArn=dataset)[
            "datasetImportJobs"
        ]
        assert len(jobs) == 1, "an imported drop was delivered again"
    finally:
        server.stop()
