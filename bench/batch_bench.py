"""Batch inference benchmark: users × a catalog, top-25, through CreateBatchInferenceJob.

Run with ``make bench-batch`` (``python -m bench.batch_bench``; ``--users`` / ``--items`` /
``--per-user`` to scale).  Steps:

1. write a synthetic interactions CSV: every user ``--per-user`` distinct items (Zipf-like
   popularity, every item interacted with), increasing timestamps;
2. in an in-process emulator, with stock boto3: import it, train an ``aws-user-personalization``
   solution version (default hyperparameters) through the API, upload one JSON Lines file with
   every user (``{"userId": ...}``), run ``CreateBatchInferenceJob`` (numResults 25) → ACTIVE,
   timed from the create call to ACTIVE as a client sees it (staging, the job subprocess, the
   output's upload), its peak memory read from ``/proc`` (VmHWM of the job's processes, polled);
3. in the same run, a bare numpy baseline on the same factors: per block of users one matrix
   product, ``argpartition`` and a sort of the 25 best, no I/O, nothing else;
4. check the output (a line per user, 25 items each), report users/s, the ratio of the job's wall
   time to the baseline's and peak memory, and rewrite the "Batch inference" section of
   ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Flow, command_line, emulator, machine_rows, prose, rewrite_section, wait_active

SECTION = "Batch inference"
RECIPE = "aws-user-personalization"
SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
        ],
        "version": "1.0",
    }
)
BUCKET = "picks-bench"
ROLE_ARN = "arn:aws:iam::000000000000:role/PicksBench"
TARGET_RATIO = 1.5
TARGET_PEAK_MIB = 2048
K = 25
BASELINE_BLOCK = 256


def write_interactions(path: Path, users: int, items: int, per_user: int, seed: int = 14) -> int:
    """``per_user`` distinct items per user, Zipf-like; the first ``items`` rows cover every item."""
    rng = np.random.default_rng(seed)
    weight = (np.arange(items) + 10.0) ** -0.9
    cumulative = np.cumsum(weight / weight.sum())
    rows = 0
    with path.open("w") as handle:
        handle.write("USER_ID,ITEM_ID,TIMESTAMP\n")
        for start in range(0, users, 50_000):
            count = min(50_000, users - start)
            drawn = np.searchsorted(cumulative, rng.random((count, per_user * 2)))
            drawn = np.minimum(drawn, items - 1)
            user = np.arange(start, start + count)
            drawn[:, 0] = np.where(user < items, user % items, drawn[:, 0])  # every item somewhere
            lines: list[str] = []
            for row, picks in enumerate(drawn.tolist()):
                unique = list(dict.fromkeys(picks))[:per_user]
                base = 1_600_000_000 + (start + row) * 10
                lines.extend(f"u{start + row},i{item},{base + n}\n" for n, item in enumerate(unique))
            rows += len(lines)
            handle.write("".join(lines))
    return rows


def write_users(path: Path, users: int) -> None:
    with path.open("w") as handle:
        for start in range(0, users, 100_000):
            handle.write(
                "".join(f'{{"userId": "u{u}"}}\n' for u in range(start, min(users, start + 100_000)))
            )


class JobMemory(threading.Thread):
    """Polls ``/proc`` for this process' descendants running ``training.train`` (the batch job and
    its guard): the largest VmHWM (peak resident set) seen, in MiB."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mib = 0.0
        self.stop = threading.Event()

    @staticmethod
    def _descendants() -> list[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry)] = int(fields[1])
                except (OSError, IndexError, ValueError):
                    continue
        found, frontier = [], [os.getpid()]
        while frontier:
            pid = frontier.pop()
            children = [child for child, parent in parents.items() if parent == pid]
            found.extend(children)
            frontier.extend(children)
        return found

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self._descendants():
                try:
                    if b"training.train" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_mib = max(self.peak_mib, int(line.split()[1]) / 1024)
                except OSError:
                    continue
            self.stop.wait(0.2)


def numpy_baseline(
    item_factors: np.ndarray, user_factors: np.ndarray, k: int = K
) -> tuple[float, np.ndarray]:
    """Seconds for the bare top-``k`` of every user: a block product, argpartition, a sort."""
    users = len(user_factors)
    out = np.empty((users, k), dtype=np.int64)
    buffer = np.empty((BASELINE_BLOCK, len(item_factors)), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, users, BASELINE_BLOCK):
        block = user_factors[start : start + BASELINE_BLOCK]
        scores = np.matmul(block, item_factors.T, out=buffer[: len(block)])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(scores, part, axis=1)
        out[start : start + len(block)] = np.take_along_axis(part, np.argsort(-best, axis=1), axis=1)
    return time.perf_counter() - started, out


def _model_prefix(s3: Any, bucket: str) -> str:
    """The trained model's prefix in the picks bucket (its manifest.json, under ``models/``)."""
    paginator = s3.get_paginator("list_objects_v2")
    keys = [e["Key"] for page in paginator.paginate(Bucket=bucket) for e in page.get("Contents", [])]
    manifests = [
        k for k in keys if k.endswith("manifest.json") and k.split("/")[0] in ("models", "training-output")
    ]
    if not manifests:
        raise RuntimeError(f"no trained model found among {[k for k in keys if k.endswith('.json')][:20]}")
    return manifests[0][: -len("manifest.json")]


def run(users: int, items: int, per_user: int, workdir: Path) -> dict[str, Any]:
    from picks.model_artifact import load_s3

    result: dict[str, Any] = {"users": users, "items": items, "per_user": per_user}
    csv_path, input_path = workdir / "interactions.csv", workdir / "users.json"
    result["rows"] = write_interactions(csv_path, users, items, per_user)
    write_users(input_path, users)
    with emulator() as server:
        flow = Flow(server.url, "batch-bench", BUCKET)
        flow.upload("interactions.csv", csv_path)
        flow.create_interactions_dataset(SCHEMA)
        result["import_seconds"] = flow.import_interactions("interactions.csv", timeout=3600)
        version, result["train_seconds"] = flow.train("batch-bench", RECIPE, timeout=7200)
        with input_path.open("rb") as body:
            flow.s3.put_object(Bucket=BUCKET, Key="batch/users.json", Body=body)
        memory = JobMemory()
        memory.start()
        started = time.perf_counter()
        arn = flow.personalize.create_batch_inference_job(
            jobName="batch-bench",
            solutionVersionArn=version,
            jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/batch/users.json"}},
            jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/batch-out/"}},
            roleArn=ROLE_ARN,
            numResults=K,
        )["batchInferenceJobArn"]
        job = wait_active(
            lambda: flow.personalize.describe_batch_inference_job(batchInferenceJobArn=arn)[
                "batchInferenceJob"
            ],
            "batch inference job",
            7200,
            poll=0.5,
        )
        result["job_seconds"] = time.perf_counter() - started
        memory.stop.set()
        memory.join()
        result["job_peak_mib"] = memory.peak_mib
        result["job_status"] = job["status"]
        output = flow.s3.get_object(Bucket=BUCKET, Key="batch-out/users.json.out")["Body"]
        lines = errors = short = 0
        for raw in output.iter_lines():
            line = json.loads(raw)
            lines += 1
            errors += line.get("error") is not None
            short += line.get("error") is None and len(line["output"]["recommendedItems"]) != K
        result.update(output_lines=lines, output_errors=errors, output_short=short)
        artifact = load_s3(
            flow.s3, server.settings.bucket_name, _model_prefix(flow.s3, server.settings.bucket_name)
        )
        item_factors = np.ascontiguousarray(artifact.arrays["item_factors"], dtype=np.float32)
        user_factors = np.ascontiguousarray(artifact.arrays["user_factors"], dtype=np.float32)
        result["factors"] = int(item_factors.shape[1])
        result["model_users"], result["model_items"] = len(user_factors), len(item_factors)
    result["baseline_seconds"], _ = numpy_baseline(item_factors, user_factors)
    result["users_per_second"] = users / result["job_seconds"]
    result["ratio"] = result["job_seconds"] / result["baseline_seconds"]
    return result


def section(result: dict[str, Any], command: str) -> str:
    r = result
    ratio_ok = "met" if r["ratio"] <= TARGET_RATIO else f"missed by {r['ratio'] / TARGET_RATIO:.2f}×"
    memory_ok = "met" if r["job_peak_mib"] <= TARGET_PEAK_MIB else "missed"
    job_rate = f"{r['job_seconds']:.1f} s ({r['users_per_second']:,.0f} users/s)"
    base_rate = f"{r['baseline_seconds']:.1f} s ({r['users'] / r['baseline_seconds']:,.0f} users/s)"
    output = f"{r['output_lines']:,} lines, {r['output_errors']} errors, {r['output_short']} short lists"
    api = f"{r['import_seconds']:.1f} s / {r['train_seconds']:.1f} s"
    lines = [
        f"## {SECTION}",
        "",
        *prose(
            f"`{command}`: {r['users']:,} users × a {r['items']:,}-item catalog, top-{K}, through a",
            "stock-boto3 `CreateBatchInferenceJob` on the emulator (the job is a subprocess of",
            "`training.train`, the entry point SageMaker runs).  The model is trained through the API",
            f"first (`{RECIPE}`, default hyperparameters, {r['factors']} factors) on {r['rows']:,}",
            f"synthetic interactions ({r['per_user']} per user).  The baseline is bare numpy on the same",
            f"factors in the same run: per block of {BASELINE_BLOCK} users one matrix product,",
            "`argpartition` and a sort of the 25 best; no I/O, no normalisation, no softmax scores",
            "(numpy's own BLAS threads, the partition on one).",
        ),
        "",
        "| | |",
        "|---|---|",
        machine_rows().rstrip("\n"),
        f"| Job: CreateBatchInferenceJob → ACTIVE | {job_rate} |",
        f"| Bare numpy baseline | {base_rate} |",
        f"| Ratio job / baseline (target ≤ {TARGET_RATIO}×) | {r['ratio']:.2f}× ({ratio_ok}) |",
        f"| Job's peak memory (VmHWM, target ≤ 2 GB) | {r['job_peak_mib']:,.0f} MiB ({memory_ok}) |",
        f"| Output | {output} |",
        f"| Import / training through the API (for the record) | {api} |",
        "",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=int(os.environ.get("PICKS_BENCH_USERS", 1_000_000)))
    parser.add_argument("--items", type=int, default=int(os.environ.get("PICKS_BENCH_ITEMS", 50_000)))
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--no-docs", action="store_true", help="print the results, leave docs/ alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="picks-batch-bench-") as folder:
        result = run(args.users, args.items, args.per_user, Path(folder))
    print(json.dumps(result, indent=1))
    if not args.no_docs:
        command = command_line("bench-batch", argv)
        rewrite_section(SECTION, section(result, command), command=command, script="bench/batch_bench.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
