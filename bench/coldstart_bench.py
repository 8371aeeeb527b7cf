"""Cold-start benchmark: new items in MovieLens ml-latest-small, recommended from their metadata.

Run with ``make bench-coldstart`` (``python -m bench.coldstart_bench``).  Steps:

1. read ``ratings.csv``, ``movies.csv`` and ``tags.csv`` (``../shared/data/ml-latest-small/`` or
   ``$PICKS_ML_SMALL``; never copied into the repository) and prepare the interactions as
   Personalize's POC notebook does (``bench.accuracy_bench.poc_interactions``); item metadata:
   GENRES (categorical, ``|``-separated as MovieLens writes them) and TAGS (textual: the movie's
   tags, joined);
2. hold out 10% of the movies that have interactions, with all their interactions ("new items"),
   and, for warm-item precision, the last ``WARM_HOLDOUT`` interactions of a sample of users;
3. through an in-process emulator with stock boto3: import the rest and the warm movies' metadata,
   train ``aws-user-personalization`` (FULL), then add the held-out movies with ``PutItems``
   (CREATION_TIMESTAMP now) and run the update that folds them in (``trainingMode`` UPDATE: the
   path the 2-hourly automatic update takes); train ``aws-similar-items``, ``aws-sims`` and
   ``aws-popularity-count`` on the same data;
4. for each user who interacted with a held-out movie: recall@25 of the held-out movies they
   interacted with, in User-Personalization's answer (campaign with Personalize's default
   exploration weight, 0.3), in Similar-Items' and SIMS' answers for the user's latest warm movie,
   in Popularity-Count's answer, and in a metadata-only kNN baseline computed here (the user's
   warm movies' mean metadata vector, cosine against every movie);
5. warm precision@10 of User-Personalization on the held-out warm interactions, with exploration
   weight 0.0 and 0.3 (the relative drop is the cost of exploring);
6. rewrite the "Cold start" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import math
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.accuracy_bench import poc_interactions, ratings_path, read_ratings
from bench.common import (
    ROLE_ARN,
    Flow,
    clients,
    command_line,
    emulator,
    machine_rows,
    prose,
    rewrite_section,
    wait_active,
)
from demo.schemas import avro_schema
from demo.synthetic import INTERACTIONS_SCHEMA

if TYPE_CHECKING:
    from pathlib import Path

SECTION = "Cold start"
HELD_OUT_SHARE = 0.10
WARM_USERS, WARM_HOLDOUT = 200, 5
K, WARM_K = 25, 10
EXPLORATION = 0.3
SEED = 15
ITEMS_SCHEMA = avro_schema(
    "Items",
    ("ITEM_ID", "string"),
    ("GENRES", "string", "categorical"),
    ("TAGS", ["null", "string"], "textual"),
    ("CREATION_TIMESTAMP", "long"),
)
UP, SIMILAR, SIMS, POPULAR, KNN, KNN_SEED = (
    "User-Personalization (metadata, exploration 0.3)",
    "Similar-Items",
    "SIMS",
    "Popularity-Count",
    "metadata-only kNN of the user's movies (baseline)",
    "metadata-only kNN of the latest movie (baseline)",
)
# Each model against the baseline that sees the same input: the user's history, or one movie.
BASELINE = {UP: KNN, SIMILAR: KNN_SEED}


@dataclass
class Split:
    interactions: bytes  # the training CSV (held-out movies and warm holdout removed)
    held_out: set[str]  # the new movies
    cold_truth: dict[str, set[str]]  # user -> held-out movies they interacted with
    warm_truth: dict[str, set[str]]  # sampled user -> their held-out warm interactions
    history: dict[str, list[str]]  # user -> training movies, oldest first


@dataclass
class Result:
    movies: int
    held_out: int
    cold_users: int
    warm_users: int
    recall: dict[str, float | None]
    warm_precision: dict[float, float]
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)


def read_metadata(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(movie -> genres, movie -> its tags joined by spaces)."""
    genres: dict[str, str] = {}
    with (folder / "movies.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            genres[row["movieId"]] = row["genres"]
    tags: dict[str, list[str]] = defaultdict(list)
    tags_path = folder / "tags.csv"
    if tags_path.is_file():
        with tags_path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                tags[row["movieId"]].append(row["tag"])
    return genres, {movie: " ".join(dict.fromkeys(t)) for movie, t in tags.items()}


def split(body: bytes, rng: np.random.Generator) -> Split:
    rows = list(csv.reader(io.StringIO(body.decode())))[1:]  # USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE
    movies = sorted({row[1] for row in rows})
    held_out = set(rng.choice(movies, int(len(movies) * HELD_OUT_SHARE), replace=False).tolist())
    warm_rows = [row for row in rows if row[1] not in held_out]
    by_user: dict[str, list[int]] = defaultdict(list)
    for position, row in enumerate(warm_rows):
        by_user[row[0]].append(position)
    eligible = sorted(user for user, positions in by_user.items() if len(positions) > 4 * WARM_HOLDOUT)
    sampled = rng.choice(eligible, min(WARM_USERS, len(eligible)), replace=False).tolist()
    dropped = {p for user in sampled for p in by_user[user][-WARM_HOLDOUT:]}
    warm_truth = {user: {warm_rows[p][1] for p in by_user[user][-WARM_HOLDOUT:]} for user in sampled}
    kept = [row for position, row in enumerate(warm_rows) if position not in dropped]
    cold_truth: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row[1] in held_out:
            cold_truth[row[0]].add(row[1])
    history: dict[str, list[str]] = defaultdict(list)
    for row in kept:
        history[row[0]].append(row[1])
    out = io.StringIO()
    out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
    out.writelines(",".join(row) + "\n" for row in kept)
    return Split(out.getvalue().encode(), held_out, dict(cold_truth), warm_truth, dict(history))


# --- the metadata-only kNN baseline ------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def metadata_vectors(movies: list[str], genres: dict[str, str], tags: dict[str, str]) -> np.ndarray:
    """One row per movie: genres one-hot and tag TF-IDF, each part L2-normalised, then the row."""
    genre_names = sorted({g for movie in movies for g in genres.get(movie, "").split("|") if g})
    documents = [_tokens(tags.get(movie, "")) for movie in movies]
    frequency = Counter(token for document in documents for token in set(document))
    vocabulary = {token: i for i, token in enumerate(sorted(frequency))}
    idf = np.array([math.log((1 + len(movies)) / (1 + frequency[t])) + 1 for t in sorted(frequency)])
    genre_part = np.zeros((len(movies), len(genre_names)), dtype=np.float64)
    genre_index = {g: i for i, g in enumerate(genre_names)}
    text_part = np.zeros((len(movies), len(vocabulary)), dtype=np.float64)
    for row, movie in enumerate(movies):
        for genre in genres.get(movie, "").split("|"):
            if genre in genre_index:
                genre_part[row, genre_index[genre]] = 1.0
        for token, count in Counter(documents[row]).items():
            text_part[row, vocabulary[token]] = count * idf[vocabulary[token]]
    parts = []
    for part in (genre_part, text_part):
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        parts.append(np.divide(part, norms, out=np.zeros_like(part), where=norms > 0))
    vectors = np.hstack(parts)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def knn_recall(data: Split, movies: list[str], vectors: np.ndarray, latest_only: bool = False) -> float:
    """Recall@K of the held-out movies when every movie is ranked by the cosine of its metadata with
    the mean of the user's training movies (``latest_only``: with their latest movie alone, as a
    related-items request sees it)."""
    index = {movie: i for i, movie in enumerate(movies)}
    recalls = []
    for user, truth in data.cold_truth.items():
        seen = [index[m] for m in data.history.get(user, []) if m in index]
        if not seen:
            continue
        scores = vectors @ vectors[seen[-1:] if latest_only else seen].mean(axis=0)
        scores[seen[-1:] if latest_only else seen] = -np.inf
        best = np.argpartition(-scores, K)[:K]
        recalls.append(len({movies[i] for i in best.tolist()} & truth) / len(truth))
    return float(np.mean(recalls))


# --- the API side --------------------------------------------------------------------------------------


def _items_csv(movies: list[str], genres: dict[str, str], tags: dict[str, str], created: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ITEM_ID", "GENRES", "TAGS", "CREATION_TIMESTAMP"])
    for movie in movies:
        writer.writerow([movie, genres.get(movie, ""), tags.get(movie, ""), created])
    return out.getvalue().encode()


def _import(flow: Flow, dataset_arn: str, key: str, body: bytes, timeout: float) -> None:
    flow.upload(key, body)
    job = flow.personalize.create_dataset_import_job(
        jobName=key.replace("/", "-").replace(".", "-"),
        datasetArn=dataset_arn,
        dataSource={"dataLocation": f"s3://{flow.bucket}/{key}"},
        roleArn=ROLE_ARN,
    )["datasetImportJobArn"]
    wait_active(
        lambda: flow.personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
        "import",
        timeout,
    )


def _items_dataset(flow: Flow) -> str:
    p = flow.personalize
    schema = p.create_schema(name="coldstart-items", schema=ITEMS_SCHEMA)["schemaArn"]
    arn = p.create_dataset(
        name="coldstart-items", schemaArn=schema, datasetGroupArn=flow.group_arn, datasetType="ITEMS"
    )["datasetArn"]
    wait_active(lambda: p.describe_dataset(datasetArn=arn)["dataset"], "items dataset", 60)
    return arn


def _put_items(
    url: str, dataset_arn: str, movies: list[str], genres: dict[str, str], tags: dict[str, str]
) -> None:
    import json

    events = clients(url, "personalize-events")[0]
    for start in range(0, len(movies), 10):
        events.put_items(
            datasetArn=dataset_arn,
            items=[
                {
                    "itemId": movie,
                    "properties": json.dumps(
                        {
                            "genres": genres.get(movie, ""),
                            "tags": tags.get(movie, "")[:1000],
                            "creationTimestamp": int(time.time()),
                        }
                    ),
                }
                for movie in movies[start : start + 10]
            ],
        )


def _campaign(flow: Flow, name: str, version: str, weight: float | None, timeout: float) -> str:
    config = {} if weight is None else {"itemExplorationConfig": {"explorationWeight": str(weight)}}
    arn = flow.personalize.create_campaign(name=name, solutionVersionArn=version, campaignConfig=config)[
        "campaignArn"
    ]
    wait_active(lambda: flow.personalize.describe_campaign(campaignArn=arn)["campaign"], "campaign", timeout)
    return arn


def _answers(
    runtime: Any, campaign: str, requests: dict[str, dict[str, str]], k: int
) -> dict[str, list[str]]:
    return {
        key: [
            i["itemId"]
            for i in runtime.get_recommendations(campaignArn=campaign, numResults=k, **args)["itemList"]
        ]
        for key, args in requests.items()
    }


def _recall(answers: dict[str, list[str]], truth: dict[str, set[str]]) -> float:
    return float(np.mean([len(set(answers[user]) & items) / len(items) for user, items in truth.items()]))


def _train(flow: Flow, recipe: str, timeout: float, seconds: dict[str, float]) -> str:
    version, took = flow.train(f"coldstart-{recipe}", recipe, timeout)
    seconds[recipe] = took
    print(f"{recipe}: ACTIVE in {took:.1f}s", flush=True)
    return version


def benchmark(folder: Path, timeout: float) -> Result:
    rng = np.random.default_rng(SEED)
    ratings = read_ratings(folder / "ratings.csv")
    body, _, _ = poc_interactions(ratings)
    genres, tags = read_metadata(folder)
    data = split(body, rng)
    movies = sorted({m for h in data.history.values() for m in h} | data.held_out)
    warm_movies = [m for m in movies if m not in data.held_out]
    old = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())
    cold_users = {u: t for u, t in data.cold_truth.items() if data.history.get(u)}
    data.cold_truth = cold_users
    print(
        f"{len(movies):,} movies, {len(data.held_out):,} held out, {len(cold_users):,} users with them",
        flush=True,
    )
    seconds: dict[str, float] = {}
    recall: dict[str, float | None] = {}
    notes: list[str] = []
    with emulator() as server:
        flow = Flow(server.url, "picks-bench-coldstart")
        flow.create_interactions_dataset(INTERACTIONS_SCHEMA)
        items_arn = _items_dataset(flow)
        _import(flow, flow.dataset_arn, "coldstart/interactions.csv", data.interactions, timeout)
        _import(flow, items_arn, "coldstart/items.csv", _items_csv(warm_movies, genres, tags, old), timeout)
        up_solution = flow.create_solution("coldstart-up", "aws-user-personalization")
        started = time.perf_counter()
        full = flow.start_version(up_solution)
        flow.wait_version(full, timeout)
        seconds["aws-user-personalization"] = time.perf_counter() - started
        _put_items(server.url, items_arn, sorted(data.held_out), genres, tags)
        started = time.perf_counter()
        update = flow.personalize.create_solution_version(solutionArn=up_solution, trainingMode="UPDATE")[
            "solutionVersionArn"
        ]
        flow.wait_version(update, timeout)
        seconds["update (new movies folded in)"] = time.perf_counter() - started
        runtime = clients(server.url, "personalize-runtime")[0]
        cold_requests = {user: {"userId": user} for user in cold_users}
        warm_requests = {user: {"userId": user} for user in data.warm_truth}
        explored = _campaign(flow, "coldstart-up-explore", update, EXPLORATION, timeout)
        plain = _campaign(flow, "coldstart-up-plain", update, 0.0, timeout)
        recall[UP] = _recall(_answers(runtime, explored, cold_requests, K), cold_users)
        warm_precision = {
            weight: float(
                np.mean(
                    [
                        len(set(answer) & data.warm_truth[user]) / WARM_K
                        for user, answer in _answers(runtime, campaign, warm_requests, WARM_K).items()
                    ]
                )
            )
            for weight, campaign in ((0.0, plain), (EXPLORATION, explored))
        }
        seeds = {user: {"itemId": data.history[user][-1]} for user in cold_users}
        for label, recipe in (
            (SIMILAR, "aws-similar-items"),
            (SIMS, "aws-sims"),
            (POPULAR, "aws-popularity-count"),
        ):
            try:
                version = _train(flow, recipe, timeout, seconds)
            except Exception as error:  # noqa: BLE001 - a recipe picks cannot train yet is reported, not fatal
                recall[label] = None
                notes.append(f"{label}: not measured ({str(error)[:160]})")
                continue
            campaign = _campaign(flow, f"coldstart-{recipe}", version, None, timeout)
            requests = cold_requests if recipe == "aws-popularity-count" else seeds
            recall[label] = _recall(_answers(runtime, campaign, requests, K), cold_users)
    vectors = metadata_vectors(movies, genres, tags)
    recall[KNN] = knn_recall(data, movies, vectors)
    recall[KNN_SEED] = knn_recall(data, movies, vectors, latest_only=True)
    return Result(
        movies=len(movies),
        held_out=len(data.held_out),
        cold_users=len(cold_users),
        warm_users=len(data.warm_truth),
        recall=recall,
        warm_precision=warm_precision,
        seconds=seconds,
        notes=notes,
    )


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def render(result: Result, command: str) -> str:
    plain, explored = result.warm_precision[0.0], result.warm_precision[EXPLORATION]
    drop = 1 - explored / plain if plain else 0.0
    lines = [
        f"## {SECTION}",
        "",
        *prose(
            "MovieLens **ml-latest-small** prepared as in the Accuracy section; item metadata: GENRES",
            "(categorical) and TAGS (textual: the movie's tags). 10% of the movies that have interactions",
            "are held out with all their interactions, and added with `PutItems` after the first FULL",
            "training; a `trainingMode` UPDATE version (the automatic update's path) folds them in.",
            "Recall@25 of the held-out movies among the users who interacted with them",
            "(User-Personalization and Popularity-Count: the user's answer; Similar-Items and SIMS:",
            "the answer for the user's latest",
            "training movie; the kNN baselines: cosine of metadata vectors (genres one-hot and tag TF-IDF)",
            "with the mean of the user's training movies, or with the latest one alone, the input",
            f"Similar-Items and SIMS get). Reproduce with `{command}`.",
        ),
        "",
        "| Data | Value |",
        "|------|-------|",
        f"| Movies | {result.movies:,} ({result.held_out:,} held out as new) |",
        f"| Users who interacted with a new movie | {result.cold_users:,} |",
        *(f"| {name}: → ACTIVE | {s:.1f} s |" for name, s in result.seconds.items()),
        "",
        "| Model | Recall@25 of new movies |",
        "|-------|---:|",
        *(f"| {label} | {_cell(value)} |" for label, value in result.recall.items()),
        "",
        f"Warm precision@{WARM_K} of User-Personalization ({result.warm_users} users,",
        f"their last {WARM_HOLDOUT} interactions held out): {plain:.4f} with exploration 0.0,",
        f"{explored:.4f} with {EXPLORATION} ({drop:.1%} relative drop).",
        "",
        "| Target | Measured | Met? |",
        "|--------|---:|---|",
    ]
    for label, baseline in BASELINE.items():
        value, knn = result.recall.get(label), result.recall[baseline] or 0.0
        verdict = "**met**" if value is not None and value > knn else "**not met**"
        lines.append(f"| {label} beats the {baseline} ({knn:.4f}) | {_cell(value)} | {verdict} |")
    lines.append(
        f"| Warm precision@{WARM_K} drop with exploration {EXPLORATION} < 5% | {drop:.1%} "
        f"| {'**met**' if drop < 0.05 else '**not met**'} |"
    )
    if result.notes:
        lines += ["", *(f"* {note}" for note in result.notes)]
    lines += ["", "| Run | Value |", "|-----|-------|", machine_rows().rstrip("\n")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each resource")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    folder = ratings_path().parent
    if not (folder / "movies.csv").is_file():
        print(f"cold-start benchmark: MovieLens ml-latest-small not found in {folder}.", file=sys.stderr)
        return 2
    result = benchmark(folder, args.timeout)
    section = render(result, command_line("bench-coldstart", argv))
    print(section)
    if not args.no_docs:
        rewrite_section(SECTION, section, command="make bench-coldstart", script="bench/coldstart_bench.py")
        print("updated docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
