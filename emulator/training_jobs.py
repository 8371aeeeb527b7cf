"""The emulator's training jobs: a subprocess of the same entry point SageMaker runs on AWS.

``LocalTrainingJobs`` plays SageMaker's part of the training contract for the emulator: it copies
the ``train`` channel from S3 into a job folder, runs ``python -m training.train`` with the
``SM_*`` variables pointing there, uploads the model directory's files as they are (SageMaker's
uncompressed output, ``CompressionType`` ``NONE``) under ``<outputUri><jobName>/output/model/``
and answers with a DescribeTrainingJob-shaped result.  A failed job raises ``TrainingJobFailed``
whose error matches what the Step Functions ``.sync`` task reports (``States.TaskFailed`` with
the job description, ``FailureReason`` included, as Cause).

A job runs in its own process group under ``emulator.orphan_guard``, so it dies with the
emulator even when the emulator is killed; ``shutdown`` (the emulator stopping) ends every running
job and its children, and each ends Failed with ``INTERRUPTED_REASON``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from picks.model_artifact import MANIFEST_NAME
from picks.workflows.training_contract import CHANNEL, TrainingRequest, split_s3_uri

REPO_ROOT = Path(__file__).resolve().parents[1]  # emulator/ -> repository
COPY_CHUNK = 8 << 20
SINGLE_PUT_BYTES = 5 << 30  # S3's limit for one PutObject; larger files go up in parts
ENTRY_MODULE = "training.train"
# The failureReason of a job the local server stopped (or was killed) while it ran.
INTERRUPTED_REASON = "interrupted: the local server stopped while this job ran; create it again"
STOP_GRACE_SECONDS = 5.0


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """``signum`` to the job and everything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class TrainingJobFailed(Exception):
    """The job ended Failed or Stopped; ``step_error`` is what the workflow's Catch receives."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(job.get("FailureReason") or job.get("TrainingJobStatus", "Failed"))
        self.job = job

    def step_error(self) -> dict[str, str]:
        return {"Error": "States.TaskFailed", "Cause": json.dumps(self.job)}


class LocalTrainingJobs:
    """Runs training jobs as local subprocesses; ``s3`` is an injected boto3 S3 client."""

    def __init__(
        self,
        s3: Any,
        python: str = sys.executable,
        workdir: str | None = None,
        entry_module: str = ENTRY_MODULE,
    ) -> None:
        self._s3 = s3
        self._python = python
        self._workdir = workdir
        self._entry_module = entry_module
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._stopped: set[str] = set()
        self._interrupted: set[str] = set()
        self._closed = False
        self._lock = threading.Lock()

    def _download_channel(self, request: TrainingRequest, channel_dir: Path) -> None:
        bucket, prefix = split_s3_uri(request.inputUri)
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                relative = entry["Key"][len(prefix) :].lstrip("/")
                if not relative or relative.endswith("/"):
                    continue
                target = channel_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                # One GET per object: boto3's managed download (ranged GETs on threads) is far slower here.
                body = self._s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"]
                with target.open("wb") as handle:
                    shutil.copyfileobj(body, handle, COPY_CHUNK)

    def _upload_model(self, request: TrainingRequest, model_dir: Path) -> str:
        """Each file of the model directory at ``<S3ModelArtifacts><relative path>``, as SageMaker
        uploads uncompressed output: one PutObject per file, its body read from disk (no archive,
        no copy in memory); ``manifest.json`` last, as ``save_dir`` writes it."""
        uri = request.model_artifacts_uri
        bucket, prefix = split_s3_uri(uri)
        files = sorted(
            (path for path in model_dir.rglob("*") if path.is_file()),
            key=lambda path: (path.name == MANIFEST_NAME, str(path)),
        )
        for path in files:
            key = prefix + path.relative_to(model_dir).as_posix()
            if path.stat().st_size > SINGLE_PUT_BYTES:
                self._s3.upload_file(str(path), bucket, key)
                continue
            with path.open("rb") as body:
                self._s3.put_object(Bucket=bucket, Key=key, Body=body)
        return uri

    def run(self, request: TrainingRequest) -> dict[str, Any]:
        started = time.time()
        root = Path(tempfile.mkdtemp(prefix=f"picks-{request.jobName}-", dir=self._workdir))
        try:
            channel_dir = root / "input" / "data" / CHANNEL
            model_dir, output_dir = root / "model", root / "output"
            for folder in (channel_dir, model_dir, output_dir):
                folder.mkdir(parents=True, exist_ok=True)
            self._download_channel(request, channel_dir)
            env = {
                **os.environ,
                "SM_CHANNEL_TRAIN": str(channel_dir),
                "SM_MODEL_DIR": str(model_dir),
                "SM_OUTPUT_DIR": str(output_dir),
                "SM_HPS": "{}",
                "SM_CURRENT_INSTANCE_TYPE": request.instanceType,
                "OPENBLAS_NUM_THREADS": "1",  # implicit parallelises itself
            }
            with self._lock:
                if self._closed:
                    raise TrainingJobFailed(self._description(request, "Failed", started, INTERRUPTED_REASON))
                if request.jobName in self._stopped:
                    raise TrainingJobFailed(
                        self._description(request, "Stopped", started, "stopped before start")
                    )
                command = [
                    self._python,
                    "-m",
                    "emulator.orphan_guard",
                    str(os.getpid()),
                    self._entry_module,
                ]
                process = subprocess.Popen(command, env=env, cwd=str(REPO_ROOT), start_new_session=True)
                self._running[request.jobName] = process
            try:
                code = process.wait(timeout=request.maxRuntimeSeconds)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
                raise TrainingJobFailed(
                    self._description(
                        request, "Failed", started, "MaxRuntimeExceeded: the job ran out of time"
                    )
                ) from None
            finally:
                with self._lock:
                    self._running.pop(request.jobName, None)
            if request.jobName in self._interrupted:
                raise TrainingJobFailed(self._description(request, "Failed", started, INTERRUPTED_REASON))
            if request.jobName in self._stopped:
                raise TrainingJobFailed(self._description(request, "Stopped", started, "stopped by request"))
            if code != 0:
                failure = output_dir / "failure"
                reason = (
                    failure.read_text().strip()
                    if failure.is_file()
                    else f"training exited with status {code}"
                )
                raise TrainingJobFailed(self._description(request, "Failed", started, reason))
            self._upload_model(request, model_dir)
            return self._description(request, "Completed", started)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @staticmethod
    def _description(
        request: TrainingRequest, status: str, started: float, reason: str | None = None
    ) -> dict[str, Any]:
        elapsed = int(time.time() - started)
        job: dict[str, Any] = {
            "TrainingJobName": request.jobName,
            "TrainingJobStatus": status,
            "ResourceConfig": {"InstanceType": request.instanceType, "InstanceCount": 1},
            "TrainingTimeInSeconds": elapsed,
            "BillableTimeInSeconds": elapsed,
        }
        if status == "Completed":
            job["ModelArtifacts"] = {"S3ModelArtifacts": request.model_artifacts_uri}
        if reason:
            job["FailureReason"] = reason
        return job

    def stop(self, job_name: str) -> None:
        with self._lock:
            self._stopped.add(job_name)
            process = self._running.get(job_name)
        if process is not None:
            _signal_group(process, signal.SIGTERM)

    def shutdown(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """End every running job and what it started (SIGTERM, then SIGKILL after ``grace_seconds``)
        and wait for them; later jobs fail at once.  The emulator calls this when it stops."""
        with self._lock:
            self._closed = True
            running = dict(self._running)
            self._interrupted.update(running)
        for process in running.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running.values():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
