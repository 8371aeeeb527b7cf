"""The local server keeps its state across restarts (`python -m emulator serve` as a real process,
stock boto3 over HTTP): after a graceful stop and after kill -9 every resource, model, campaign,
S3 object and acknowledged event is there and recommendations answer as before; a job running
at the kill ends CREATE FAILED after the restart instead of staying in progress forever."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from demo.waiting import wait_for
from tests.e2e.test_control_plane import INTERACTIONS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RECIPE = "arn:aws:personalize:::recipe/"
SOURCE_BUCKET = "durable-input"
STARTUP_SECONDS = 90


def interactions_csv(seed: int = 5) -> bytes:
    """1,500 interactions of 60 users over 40 items; item popularity falls off steeply (I00 first)."""
    rng = random.Random(seed)
    items = [f"I{n:02d}" for n in range(40)]
    weights = [1.0 / (n + 1) for n in range(40)]
    rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE"]
    for n in range(1500):
        rows.append(f"U{rng.randrange(60):02d},{rng.choices(items, weights)[0]},{1_700_000_000 + n},View")
    return ("\n".join(rows) + "\n").encode()


class Server:
    """``python -m emulator serve`` on a free port with its state in ``data_dir``."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.process: subprocess.Popen[bytes] | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}),
        )

    def start(self) -> Server:
        env = {
            **os.environ,
            "PICKS_DATA_DIR": str(self.data_dir),
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "emulator", "serve", "--port", str(self.port)],
                env=env,
                cwd=str(REPO),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        personalize = self.client("personalize")
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert self.process.poll() is None, f"the server exited: {self.log.read_text()[-2000:]}"
            try:
                personalize.list_dataset_groups()
                return self
            except (BotoCoreError, ClientError):
                assert time.monotonic() < deadline, (
                    f"the server did not start: {self.log.read_text()[-2000:]}"
                )
                time.sleep(0.1)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(60)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(60)
            self.process = None


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "state", tmp_path / "server.log")
    yield running
    running.kill()


def load_group(server: Server) -> dict[str, str]:
    """Dataset group, schema, interactions dataset and one ACTIVE import of ``interactions_csv``."""
    personalize, s3 = server.client("personalize"), server.client("s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    s3.put_object(Bucket=SOURCE_BUCKET, Key="interactions.csv", Body=interactions_csv())
    group = personalize.create_dataset_group(name="durable")["datasetGroupArn"]
    schema = personalize.create_schema(name="durable-interactions", schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(
        name="durable-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName="durable-import",
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/interactions.csv"},
        roleArn="arn:aws:iam::000000000000:role/PicksImport",
    )["datasetImportJobArn"]
    imported = wait_for(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    )
    assert imported["status"] == "ACTIVE", imported
    solution = personalize.create_solution(
        name="durable-popular", datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
    )["solutionArn"]
    return {"group": group, "schema": schema, "dataset": dataset, "import": job, "solution": solution}


def purchase(server: Server, tracking: str, user: str, item: str) -> None:
    server.client("personalize-events").put_events(
        trackingId=tracking,
        userId=user,
        sessionId=f"session-{user}",
        eventList=[{"eventType": "Purchase", "itemId": item, "sentAt": datetime.now(UTC)}],
    )


def test_state_survives_a_graceful_stop_and_kill_9(server):
    server.start()
    personalize = server.client("personalize")
    arns = load_group(server)
    version = personalize.create_solution_version(solutionArn=arns["solution"])["solutionVersionArn"]
    trained = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    )
    assert trained["status"] == "ACTIVE", trained
    campaign = personalize.create_campaign(name="durable-popular", solutionVersionArn=version)["campaignArn"]
    assert (
        wait_for(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])["status"]
        == "ACTIVE"
    )
    tracker = personalize.create_event_tracker(name="durable", datasetGroupArn=arns["group"])
    tracking = tracker["trackingId"]
    not_purchased = personalize.create_filter(
        name="not-purchased",
        datasetGroupArn=arns["group"],
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Purchase")',
    )["filterArn"]
    assert (
        wait_for(lambda: personalize.describe_filter(filterArn=not_purchased)["filter"])["status"] == "ACTIVE"
    )

    def recommend(user: str, **filtered) -> list[str]:
        items = server.client("personalize-runtime").get_recommendations(
            campaignArn=campaign, userId=user, numResults=10, **filtered
        )["itemList"]
        return [item["itemId"] for item in items]

    popular = recommend("anyone")
    purchase(server, tracking, "buyer-1", popular[0])
    assert popular[0] not in recommend("buyer-1", filterArn=not_purchased)

    def describe_all() -> dict[str, dict]:
        return {
            "group": personalize.describe_dataset_group(datasetGroupArn=arns["group"])["datasetGroup"],
            "schema": personalize.describe_schema(schemaArn=arns["schema"])["schema"],
            "dataset": personalize.describe_dataset(datasetArn=arns["dataset"])["dataset"],
            "import": personalize.describe_dataset_import_job(datasetImportJobArn=arns["import"])[
                "datasetImportJob"
            ],
            "solution": personalize.describe_solution(solutionArn=arns["solution"])["solution"],
            "version": personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
            "campaign": personalize.describe_campaign(campaignArn=campaign)["campaign"],
            "tracker": personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])[
                "eventTracker"
            ],
            "filter": personalize.describe_filter(filterArn=not_purchased)["filter"],
        }

    described = describe_all()
    metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    etag = server.client("s3").head_object(Bucket=SOURCE_BUCKET, Key="interactions.csv")["ETag"]

    def check_everything_is_back() -> None:
        assert describe_all() == described
        assert personalize.get_solution_metrics(solutionVersionArn=version)["metrics"] == metrics
        s3 = server.client("s3")
        assert s3.head_object(Bucket=SOURCE_BUCKET, Key="interactions.csv")["ETag"] == etag
        assert (
            s3.get_object(Bucket=SOURCE_BUCKET, Key="interactions.csv")["Body"].read() == interactions_csv()
        )
        assert recommend("anyone") == popular
        # The acknowledged Purchase event is still there: the filter still excludes that item.
        assert popular[0] not in recommend("buyer-1", filterArn=not_purchased)

    assert server.stop(signal.SIGTERM) == 0
    server.start()
    check_everything_is_back()

    purchase(server, tracking, "buyer-2", popular[1])
    assert popular[1] not in recommend("buyer-2", filterArn=not_purchased)
    server.kill()  # SIGKILL: no chance to save anything more
    server.start()
    check_everything_is_back()
    assert popular[1] not in recommend("buyer-2", filterArn=not_purchased)
    assert popular[1] in recommend("buyer-3", filterArn=not_purchased)  # the filter alone excludes nothing


def guards_of(pid: int) -> list[int]:
    """Training jobs started by the server ``pid`` (their orphan guard names it)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"emulator.orphan_guard" in arguments and str(pid).encode() in arguments:
            found.append(int(entry.name))
    return found


def test_a_job_running_at_kill_9_ends_failed_after_restart(server):
    server.start()
    personalize = server.client("personalize")
    arns = load_group(server)
    version = personalize.create_solution_version(solutionArn=arns["solution"])["solutionVersionArn"]
    assert personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] in (
        "CREATE PENDING",
        "CREATE IN_PROGRESS",
    )
    assert server.process is not None
    pid = server.process.pid
    server.kill()
    server.start()
    ended = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert ended["status"] == "CREATE FAILED"
    assert "the local server stopped while this job ran" in ended["failureReason"]
    if Path("/proc").is_dir():
        deadline = time.monotonic() + 20
        while guards_of(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert guards_of(pid) == [], "the killed server's training job is still running"
    # The solution is usable again: a new version trains.
    again = personalize.create_solution_version(solutionArn=arns["solution"])["solutionVersionArn"]
    assert (
        wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=again)["solutionVersion"])[
            "status"
        ]
        == "ACTIVE"
    )
