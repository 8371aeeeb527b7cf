"""Training subprocesses never outlive the emulator (defect 11): a graceful stop ends the job and
what it started, and the job dies with a killed emulator too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from picks.workflows.training_contract import TrainingRequest

from emulator.training_jobs import INTERRUPTED_REASON, LocalTrainingJobs, TrainingJobFailed

REPO = Path(__file__).resolve().parents[2]
SLEEPY = "tests.unit.sleepy_training"
REQUEST = TrainingRequest(
    jobName="sleepy", instanceType="ml.m5.xlarge", inputUri="s3://jobs/in/", outputUri="s3://jobs/out/"
)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc").is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_pids(path: Path, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the training job never started"
        time.sleep(0.05)
    return [int(pid) for pid in path.read_text().split()]


def wait_until_gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_shutdown_ends_running_job_and_its_children_and_fails_it(tmp_path, monkeypatch):
    pids_file = tmp_path / "pids"
    monkeypatch.setenv("SLEEPY_PIDS", str(pids_file))
    outcome: dict[str, object] = {}
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="jobs")
        jobs = LocalTrainingJobs(s3, entry_module=SLEEPY)

        def run() -> None:
            try:
                outcome["job"] = jobs.run(REQUEST)
            except TrainingJobFailed as failure:
                outcome["failure"] = failure.job

        worker = threading.Thread(target=run)
        worker.start()
        pids = wait_for_pids(pids_file)
        try:
            jobs.shutdown()
            worker.join(30)
            leftover = wait_until_gone(pids)
        finally:
            kill_leftovers(pids)
        with pytest.raises(TrainingJobFailed, match="the local server stopped"):
            jobs.run(REQUEST)  # a stopped server starts no more jobs
    assert not worker.is_alive()
    assert leftover == []
    assert outcome["failure"]["TrainingJobStatus"] == "Failed"
    assert outcome["failure"]["FailureReason"] == INTERRUPTED_REASON


PARENT = textwrap.dedent("""
    import boto3
    from moto import mock_aws
    from emulator.training_jobs import LocalTrainingJobs
    from picks.workflows.training_contract import TrainingRequest

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="jobs")
        LocalTrainingJobs(s3, entry_module="tests.unit.sleepy_training").run(TrainingRequest(
            jobName="orphan", instanceType="ml.m5.xlarge", inputUri="s3://jobs/in/", outputUri="s3://jobs/out/"))
""")


def test_job_dies_when_the_server_is_killed(tmp_path):
    pids_file = tmp_path / "pids"
    env = {
        **os.environ,
        "SLEEPY_PIDS": str(pids_file),
    }
    server = subprocess.Popen([sys.executable, "-c", PARENT], env=env, cwd=str(REPO))
    try:
        pids = wait_for_pids(pids_file)
    finally:
        server.kill()  # SIGKILL: the server gets no chance to clean up
        server.wait()
    try:
        leftover = wait_until_gone(pids)
    finally:
        kill_leftovers(pids)
    assert leftover == [], "the training job (or its child) outlived the killed server"
