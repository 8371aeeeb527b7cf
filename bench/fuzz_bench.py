"""Fuzzing: 10,000+ model-driven requests over HTTP against every operation of the three Personalize APIs.

Run with ``make fuzz`` (``python -m bench.fuzz_bench [--requests N] [--no-docs]``). Requests come from
``tests/fuzz_wire.py`` (hypothesis strategies built from botocore's input shapes, valid and broken values,
missing and unknown members, non-JSON bodies), SigV4-signed and sent to an in-process emulator one at a
time, round-robin over the 79 operations until ``--requests`` have been sent. Every answer is judged as an
SDK would see it (no 5xx; success or an error botocore parses into one of the service's modelled
exceptions) and the server is asked a plain ListDatasetGroups every 500 requests and at the end. Rewrites
the "Fuzzing" section of ``docs/benchmarks.md`` and exits non-zero when anything was found.
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
import time
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from bench.common import command_line, emulator, machine_rows, prose, rewrite_section
from tests import fuzz_wire

TITLE = "Fuzzing"
HEALTH_EVERY = 500
SAMPLES_KEPT = 20


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.by_api: collections.Counter[str] = collections.Counter()
        self.by_kind: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[str] = collections.Counter()
        self.codes: collections.Counter[str] = collections.Counter()
        self.server_errors = 0
        self.unparseable = 0
        self.health_checks = 0
        self.health_failures = 0
        self.samples: list[str] = []
        self.undeclared: collections.Counter[str] = collections.Counter()

    def record(self, request: fuzz_wire.FuzzRequest, answer: Any, problems: list[str]) -> None:
        self.requests += 1
        self.by_api[request.service] += 1
        self.by_kind[request.kind] += 1
        self.by_status[f"{answer.status // 100}xx"] += 1
        if answer.status >= 300 and answer.error_code:
            self.codes[answer.error_code] += 1
            if answer.error_code not in fuzz_wire.declared_errors(request.service, request.operation):
                self.undeclared[f"{request.operation}: {answer.error_code}"] += 1
        if answer.status >= 500:
            self.server_errors += 1
        if any(not p.startswith("HTTP 5") for p in problems):
            self.unparseable += 1
        if problems and len(self.samples) < SAMPLES_KEPT:
            self.samples.append(f"{request!r}: {problems}")


def fuzz_operation(url: str, service: str, operation: str, examples: int, tally: Tally, budget: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(request=fuzz_wire.requests(service, operation))
    def run(request: fuzz_wire.FuzzRequest) -> None:
        if tally.requests >= budget:
            return
        answer = fuzz_wire.send(url, request)
        tally.record(request, answer, fuzz_wire.problems(request, answer))
        if tally.requests % HEALTH_EVERY == 0:
            tally.health_checks += 1
            tally.health_failures += not fuzz_wire.server_answers(url)

    run()


def _count(counter: collections.Counter[str], key: str, total: int) -> str:
    return f"{counter[key]:,} ({100 * counter[key] / max(total, 1):.0f}%)"


def report(tally: Tally, seconds: float, argv: list[str] | None) -> str:
    operations = fuzz_wire.operations()
    per_service = collections.Counter(service for service, _ in operations)
    top_codes = ", ".join(f"{code} {count:,}" for code, count in tally.codes.most_common(6))
    undeclared = ", ".join(f"{case} {count:,}" for case, count in tally.undeclared.most_common(4)) or "none"
    lines = [
        f"## {TITLE}",
        "",
        *prose(
            "Model-driven fuzzing over HTTP (`tests/fuzz_wire.py`): hypothesis draws requests from",
            "botocore's input shapes for every operation of the three APIs (79: the control plane by",
            "`X-Amz-Target`, runtime and events by their REST paths) — members left out, valid, or broken",
            "(past `min`/`max`, off `pattern`/`enum`, wrong JSON types), required members missing, unknown",
            "members — and a quarter of the bodies are not the modelled JSON at all (random bytes,",
            "non-objects, deep nesting, 5,000-digit numbers, UTF-16, lone surrogates). Requests often name",
            "seeded resources (imported demo data, an event tracker, two filters, a User-Personalization",
            "and a Personalized-Ranking campaign) so they reach the handlers' real work; no solution is",
            "seeded, so no request starts a training job. Each is SigV4-signed and sent to an in-process",
            "emulator, one at a time. An answer passes when it is not a 5xx and botocore's own parser reads",
            "it as success or as an error code the service's model declares (`client.exceptions` has it).",
            "`make test` runs the same checks on 4 derandomized requests per operation",
            "(`tests/e2e/test_fuzz.py`). The first runs found one 5xx (a non-ASCII letter in a filter",
            "expression failed an assertion in the tokenizer), fixed since.",
        ),
        "",
        "| Metric | Value |",
        "|--------|-------|",
        f"| Requests | {tally.requests:,} in {seconds:.0f} s "
        f"({tally.requests / max(seconds, 1e-9):.0f} requests/s) |",
        f"| personalize (control plane, {per_service['personalize']} operations) | "
        f"{tally.by_api['personalize']:,} |",
        f"| personalize-runtime ({per_service['personalize-runtime']} operations) | "
        f"{tally.by_api['personalize-runtime']:,} |",
        f"| personalize-events ({per_service['personalize-events']} operations) | "
        f"{tally.by_api['personalize-events']:,} |",
        f"| Bodies drawn from the model / raw | {tally.by_kind['model']:,} / {tally.by_kind['raw']:,} |",
        f"| Answers 2xx / 4xx / 5xx | {_count(tally.by_status, '2xx', tally.requests)} / "
        f"{_count(tally.by_status, '4xx', tally.requests)} / "
        f"{_count(tally.by_status, '5xx', tally.requests)} |",
        f"| Most frequent error codes | {top_codes} |",
        f"| 5xx answers | {tally.server_errors} |",
        f"| Errors the service declares but the operation's own error list does not (still typed) | "
        f"{sum(tally.undeclared.values()):,}: {undeclared} |",
        f"| Answers botocore cannot parse into a modelled exception | {tally.unparseable} |",
        f"| Server still answering (ListDatasetGroups every {HEALTH_EVERY} requests and at the end) | "
        f"{'yes' if not tally.health_failures else 'NO'} ({tally.health_checks} checks, "
        f"{tally.health_failures} failed) |",
        machine_rows().rstrip("\n"),
        "",
        f"Reproduce with `{command_line('fuzz', argv)}`.",
    ]
    if tally.samples:
        lines += ["", "Findings (first few):", "", *[f"- `{sample[:400]}`" for sample in tally.samples]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests to send (default 10,000)")
    parser.add_argument("--no-docs", action="store_true", help="print the section instead of rewriting docs")
    args = parser.parse_args(argv)
    operations = fuzz_wire.operations()
    tally = Tally()
    started = time.monotonic()
    with emulator() as server:
        fuzz_wire.seed(server.url)
        while tally.requests < args.requests:
            before = tally.requests
            remaining = args.requests - tally.requests
            examples = max(1, math.ceil(remaining / len(operations)))
            for service, operation in operations:
                fuzz_operation(server.url, service, operation, examples, tally, args.requests)
                print(
                    f"\r{tally.requests:,} requests, {tally.server_errors} 5xx, "
                    f"{tally.unparseable} unparseable",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
            if tally.requests == before:
                break  # nothing left to draw
        tally.health_checks += 1
        tally.health_failures += not fuzz_wire.server_answers(server.url)
    seconds = time.monotonic() - started
    print(file=sys.stderr)
    section = report(tally, seconds, argv)
    if args.no_docs:
        print(section)
    else:
        rewrite_section(TITLE, section, command="make fuzz", script="bench/fuzz_bench.py")
        print(section)
    return 1 if tally.server_errors or tally.unparseable or tally.health_failures else 0


if __name__ == "__main__":
    sys.exit(main())
