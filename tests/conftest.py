"""Shared fixtures: fake credentials, moto-backed services, the emulator over HTTP."""

from __future__ import annotations

import os

# Set before any boto3 client or Powertools object is created: tests never reach AWS.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        # One account everywhere: moto's (STS GetCallerIdentity, assumed roles) is the one in picks' ARNs.
        "MOTO_ACCOUNT_ID": "000000000000",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "picks-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "picks-tests",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n == "AWS_PROFILE"]:
    del os.environ[_name]

from typing import TYPE_CHECKING, Any  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto import mock_aws  # noqa: E402
from picks import services as picks_services  # noqa: E402
from picks.dal.event_store import events_table_definition  # noqa: E402
from picks.dal.resources import table_definition  # noqa: E402
from picks.settings import Settings  # noqa: E402

from emulator.lambda_bridge import invoke  # noqa: E402
from emulator.server import Emulator  # noqa: E402
from emulator.training_jobs import LocalTrainingJobs  # noqa: E402
from emulator.workflow_runner import LocalWorkflowRunner  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"
BUCKET = "picks-test-data"
TABLE = "picks-test-resources"
EVENTS_TABLE = "picks-test-events"


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def services(aws: boto3.session.Session) -> Iterator[picks_services.Services]:
    """Handlers' dependencies backed by moto, with the in-process workflow runner."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("dynamodb").create_table(**table_definition(TABLE))
    aws.client("dynamodb").create_table(**events_table_definition(EVENTS_TABLE))
    training_jobs = LocalTrainingJobs(aws.client("s3"))
    runner = LocalWorkflowRunner(invoke, training_jobs=training_jobs)
    settings = Settings(
        region=REGION,
        account="000000000000",
        table_name=TABLE,
        bucket_name=BUCKET,
        events_table_name=EVENTS_TABLE,
    )
    built = picks_services.build(settings, session=aws, workflows=runner, training_jobs=training_jobs)
    picks_services.set_services(built)
    yield built
    runner.wait_idle()
    runner.shutdown()
    picks_services.set_services(None)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = Emulator(port=0).start()
    yield server
    server.wait_idle()
    server.stop()


def client_for(emulator: Emulator, service: str) -> Any:
    """A stock boto3 client pointed at the emulator; one attempt so errors surface at once."""
    return boto3.client(
        service,
        endpoint_url=emulator.url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    """Every test starts with this process's caches empty and leaves them so (``picks.cache``)."""
    from picks import cache

    cache.reset()
    yield
    cache.reset()
