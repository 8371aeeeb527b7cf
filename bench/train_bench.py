"""Training benchmark: 25M MovieLens-25M-shaped interactions, import → train → metrics, vs raw ALS.

Run with ``make bench-train`` (``python -m bench.train_bench``).  Steps:

1. write a synthetic interactions CSV shaped like MovieLens-25M (``bench.movielens_like``:
   162,541 users, 59,047 items, Zipf-like item popularity, heavy-tailed user activity, distinct
   (user, item) pairs, increasing timestamps); scale with ``PICKS_BENCH_ROWS`` /
   ``PICKS_BENCH_USERS`` / ``PICKS_BENCH_ITEMS`` (or ``--rows`` ...);
2. start an in-process emulator; with stock boto3: upload the CSV (one PUT), create dataset
   group, schema, dataset, FULL import job → ACTIVE (timed), then an ``aws-user-personalization``
   solution (default hyperparameters) and ``CreateSolutionVersion`` → ACTIVE (timed), then
   ``GetSolutionMetrics`` (timed);
3. time a raw ``implicit`` ALS fit on the very matrix the recipe factorises (rebuilt from the
   ``train`` channel the version trained on, same factors / iterations / regularization / seed,
   ``threadpool_limits(1, "blas")`` as training does);
4. report ratios, peak RSS (this process = emulator + benchmark; the training subprocess via
   ``getrusage(RUSAGE_CHILDREN)``) and a stage breakdown (``bench.stages``: the emulator's import
   and workflow steps, and, through a shell wrapper as the training interpreter, the training
   subprocess' own stages), and rewrite the "Training" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import movielens_like
from bench.common import Flow, command_line, emulator, machine_rows, prose, rewrite_section
from bench.stages import STAGES_ENV, StageTimer, install_emulator, wrapper_script

SECTION = "Training"
RECIPE = "aws-user-personalization"
INDENT = "&nbsp;" * 4
TARGET_SECONDS = 300.0
TARGET_RATIO = 1.5
IMPORT_TARGET_RATIO = 0.3  # issue 14: parsing must not dominate (it took 1.24× the fit)
RAW_FIT_REPEATS = 2
PERSONALIZE_HOURS = 6  # Amazon Personalize FAQ: ~6 hours to train on 25M interactions


@dataclass
class Result:
    shape: movielens_like.Shape
    upload_seconds: float
    import_seconds: float
    train_seconds: float
    metrics_seconds: float
    metrics: dict[str, float]
    raw_fit_seconds: float
    raw_matrix: dict[str, Any]
    hyperparameters: dict[str, str]
    peak_self_mib: float
    peak_children_mib: float
    emulator_stages: list[tuple[str, float, int]] = field(default_factory=list)
    training_stages: dict[str, Any] = field(default_factory=dict)
    emulator_missing: list[str] = field(default_factory=list)
    csv_reader: str = ""
    parse_seconds: dict[str, float] = field(default_factory=dict)  # parse-only, per reader

    @property
    def pipeline_seconds(self) -> float:
        return self.import_seconds + self.train_seconds + self.metrics_seconds


def _reset_peak_rss() -> bool:
    """Reset this process' VmHWM (Linux ``clear_refs`` 5) so CSV generation does not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _vm_hwm_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_als_fit(channel: Path, params: dict[str, str], seed: int) -> tuple[float, dict[str, Any]]:
    """Seconds for ``implicit``'s ALS fit on the matrix ``user_personalization.fit`` gives it."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from training.data import load_channel
    from training.recipes.user_personalization import _history_bounds, confidence_matrix

    job = load_channel(channel)
    matrix = confidence_matrix(job.interactions, params)
    trains = _history_bounds(matrix, params)
    fit_matrix = (sp.diags(trains.astype(np.float32)) @ matrix).tocsr()
    fit_matrix.eliminate_zeros()
    del job, matrix
    runs = []
    with threadpool_limits(1, "blas"):
        for _ in range(RAW_FIT_REPEATS):  # the fastest of a few: the machine is shared, noise only adds time
            model = AlternatingLeastSquares(
                factors=int(params["hidden_dimension"]),
                regularization=float(params["als_regularization"]),
                alpha=1.0,
                iterations=int(params["als_iterations"]),
                random_state=seed,
                calculate_training_loss=False,
            )
            started = time.perf_counter()
            model.fit(fit_matrix, show_progress=False)
            runs.append(time.perf_counter() - started)
            del model
    seconds = min(runs)
    shape = {
        "users": fit_matrix.shape[0],
        "items": fit_matrix.shape[1],
        "nnz": int(fit_matrix.nnz),
        "runs": runs,
    }
    return seconds, shape


def compare_readers(csv_path: Path) -> dict[str, float]:
    """Seconds each CSV reader takes to parse and validate the file alone (no S3, no sort, no write)."""
    from picks.dataset_schema import parse_schema
    from picks.ingest import arrow_reader, csv_reader

    schema = parse_schema(movielens_like.SCHEMA)
    data = csv_path.read_bytes()
    readers = {"python": csv_reader.read_csv, "arrow": arrow_reader.read_csv}
    seconds = {}
    for name, read in readers.items():
        if name == "arrow" and not arrow_reader.available():
            continue
        started = time.perf_counter()
        table = read(data, schema, "INTERACTIONS")
        seconds[name] = time.perf_counter() - started
        print(
            f"{name} CSV reader alone: {seconds[name]:.1f}s ({table.row_count / seconds[name]:,.0f} rows/s)"
        )
        del table
    return seconds


def benchmark(
    rows: int, users: int, items: int, workdir: Path, timeout: float, stages: bool, readers: bool = False
) -> Result:
    from picks.ingest import importer
    from picks.recipe_catalog import RECIPES

    csv_path = workdir / "interactions.csv"
    # Written by a child process: the generator's GBs of temporaries are not the emulator's (which
    # runs in this process) to inherit; on this VM a heap just churned through makes the import's
    # copies measurably slower, and a real emulator never generated its data itself.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        shape = pool.submit(movielens_like.write_csv, csv_path, rows, users, items).result()
    print(
        f"wrote {shape.rows:,} rows ({shape.csv_bytes / 1e6:.0f} MB) in {shape.seconds:.1f}s: {shape}",
        flush=True,
    )
    # The CSV's dirty pages are written back now, not by the kernel in the middle of the import.
    os.sync()
    params = dict(RECIPES[RECIPE].default_hyperparameters)
    parse_seconds = compare_readers(csv_path) if readers else {}
    reader_used = importer.csv_reader_for().__module__.rsplit(".", 1)[-1]

    timer = StageTimer()
    if stages:
        install_emulator(timer)
    stage_file = workdir / "training-stages.json"
    reset = _reset_peak_rss()
    with emulator() as server:
        if stages:
            assert server.runner is not None
            server.runner._training_jobs._python = str(wrapper_script(workdir))  # noqa: SLF001 - benchmark hook
            os.environ[STAGES_ENV] = str(stage_file)
        flow = Flow(server.url, "picks-bench-train")
        flow.create_interactions_dataset(movielens_like.SCHEMA)
        upload_seconds = flow.upload("ml25m-like/interactions.csv", csv_path)
        print(f"uploaded in {upload_seconds:.1f}s", flush=True)
        import_seconds = flow.import_interactions("ml25m-like/interactions.csv", timeout)
        print(
            f"import ACTIVE in {import_seconds:.1f}s ({shape.rows / import_seconds:,.0f} rows/s)", flush=True
        )
        version, train_seconds = flow.train("bench-train-up", RECIPE, timeout)
        print(f"solution version ACTIVE in {train_seconds:.1f}s", flush=True)
        started = time.perf_counter()
        metrics = flow.metrics(version)
        metrics_seconds = time.perf_counter() - started
        print(f"GetSolutionMetrics in {metrics_seconds * 1000:.0f} ms: {metrics}", flush=True)
        peak_self = _vm_hwm_mib() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        channel = flow.training_channel(version, server.settings.bucket_name, workdir / "channel")
        os.environ.pop(STAGES_ENV, None)
    csv_path.unlink(missing_ok=True)
    raw_seconds, raw_matrix = raw_als_fit(channel, params, seed=42)
    print(f"raw implicit ALS fit: {raw_seconds:.1f}s on {raw_matrix}", flush=True)
    training_stages = json.loads(stage_file.read_text()) if stage_file.is_file() else {}
    return Result(
        shape=shape,
        upload_seconds=upload_seconds,
        import_seconds=import_seconds,
        train_seconds=train_seconds,
        metrics_seconds=metrics_seconds,
        metrics=metrics,
        raw_fit_seconds=raw_seconds,
        raw_matrix=raw_matrix,
        hyperparameters=params,
        peak_self_mib=peak_self,
        peak_children_mib=peak_children,
        emulator_stages=timer.rows(),
        emulator_missing=timer.missing,
        training_stages=training_stages,
        csv_reader=reader_used,
        parse_seconds=parse_seconds,
    )


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _stage_table(rows: list[tuple[str, float, int]], total: float | None = None) -> list[str]:
    lines = ["| Stage | Seconds | Calls |", "|-------|---:|---:|"]
    for path, seconds, calls in rows:
        depth = path.count("/")
        name = path.rsplit("/", 1)[-1]
        lines.append(f"| {INDENT * depth}{'└ ' if depth else ''}`{name}` | {seconds:.1f} | {calls} |")
    if total is not None:
        lines.append(f"| (whole subprocess, interpreter start to exit) | {total:.1f} | |")
    return lines


def render(result: Result, command: str) -> str:
    from picks.ingest import importer

    s = result.shape
    train_ratio = result.train_seconds / result.raw_fit_seconds
    import_ratio = result.import_seconds / result.raw_fit_seconds
    pipeline_ratio = result.pipeline_seconds / result.raw_fit_seconds
    hp = result.hyperparameters
    inner_als = sum(
        seconds for path, seconds, _ in result.training_stages.get("stages", []) if path.endswith("/als_fit")
    )
    lines = [
        f"## {SECTION}",
        "",
        *prose(
            "A synthetic interactions CSV shaped like MovieLens-25M (`bench/movielens_like.py`: Zipf-like",
            "item popularity, heavy-tailed user activity, distinct (user, item) pairs, increasing",
            "timestamps; written by a child process and synced to disk before anything is timed)",
            "through an in-process emulator with stock boto3: FULL import →",
            "`aws-user-personalization` solution version (default hyperparameters) → `GetSolutionMetrics`,",
            "each timed from the create call to the first describe that reports ACTIVE (polled every",
            "0.25 s). Then a raw `implicit` ALS fit (`AlternatingLeastSquares.fit`) on the same matrix",
            "the recipe factorises (factors",
            f"{hp['hidden_dimension']}, iterations {hp['als_iterations']}, regularization",
            f'{hp["als_regularization"]}, `threadpool_limits(1, "blas")`, CPU). Reproduce with `{command}`',
            "(scale with `PICKS_BENCH_ROWS`, `PICKS_BENCH_USERS`, `PICKS_BENCH_ITEMS`).",
        ),
        "",
        "| Data | Synthetic | MovieLens-25M |",
        "|------|---:|---:|",
        f"| Interactions | {s.rows:,} | 25,000,095 |",
        f"| Users | {s.users:,} | 162,541 |",
        f"| Items with interactions | {s.items_with_rows:,} | 59,047 |",
        f"| Rows per user: median / max | {s.median_user_rows:.0f} / {s.max_user_rows:,} | ~70 / 32,202 |",
        f"| Rows of the most popular item | {s.top_item_rows:,} | 81,491 |",
        f"| CSV | {s.csv_bytes / 1e6:.0f} MB, written in {s.seconds:.0f} s | |",
        "",
        "| Step | Value |",
        "|------|-------|",
        f"| S3 upload (one PUT; not in the total) | {result.upload_seconds:.1f} s |",
        f"| CreateDatasetImportJob → ACTIVE | {result.import_seconds:.1f} s "
        f"({s.rows / result.import_seconds:,.0f} rows/s) |",
        f"| CSV reader the import used (`{importer.CSV_READER_ENV}`, `picks.ingest.importer`) "
        f"| `{result.csv_reader}` |",
        *(
            f"| `{name}` CSV reader alone (parse + validate, no S3 / sort / write) | {seconds:.1f} s "
            f"({s.rows / seconds:,.0f} rows/s) |"
            for name, seconds in result.parse_seconds.items()
        ),
        f"| CreateSolutionVersion → ACTIVE | {result.train_seconds:.1f} s |",
        f"| GetSolutionMetrics | {result.metrics_seconds * 1000:.0f} ms |",
        f"| **Import + train + metrics** | **{result.pipeline_seconds:.1f} s** "
        f"({result.pipeline_seconds / 60:.1f} min) |",
        f"| Raw `implicit` ALS fit ({result.raw_matrix['users']:,} × {result.raw_matrix['items']:,}, "
        f"{result.raw_matrix['nnz']:,} non-zeros), fastest of {len(result.raw_matrix['runs'])} | "
        f"{result.raw_fit_seconds:.1f} s ({' / '.join(f'{r:.1f}' for r in result.raw_matrix['runs'])}) |",
        *(
            [
                f"| ALS fit inside the train step (stage timer, wall clock; the users outside the holdout, "
                f"the co-occurrence neighbours computed on a second thread meanwhile) "
                f"| {inner_als:.1f} s (train step / it: {result.train_seconds / inner_als:.2f}×) |"
            ]
            if inner_als
            else []
        ),
        f"| Import / raw fit | {import_ratio:.2f}× |",
        f"| Train step / raw fit | {train_ratio:.2f}× |",
        f"| Import + train + metrics / raw fit | {pipeline_ratio:.2f}× |",
        f"| Peak RSS, benchmark process (emulator, import, workflow steps; CSV generation excluded) "
        f"| {result.peak_self_mib:,.0f} MiB |",
        "| Peak RSS, training subprocess (`getrusage(RUSAGE_CHILDREN)`) | "
        f"{result.peak_children_mib:,.0f} MiB |",
        "",
        "| Target | Measured | Met? |",
        "|--------|---:|---|",
        f"| Import + train + metrics ≤ {TARGET_SECONDS / 60:.0f} min (Amazon Personalize: "
        f"~{PERSONALIZE_HOURS} h for 25M per its FAQ) | {result.pipeline_seconds / 60:.1f} min "
        f"| {_verdict(result.pipeline_seconds <= TARGET_SECONDS)} |",
        f"| Train step ≤ {TARGET_RATIO}× raw fit | {train_ratio:.2f}× "
        f"| {_verdict(train_ratio <= TARGET_RATIO)} |",
        f"| Import + train + metrics ≤ {TARGET_RATIO}× raw fit | {pipeline_ratio:.2f}× "
        f"| {_verdict(pipeline_ratio <= TARGET_RATIO)} |",
        f"| Import ≤ {IMPORT_TARGET_RATIO}× raw fit | {import_ratio:.2f}× "
        f"| {_verdict(import_ratio <= IMPORT_TARGET_RATIO)} |",
        "",
        *prose(
            "Holdout metrics of this run (synthetic data without preference structure, so only a sanity",
            "check): " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items())) + ".",
        ),
        "",
        *prose(
            "How the train step is built (`training/train.py`): ALS is fitted once, on the users outside the",
            "10% holdout (`fit`); the holdout is evaluated through the serving classes (while",
            "`exclude_interacted_items` is `auto`, `evaluate_exclusion`: one scoring pass ranked with and",
            "without the user's history excluded, then `coverage` for the better one); then",
            "`refresh` folds the held-out users in with the same item factors instead of refitting. The",
            "import stores interactions by user and time, so training neither sorts nor gathers them; the",
            "confidence matrix, recent items, co-occurrence input and repeat-table examples are built once",
            "on all interactions (`prepare`; the split's are the same without the held-out users' rows);",
            "single-threaded work runs on a second thread beside other work (the co-occurrence input and",
            "repeat examples beside the confidence matrix, the neighbours beside ALS, the filter arrays",
            "beside the evaluation). The",
            "training channel's table is mapped, not read: its columns are views into the file. ALS runs",
            "`implicit`'s own initialisation and conjugate-gradient solver in `fit`'s loop",
            "(`_fit_factors`, bit-identical factors) but without the copy of the matrix data that",
            "`fit` makes on every half-iteration. The raw fit above is the stock `fit` on the whole",
            'matrix, so "train step / raw fit" is everything around ALS.',
        ),
        "",
    ]
    if result.emulator_stages or result.training_stages:
        lines += [
            *prose(
                "**Where the time goes** (wall clock, inclusive; `bench/stages.py` timers). The emulator",
                "side — the import step and the solution-version workflow (`prepare` stages the channel,",
                "`training_job` runs the subprocess, `register` publishes the model):",
            ),
            "",
            *_stage_table(result.emulator_stages),
            "",
        ]
    if result.training_stages:
        t = result.training_stages
        rows = [tuple(r) for r in t["stages"]]
        main_rows = [r for r in rows if r[0].split("/")[0] == "training.train.main"]
        beside = [r for r in rows if r not in main_rows]  # roots entered on the training's second thread
        lines += [
            *prose(
                "Inside the training subprocess (`python -m training.train`; imports",
                f"{t['imports_seconds']:.1f} s, peak RSS {t['peak_rss_mib']:,.0f} MiB), its main thread:",
            ),
            "",
            *_stage_table(main_rows, t.get("total_seconds")),
            "",
        ]
        if beside:
            lines += [
                *prose(
                    "And its second thread: work that needs neither the factors nor the main thread's",
                    "current step, run beside it (`cooccurrence_input_and_examples` during `prepare`,",
                    "`neighbours` during",
                    "`als_fit`, `history_attach` during the evaluation). Wall clock, so it overlaps the",
                    "stages above, and",
                    "both threads' times include sharing the two cores:",
                ),
                "",
                *_stage_table(beside),
                "",
            ]
    missing = result.emulator_missing + result.training_stages.get("missing", [])
    if missing:
        lines += [
            *prose("Timers not installed (the code they wrap has moved):", ", ".join(missing) + "."),
            "",
        ]
    lines += ["| Run | Value |", "|-----|-------|", machine_rows().rstrip("\n")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=int(os.environ.get("PICKS_BENCH_ROWS", movielens_like.ML25M_ROWS))
    )
    parser.add_argument(
        "--users", type=int, default=int(os.environ.get("PICKS_BENCH_USERS", movielens_like.ML25M_USERS))
    )
    parser.add_argument(
        "--items", type=int, default=int(os.environ.get("PICKS_BENCH_ITEMS", movielens_like.ML25M_ITEMS))
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for each resource")
    parser.add_argument(
        "--no-stages", action="store_true", help="no stage timers (plain interpreter for training)"
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--compare-readers",
        action="store_true",
        help="also time each CSV reader alone on the file (picks.ingest: pyarrow's and the hand-written one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (channel, stage timings)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="picks-bench-train-"))
    try:
        result = benchmark(
            args.rows, args.users, args.items, workdir, args.timeout, not args.no_stages, args.compare_readers
        )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    scale = {
        k: os.environ[k]
        for k in ("PICKS_BENCH_ROWS", "PICKS_BENCH_USERS", "PICKS_BENCH_ITEMS")
        if k in os.environ
    }
    command = command_line("bench-train", argv)
    if scale and command.startswith("make"):
        command = " ".join(f"{k}={v}" for k, v in scale.items()) + " " + command
    section = render(result, command)
    print(section)
    if not args.no_docs:
        rewrite_section(SECTION, section, command="make bench-train", script="bench/train_bench.py")
        print("updated docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
