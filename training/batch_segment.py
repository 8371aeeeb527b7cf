"""Batch segments, run by ``training/train.py`` when the channel's config.json says
``"task": "batch-segment"`` (the BatchSegment workflow's Run step, ``picks.workflows.batch_jobs``).

Channel: ``config.json`` (recipe, numResults, the input files' names, the per-file query limit, the
filter and the Users schema it needs), ``model/`` (the USER_SEGMENTATION artifact), ``input/<name>``
(the user's JSON Lines files), ``users/`` (the Users table, for a filter on ``Users.FIELD``).
Output: one ``<name>.out`` per input file in the model directory, one line per input line, shaped
as the developer guide's batch segment examples::

    {"input": {"itemId": "105"}, "output": {"recommendedUsers": ["106", "107", "49"]}}
    {"itemAttributes": "ITEMS.genres = \\"Comedy\\"", "output": {"recommendedUsers": ["25", "78"]}}

A line that cannot be answered (not JSON, no ``itemId`` / ``itemAttributes``, an item the version
was not trained on, a query that does not parse or matches no item, a filter value missing) gets
``"error": "<why>"`` in place of ``output`` and the job goes on; a file with more queries than the
recipe's limit (500 item ids, 10 attribute queries) fails the job, as do the other input quotas.

Scoring is ``picks.serving.segments``' (users in blocks, one matrix product per block for every
line of the file at once).  The filter becomes the ``user_mask``: lines are grouped by their
``filterValues`` and each group is scored with its own mask, evaluated by ``picks.filters`` over
the model's users (their Users metadata, and for ``Interactions.EVENT_TYPE`` conditions the event
types each user has in the version's training data).  A file's output appears under its final
name only once it is complete.  Memory is bounded at any numResults (up to 5M users per line): the
lines are answered a group at a time, the group's top lists within ``RESULT_BUDGET_BYTES``, and
each group's lines are written before the next group is scored (``SegmentJob``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from picks.dataset_schema import parse_schema
from picks.errors import InvalidInputException, excerpt
from picks.filters import ItemCatalog, evaluate, parse_cached
from picks.filters.parser import INTERACTION_DATASETS
from picks.model_artifact import load_dir
from picks.serving.segments import (
    ENTRY_BYTES,
    ITEM_AFFINITY,
    ITEM_ATTRIBUTE_AFFINITY,
    MAX_ATTRIBUTE_QUERIES,
    MAX_ITEM_QUERIES,
    Segment,
    SegmentInputError,
    SegmentModel,
    attribute_vectors,
    check_num_results,
    item_vectors,
    top_users,
)

from training.data import read_table_folder
from training.tasks import run_task

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TASK = "batch-segment"
OUTPUT_SUFFIX = ".out"
PARTIAL_SUFFIX = ".partial"
MAX_ERROR_INPUT = 1000  # characters of an unparseable line echoed back as its input
# The member each recipe's lines must have, and how many lines one scoring call takes.
LINE_MEMBER = {ITEM_AFFINITY: "itemId", ITEM_ATTRIBUTE_AFFINITY: "itemAttributes"}
CALL_LIMIT = {ITEM_AFFINITY: MAX_ITEM_QUERIES, ITEM_ATTRIBUTE_AFFINITY: MAX_ATTRIBUTE_QUERIES}
# The top lists a job holds at once (``SegmentJob``; config.json's "resultBudgetBytes" overrides
# it): 500 lines × 5M users would otherwise be 30 GB.  Besides it the job holds the model, one
# block of scores (``picks.serving.segments.BLOCK_SCORES``) and one output line.
RESULT_BUDGET_BYTES = 512 << 20


class SegmentJobError(ValueError):
    """The job cannot go on (a file past the query limit); the message is its failureReason."""


class LineError(ValueError):
    """One line cannot be answered; the message is that line's ``error``."""


@dataclass(frozen=True)
class Query:
    """One input line, parsed: its query (an item id or an attribute query) or its error."""

    echo: Any  # the line as read (written back as "input")
    value: str | None = None
    filter_values: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def filter_key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.filter_values.items()))


def parse_line(text: str, member: str) -> Query:
    """The line's query; a Query with ``error`` set if it has none."""
    try:
        line = json.loads(text)
    except ValueError:
        return Query(echo=text[:MAX_ERROR_INPUT], error="the line is not valid JSON.")
    if not isinstance(line, dict):
        return Query(echo=line, error="the line must be a JSON object.")
    value = line.get(member)
    if not isinstance(value, str) or not value.strip():
        return Query(
            echo=line, error=f"{member}: required on every line of this batch segment job, as a string."
        )
    if member == "itemId" and len(value) > 256:
        return Query(echo=line, error="itemId: must be a string of 1 to 256 characters.")
    values = line.get("filterValues")
    if values is not None and (
        not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
    ):
        return Query(
            echo=line, error='filterValues: must be an object of strings, e.g. {"COUNTRY": "\\"Japan\\""}.'
        )
    return Query(echo=line, value=value, filter_values=values or {})


def output_line(query: Query, member: str, segment: Segment | None = None, error: str | None = None) -> dict:
    """The line as the guide shows it: Item-Affinity echoes the line as ``input``;
    Item-Attribute-Affinity writes the query as ``itemAttributes``."""
    head: dict[str, Any] = (
        {"itemAttributes": query.value}
        if member == "itemAttributes" and query.value is not None
        else {"input": query.echo}
    )
    problem = error or query.error or (segment.error if segment is not None else None)
    if problem is not None:
        return {**head, "error": problem}
    assert segment is not None
    return {**head, "output": {"recommendedUsers": segment.users}}


def users_by_event_type(model: SegmentModel) -> dict[str, np.ndarray]:
    """The model's users (indices) with at least one training interaction, by lower-cased event
    type, read from the interaction-filter arrays the artifact carries (``training.history``)."""
    artifact = model.artifact
    names = artifact.strings.get("filter_event_types")
    users = artifact.strings.get("filter_users")
    if names is None or users is None or "filter_indptr" not in artifact.arrays:
        return {}
    indptr = np.asarray(artifact.arrays["filter_indptr"], dtype=np.int64)
    owner = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(indptr))
    types = artifact.arrays.get("filter_types")
    codes = np.zeros(len(owner), dtype=np.int64) if types is None else np.asarray(types, dtype=np.int64)
    position = np.array([model.user_index.get(str(u), -1) for u in users.tolist()], dtype=np.int64)
    found: dict[str, np.ndarray] = {}
    for code in np.unique(codes).tolist():
        rows = position[np.unique(owner[codes == code])]
        found[str(names[code]).lower()] = rows[rows >= 0]
    return found


class UserFilter:
    """The job's filter over the model's users: a ``user_mask`` per set of filter values."""

    def __init__(self, model: SegmentModel, config: dict[str, Any], channel: Path) -> None:
        self.expression = parse_cached(config["filterExpression"])
        schema_text = config.get("usersSchema")
        self.catalog = ItemCatalog.build(
            model.user_ids,
            read_table_folder(channel / "users"),
            None,
            schema=parse_schema(schema_text) if schema_text else None,
            id_field="USER_ID",
        )
        on_interactions = any(c.dataset in INTERACTION_DATASETS for c in self.expression.clauses)
        self.interactions = users_by_event_type(model) if on_interactions else {}

    def mask(self, filter_values: dict[str, str]) -> np.ndarray:
        try:
            return evaluate(
                self.expression, self.catalog, filter_values=filter_values, interactions=self.interactions
            )
        except InvalidInputException as error:
            raise LineError(str(error)) from None


@dataclass(frozen=True)
class Batch:
    """One scoring call: up to ``per_call`` lines of the file sharing their filter values, in file
    order, whose scorable lines' vectors are stacked in ``vectors``.  The calls are made from the
    whole file, whatever the budget, so a line's scores never depend on how the file is grouped."""

    filter_values: dict[str, str]
    vectors: np.ndarray


@dataclass(frozen=True)
class Place:
    """Where a parsed line is answered: its batch and its column there, or its own error."""

    batch: Batch
    column: int = -1
    error: str | None = None


class SegmentJob:
    """Answers one input file's lines with the job's model, filter and numResults.

    Memory: a line's top list holds ``ENTRY_BYTES`` per user kept, up to 5M users per segment, so
    the file's lines are answered in groups of ``lines_per_group`` consecutive lines, each group's
    lists within ``result_budget`` bytes; each group is written before the next is scored.  A
    group scores each batch it draws on once (one matrix product per block of users for the whole
    batch, only the group's lists kept), so a file answered in many groups makes more passes over
    the users, never more memory."""

    def __init__(self, model: SegmentModel, config: dict[str, Any], channel: Path) -> None:
        recipe = model.recipe
        if recipe not in LINE_MEMBER:
            raise SegmentJobError(f"solutionVersionArn: picks has no batch segments for recipe {recipe}.")
        self.model = model
        self.member = LINE_MEMBER[recipe]
        self.per_call = CALL_LIMIT[recipe]
        try:
            self.count = check_num_results(int(config.get("numResults") or 25))
        except SegmentInputError as error:
            raise SegmentJobError(str(error)) from None
        self.max_queries = int(config.get("maxQueriesPerFile") or self.per_call)
        self.filter = UserFilter(model, config, channel) if config.get("filterExpression") else None
        self.result_budget = int(config.get("resultBudgetBytes") or RESULT_BUDGET_BYTES)
        kept = max(1, min(self.count, model.user_count)) * ENTRY_BYTES
        self.lines_per_group = max(1, self.result_budget // kept)
        self._mask: tuple[tuple[tuple[str, str], ...], np.ndarray | LineError] | None = None

    def _plan(self, queries: list[Query]) -> list[Place | None]:
        """Each parsed line's place (None for a line with its own parse error)."""
        vectors_of = item_vectors if self.member == "itemId" else attribute_vectors
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for index, query in enumerate(queries):
            if query.error is None:
                groups.setdefault(query.filter_key if self.filter else (), []).append(index)
        places: list[Place | None] = [None] * len(queries)
        for lines in groups.values():
            for start in range(0, len(lines), self.per_call):
                call = lines[start : start + self.per_call]
                vectors = vectors_of(self.model, [str(queries[i].value) for i in call])
                scorable = [v for v in vectors if not isinstance(v, str)]
                stacked = np.stack(scorable) if scorable else np.empty((0, 0), np.float32)
                batch = Batch(queries[call[0]].filter_values, stacked)
                column = 0
                for index, vector in zip(call, vectors, strict=True):
                    if isinstance(vector, str):
                        places[index] = Place(batch, error=vector)
                    else:
                        places[index], column = Place(batch, column), column + 1
        return places

    def _user_mask(self, filter_values: dict[str, str]) -> np.ndarray | None:
        """The filter's mask for these values (the last one kept: most files have one set)."""
        if self.filter is None:
            return None
        key = tuple(sorted(filter_values.items()))
        if self._mask is None or self._mask[0] != key:
            try:
                self._mask = (key, self.filter.mask(filter_values))
            except LineError as error:
                self._mask = (key, error)
        found = self._mask[1]
        if isinstance(found, LineError):
            raise found
        return found

    def _rank(self, places: list[Place]) -> dict[int, tuple[np.ndarray, np.ndarray] | LineError]:
        """By id of place: the top list of each scorable place, or its batch's filter error (which
        comes before a line's own error, such as an unknown item)."""
        batches: dict[int, tuple[Batch, list[Place]]] = {}
        for place in places:
            batches.setdefault(id(place.batch), (place.batch, []))[1].append(place)
        ranked: dict[int, tuple[np.ndarray, np.ndarray] | LineError] = {}
        for batch, chosen in batches.values():
            try:
                mask = self._user_mask(batch.filter_values)
            except LineError as error:
                ranked.update((id(place), error) for place in chosen)
                continue
            scorable = [place for place in chosen if place.error is None]
            if scorable:
                columns = [place.column for place in scorable]
                lists = top_users(self.model, batch.vectors, self.count, mask, columns=columns)
                ranked.update((id(place), found) for place, found in zip(scorable, lists, strict=True))
        return ranked

    def _answer(
        self, query: Query, place: Place | None, found: tuple[np.ndarray, np.ndarray] | LineError | None
    ) -> dict[str, Any]:
        if place is None:
            return output_line(query, self.member)
        if isinstance(found, LineError):
            return output_line(query, self.member, error=str(found))
        if found is None:
            return output_line(query, self.member, Segment(error=place.error))
        indices, _ = found  # the output carries users only
        return output_line(query, self.member, Segment(users=self.model.user_ids[indices].tolist()))

    def answers(self, texts: list[str]) -> Iterator[dict[str, Any]]:
        """The output line of each input line, in order, scored a group of lines at a time."""
        queries = [parse_line(text, self.member) for text in texts]
        places = self._plan(queries)
        for start in range(0, len(queries), self.lines_per_group):
            group = range(start, min(start + self.lines_per_group, len(queries)))
            ranked = self._rank([p for p in (places[i] for i in group) if p is not None])
            for index in group:
                place = places[index]
                yield self._answer(queries[index], place, ranked.pop(id(place), None))


def write_answers(job: SegmentJob, texts: list[str], target: Path) -> tuple[int, int]:
    """The file's output lines into ``target``, written a group at a time to a partial file that
    takes the final name only once complete; (lines, lines with an error)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    lines = errors = 0
    try:
        with partial.open("w", encoding="utf-8") as handle:
            for answer in job.answers(texts):
                handle.write(json.dumps(answer, separators=(",", ":")) + "\n")
                lines, errors = lines + 1, errors + ("error" in answer)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return lines, errors


def _lines(path: Path, limit: int, member: str) -> list[str]:
    """The file's non-blank lines; SegmentJobError past ``limit`` of them."""
    lines: list[str] = []
    with path.open("rb") as handle:
        for raw in handle:
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            if len(lines) == limit:
                raise SegmentJobError(
                    f"jobInput: input file {excerpt(path.name, 200)} has more than {limit} {member} queries "
                    "(the limit per input file for the solution version's recipe)."
                )
            lines.append(text)
    return lines


def run(channel: Path, model_dir: Path) -> dict[str, Any]:
    config = json.loads((channel / "config.json").read_text())
    try:
        model = SegmentModel(load_dir(channel / "model"))
    except SegmentInputError as error:
        raise SegmentJobError(str(error)) from None
    job = SegmentJob(model, config, channel)
    started = time.monotonic()
    files = lines = errors = 0
    summary: dict[str, Any] = {}
    for name in config["inputs"]:
        texts = _lines(channel / "input" / name, job.max_queries, job.member)
        written, failed = write_answers(job, texts, model_dir / (name + OUTPUT_SUFFIX))
        files, lines, errors = files + 1, lines + written, errors + failed
        seconds = round(time.monotonic() - started, 3)
        summary = {
            "batchSegment": "progress",
            "files": files,
            "lines": lines,
            "errors": errors,
            "seconds": seconds,
        }
        print(json.dumps(summary), flush=True)  # the job's log: its progress line, one per file
    return summary


def main(channel: Path, model_dir: Path, output_dir: Path) -> int:
    return run_task("batch segment", "batchSegment", run, SegmentJobError, channel, model_dir, output_dir)
