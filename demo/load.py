"""Load the synthetic demo into a running picks server with nothing but stock boto3.

This doubles as a worked example of the client side: the same calls work against
Amazon Personalize itself (given a real bucket and role), which is the point of
the project.  ``load_demo`` is safe to re-run: resources that already exist are
looked up by name and reused.

    python -m demo.load --endpoint-url http://127.0.0.1:4566
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from demo.synthetic import DemoData, generate

BUCKET = "picks-demo-input"
DATASET_GROUP = "picks-demo"
ROLE_ARN = "arn:aws:iam::000000000000:role/PicksDemo"
DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
# Dataset type -> CSV stem written by DemoData.csv_texts().
DATASET_FILES = {"INTERACTIONS": "interactions", "ITEMS": "items", "USERS": "users"}

__all__ = ["BUCKET", "DATASET_GROUP", "DemoLoadError", "load_demo", "main"]


class DemoLoadError(RuntimeError):
    """A resource ended in a failed state or did not become ACTIVE in time."""


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        # Path-style, because virtual-hosted buckets would need DNS for <bucket>.127.0.0.1.
        s3={"addressing_style": "path"},
    )
    common = {"endpoint_url": endpoint_url, "region_name": region, "config": config, **DUMMY_CREDENTIALS}
    return boto3.client("s3", **common), boto3.client("personalize", **common)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(result_key, [])


def _find(items: Iterator[dict[str, Any]], **match: str) -> dict[str, Any]:
    for item in items:
        if all(item.get(key) == value for key, value in match.items()):
            return item
    raise DemoLoadError(f"resource reported as existing but not listed: {match}")


def _wait_active(describe: Callable[[], dict[str, Any]], what: str, timeout: float) -> dict[str, Any]:
    """Poll until status is ACTIVE; raise on a failed state or timeout.

    Starts fast because the emulator usually finishes small jobs in well under a second,
    then backs off so a slow import is not hammered.
    """
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        resource = describe()
        status = resource.get("status", "")
        if status == "ACTIVE":
            return resource
        if "FAILED" in status or status.startswith("DELETE"):
            reason = resource.get("failureReason", "no failureReason given")
            raise DemoLoadError(f"{what} is {status}: {reason}")
        if time.monotonic() + delay > deadline:
            raise DemoLoadError(f"{what} still {status or 'without status'} after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def _ensure_bucket(s3: Any, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": BUCKET}
    if region != "us-east-1":  # S3 rejects an explicit us-east-1 LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as error:
        if _error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _ensure_dataset_group(personalize: Any, timeout: float) -> str:
    try:
        arn = personalize.create_dataset_group(name=DATASET_GROUP)["datasetGroupArn"]
    except personalize.exceptions.ResourceAlreadyExistsException:
        arn = _find(_paginate(personalize, "list_dataset_groups", "datasetGroups"), name=DATASET_GROUP)[
            "datasetGroupArn"]
    _wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"],
                 f"dataset group {DATASET_GROUP}", timeout)
    return str(arn)


def _ensure_schema(personalize: Any, name: str, schema: str) -> str:
    try:
        return str(personalize.create_schema(name=name, schema=schema)["schemaArn"])
    except personalize.exceptions.ResourceAlreadyExistsException:
        return str(_find(_paginate(personalize, "list_schemas", "schemas"), name=name)["schemaArn"])


def _ensure_dataset(personalize: Any, group_arn: str, dataset_type: str, schema_arn: str, timeout: float) -> str:
    name = f"{DATASET_GROUP}-{dataset_type.lower()}"
    try:
        arn = personalize.create_dataset(
            name=name, schemaArn=schema_arn, datasetGroupArn=group_arn, datasetType=dataset_type
        )["datasetArn"]
    except personalize.exceptions.ResourceAlreadyExistsException:
        # A group holds one dataset per type, so the type (not the name) identifies it.
        listed = _paginate(personalize, "list_datasets", "datasets", datasetGroupArn=group_arn)
        arn = _find(listed, datasetType=dataset_type)["datasetArn"]
    _wait_active(lambda: personalize.describe_dataset(datasetArn=arn)["dataset"], f"dataset {name}", timeout)
    return str(arn)


def _start_import(personalize: Any, dataset_arn: str, dataset_type: str) -> str:
    """Start a FULL import of the just-uploaded CSV.

    On a re-run the earlier job's name is taken, so the new job gets a timestamp suffix: a
    FULL import replaces the dataset, which keeps a re-run with other data (``--seed``) honest.
    A job still running is reused instead, since a dataset takes one import at a time.
    """
    base = f"{DATASET_GROUP}-{dataset_type.lower()}-import"
    name = base
    for job in _paginate(personalize, "list_dataset_import_jobs", "datasetImportJobs", datasetArn=dataset_arn):
        status = job.get("status", "")
        if status in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            return str(job["datasetImportJobArn"])
        if job.get("jobName") == base:
            name = f"{base}-{time.strftime('%Y%m%d%H%M%S')}"
    return str(
        personalize.create_dataset_import_job(
            jobName=name,
            datasetArn=dataset_arn,
            dataSource={"dataLocation": f"s3://{BUCKET}/{DATASET_FILES[dataset_type]}.csv"},
            roleArn=ROLE_ARN,
            importMode="FULL",
        )["datasetImportJobArn"]
    )


def how_to(endpoint_url: str, region: str, group_arn: str) -> str:
    return f"""\
The demo is loaded. Point any AWS client at picks:

  export AWS_ENDPOINT_URL={endpoint_url}
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={region}

  aws personalize list-dataset-groups --endpoint-url {endpoint_url}

  python - <<'EOF'
  import boto3
  personalize = boto3.client("personalize", endpoint_url="{endpoint_url}", region_name="{region}",
                             aws_access_key_id="test", aws_secret_access_key="test")
  print(personalize.describe_dataset_group(datasetGroupArn="{group_arn}")["datasetGroup"]["status"])
  EOF
"""


def load_demo(
    endpoint_url: str,
    *,
    region: str = "us-east-1",
    data: DemoData | None = None,
    wait_timeout: float = 300,
    quiet: bool = False,
) -> dict[str, Any]:
    """Upload the demo CSVs and import them; return the ARNs of everything involved.

    ``wait_timeout`` bounds the wait for each resource to become ACTIVE.  Raises
    ``DemoLoadError`` (with the server's failureReason) if an import fails.
    """
    data = data if data is not None else generate()
    s3, personalize = _clients(endpoint_url, region)

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    _ensure_bucket(s3, region)
    for stem, text in data.csv_texts().items():
        s3.put_object(Bucket=BUCKET, Key=f"{stem}.csv", Body=text.encode("utf-8"), ContentType="text/csv")
    say(f"uploaded {len(data.users)} users, {len(data.items)} items, "
        f"{len(data.interactions)} interactions to s3://{BUCKET}/")

    group_arn = _ensure_dataset_group(personalize, wait_timeout)
    say(f"dataset group {group_arn}")
    schema_arns: dict[str, str] = {}
    dataset_arns: dict[str, str] = {}
    for dataset_type in DATASET_FILES:
        schema_arns[dataset_type] = _ensure_schema(
            personalize, f"{DATASET_GROUP}-{dataset_type.lower()}", data.schemas[dataset_type]
        )
        dataset_arns[dataset_type] = _ensure_dataset(
            personalize, group_arn, dataset_type, schema_arns[dataset_type], wait_timeout
        )

    # Start all imports before waiting on any, so the server can run them side by side.
    job_arns = {t: _start_import(personalize, arn, t) for t, arn in dataset_arns.items()}
    for dataset_type, job_arn in job_arns.items():
        started = time.monotonic()
        _wait_active(
            lambda job_arn=job_arn: personalize.describe_dataset_import_job(datasetImportJobArn=job_arn)[
                "datasetImportJob"],
            f"{dataset_type} import job {job_arn}",
            wait_timeout,
        )
        say(f"{dataset_type.lower()} import ACTIVE (waited {time.monotonic() - started:.1f}s)")

    say(how_to(endpoint_url, region, group_arn))
    return {
        "bucket": BUCKET,
        "datasetGroupArn": group_arn,
        "schemaArns": schema_arns,
        "datasetArns": dataset_arns,
        "datasetImportJobArns": job_arns,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load the synthetic retail demo into a picks server.")
    parser.add_argument("--endpoint-url",
                        default=os.environ.get("AWS_ENDPOINT_URL",
                                               f"http://127.0.0.1:{os.environ.get('PORT', '4566')}"))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: the demo's)")
    parser.add_argument("--wait-timeout", type=float, default=300)
    args = parser.parse_args(argv)
    data = generate(seed=args.seed) if args.seed is not None else None
    try:
        load_demo(args.endpoint_url, region=args.region, data=data, wait_timeout=args.wait_timeout)
    except DemoLoadError as error:
        print(f"demo load failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
