"""Dataset import jobs over HTTP: FULL, INCREMENTAL, every malformed-input case, S3 drops."""

from __future__ import annotations

import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from picks import services as picks_services
from picks.ingest.columnar import read_table

from demo.waiting import wait_for
from tests.conftest import client_for
from tests.e2e.test_control_plane import INTERACTIONS, ITEMS

pytestmark = pytest.mark.e2e

SOURCE_BUCKET = "import-sources"
# picks reads import-sources (not its own bucket) as this role; moto's STS lets any role be assumed.
ROLE_ARN = "arn:aws:iam::000000000000:role/PicksImport"
GOOD = (
    "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
    "u1,i1,1700000000,View\nu1,i2,1700000100,Purchase\nu2,i1,1700000200,View\n"
)


@pytest.fixture(scope="module")
def clients(emulator):
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    return client_for(emulator, "personalize"), s3


@pytest.fixture(scope="module")
def interactions(clients):
    personalize, _ = clients
    group = personalize.create_dataset_group(name="imports")["datasetGroupArn"]
    schema = personalize.create_schema(name="imports-interactions", schema=INTERACTIONS)["schemaArn"]
    return personalize.create_dataset(
        name="imports-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]


def wait_for_job(personalize, arn: str, timeout: float = 60.0) -> dict:
    return wait_for(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"],
        timeout=timeout,
        what=arn,
    )


def run_import(clients, dataset: str, name: str, body: bytes, mode: str = "FULL") -> dict:
    personalize, s3 = clients
    s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{name}.csv", Body=body)
    arn = personalize.create_dataset_import_job(
        jobName=name,
        datasetArn=dataset,
        importMode=mode,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/{name}.csv"},
        roleArn=ROLE_ARN,
    )["datasetImportJobArn"]
    return wait_for_job(personalize, arn)


def stored_rows(dataset: str) -> int:
    services = picks_services.get_services()
    prefix = services.resources.get(dataset, what="Dataset").dataset_state.data_prefix
    if not prefix:
        return 0  # nothing imported yet (e.g. this test runs alone)
    return len(read_table(services.s3, services.settings.bucket_name, prefix))


def test_full_then_incremental(clients, interactions):
    personalize, _ = clients
    full = run_import(clients, interactions, "full-1", GOOD.encode())
    assert full["status"] == "ACTIVE", full.get("failureReason")
    assert full["importMode"] == "FULL"
    assert full["seen"][0] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    assert stored_rows(interactions) == 3

    extra = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu3,i3,1700000300,View\n"
    incremental = run_import(clients, interactions, "incremental-1", extra.encode(), mode="INCREMENTAL")
    assert incremental["status"] == "ACTIVE", incremental.get("failureReason")
    assert stored_rows(interactions) == 4

    replaced = run_import(clients, interactions, "full-2", extra.encode())
    assert replaced["status"] == "ACTIVE"
    assert stored_rows(interactions) == 1

    jobs = personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"]
    assert {"full-1", "incremental-1", "full-2"} <= {j["jobName"] for j in jobs}


def test_source_is_read_as_the_role_and_needs_one(clients, interactions):
    from moto.sts.models import sts_backends

    personalize, _ = clients
    job = run_import(clients, interactions, "as-role", GOOD.encode())
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["roleArn"] == ROLE_ARN
    # The same code path as on AWS: the workflow step assumed the job's role (moto's STS recorded it).
    sessions = {(r.role_arn, r.session_name) for r in sts_backends["000000000000"]["aws"].assumed_roles}
    assert (ROLE_ARN, "picks-import-as-role") in sessions

    with pytest.raises(personalize.exceptions.InvalidInputException, match="roleArn"):
        personalize.create_dataset_import_job(
            jobName="no-role",
            datasetArn=interactions,
            dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/as-role.csv"},
        )


BAD_FILES = {
    "missing-column": (b"USER_ID,ITEM_ID,EVENT_TYPE\nu1,i1,View\n", ["TIMESTAMP"]),
    "wrong-type": (
        b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,View\nu2,i2,12.5,View\n",
        ["line 3", "TIMESTAMP"],
    ),
    "bad-timestamp": (
        b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,2024-01-01,View\n",
        ["line 2", "TIMESTAMP"],
    ),
    "oversize-value": (
        (
            "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,View\nu2,"
            + "x" * 1001
            + ",1700000000,View\n"
        ).encode(),
        ["line 3", "ITEM_ID"],
    ),
    "empty-file": (b"", ["empty"]),
    "non-utf8": (b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,caf\xe9,1700000000,View\n", ["line 2", "UTF-8"]),
    "header-mismatch": (
        b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,COLOUR\nu1,i1,1700000000,View,red\n",
        ["COLOUR"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_import_fails_and_keeps_earlier_data(clients, interactions, case):
    body, words = BAD_FILES[case]
    before = stored_rows(interactions)
    job = run_import(clients, interactions, f"bad-{case}", body, mode="INCREMENTAL")
    assert job["status"] == "CREATE FAILED"
    for word in words:
        assert word.lower() in job["failureReason"].lower(), job["failureReason"]
    assert stored_rows(interactions) == before


def test_missing_source_object(clients, interactions):
    personalize, _ = clients
    arn = personalize.create_dataset_import_job(
        jobName="no-such-object",
        datasetArn=interactions,
        roleArn=ROLE_ARN,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/does-not-exist.csv"},
    )["datasetImportJobArn"]
    job = wait_for_job(personalize, arn)
    assert job["status"] == "CREATE FAILED"
    assert "does-not-exist.csv" in job["failureReason"]


def test_import_job_errors(clients, interactions):
    personalize, _ = clients
    with pytest.raises(personalize.exceptions.InvalidInputException, match="dataLocation"):
        personalize.create_dataset_import_job(
            jobName="http-source",
            datasetArn=interactions,
            dataSource={"dataLocation": "https://example.com/a.csv"},
        )
    with pytest.raises(personalize.exceptions.InvalidInputException, match="importMode"):
        personalize.create_dataset_import_job(
            jobName="bad-mode",
            datasetArn=interactions,
            importMode="PARTIAL",
            roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/full-1.csv"},
        )
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset_import_job(
            jobName="no-dataset",
            datasetArn=interactions.replace("imports", "nowhere"),
            roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/full-1.csv"},
        )
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_import_job(
            jobName="full-1",
            datasetArn=interactions,
            roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/full-1.csv"},
        )
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_import_job(
            datasetImportJobArn=interactions.replace(
                ":dataset/imports/INTERACTIONS", ":dataset-import-job/none"
            )
        )


def test_concurrent_import_is_resource_in_use(clients, interactions, emulator):
    personalize, s3 = clients
    big = GOOD + "".join(f"u{i},i{i % 50},{1700000000 + i},View\n" for i in range(200_000))
    s3.put_object(Bucket=SOURCE_BUCKET, Key="big.csv", Body=big.encode())
    first = personalize.create_dataset_import_job(
        jobName="slow-one",
        datasetArn=interactions,
        roleArn=ROLE_ARN,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/big.csv"},
    )["datasetImportJobArn"]
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="in progress"):
        personalize.create_dataset_import_job(
            jobName="second-one",
            datasetArn=interactions,
            roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/full-1.csv"},
        )
    assert wait_for_job(personalize, first)["status"] == "ACTIVE"


def test_folder_import_of_items(clients):
    personalize, s3 = clients
    group = personalize.create_dataset_group(name="folder-items")["datasetGroupArn"]
    schema = personalize.create_schema(name="folder-items", schema=ITEMS)["schemaArn"]
    dataset = personalize.create_dataset(
        name="items", schemaArn=schema, datasetGroupArn=group, datasetType="ITEMS"
    )["datasetArn"]
    s3.put_object(
        Bucket=SOURCE_BUCKET, Key="items/a.csv", Body=b"ITEM_ID,CATEGORY\ni1,shoes\ni2,shoes|boots\n"
    )
    s3.put_object(Bucket=SOURCE_BUCKET, Key="items/b.csv", Body=b"ITEM_ID,CATEGORY\ni3,hats\n")
    arn = personalize.create_dataset_import_job(
        jobName="folder",
        datasetArn=dataset,
        roleArn=ROLE_ARN,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/items/"},
    )["datasetImportJobArn"]
    assert wait_for_job(personalize, arn)["status"] == "ACTIVE"
    assert stored_rows(dataset) == 3
    # INCREMENTAL upserts items by ITEM_ID
    s3.put_object(
        Bucket=SOURCE_BUCKET, Key="items-update.csv", Body=b"ITEM_ID,CATEGORY\ni1,sandals\ni4,hats\n"
    )
    arn = personalize.create_dataset_import_job(
        jobName="folder-upsert",
        datasetArn=dataset,
        importMode="INCREMENTAL",
        roleArn=ROLE_ARN,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/items-update.csv"},
    )["datasetImportJobArn"]
    assert wait_for_job(personalize, arn)["status"] == "ACTIVE"
    assert stored_rows(dataset) == 4


def test_s3_drop_starts_incremental_import(clients, interactions, emulator):
    personalize, s3 = clients
    before = stored_rows(interactions)
    body = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu9,i9,1700000900,View\nu9,i8,1700000901,View\n"
    s3.put_object(
        Bucket=emulator.settings.bucket_name, Key="drop/imports/INTERACTIONS/batch-1.csv", Body=body.encode()
    )
    deadline = time.monotonic() + 60
    job = None
    while time.monotonic() < deadline and job is None:
        jobs = personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"]
        job = next((j for j in jobs if j["jobName"].startswith("drop-")), None)
        time.sleep(0.05)
    assert job is not None, "the drop did not start an import"
    finished = wait_for_job(personalize, job["datasetImportJobArn"])
    assert finished["status"] == "ACTIVE", finished.get("failureReason")
    assert finished["importMode"] == "INCREMENTAL"
    assert finished["dataSource"]["dataLocation"].endswith("drop/imports/INTERACTIONS/batch-1.csv")
    assert stored_rows(interactions) == before + 2


def test_s3_drop_through_a_presigned_put_starts_an_import(clients, interactions, emulator):
    # S3 fires "Object Created" whatever signed the write: a presigned URL (query-string SigV4) too.
    personalize, _ = clients
    s3 = boto3.client(
        "s3",
        endpoint_url=emulator.url,
        region_name=emulator.settings.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(signature_version="s3v4"),
    )
    key = "drop/imports/INTERACTIONS/presigned.csv"
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": emulator.settings.bucket_name, "Key": key}
    )
    body = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu7,i7,1700000950,View\n"
    put = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    deadline = time.monotonic() + 60
    job = None
    while time.monotonic() < deadline and job is None:
        jobs = personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"]
        described = [
            personalize.describe_dataset_import_job(datasetImportJobArn=j["datasetImportJobArn"])[
                "datasetImportJob"
            ]
            for j in jobs
            if j["jobName"].startswith("drop-")
        ]
        job = next((j for j in described if j["dataSource"]["dataLocation"].endswith(key)), None)
        time.sleep(0.05)
    assert job is not None, "the presigned drop did not start an import"
    finished = wait_for_job(personalize, job["datasetImportJobArn"])
    assert finished["status"] == "ACTIVE", finished.get("failureReason")
