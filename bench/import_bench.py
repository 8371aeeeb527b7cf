"""Import benchmark: a 1,000,000-row interactions CSV through the local emulator.

Run with ``make bench-import`` (``python -m bench.import_bench``).  Steps:

1. stream a synthetic interactions CSV (``demo.synthetic``) into a temp dir;
2. start ``python -m emulator serve`` as a subprocess on a free port;
3. with stock boto3 clients: upload the CSV to S3, create dataset group, schema,
   dataset, then a FULL dataset import job, and poll it until ACTIVE;
4. report wall time CreateDatasetImportJob -> ACTIVE, rows/s, the emulator's peak
   RSS, the machine and the date, and rewrite the "Import" section of
   ``docs/benchmarks.md``.

The clock is the client's view (what a user waits for), so it includes polling
granularity (``POLL_SECONDS``) but not the upload or resource creation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from demo.synthetic import INTERACTIONS_SCHEMA, write_interactions_csv
from demo.waiting import wait_active

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "Import"
BUCKET = "picks-bench"
KEY = "interactions.csv"
ROLE_ARN = "arn:aws:iam::000000000000:role/PicksBench"
POLL_SECONDS = 0.25
STARTUP_TIMEOUT = 60.0
DOCS_HEADER = """\
# Benchmarks

Measurements of picks running on a developer machine through the local emulator
(`python -m emulator serve`), driven by stock boto3 clients exactly as a user would.
Each section is rewritten by the script that produces it, so the numbers always come
with the machine and date they were measured on; compare runs on the same machine only.

| Benchmark | Command | Script |
|-----------|---------|--------|
| Import | `make bench-import` | `bench/import_bench.py` |
"""


@dataclass(frozen=True)
class Result:
    rows: int
    csv_bytes: int
    generate_seconds: float
    upload_seconds: float
    import_seconds: float
    peak_rss_kib: int
    peak_rss_source: str
    machine: dict[str, str]
    date: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.import_seconds if self.import_seconds > 0 else float("inf")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited with {process.returncode} before listening:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"emulator not listening on port {port} after {timeout:.0f}s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _status_kib(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _descendants(pid: int) -> list[int]:
    """Live descendant pids (the emulator may hand imports to worker processes)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for children_file in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                children = [int(child) for child in children_file.read_text().split()]
            except OSError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def peak_rss_kib(pid: int) -> tuple[int, str]:
    """Peak resident set (VmHWM) of the emulator, or of its largest live descendant if bigger."""
    best, source = _status_kib(pid, "VmHWM") or 0, "emulator process"
    for child in _descendants(pid):
        child_peak = _status_kib(child, "VmHWM") or 0
        if child_peak > best:
            best, source = child_peak, f"emulator worker process {child}"
    return best, source


def machine() -> dict[str, str]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(len(os.sched_getaffinity(0)))
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nproc": nproc,
        "cpu": cpu_model,
        "memory": memory,
    }


def _clients(endpoint_url: str) -> tuple[Any, Any]:
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"},
        # A 1M-row upload is one ~30 MB PUT; the default 60 s read timeout is fine, but be generous on
        # slow disks.
        read_timeout=300,
    )
    common = {
        "endpoint_url": endpoint_url,
        "region_name": "us-east-1",
        "config": config,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return boto3.client("s3", **common), boto3.client("personalize", **common)


def run_import(endpoint_url: str, csv_path: Path, timeout: float) -> tuple[float, float]:
    """Upload and import; return (upload seconds, CreateDatasetImportJob -> ACTIVE seconds)."""
    s3, personalize = _clients(endpoint_url)
    s3.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()
    # A single PUT rather than upload_file: multipart is not what is being measured here.
    with csv_path.open("rb") as body:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=body, ContentType="text/csv")
    upload_seconds = time.perf_counter() - started

    group = personalize.create_dataset_group(name="picks-bench-import")["datasetGroupArn"]
    wait_active(
        lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"], "dataset group", 60
    )
    schema = personalize.create_schema(name="picks-bench-interactions", schema=INTERACTIONS_SCHEMA)[
        "schemaArn"
    ]
    dataset = personalize.create_dataset(
        name="picks-bench-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    wait_active(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"], "dataset", 60)

    started = time.perf_counter()
    job = personalize.create_dataset_import_job(
        jobName="picks-bench-import",
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{BUCKET}/{KEY}"},
        roleArn=ROLE_ARN,
        importMode="FULL",
    )["datasetImportJobArn"]
    wait_active(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
        "dataset import job",
        timeout,
        poll=POLL_SECONDS,
    )
    return upload_seconds, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the emulator's session (it and any workers it started), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def benchmark(rows: int, workdir: Path, timeout: float) -> Result:
    csv_path = workdir / "interactions.csv"
    started = time.perf_counter()
    write_interactions_csv(csv_path, rows)
    generate_seconds = time.perf_counter() - started
    print(
        f"wrote {rows:,} rows ({csv_path.stat().st_size / 1e6:.1f} MB) in {generate_seconds:.1f}s", flush=True
    )

    port = free_port()
    log = workdir / "emulator.log"
    env = dict(os.environ, PORT=str(port))
    with log.open("wb") as log_handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so stop() reaches its workers too
        )
    try:
        wait_for_port(port, process, log, STARTUP_TIMEOUT)
        print(f"emulator pid {process.pid} listening on 127.0.0.1:{port}", flush=True)
        upload_seconds, import_seconds = run_import(f"http://127.0.0.1:{port}", csv_path, timeout)
        peak, source = peak_rss_kib(process.pid)
    except Exception:
        print(f"emulator log tail:\n{_tail(log)}", file=sys.stderr)
        raise
    finally:
        stop(process)
    if peak == 0:  # /proc unavailable: fall back to the reaped child's maximum
        peak, source = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "getrusage(RUSAGE_CHILDREN)"
    return Result(
        rows=rows,
        csv_bytes=csv_path.stat().st_size,
        generate_seconds=generate_seconds,
        upload_seconds=upload_seconds,
        import_seconds=import_seconds,
        peak_rss_kib=peak,
        peak_rss_source=source,
        machine=machine(),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
    )


def render_section(result: Result) -> str:
    m = result.machine
    return f"""\
## {SECTION}

One FULL dataset import job of a synthetic interactions CSV
(`USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE`, from `demo.synthetic.write_interactions_csv`)
into a fresh emulator, timed from the `CreateDatasetImportJob` call to the first
`DescribeDatasetImportJob` that reports `ACTIVE` (polled every {POLL_SECONDS} s).
Reproduce with `make bench-import`.

| Metric | Value |
|--------|-------|
| Rows | {result.rows:,} |
| CSV size | {result.csv_bytes / 1e6:.1f} MB |
| CreateDatasetImportJob → ACTIVE | {result.import_seconds:.1f} s |
| Throughput | {result.rows_per_second:,.0f} rows/s |
| Emulator peak RSS (VmHWM) | {result.peak_rss_kib / 1024:.0f} MiB ({result.peak_rss_source}) |
| S3 upload (single PUT, not in the import time) | {result.upload_seconds:.1f} s |
| Machine | {m["platform"]}, Python {m["python"]} |
| CPU | {m["cpu"]} × {m["nproc"]} (nproc), {m["memory"]} RAM |
| Date | {result.date} |
"""


def rewrite_docs(section: str, path: Path = DOCS) -> None:
    """Replace the "## Import" section (up to the next "## " heading), keeping everything else."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOCS_HEADER
    pattern = re.compile(rf"^## {re.escape(SECTION)}[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=1_800, help="seconds to wait for the import job")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (CSV and emulator log)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="picks-bench-import-"))
    try:
        result = benchmark(args.rows, workdir, args.timeout)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    section = render_section(result)
    print(section)
    if not args.no_docs:
        rewrite_docs(section)
        print(f"updated {DOCS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
