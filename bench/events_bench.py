"""PutEvents under load: 50 concurrent stock-boto3 clients for 60 s against one emulator process.

The emulator runs as its own process (``python -m emulator serve``), as a user would run it; the
clients are threads here.  Every acknowledged event id is remembered; afterwards the events table
is read back through the emulator's DynamoDB endpoint and compared: the benchmark fails unless
stored == acknowledged (no loss, no duplicates).  Results go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from bench.common import REPO_ROOT, clients, command_line, machine_rows, rewrite_section
from bench.import_bench import free_port, peak_rss_kib, stop, wait_for_port

SCHEMA = (
    '{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":['
    '{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},'
    '{"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":"string"}],"version":"1.0"}'
)
EVENTS_TABLE = "picks-events"


def _setup(endpoint: str) -> tuple[str, str]:
    (personalize,) = clients(endpoint, "personalize")
    group = personalize.create_dataset_group(name="events-bench")["datasetGroupArn"]
    schema = personalize.create_schema(name="events-bench", schema=SCHEMA)["schemaArn"]
    personalize.create_dataset(
        name="events-bench", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )
    tracking = personalize.create_event_tracker(name="events-bench", datasetGroupArn=group)["trackingId"]
    return group, tracking


def _client_loop(
    endpoint: str,
    tracking: str,
    worker: int,
    deadline: float,
    events_per_call: int,
    acknowledged: list[str],
    latencies: list[float],
    errors: list[str],
) -> None:
    (events,) = clients(endpoint, "personalize-events")
    rng = np.random.default_rng(worker)
    call = 0
    while time.monotonic() < deadline:
        ids = [f"w{worker}-c{call}-e{k}" for k in range(events_per_call)]
        user = f"user-{rng.integers(0, 5000)}"
        batch = [
            {
                "eventId": i,
                "eventType": "View",
                "itemId": f"item-{rng.zipf(1.3) % 10000}",
                "sentAt": datetime.now(UTC),
            }
            for i in ids
        ]
        started = time.perf_counter()
        try:
            events.put_events(trackingId=tracking, userId=user, sessionId=f"s-{user}", eventList=batch)
            latencies.append(time.perf_counter() - started)
            acknowledged.extend(ids)
        except ClientError as error:
            errors.append(error.response["Error"]["Code"])
        call += 1


def _stored_ids(endpoint: str, group: str) -> list[str]:
    (dynamodb,) = clients(endpoint, "dynamodb")
    ids: list[str] = []
    scan: dict[str, Any] = {
        "TableName": EVENTS_TABLE,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": f"U#{group}#"}},
        "ProjectionExpression": "sk",
    }
    while True:
        page = dynamodb.scan(**scan)
        ids.extend(item["sk"]["S"].rsplit("#", 1)[1] for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return ids
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run(concurrency: int, seconds: float, events_per_call: int) -> dict[str, Any]:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="picks-events-bench-", suffix=".log")[1])
    env = {**os.environ, "PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, log, 60)
        endpoint = f"http://127.0.0.1:{port}"
        group, tracking = _setup(endpoint)
        acknowledged: list[str] = []
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(
                target=_client_loop,
                args=(endpoint, tracking, w, deadline, events_per_call, acknowledged, latencies, errors),
            )
            for w in range(concurrency)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        peak, source = peak_rss_kib(process.pid)
        stored = _stored_ids(endpoint, group)
    finally:
        stop(process)
    lat = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "seconds": elapsed,
        "events_per_call": events_per_call,
        "calls": len(latencies),
        "errors": len(errors),
        "error_codes": sorted(set(errors)),
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "unique_stored": len(set(stored)),
        "lost": len(set(acknowledged) - set(stored)),
        "unacknowledged_stored": len(set(stored) - set(acknowledged)),
        "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "peak_rss_mib": peak / 1024,
        "rss_source": source,
    }


def render(result: dict[str, Any], command: str) -> str:
    r = result
    ok = r["lost"] == 0 and r["stored"] == r["unique_stored"] == r["acknowledged"]
    return (
        "## Events\n\n"
        f"PutEvents from {r['concurrency']} concurrent stock-boto3 clients (threads, one client each) for "
        f"{r['seconds']:.0f} s against one emulator process (`python -m emulator serve`), "
        f"{r['events_per_call']} events per call with explicit eventIds. Afterwards the events table is "
        "read back through the emulator's DynamoDB endpoint and compared with the acknowledged ids. "
        "Every call is one DynamoDB transaction (moto here), so this measures picks' request path plus "
        "moto, on the machine below.\n\n"
        "| Metric | Value |\n|--------|-------|\n"
        f"| Calls acknowledged | {r['calls']:,} ({r['calls'] / r['seconds']:.0f} calls/s) |\n"
        f"| Events acknowledged | {r['acknowledged']:,} "
        f"({r['acknowledged'] / r['seconds']:.0f} events/s per process) |\n"
        f"| Calls failed (client saw an error) | {r['errors']:,} {r['error_codes'] or ''} |\n"
        f"| Latency p50 / p99 | {r['p50']:.1f} ms / {r['p99']:.1f} ms |\n"
        f"| Events stored / lost / stored but unacknowledged | {r['stored']:,} / {r['lost']} / "
        f"{r['unacknowledged_stored']} |\n"
        f"| Zero lost events | {'yes' if ok else '**NO**'} |\n"
        f"| Emulator peak RSS | {r['peak_rss_mib']:.0f} MiB ({r['rss_source']}) |\n"
        f"{machine_rows()}"
        f"\nReproduce with `{command}`.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events_bench", description=__doc__)
    parser.add_argument("--clients", type=int, default=int(os.environ.get("PICKS_BENCH_CLIENTS", "50")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("PICKS_BENCH_SECONDS", "60")))
    parser.add_argument("--events-per-call", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(args.clients, args.seconds, args.events_per_call)
    command = command_line("bench-events", argv)
    rewrite_section("Events", render(result, command), command=command, script="bench/events_bench.py")
    print(render(result, command))
    return 0 if result["lost"] == 0 and result["stored"] == result["acknowledged"] else 1


if __name__ == "__main__":
    sys.exit(main())
