"""Latency benchmark: GetRecommendations on a 100k-item User-Personalization campaign.

Run with ``make bench-latency`` (``python -m bench.latency_bench``).  Steps:

1. write a synthetic interactions CSV (``bench.movielens_like``: 50,000 users, 100,000 items,
   2.5M distinct (user, item) rows, Zipf-like popularity flat enough that ~all items occur,
   heavy-tailed history lengths) and, through an in-process emulator with stock boto3, import it,
   train an ``aws-user-personalization`` solution version (default hyperparameters but 64 factors
   and ``exclude_interacted_items=true``) and deploy a campaign: the model served is exactly what
   the API produces (factors, histories, co-occurrence neighbours);
2. (a) in-process: call ``functions/runtime/handler.lambda_handler`` with API Gateway events
   (``emulator.lambda_bridge.api_gateway_event``), warm, for random trained users, timing each call:
   * *5 live events*: ``picks.runtime.recent_interactions`` is monkeypatched to return 5 recent
     item ids per user; every request then folds the user in (one ALS solve over history +
     events) before scoring — the model's cost of live events, without the event store;
   * *no live events*: patched to return ``[]``: the stored user vector is used;
   * *PutEvents*: a few users really send 5 events each through a stock ``personalize-events``
     client and the unpatched runtime reads them back (event-store query included); and the
     unpatched lookup for users without events;
   * *the floor*: the bare numpy work of a request, in turns with the cases above: the served model's
     own ``item_factors`` @ a sampled user's stored vector, then the top 25 (``np.argpartition`` and a
     sort of those 25), with numpy's default BLAS pool and with one thread; each case is reported as
     a ratio to it;
3. (b) over HTTP: the same requests, sequentially, through the emulator's port with a stock boto3
   ``personalize-runtime`` client (signing, HTTP, the werkzeug server, parsing included);
4. when a target is missed, profile the in-process handler with cProfile and list the hot spots;
5. rewrite the "Latency" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import movielens_like
from bench.common import (
    Flow,
    clients,
    command_line,
    emulator,
    machine_rows,
    prose,
    rewrite_section,
    wait_active,
)

if TYPE_CHECKING:
    from collections.abc import Callable

SECTION = "Latency"
RECIPE = "aws-user-personalization"
USERS, ITEMS, ROWS = 50_000, 100_000, 2_500_000
FACTORS = 64
ZIPF_EXPONENT = 1.0  # flatter than MovieLens so that nearly every one of the 100k items occurs
LIVE_EVENTS = 5
NUM_RESULTS = 25
TARGET_P50_MS, TARGET_P99_MS = 2.0, 10.0
TARGET_FLOOR_RATIO = 1.5  # p50 of the live-events case over the floor's p50
BLOCKS = 10  # in-process cases alternate in this many blocks (HTTP: half as many)
PUT_USERS = 200  # users who send real events (5 each): 1,000 events in the store
PUT_REQUESTS, PUT_HTTP_REQUESTS = 1_000, 300
CASE_LIVE = "5 live events, fold-in (`recent_interactions` patched)"
CASE_LIVE_1T = "5 live events, fold-in, BLAS limited to 1 thread (`threadpool_limits`)"
CASE_NONE = "no live events (`recent_interactions` patched to `[]`)"
CASE_PUT = "5 live events sent with PutEvents (real `recent_interactions`: event-store query)"
CASE_PUT_NONE = "no events sent (real `recent_interactions`: empty event-store query)"
FLOOR = "floor: `item_factors @ user_vector` + top 25, numpy alone"
FLOOR_1T = "floor, BLAS limited to 1 thread"


@dataclass
class Latencies:
    label: str
    ms: np.ndarray

    def pct(self, q: float) -> float:
        return float(np.percentile(self.ms, q))


@dataclass
class Result:
    shape: movielens_like.Shape
    train_seconds: float
    model: dict[str, Any]
    sampled_history: dict[str, float]
    in_process: list[Latencies]
    http: list[Latencies]
    floor: dict[str, Latencies]  # in-process case label -> the floor measured in turns with it
    profile: str = ""
    profile_label: str = ""
    notes: list[str] = field(default_factory=list)


def _handler_caller(campaign_arn: str) -> Callable[[str], float]:
    """A function: user id -> milliseconds spent in ``lambda_handler`` for one GetRecommendations."""
    from picks.routes import FUNCTIONS, route_for

    from emulator.lambda_bridge import LocalContext, api_gateway_event
    from functions.runtime import handler

    route = route_for("POST", "/recommendations")
    assert route is not None
    declared = FUNCTIONS["runtime"]
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}

    def call(user: str) -> float:
        body = json.dumps({"campaignArn": campaign_arn, "userId": user, "numResults": NUM_RESULTS}).encode()
        event = api_gateway_event(route, "POST", "/recommendations", headers, body, "127.0.0.1")
        context = LocalContext("runtime", declared.memory_mb, declared.timeout_s)
        started = time.perf_counter_ns()
        response = handler.lambda_handler(event, context)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if response["statusCode"] != 200:
            raise RuntimeError(f"GetRecommendations failed: {response}")
        return elapsed

    return call


def _floor_caller(model: Any) -> Callable[[str], float]:
    """A function: user id -> milliseconds numpy alone needs for the request's core: the product of
    the served item factors with the user's stored vector, then the best ``NUM_RESULTS`` in order."""
    item_factors, user_factors, index = model.item_factors, model.user_factors, model.user_index
    k = NUM_RESULTS

    def call(user: str) -> float:
        vector = user_factors[index[user]]
        started = time.perf_counter_ns()
        scores = item_factors @ vector
        best = np.argpartition(scores, -k)[-k:]
        best = best[np.argsort(-scores[best])]
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if len(best) != k:
            raise RuntimeError("the floor ranked fewer items than asked")
        return elapsed

    return call


def _measure(
    call: Callable[[str], float], users: list[str], rng: np.random.Generator, warmup: int, requests: int
) -> np.ndarray:
    for user in rng.choice(users, warmup).tolist():
        call(user)
    return np.array([call(user) for user in rng.choice(users, requests).tolist()], dtype=np.float64)


def _blas(threads: int | None) -> Any:
    """``threadpool_limits(threads, "blas")``, or nothing when ``threads`` is None (the default pool)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads, "blas")


@dataclass(frozen=True)
class Case:
    label: str
    call: Callable[[str], float]
    recent: Callable[..., Any]  # what ``picks.runtime.recent_interactions`` is during the case
    population: list[str]
    warmup: int
    requests: int
    threads: int | None = None  # BLAS threads; None: numpy's default pool


def _interleaved(
    runtime: Any, cases: list[Case], rng: np.random.Generator, blocks: int
) -> dict[str, np.ndarray]:
    """Warm every case up, then measure them in turns, ``blocks`` blocks each."""
    samples: dict[str, list[np.ndarray]] = {case.label: [] for case in cases}
    for case in cases:
        runtime.recent_interactions = case.recent
        with _blas(case.threads):
            _measure(case.call, case.population, rng, case.warmup, 0)
    for block in range(blocks):
        for case in cases:
            runtime.recent_interactions = case.recent
            share = case.requests // blocks + (1 if block < case.requests % blocks else 0)
            with _blas(case.threads):  # entered once per block, not per request
                samples[case.label].append(_measure(case.call, case.population, rng, 0, share))
    return {label: np.concatenate(parts) for label, parts in samples.items()}


def _profile(call: Callable[[str], float], users: list[str], rng: np.random.Generator, requests: int) -> str:
    profiler = cProfile.Profile()
    chosen = rng.choice(users, requests).tolist()
    profiler.enable()
    for user in chosen:
        call(user)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def benchmark(
    workdir: Path, requests: int, http_requests: int, timeout: float, always_profile: bool
) -> Result:
    import picks.runtime as runtime
    from picks.services import get_services
    from picks.serving.rankers import FactorModel
    from picks.serving.store import load_model

    csv_path = workdir / "interactions.csv"
    shape = _write_data(csv_path)
    print(f"wrote {shape.rows:,} rows: {shape}", flush=True)
    rng = np.random.default_rng(7)
    with emulator() as server:
        flow = Flow(server.url, "picks-bench-latency")
        flow.create_interactions_dataset(movielens_like.SCHEMA)
        flow.upload("latency/interactions.csv", csv_path)
        flow.import_interactions("latency/interactions.csv", timeout)
        version, train_seconds = flow.train(
            "bench-latency-up",
            RECIPE,
            timeout,
            solutionConfig={
                "algorithmHyperParameters": {
                    "exclude_interacted_items": "true",
                    "hidden_dimension": str(FACTORS),
                }
            },
        )
        print(f"solution version ACTIVE in {train_seconds:.0f}s", flush=True)
        campaign = flow.personalize.create_campaign(name="bench-latency", solutionVersionArn=version)[
            "campaignArn"
        ]
        wait_active(
            lambda: flow.personalize.describe_campaign(campaignArn=campaign)["campaign"], "campaign", timeout
        )

        services = get_services()
        model_ref = services.resources.get(version, what="Solution version").version_state.model
        assert model_ref is not None
        model = load_model(services.s3, services.settings.bucket_name, model_ref.prefix)
        assert isinstance(model, FactorModel)
        model_info = {
            "items": model.item_count,
            "users": len(model.user_ids),
            "factors": model.factors,
            "history_rows": int(len(model.history_items)),
            "neighbours": tuple(model.neighbors.shape) if model.neighbors is not None else None,
            "exclude_history": model.exclude_history,
            "recent_weight": model.recent_weight,
        }
        lengths = np.diff(model.history_indptr)
        trained = np.flatnonzero(lengths > 0)
        chosen = rng.choice(trained, size=min(5_000, len(trained)), replace=False)
        users = [str(u) for u in model.user_ids[chosen].tolist()]
        sampled = {
            "median": float(np.median(lengths[chosen])),
            "p99": float(np.percentile(lengths[chosen], 99)),
            "max": float(lengths[chosen].max()),
        }
        # Live events: 5 items per user, drawn by popularity (what users actually click next).
        weights = model.popularity.astype(np.float64) / model.popularity.sum()
        live = {
            u: model.item_ids[rng.choice(model.item_count, LIVE_EVENTS, p=weights)].tolist() for u in users
        }
        # Users who really sent events through PutEvents (others than the patched cases' users).  Few:
        # moto used to sort the whole events table per Query (fixed in emulator/moto_patches.py).
        rest = np.setdiff1d(trained, chosen)
        tracked = [
            str(u) for u in model.user_ids[rng.choice(rest, size=min(PUT_USERS, len(rest)), replace=False)]
        ]
        put_seconds = _put_events(server.url, flow, tracked, model, weights, rng, timeout)
        print(
            f"PutEvents: {LIVE_EVENTS} events for each of {len(tracked):,} users in {put_seconds:.0f}s",
            flush=True,
        )
        query_ms = []
        assert services.events is not None  # the emulator's services have an event store
        for user in tracked[:20]:
            started = time.perf_counter_ns()
            services.events.recent(flow.group_arn, user, since_ms=0)
            query_ms.append((time.perf_counter_ns() - started) / 1e6)
        model_info["event_query_ms"] = float(np.median(query_ms))
        original = runtime.recent_interactions

        # (services, campaign, user_id, rules=)
        def with_events(*args: Any, **kwargs: Any) -> tuple[list[str], list[str]]:
            user = kwargs.get("user_id", args[-1] if args else None)
            items = list(live.get(user or "", []))
            return items, ["click"] * len(items)

        def without_events(*args: Any, **kwargs: Any) -> tuple[list[str], list[str]]:
            return [], []

        call = _handler_caller(campaign)
        floor_call = _floor_caller(model)
        in_process, http, floor = [], [], {}
        profile, profile_label = "", ""
        runtime_client = clients(server.url, "personalize-runtime")[0]

        def over_http(user: str) -> float:
            started = time.perf_counter_ns()
            response = runtime_client.get_recommendations(
                campaignArn=campaign, userId=user, numResults=NUM_RESULTS
            )
            elapsed = (time.perf_counter_ns() - started) / 1e6
            assert len(response["itemList"]) == NUM_RESULTS
            return elapsed

        put_requests, put_http = min(requests, PUT_REQUESTS), min(http_requests, PUT_HTTP_REQUESTS)
        local_cases = [
            Case(CASE_LIVE, call, with_events, users, 500, requests),
            Case(CASE_NONE, call, without_events, users, 500, requests),
            Case(CASE_LIVE_1T, call, with_events, users, 500, requests, threads=1),
            Case(CASE_PUT, call, original, tracked, 50, put_requests),
            Case(CASE_PUT_NONE, call, original, users, 50, put_requests),
            Case(FLOOR, floor_call, original, users, 500, requests),
            Case(FLOOR_1T, floor_call, original, users, 500, requests, threads=1),
        ]
        remote_cases = [
            Case(CASE_LIVE, over_http, with_events, users, 100, http_requests),
            Case(CASE_NONE, over_http, without_events, users, 100, http_requests),
            Case(CASE_PUT, over_http, original, tracked, 20, put_http),
        ]
        try:
            # Cases take turns in blocks, so a burst of load from elsewhere hits them all alike.
            local_runs = _interleaved(runtime, local_cases, rng, BLOCKS)
            floors = {label: Latencies(label, local_runs.pop(label)) for label in (FLOOR, FLOOR_1T)}
            in_process = [Latencies(label, ms) for label, ms in local_runs.items()]
            floor = {
                lat.label: floors[FLOOR_1T if lat.label == CASE_LIVE_1T else FLOOR] for lat in in_process
            }
            remote_runs = _interleaved(runtime, remote_cases, rng, BLOCKS // 2)
            http = [Latencies(label, ms) for label, ms in remote_runs.items()]
            for where, runs in (("in-process", in_process), ("floor", list(floors.values())), ("HTTP", http)):
                for lat in runs:
                    print(
                        f"{where} {lat.label}: p50 {lat.pct(50):.2f} ms, p99 {lat.pct(99):.2f} ms", flush=True
                    )
            worst = in_process[0]
            missed = (
                worst.pct(50) > TARGET_P50_MS
                or worst.pct(99) > TARGET_P99_MS
                or _ratio(worst, floor[worst.label], 50) > TARGET_FLOOR_RATIO
            )
            if missed or always_profile:
                runtime.recent_interactions = with_events
                profile_label = worst.label
                profile = _profile(call, users, rng, requests=2_000)
        finally:
            runtime.recent_interactions = original
        model_info["put_events_seconds"] = put_seconds
    return Result(
        shape=shape,
        train_seconds=train_seconds,
        model=model_info,
        sampled_history=sampled,
        in_process=in_process,
        http=http,
        floor=floor,
        profile=profile,
        profile_label=profile_label,
    )


def _put_events(
    url: str,
    flow: Flow,
    users: list[str],
    model: Any,
    weights: np.ndarray,
    rng: np.random.Generator,
    timeout: float,
) -> float:
    """An event tracker, then one PutEvents call with 5 events for each user; returns seconds."""
    import datetime as dt

    tracker = flow.personalize.create_event_tracker(
        name="bench-latency-tracker", datasetGroupArn=flow.group_arn
    )
    wait_active(
        lambda: flow.personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])[
            "eventTracker"
        ],
        "event tracker",
        timeout,
    )
    events = clients(url, "personalize-events")[0]
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    for user in users:
        items = model.item_ids[rng.choice(model.item_count, LIVE_EVENTS, p=weights)].tolist()
        events.put_events(
            trackingId=tracker["trackingId"],
            userId=user,
            sessionId=f"session-{user}",
            eventList=[{"eventType": "watch", "itemId": item, "sentAt": now} for item in items],
        )
    return time.perf_counter() - started


def _write_data(path: Path) -> movielens_like.Shape:
    return movielens_like.write_csv(path, ROWS, USERS, ITEMS, seed=11, zipf_exponent=ZIPF_EXPONENT)


def _bullet(*parts: str) -> list[str]:
    first, *rest = prose(*parts, width=98)
    return [f"* {first}", *(f"  {line}" for line in rest)]


def _ratio(case: Latencies, floor: Latencies, q: float) -> float:
    return case.pct(q) / floor.pct(q)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _profile_excerpt(text: str, lines: int = 40) -> str:
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[:lines])


def render(result: Result, command: str) -> str:
    m = result.model
    lines = [
        f"## {SECTION}",
        "",
        *prose(
            f"`GetRecommendations` (numResults {NUM_RESULTS}) on an `aws-user-personalization` campaign",
            "trained through the API on synthetic data (`bench/movielens_like.py` with Zipf exponent",
            f"{ZIPF_EXPONENT}: {result.shape.rows:,} distinct interactions, {USERS:,} users, {ITEMS:,} item",
            f"ids; training took {result.train_seconds:.0f} s). The model served: {m['items']:,} items ×",
            f"{m['factors']} factors, {m['users']:,} users, {m['history_rows']:,} history entries,",
            f"neighbours {m['neighbours'][0]:,} × {m['neighbours'][1]}, `exclude_interacted_items`",
            f"{str(m['exclude_history']).lower()}, `recent_item_weight` {m['recent_weight']}. Requests pick",
            "one of 5,000 random trained users (history length median",
            f"{result.sampled_history['median']:.0f}, p99 {result.sampled_history['p99']:.0f}, max",
            f"{result.sampled_history['max']:.0f}). Reproduce with `{command}`. Cases:",
        ),
        "",
        *_bullet(
            f"*{CASE_LIVE}*: `picks.runtime.recent_interactions` is monkeypatched to return {LIVE_EVENTS}",
            "popularity-drawn item ids per user, so every request folds the user in (an exact ALS solve over",
            "history + events) and blends the neighbours of those items — the model's cost of live events",
            "alone;",
        ),
        *_bullet(f"*{CASE_NONE}*: the stored user vector, no event lookup — the model's cost alone;"),
        *_bullet(
            f"*{CASE_LIVE_1T}*: the first case with numpy's BLAS (OpenBLAS) held to one thread, as",
            "training holds it; by default OpenBLAS uses every core for the 100k × factors scoring product,",
            "which is fast on an idle machine and slow when the cores are busy (see below);",
        ),
        *_bullet(
            f"*{CASE_PUT}*: {PUT_USERS} other users each sent {LIVE_EVENTS} events through a stock",
            f"`personalize-events` client (PutEvents, {m['put_events_seconds']:.1f} s for all), and the",
            "runtime reads them back per request — the whole path, but the event store is moto's DynamoDB",
            "in this process, not DynamoDB (see the note below the tables);",
        ),
        *_bullet(f"*{CASE_PUT_NONE}*: the real lookup for users without events;"),
        *_bullet(
            f"*{FLOOR}*: what any server of this model has to do at least: the served model's own",
            f"`item_factors` array ({m['items']:,} × {m['factors']}, float32) times a sampled user's",
            f"stored factor vector, then the best {NUM_RESULTS} (`np.argpartition`, then a sort of those",
            f"{NUM_RESULTS}); timed around those three calls only. *{FLOOR_1T}*: the same with one BLAS",
            "thread. Each case above is compared with the floor of its BLAS setting (below the table).",
        ),
        "",
        *prose(
            "(a) In-process, warm: `functions/runtime/handler.lambda_handler` called with an API Gateway",
            "event (`emulator.lambda_bridge.api_gateway_event`), Powertools decorators included; 500",
            "warm-up calls first (50 for the PutEvents rows); the cases then take turns in",
            f"{BLOCKS} blocks each, so load from elsewhere on the machine hits them alike.",
        ),
        "",
        "| Case | Requests | p50 | p99 | p99.9 | mean | max |",
        "|------|---:|---:|---:|---:|---:|---:|",
    ]
    floors = list({id(lat): lat for lat in result.floor.values()}.values())
    for lat in [*result.in_process, *floors]:
        lines.append(
            f"| {lat.label} | {len(lat.ms):,} | {lat.pct(50):.2f} ms | {lat.pct(99):.2f} ms "
            f"| {lat.pct(99.9):.2f} ms | {lat.ms.mean():.2f} ms | {lat.ms.max():.2f} ms |"
        )
    lines += [
        "",
        *prose(
            "Each case against the floor measured in the same run, in turns with it (× floor: the",
            "case's percentile over the floor's):",
        ),
        "",
        "| Case | p50 | floor p50 | × floor | p99 | floor p99 | × floor |",
        "|------|---:|---:|---:|---:|---:|---:|",
    ]
    for lat in result.in_process:
        base = result.floor[lat.label]
        lines.append(
            f"| {lat.label} | {lat.pct(50):.2f} ms | {base.pct(50):.2f} ms | {_ratio(lat, base, 50):.2f}× "
            f"| {lat.pct(99):.2f} ms | {base.pct(99):.2f} ms | {_ratio(lat, base, 99):.2f}× |"
        )
    lines += [
        "",
        *prose(
            "(b) Over HTTP: a stock boto3 `personalize-runtime` client, sequential requests to the",
            "emulator's port (SigV4 signing, HTTP, werkzeug, the same handler, response parsing); 100",
            f"warm-up calls first (20), then {BLOCKS // 2} blocks per case in turns.",
        ),
        "",
        "| Case | Requests | p50 | p99 | mean |",
        "|------|---:|---:|---:|---:|",
    ]
    for lat in result.http:
        lines.append(
            f"| {lat.label} | {len(lat.ms):,} | {lat.pct(50):.2f} ms | {lat.pct(99):.2f} ms "
            f"| {lat.ms.mean():.2f} ms |"
        )
    live = result.in_process[0]
    live_floor = result.floor[live.label]
    live_ratio = _ratio(live, live_floor, 50)
    lines += [
        "",
        *prose(
            f"Note on the PutEvents rows: with {PUT_USERS * LIVE_EVENTS:,} events stored, one event-store",
            f"query (`EventStore.recent`) takes {m['event_query_ms']:.1f} ms (median of 20) in the emulator,",
            "where the event store is moto's DynamoDB in this very process; on AWS it is a DynamoDB Query",
            "over the network instead.",
        ),
        "",
        f"| Target (in-process, {CASE_LIVE}) | Measured | Met? |",
        "|--------|---:|---|",
        f"| p50 ≤ {TARGET_P50_MS:g} ms | {live.pct(50):.2f} ms | {_verdict(live.pct(50) <= TARGET_P50_MS)} |",
        f"| p99 ≤ {TARGET_P99_MS:g} ms | {live.pct(99):.2f} ms | {_verdict(live.pct(99) <= TARGET_P99_MS)} |",
        f"| p50 ≤ {TARGET_FLOOR_RATIO:g}× floor ({live_floor.pct(50):.2f} ms) | {live_ratio:.2f}× "
        f"| {_verdict(live_ratio <= TARGET_FLOOR_RATIO)} |",
        "",
    ]
    single = next((lat for lat in result.in_process if lat.label == CASE_LIVE_1T), None)
    if single is not None:
        lines += [
            *prose(
                f"BLAS threads: with live events, p50 {live.pct(50):.2f} ms / p99 {live.pct(99):.2f} ms",
                f"with OpenBLAS's default pool against p50 {single.pct(50):.2f} ms / p99",
                f"{single.pct(99):.2f} ms with one thread (same requests, in turns). The runtime sets no",
                "thread limit today.",
            ),
            "",
        ]
    if result.profile:
        lines += [
            f"cProfile of 2,000 in-process requests {result.profile_label} (top functions by own time, then",
            "by cumulative time):",
            "",
            "```text",
            _profile_excerpt(result.profile, 70),
            "```",
            "",
        ]
    lines += ["| Run | Value |", "|-----|-------|", machine_rows().rstrip("\n")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=int(os.environ.get("PICKS_BENCH_REQUESTS", 10_000)))
    parser.add_argument("--http-requests", type=int, default=2_000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--profile", action="store_true", help="profile even when the targets are met")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="picks-bench-latency-"))
    try:
        result = benchmark(workdir, args.requests, args.http_requests, args.timeout, args.profile)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(result, command_line("bench-latency", argv))
    print(section)
    if result.profile:
        print(result.profile)
    if not args.no_docs:
        rewrite_section(SECTION, section, command="make bench-latency", script="bench/latency_bench.py")
        print("updated docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
