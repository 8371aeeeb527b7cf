"""Helpers the accuracy, training and latency benchmarks share.

* an in-process emulator (``emulator.server.Emulator(port=0)``) and stock boto3 clients for it;
* the dataset group → schema → dataset → import job → solution version flow, polled like a user;
* the machine description and the rewriting of one ``## <section>`` of ``docs/benchmarks.md``
  (plus its row in the table of benchmarks at the top).

``bench/import_bench.py`` predates this module and keeps its own copies; ``machine`` is reused.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import resource
import shlex
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

# What the emulator sets for itself, set before any picks module (and its Powertools objects) is imported.
for _name, _value in (
    ("POWERTOOLS_TRACE_DISABLED", "true"),
    ("POWERTOOLS_METRICS_DISABLED", "true"),
    ("POWERTOOLS_LOG_LEVEL", "WARNING"),
):
    os.environ.setdefault(_name, _value)

from bench.import_bench import DOCS_HEADER, machine  # noqa: E402
from demo.waiting import wait_active  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "DOCS",
    "REPO_ROOT",
    "ROLE_ARN",
    "Flow",
    "command_line",
    "emulator",
    "machine",
    "machine_rows",
    "peak_rss",
    "rewrite_section",
    "today",
    "wait_active",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOAD_AT_START = os.getloadavg()  # other work on the machine shows up here (the benchmarks' own work too)
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
ROLE_ARN = "arn:aws:iam::000000000000:role/PicksBench"
RECIPE_PREFIX = "arn:aws:personalize:::recipe/"


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def command_line(make_target: str, argv: list[str] | None) -> str:
    """The command that reproduces this run: the make target, or the module with its arguments."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        return f"make {make_target}"
    module = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "?"
    return f"python -m bench.{module} " + " ".join(shlex.quote(a) for a in args)


def prose(*parts: str, width: int = 100) -> list[str]:
    """One Markdown paragraph from ``parts`` (joined with spaces), wrapped at ``width`` characters."""
    return textwrap.wrap(" ".join(parts), width, break_long_words=False, break_on_hyphens=False)


def machine_rows(info: dict[str, str] | None = None) -> str:
    """Markdown table rows: machine, CPU, memory, Python, date."""
    m = info or machine()
    start, end = LOAD_AT_START, os.getloadavg()
    return (
        f"| Machine | {m['platform']} |\n"
        f"| CPU | {m['cpu']} × {m['nproc']} (nproc), {m['memory']} RAM |\n"
        f"| Python | {m['python']} |\n"
        f"| Date | {today()} |\n"
        "| Load average (1/5/15 min), start → end of the run | "
        f"{start[0]:.1f} / {start[1]:.1f} / {start[2]:.1f} → {end[0]:.1f} / {end[1]:.1f} / {end[2]:.1f} "
        "(includes the benchmark itself; other work on the machine "
        "adds noise) |\n"
    )


def peak_rss() -> dict[str, float]:
    """Peak resident set in MiB: this process (emulator + benchmark) and its largest reaped child."""
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self": self_kib / 1024, "children": child_kib / 1024}


# --- docs/benchmarks.md ----------------------------------------------------------------------------


def _ensure_table_row(text: str, name: str, command: str, script: str) -> str:
    row = f"| {name} | `{command}` | `{script}` |"
    lines = text.split("\n")
    header = next((i for i, line in enumerate(lines) if line.startswith("| Benchmark |")), None)
    if header is None:
        return text
    end = header + 2  # header + separator
    while end < len(lines) and lines[end].startswith("|"):
        if lines[end].startswith(f"| {name} |"):
            lines[end] = row
            return "\n".join(lines)
        end += 1
    lines.insert(end, row)
    return "\n".join(lines)


def rewrite_section(title: str, body: str, *, command: str, script: str, path: Path = DOCS) -> None:
    """Replace ``## {title}`` (up to the next ``## ``) with ``body``; add the section's table row."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOCS_HEADER
    text = _ensure_table_row(text, title, command, script)
    pattern = re.compile(rf"^## {re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: body.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# --- the emulator and the flow ----------------------------------------------------------------------


@contextmanager
def emulator() -> Iterator[Any]:
    """An in-process emulator on a free port (moto + the picks handlers), stopped afterwards."""
    from emulator.server import Emulator

    server = Emulator(port=0).start()
    try:
        yield server
    finally:
        try:
            server.wait_idle(30)
        except Exception:  # noqa: BLE001 - a failed workflow must not hide the benchmark's own error
            pass
        server.stop()


def clients(endpoint_url: str, *services: str) -> list[Any]:
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"},
        read_timeout=900,
        connect_timeout=30,
    )
    common = {
        "endpoint_url": endpoint_url,
        "region_name": "us-east-1",
        "config": config,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return [boto3.client(service, **common) for service in services]


class Flow:
    """One dataset group driven through stock boto3 clients, with the client's view of each step's time."""

    def __init__(self, endpoint_url: str, name: str, bucket: str = "picks-bench") -> None:
        self.s3, self.personalize = clients(endpoint_url, "s3", "personalize")
        self.name = name
        self.bucket = bucket
        self.group_arn = ""
        self.dataset_arn = ""

    def upload(self, key: str, body: bytes | Path) -> float:
        """One PUT of the CSV; returns seconds."""
        try:
            self.s3.create_bucket(Bucket=self.bucket)
        except self.s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        started = time.perf_counter()
        if isinstance(body, Path):
            with body.open("rb") as handle:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=handle, ContentType="text/csv")
        else:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=io.BytesIO(body), ContentType="text/csv")
        return time.perf_counter() - started

    def create_interactions_dataset(self, schema: str) -> None:
        p = self.personalize
        self.group_arn = p.create_dataset_group(name=self.name)["datasetGroupArn"]
        wait_active(
            lambda: p.describe_dataset_group(datasetGroupArn=self.group_arn)["datasetGroup"],
            "dataset group",
            60,
        )
        schema_arn = p.create_schema(name=f"{self.name}-interactions", schema=schema)["schemaArn"]
        self.dataset_arn = p.create_dataset(
            name=f"{self.name}-interactions",
            schemaArn=schema_arn,
            datasetGroupArn=self.group_arn,
            datasetType="INTERACTIONS",
        )["datasetArn"]
        wait_active(lambda: p.describe_dataset(datasetArn=self.dataset_arn)["dataset"], "dataset", 60)

    def import_interactions(self, key: str, timeout: float) -> float:
        """CreateDatasetImportJob → ACTIVE, seconds."""
        p = self.personalize
        started = time.perf_counter()
        job = p.create_dataset_import_job(
            jobName=f"{self.name}-import",
            datasetArn=self.dataset_arn,
            dataSource={"dataLocation": f"s3://{self.bucket}/{key}"},
            roleArn=ROLE_ARN,
            importMode="FULL",
        )["datasetImportJobArn"]
        wait_active(
            lambda: p.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
            "dataset import job",
            timeout,
        )
        return time.perf_counter() - started

    def create_solution(self, name: str, recipe: str, **solution: Any) -> str:
        return self.personalize.create_solution(
            name=name,
            datasetGroupArn=self.group_arn,
            recipeArn=RECIPE_PREFIX + recipe,
            performAutoTraining=False,
            **solution,
        )["solutionArn"]

    def start_version(self, solution_arn: str) -> str:
        return self.personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]

    def wait_version(self, version_arn: str, timeout: float) -> dict[str, Any]:
        p = self.personalize
        return wait_active(
            lambda: p.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"],
            f"solution version {version_arn}",
            timeout,
        )

    def train(self, name: str, recipe: str, timeout: float, **solution: Any) -> tuple[str, float]:
        """CreateSolution + CreateSolutionVersion; (version ARN, CreateSolutionVersion → ACTIVE seconds)."""
        solution_arn = self.create_solution(name, recipe, **solution)
        started = time.perf_counter()
        version = self.start_version(solution_arn)
        self.wait_version(version, timeout)
        return version, time.perf_counter() - started

    def metrics(self, version_arn: str) -> dict[str, float]:
        return dict(self.personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"])

    def training_channel(self, version_arn: str, picks_bucket: str, destination: Path) -> Path:
        """Download the ``train`` channel the version trained on (``training-input/<job>/``)."""
        from picks.workflows.declaration import TRAINING_INPUT_PREFIX

        job = self.personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]
        # The job name is internal; find the channel whose config.json names this version.
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=picks_bucket, Prefix=TRAINING_INPUT_PREFIX, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                config_key = prefix["Prefix"] + "config.json"
                config = json.loads(self.s3.get_object(Bucket=picks_bucket, Key=config_key)["Body"].read())
                if config.get("solutionVersionArn") != job["solutionVersionArn"]:
                    continue
                for listing in paginator.paginate(Bucket=picks_bucket, Prefix=prefix["Prefix"]):
                    for entry in listing.get("Contents", []):
                        target = destination / entry["Key"][len(prefix["Prefix"]) :]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with target.open("wb") as handle:
                            self.s3.download_fileobj(picks_bucket, entry["Key"], handle)
                return destination
        raise RuntimeError(f"no training channel found for {version_arn}")
