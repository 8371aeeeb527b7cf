"""Accuracy benchmark: MovieLens ml-latest-small, prepared as Personalize's POC notebook does.

Run with ``make bench-accuracy`` (``python -m bench.accuracy_bench``).  Steps:

1. read ``ratings.csv`` (``../shared/data/ml-latest-small/ratings.csv`` from the repository root,
   or ``$PICKS_ML_SMALL``: the file or its folder; the data is never copied into the repository);
2. build the interactions exactly like the Amazon Personalize "POC in a box" / first-campaign
   notebook: one ``click`` row for every rating > 1 and one ``watch`` row for every rating > 3,
   columns ``USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE``, sorted by timestamp;
3. start an in-process emulator, upload the CSV to its S3 and, with stock boto3 clients, create
   dataset group, schema, dataset and a FULL import job;
4. create solutions + solution versions for ``aws-user-personalization``, ``aws-sims`` and
   ``aws-popularity-count`` (``performAutoTraining=False``, default hyperparameters), wait for
   ACTIVE and call ``GetSolutionMetrics`` for each;
5. the holdout is random (10% of users), and the API has no way to choose its seed (the
   ``train`` channel's ``config.json`` may carry ``"seed"``, default 42, but CreateSolutionVersion
   never writes one).  So the benchmark downloads the exact channel the API trained on and runs
   ``training.train.run`` on it directly with other seeds, to show how much precision moves
   between splits;
6. rewrite the "Accuracy" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.common import Flow, command_line, emulator, machine_rows, prose, rewrite_section
from demo.synthetic import INTERACTIONS_SCHEMA

SECTION = "Accuracy"
DEFAULT_DATA = Path("..") / "shared" / "data" / "ml-latest-small" / "ratings.csv"
RECIPES = ("aws-user-personalization", "aws-sims", "aws-popularity-count")
SHORT = {
    "aws-user-personalization": "User-Personalization",
    "aws-sims": "SIMS",
    "aws-popularity-count": "Popularity-Count",
}
# Published by Amazon Personalize for this very preparation of ml-latest-small (POC notebook).
PUBLISHED: dict[str, dict[str, float]] = {
    "aws-user-personalization": {
        "coverage": 0.0791,
        "precision_at_10": 0.0571,
        "normalized_discounted_cumulative_gain_at_10": 0.2687,
        "mean_reciprocal_rank_at_25": 0.269,
    },
    "aws-sims": {"coverage": 0.1861, "precision_at_10": 0.0588},
    "aws-popularity-count": {},
}
TARGETS = (
    ("aws-user-personalization", "precision_at_10", 0.075),
    ("aws-user-personalization", "coverage", 0.10),
    ("aws-sims", "precision_at_10", 0.0588),
)
METRIC_ORDER = (
    "coverage",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "mean_reciprocal_rank_at_25",
)
SEED_METRICS = ("precision_at_10", "coverage")
DEFAULT_SEEDS = (42, 43, 44)  # 42 is the seed the API run used (TrainingJob.seed's default)


@dataclass
class Result:
    source: Path
    ratings: int
    users: int
    items: int
    clicks: int
    watches: int
    import_seconds: float
    train_seconds: dict[str, float]
    metrics: dict[str, dict[str, float]]
    seeds: list[int] = field(default_factory=list)
    seed_metrics: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    seed_seconds: float = 0.0


def ratings_path() -> Path:
    override = os.environ.get("PICKS_ML_SMALL")
    path = Path(override) if override else (Path(__file__).resolve().parent.parent / DEFAULT_DATA)
    if path.is_dir():
        path = path / "ratings.csv"
    return path


def read_ratings(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = {name: index for index, name in enumerate(header)}
        missing = {"userId", "movieId", "rating", "timestamp"} - set(columns)
        if missing:
            raise SystemExit(f"{path}: not a MovieLens ratings.csv (missing {', '.join(sorted(missing))})")
        rows = list(reader)
    return {
        "userId": np.array([r[columns["userId"]] for r in rows], dtype=object),
        "movieId": np.array([r[columns["movieId"]] for r in rows], dtype=object),
        "rating": np.array([float(r[columns["rating"]]) for r in rows]),
        "timestamp": np.array([int(r[columns["timestamp"]]) for r in rows], dtype=np.int64),
    }


def poc_interactions(ratings: dict[str, np.ndarray]) -> tuple[bytes, int, int]:
    """The notebook's preparation: clicks (rating > 1) + watches (rating > 3), sorted by timestamp.

    Returns (CSV bytes, clicks, watches).  The notebook appends the watch rows after the click
    rows and sorts by timestamp; a stable sort keeps that order among equal timestamps.
    """
    click = ratings["rating"] > 1
    watch = ratings["rating"] > 3
    users = np.concatenate([ratings["userId"][click], ratings["userId"][watch]])
    items = np.concatenate([ratings["movieId"][click], ratings["movieId"][watch]])
    times = np.concatenate([ratings["timestamp"][click], ratings["timestamp"][watch]])
    events = np.concatenate(
        [np.full(click.sum(), "click", dtype=object), np.full(watch.sum(), "watch", dtype=object)]
    )
    order = np.argsort(times, kind="stable")
    buffer = io.StringIO()
    buffer.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
    buffer.writelines(
        f"{u},{i},{t},{e}\n"
        for u, i, t, e in zip(
            users[order].tolist(),
            items[order].tolist(),
            times[order].tolist(),
            events[order].tolist(),
            strict=True,
        )
    )
    return buffer.getvalue().encode(), int(click.sum()), int(watch.sum())


def seed_runs(channel: Path, seeds: list[int]) -> dict[int, dict[str, float]]:
    """``training.train.run`` on a downloaded ``train`` channel, ``config.json``'s seed set to each seed."""
    from threadpoolctl import threadpool_limits

    from training.data import load_channel
    from training.train import run

    job = load_channel(channel)
    out: dict[int, dict[str, float]] = {}
    for seed in seeds:
        job.config["seed"] = seed
        with threadpool_limits(1, "blas"):  # the subprocess runs with OPENBLAS_NUM_THREADS=1
            artifact = run(job)
        out[seed] = {k: float(v) for k, v in artifact.info["metrics"].items()}
        print(
            f"  {job.recipe} seed {seed}: precision_at_10 {out[seed]['precision_at_10']:.4f} "
            f"coverage {out[seed]['coverage']:.4f}",
            flush=True,
        )
    return out


def benchmark(path: Path, seeds: list[int], timeout: float) -> Result:
    ratings = read_ratings(path)
    body, clicks, watches = poc_interactions(ratings)
    print(
        f"{len(ratings['rating']):,} ratings -> {clicks:,} click + {watches:,} watch interactions", flush=True
    )
    train_seconds: dict[str, float] = {}
    metrics: dict[str, dict[str, float]] = {}
    versions: dict[str, str] = {}
    seed_metrics: dict[str, dict[int, dict[str, float]]] = {}
    with emulator() as server, tempfile.TemporaryDirectory(prefix="picks-bench-accuracy-") as scratch:
        flow = Flow(server.url, "picks-bench-movielens")
        flow.upload("ml-latest-small/interactions.csv", body)
        flow.create_interactions_dataset(INTERACTIONS_SCHEMA)
        import_seconds = flow.import_interactions("ml-latest-small/interactions.csv", timeout)
        print(f"import ACTIVE in {import_seconds:.1f}s", flush=True)
        for recipe in RECIPES:
            version, seconds = flow.train(f"bench-{recipe}", recipe, timeout)
            versions[recipe], train_seconds[recipe] = version, seconds
            metrics[recipe] = flow.metrics(version)
            print(f"{recipe}: ACTIVE in {seconds:.1f}s; {metrics[recipe]}", flush=True)
        started = time.perf_counter()
        if seeds:
            for recipe in ("aws-user-personalization", "aws-sims"):
                channel = flow.training_channel(
                    versions[recipe], server.settings.bucket_name, Path(scratch) / recipe
                )
                seed_metrics[recipe] = seed_runs(channel, seeds)
        seed_seconds = time.perf_counter() - started
    return Result(
        source=path,
        ratings=len(ratings["rating"]),
        users=len(set(ratings["userId"].tolist())),
        items=len(set(ratings["movieId"].tolist())),
        clicks=clicks,
        watches=watches,
        import_seconds=import_seconds,
        train_seconds=train_seconds,
        metrics=metrics,
        seeds=seeds,
        seed_metrics=seed_metrics,
        seed_seconds=seed_seconds,
    )


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(result: Result, command: str) -> str:
    keys = [k for k in METRIC_ORDER if any(k in m for m in result.metrics.values())]
    keys += sorted({k for m in result.metrics.values() for k in m} - set(keys))
    up, sims, pop = (result.metrics[r] for r in RECIPES)
    lines = [
        f"## {SECTION}",
        "",
        *prose(
            f"MovieLens **ml-latest-small** (not in the repository: read from `{DEFAULT_DATA.as_posix()}`",
            "or `$PICKS_ML_SMALL`), prepared exactly as Amazon Personalize's POC-in-a-box notebook does:",
            "one `click` interaction for every rating > 1 plus one `watch` interaction for every rating > 3",
            "(`USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE`). Imported into an in-process emulator and",
            "trained with stock boto3 (`CreateSolution` with `performAutoTraining=False` and default",
            "hyperparameters, `CreateSolutionVersion`, `GetSolutionMetrics`). Reproduce with `{command}`.",
        ),
        "",
        "| Data | Value |",
        "|------|-------|",
        f"| Ratings | {result.ratings:,} ({result.users:,} users, {result.items:,} movies) |",
        f"| Interactions | {result.clicks + result.watches:,} "
        f"({result.clicks:,} click + {result.watches:,} watch) |",
        f"| CreateDatasetImportJob → ACTIVE | {result.import_seconds:.1f} s |",
        *(
            f"| {SHORT[r]}: CreateSolutionVersion → ACTIVE | {result.train_seconds[r]:.1f} s |"
            for r in RECIPES
        ),
        "",
        *prose(
            "`GetSolutionMetrics`, every key picks returns, beside the numbers Amazon Personalize publishes",
            "for the same data preparation (— where Personalize publishes none):",
        ),
        "",
        "| Metric | User-Personalization (picks) | User-Personalization (Personalize) | SIMS (picks) "
        "| SIMS (Personalize) | Popularity-Count (picks) |",
        "|--------|---:|---:|---:|---:|---:|",
    ]
    for key in keys:
        lines.append(
            f"| {key} | {_cell(up.get(key))} | {_cell(PUBLISHED['aws-user-personalization'].get(key))} "
            f"| {_cell(sims.get(key))} | {_cell(PUBLISHED['aws-sims'].get(key))} | {_cell(pop.get(key))} |"
        )
    lines += ["", "Targets (on the API run above):", "", "| Target | picks | Met? |", "|--------|---:|---|"]
    for recipe, key, threshold in TARGETS:
        value = result.metrics[recipe].get(key, 0.0)
        lines.append(
            f"| {SHORT[recipe]} {key} ≥ {threshold} | {value:.4f} | {_verdict(value >= threshold)} |"
        )
    up_ok = up.get("precision_at_10", 0) >= 0.075 and up.get("coverage", 0) >= 0.10
    lines += [
        "",
        *prose(
            "User-Personalization target (precision_at_10 ≥ 0.075 **and** coverage ≥ 0.10):",
            f"{_verdict(up_ok)}. SIMS target (precision_at_10 ≥ 0.0588):",
            f"{_verdict(sims.get('precision_at_10', 0) >= 0.0588)}.",
        ),
        "",
        *prose(
            "**Evaluation protocol** (`training/evaluation.py`, Personalize's documented holdout): 10% of",
            "the users with at least two interactions are held out and the model trains on the other 90%;",
            "each held-out user's oldest 90% of interactions are given to the model as input (fold-in, as",
            "the runtime treats a user it has not trained on) and its top 25 is compared with the newest 10%",
            "(at least one interaction). Queries go through the serving classes, so the metrics measure what",
            "the runtime serves. SIMS is given the held-out user's input as related items of their latest",
            "20 items (newest weighing most, `batch_ranking.related_to_history`); coverage is the share of",
            "the catalog appearing in top-25 lists over (up to 5,000) trained users. All metrics are",
            "averaged over held-out users (at most 5,000 of them).",
        ),
        "",
        *prose(
            "**Re-interactions.** The newest 10% counts every interaction, as Personalize's does,",
            "including items the user already touched: in this preparation a rating above 3 is a `click`",
            "and a `watch` of the same movie at the same second, so when the cut falls between them the",
            "held-out `watch` is of the movie the input ends with (30-40% of held-out users).",
            "User-Personalization learns from its training users how often a recent item comes back, by",
            "its position, latest event type and count (`training/repeats.py`), and recommends again those",
            "above `repeat_threshold` (0.05): here the last movie only clicked (about 60% come back), never",
            "one already watched. This is where the gain over Personalize comes from: without it picks",
            "measured precision_at_10 0.0475 on this split (Personalize 0.0571), whose sequence model",
            "(HRNN) can learn the same pattern (its MRR@25, 0.269, well above its precision, suggests it",
            "does). SIMS, related items of the history, does not count re-interactions. Set",
            "`exclude_interacted_items` to `true` to never recommend an item again.",
        ),
        "",
    ]
    if result.seed_metrics:
        n_users = result.users
        lines += [
            *prose(
                f"**Split noise.** With {n_users} users only ~{round(n_users * 0.1)} are held out, so",
                "precision moves by several thousandths between random splits. The API cannot choose the",
                "holdout seed (CreateSolutionVersion writes no `seed` into the channel's `config.json`;",
                "`TrainingJob.seed` defaults to 42), so these rows come from downloading the exact `train`",
                "channel each API run used and calling `training.train.run` on it directly with",
                f'`config["seed"]` set ({result.seed_seconds:.0f} s for all of them):',
            ),
            "",
            "| Recipe | Metric | " + " | ".join(f"seed {s}" for s in result.seeds) + " | mean | std |",
            "|--------|--------|" + "---:|" * (len(result.seeds) + 2),
        ]
        for recipe, per_seed in result.seed_metrics.items():
            for key in SEED_METRICS:
                values = [per_seed[s][key] for s in result.seeds]
                lines.append(
                    f"| {SHORT[recipe]} | {key} | "
                    + " | ".join(f"{v:.4f}" for v in values)
                    + f" | {np.mean(values):.4f} | {np.std(values):.4f} |"
                )
        up_mean = float(
            np.mean(
                [result.seed_metrics["aws-user-personalization"][s]["precision_at_10"] for s in result.seeds]
            )
        )
        up_cov = float(
            np.mean([result.seed_metrics["aws-user-personalization"][s]["coverage"] for s in result.seeds])
        )
        sims_mean = float(
            np.mean([result.seed_metrics["aws-sims"][s]["precision_at_10"] for s in result.seeds])
        )
        lines += [
            "",
            *prose(
                f"Over {len(result.seeds)} seeds: User-Personalization precision_at_10 {up_mean:.4f} and",
                f"coverage {up_cov:.4f} (target {_verdict(up_mean >= 0.075 and up_cov >= 0.10)}); SIMS",
                f"precision_at_10 {sims_mean:.4f} (target {_verdict(sims_mean >= 0.0588)}).",
            ),
            "",
        ]
    lines += ["| Run | Value |", "|-----|-------|", machine_rows().rstrip("\n")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        default=",".join(map(str, DEFAULT_SEEDS)),
        help="holdout seeds for the direct training.train.run runs ('' for none)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each resource")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    path = ratings_path()
    if not path.is_file():
        print(
            f"accuracy benchmark: MovieLens ratings not found at {path}.\n"
            "Put ml-latest-small's ratings.csv there (https://grouplens.org/datasets/movielens/latest/) "
            "or set "
            "PICKS_ML_SMALL to the file or its folder.",
            file=sys.stderr,
        )
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    result = benchmark(path, seeds, args.timeout)
    section = render(result, command_line("bench-accuracy", argv))
    print(section)
    if not args.no_docs:
        rewrite_section(SECTION, section, command="make bench-accuracy", script="bench/accuracy_bench.py")
        print("updated docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
