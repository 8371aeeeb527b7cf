"""Batch inference, run by ``training/train.py`` when the channel's config.json says
``"task": "batch-inference"`` (the BatchInference workflow's Run step, ``picks.workflows.batch_jobs``).

Channel: ``config.json`` (recipe type, numResults, the input files' names, the filter and the
schemas it needs), ``model/`` (the solution version's artifact), ``input/<name>`` (the user's JSON
Lines files), ``items/`` and ``users/`` (columnar tables, for filters).  Output: one
``<name>.out`` per input file in the model directory, one line per input line, as Personalize
writes them::

    {"input": {"userId": "4638"}, "output": {"recommendedItems": [...], "scores": [...]}, "error": null}

``scores`` only for the recipes Personalize scores in batch (USER_PERSONALIZATION,
PERSONALIZED_RANKING).  A line that cannot be answered (not JSON, no userId, a filter value
missing...) gets ``{"input": ..., "error": "<why>"}`` and the job goes on; an input file with more
records than the quota fails the job.

A line's answer is GetRecommendations' for the same user, item and filter values, without
real-time events (batch jobs use the data the version was trained on), scores included bit for bit.
USER_PERSONALIZATION lines are scored a block of users at a time
(``picks.serving.batch_ranking.recommend_users``: each user's product into the block's buffer, the
blending and ranking for the whole block); rows a filter or a repeat candidate shapes, and the other
recipe types, go through the serving interface (``ServingModel.recommend_request`` /
``rank_request``, filters by ``picks.filters.evaluate``) as the request path does.  Input is read
and output written a chunk of lines at a time, chunks spread over a thread per core with at most
one chunk per worker in memory; a file's output appears under its final name only once complete.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from picks.dataset_schema import parse_schema
from picks.errors import InvalidInputException
from picks.filters import ItemCatalog, UserProfile, evaluate, parse_cached
from picks.model_artifact import load_dir
from picks.serving.batch_ranking import INFERENCE_BLOCK_ROWS, recommend_users
from picks.serving.business_rules import user_interactions
from picks.serving.exploration import ExplorationConfig
from picks.serving.rankers import FactorModel, RankingRequest, serving_model

from training.data import read_table_folder
from training.tasks import run_task

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from picks.filters import FilterExpression
    from picks.serving.rankers import ServingModel
    from picks.serving.topk import Ranked

TASK = "batch-inference"
OUTPUT_SUFFIX = ".out"
PARTIAL_SUFFIX = ".partial"
LINE_CHUNK = 4096  # lines read, answered and written together
PROGRESS_SECONDS = 30.0
MASKS_KEPT = 256  # filter masks kept for lines with the same filter values (one per catalog item each)
MAX_ITEM_LIST = 500  # GetPersonalizedRanking's inputList maximum
MAX_ERROR_INPUT = 1000  # characters of an unparseable line echoed back as its input
SCORED_TYPES = frozenset({"USER_PERSONALIZATION", "PERSONALIZED_RANKING"})
# The member each recipe type's lines must have.
REQUIRED_MEMBERS = {
    "USER_PERSONALIZATION": ("userId",),
    "POPULAR_ITEMS": ("userId",),
    "RELATED_ITEMS": ("itemId",),
    "PERSONALIZED_RANKING": ("userId", "itemList"),
}


class BatchInputError(ValueError):
    """The job cannot go on (an input file past the quota); the message is its failureReason."""


class LineError(ValueError):
    """One line cannot be answered; the message is that line's ``error``."""


@dataclass(frozen=True)
class LineRequest:
    """One input line, parsed."""

    echo: Any  # written back as the line's "input"
    user_id: str | None = None
    item_id: str | None = None
    item_list: list[str] | None = None
    filter_values: dict[str, str] = field(default_factory=dict)


def _string_member(line: dict[str, Any], name: str) -> str | None:
    value = line.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise LineError(f"{name}: must be a string of 1 to 256 characters.")
    return value


def _item_list(line: dict[str, Any]) -> list[str] | None:
    value = line.get("itemList")
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(i, str) and i for i in value):
        raise LineError("itemList: must be a list of item ids (strings).")
    if len(value) > MAX_ITEM_LIST:
        raise LineError(f"itemList: {len(value)} items is more than the maximum of {MAX_ITEM_LIST}.")
    return value


def _filter_values(line: dict[str, Any]) -> dict[str, str]:
    value = line.get("filterValues")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise LineError('filterValues: must be an object of strings, e.g. {"GENRES": "\\"drama\\""}.')
    return value


def parse_line(text: str, recipe_type: str) -> LineRequest:
    """The line's request; LineError (with the line echoed in ``echo``) if it has none."""
    try:
        line = json.loads(text)
    except ValueError:
        raise LineError("the line is not valid JSON.") from None
    if not isinstance(line, dict):
        raise LineError("the line must be a JSON object.")
    request = LineRequest(
        echo=line,
        user_id=_string_member(line, "userId"),
        item_id=_string_member(line, "itemId"),
        item_list=_item_list(line),
        filter_values=_filter_values(line),
    )
    for member in REQUIRED_MEMBERS[recipe_type]:
        if line.get(member) is None:
            kind = recipe_type.replace("_", " ").lower()
            raise LineError(f"{member}: required on every line of a {kind} batch inference job.")
    return request


def error_line(echo: Any, message: str) -> dict[str, Any]:
    return {"input": echo, "error": message}


class Filter:
    """The job's filter, evaluated per line as ``RequestRules.allowed`` evaluates it per request."""

    def __init__(self, model: ServingModel, config: dict[str, Any], channel: Path) -> None:
        self.model = model
        self.expression: FilterExpression = parse_cached(config["filterExpression"])
        items_schema = config.get("itemsSchema")
        self.catalog = ItemCatalog.build(
            model.item_ids,
            read_table_folder(channel / "items"),
            None,
            schema=parse_schema(items_schema) if items_schema else None,
            id_field="ITEM_ID",
        )
        self._users_table = (
            read_table_folder(channel / "users") if self.expression.uses_current_user else None
        )
        users_schema = config.get("usersSchema")
        self._users_schema = parse_schema(users_schema) if users_schema else None
        expression = self.expression
        self._per_line = bool(
            expression.uses_current_item or expression.uses_current_user or expression.interaction_event_types
        )
        self._masks: dict[tuple[tuple[str, str], ...], np.ndarray] = {}

    @cached_property
    def _users(self) -> ItemCatalog | None:
        table = self._users_table
        if table is None or "USER_ID" not in table:
            return None
        return ItemCatalog.build(
            np.asarray(table["USER_ID"].decoded(), dtype=object),
            table,
            None,
            schema=self._users_schema,
            id_field="USER_ID",
        )

    def _profile(self, user_id: str | None) -> UserProfile | None:
        users = self._users
        if not user_id or users is None or users.position(user_id) is None:
            return None
        return UserProfile.from_record(users.current_item(user_id), self._users_schema)

    def allowed(self, request: LineRequest) -> np.ndarray:
        """The line's mask; the same array for lines with the same filter values where the
        filter reads nothing else of the line (no CurrentUser, CurrentItem or interactions)."""
        if not self._per_line:
            key = tuple(sorted(request.filter_values.items()))
            mask = self._masks.get(key)
            if mask is None:
                if len(self._masks) >= MASKS_KEPT:
                    self._masks.clear()
                mask = self._masks[key] = self._evaluate(request)
            return mask
        return self._evaluate(request)

    def _evaluate(self, request: LineRequest) -> np.ndarray:
        expression = self.expression
        current = None
        if expression.uses_current_item:
            if not request.item_id:
                raise LineError("filterArn: the filter uses CurrentItem, which needs an itemId.")
            current = self.catalog.current_item(request.item_id)
        try:
            return evaluate(
                expression,
                self.catalog,
                filter_values=request.filter_values,
                user=self._profile(request.user_id) if expression.uses_current_user else None,
                current_item=current,
                interactions=user_interactions(self.model, request.user_id, [])
                if expression.interaction_event_types
                else {},
            )
        except InvalidInputException as error:
            raise LineError(str(error)) from None


class Scorer:
    """Answers parsed lines with the job's model, filter and numResults."""

    def __init__(self, model: ServingModel, config: dict[str, Any], channel: Path) -> None:
        self.model = model
        self.recipe_type: str = config["recipeType"]
        self.count = int(config.get("numResults") or 25)
        self.scored = self.recipe_type in SCORED_TYPES
        self.filter = Filter(model, config, channel) if config.get("filterExpression") else None
        self.block_rows = int(config.get("blockRows") or INFERENCE_BLOCK_ROWS)
        # As a campaign's: Personalize's defaults where the job sets none.
        self.exploration = ExplorationConfig.from_wire(
            (config.get("batchInferenceJobConfig") or {}).get("itemExplorationConfig")
        )
        # Built once here, not by the first of the threads that score chunks.
        _ = model.user_index, model.item_index, model.popular_order, model.popularity_share

    def answer(self, request: LineRequest) -> dict[str, Any]:
        allowed = self.filter.allowed(request) if self.filter is not None else None
        ranking = RankingRequest(request.user_id, request.item_id, exploration=self.exploration)
        if self.recipe_type == "PERSONALIZED_RANKING":
            assert request.item_list is not None  # parse_line requires it
            return self._ranked(ranking, request.item_list, allowed)
        ranked = self.model.recommend_request(ranking, self.count, allowed=allowed)
        return self._output(ranked, [])

    def _ranked(
        self, request: RankingRequest, item_list: list[str], allowed: np.ndarray | None
    ) -> dict[str, Any]:
        """GetPersonalizedRanking's answer: duplicates once, filtered-out items left out, items the
        model does not know last in the order given (scored 0: the lists stay aligned)."""
        unique = list(dict.fromkeys(item_list))
        index = self.model.item_index
        known = np.array([index[item] for item in unique if item in index], dtype=np.int64)
        if allowed is not None:
            known = known[allowed[known]]
        return self._output(self.model.rank_request(request, known), [i for i in unique if i not in index])

    def _output(self, ranked: Ranked, unknown: list[str]) -> dict[str, Any]:
        ids = self.model.item_ids
        output: dict[str, Any] = {
            "recommendedItems": [str(ids[i]) for i in ranked.indices.tolist()] + unknown
        }
        if self.scored:
            # Rounded as GetRecommendations rounds them, so a line reads as the runtime's answer.
            output["scores"] = [round(float(s), 8) for s in ranked.scores.tolist()] + [0.0] * len(unknown)
        return output

    def line(self, text: str) -> dict[str, Any]:
        """The output line for one input line."""
        try:
            request = parse_line(text, self.recipe_type)
        except LineError as error:
            echo = _echo(text)
            return error_line(echo, str(error))
        try:
            return {"input": request.echo, "output": self.answer(request), "error": None}
        except LineError as error:
            return error_line(request.echo, str(error))

    def lines(self, texts: list[str]) -> list[dict[str, Any]]:
        """The output lines for a chunk of input lines: ``line``'s answers, users scored in blocks
        (``batch_ranking.recommend_users``) where the model recommends to users."""
        if not isinstance(self.model, FactorModel) or self.recipe_type != "USER_PERSONALIZATION":
            return [self.line(text) for text in texts]
        answers: list[dict[str, Any] | None] = [None] * len(texts)
        pending: list[tuple[int, LineRequest, np.ndarray | None]] = []
        for position, text in enumerate(texts):
            try:
                request = parse_line(text, self.recipe_type)
            except LineError as error:
                answers[position] = error_line(_echo(text), str(error))
                continue
            try:
                pending.append((position, request, self.filter.allowed(request) if self.filter else None))
            except LineError as error:
                answers[position] = error_line(request.echo, str(error))
        index = self.model.user_index
        ranked = recommend_users(
            self.model,
            [index.get(request.user_id) if request.user_id else None for _, request, _ in pending],
            self.count,
            [mask for _, _, mask in pending],
            batch=self.block_rows,
            exploration=self.exploration,
        )
        for (position, request, _), answer in zip(pending, ranked, strict=True):
            answers[position] = {"input": request.echo, "output": self._output(answer, []), "error": None}
        return [answer for answer in answers if answer is not None]


def _echo(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text[:MAX_ERROR_INPUT]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; a line that is not UTF-8 is passed on as found."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                yield number, text


def _chunks(lines: Iterable[tuple[int, str]], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for _, text in lines:
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class Progress:
    lines: int = 0
    errors: int = 0
    files: int = 0
    started: float = field(default_factory=time.monotonic)
    _logged: float = field(default_factory=time.monotonic)

    def add(self, lines: int, errors: int, *, force: bool = False) -> None:
        self.lines += lines
        self.errors += errors
        now = time.monotonic()
        if force or now - self._logged >= PROGRESS_SECONDS:
            self._logged = now
            print(json.dumps(self.summary()), flush=True)  # the job's log: its progress line

    def summary(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "batchInference": "progress",
            "files": self.files,
            "lines": self.lines,
            "errors": self.errors,
            "linesPerSecond": round(self.lines / elapsed, 1),
        }


def _counted(chunks: Iterable[list[str]], source: Path, max_records: int) -> Iterator[list[str]]:
    """``chunks`` as they are, until they hold more than ``max_records`` lines: BatchInputError."""
    records = 0
    for chunk in chunks:
        records += len(chunk)
        if records > max_records:
            raise BatchInputError(
                f"jobInput: input file {source.name[:200]} has more than {max_records} records "
                "(the limit per file)."
            )
        yield chunk


def _in_order(
    pool: ThreadPoolExecutor, scorer: Scorer, chunks: Iterable[list[str]], ahead: int
) -> Iterator[list[dict[str, Any]]]:
    """Each chunk's output lines, in the input's order, answered on the pool's threads (numpy
    leaves the interpreter lock while it scores) with at most ``ahead`` + 1 chunks in memory."""
    pending: deque[Future[list[dict[str, Any]]]] = deque()
    for chunk in chunks:
        pending.append(pool.submit(scorer.lines, chunk))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def score_file(
    scorer: Scorer, source: Path, target: Path, max_records: int, progress: Progress, workers: int = 1
) -> None:
    """``source``'s answers into ``target``, written whole under that name once complete;
    ``workers`` threads answer chunks side by side."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    chunks = _counted(_chunks(_lines(source), LINE_CHUNK), source, max_records)
    with partial.open("w", encoding="utf-8") as out, ThreadPoolExecutor(workers) as pool:
        for answers in _in_order(pool, scorer, chunks, ahead=workers):
            out.write("".join(json.dumps(a, separators=(",", ":")) + "\n" for a in answers))
            progress.add(len(answers), sum(1 for a in answers if a.get("error")))
    partial.rename(target)
    progress.files += 1
    progress.add(0, 0, force=True)


def run(channel: Path, model_dir: Path) -> dict[str, Any]:
    config = json.loads((channel / "config.json").read_text())
    model = serving_model(load_dir(channel / "model"))
    scorer = Scorer(model, config, channel)
    progress = Progress()
    max_records = int(config.get("maxRecordsPerFile") or 50_000_000)
    workers = int(config.get("workers") or len(os.sched_getaffinity(0)))
    for name in config["inputs"]:
        score_file(
            scorer,
            channel / "input" / name,
            model_dir / (name + OUTPUT_SUFFIX),
            max_records,
            progress,
            workers,
        )
    return progress.summary()


def main(channel: Path, model_dir: Path, output_dir: Path) -> int:
    return run_task("batch inference", "batchInference", run, BatchInputError, channel, model_dir, output_dir)
