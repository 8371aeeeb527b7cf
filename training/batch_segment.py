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
name only once it is complete.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from picks import npz
from picks.dataset_schema import parse_schema
from picks.errors import InvalidInputException, excerpt
from picks.filters import ItemCatalog, evaluate, parse_cached
from picks.filters.parser import INTERACTION_DATASETS
from picks.ingest.columnar import ColumnTable, deserialize
from picks.model_artifact import load_dir
from picks.serving.segments import (
    ITEM_AFFINITY,
    ITEM_ATTRIBUTE_AFFINITY,
    MAX_ATTRIBUTE_QUERIES,
    MAX_ITEM_QUERIES,
    Segment,
    SegmentInputError,
    SegmentModel,
    users_for_attributes,
    users_for_items,
)

if TYPE_CHECKING:
    from pathlib import Path

TASK = "batch-segment"
OUTPUT_SUFFIX = ".out"
PARTIAL_SUFFIX = ".partial"
MAX_ERROR_INPUT = 1000  # characters of an unparseable line echoed back as its input
# The member each recipe's lines must have, and how many lines one scoring call takes.
LINE_MEMBER = {ITEM_AFFINITY: "itemId", ITEM_ATTRIBUTE_AFFINITY: "itemAttributes"}
CALL_LIMIT = {ITEM_AFFINITY: MAX_ITEM_QUERIES, ITEM_ATTRIBUTE_AFFINITY: MAX_ATTRIBUTE_QUERIES}


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


def _read_table(folder: Path) -> ColumnTable | None:
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    return deserialize(npz.map_file(folder / manifest["data"]["key"]), manifest)


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
            _read_table(channel / "users"),
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


class SegmentJob:
    """Answers one input file's lines with the job's model, filter and numResults."""

    def __init__(self, model: SegmentModel, config: dict[str, Any], channel: Path) -> None:
        recipe = model.recipe
        if recipe not in LINE_MEMBER:
            raise SegmentJobError(f"solutionVersionArn: picks has no batch segments for recipe {recipe}.")
        self.model = model
        self.member = LINE_MEMBER[recipe]
        self.per_call = CALL_LIMIT[recipe]
        self.count = int(config.get("numResults") or 25)
        self.max_queries = int(config.get("maxQueriesPerFile") or self.per_call)
        self.filter = UserFilter(model, config, channel) if config.get("filterExpression") else None

    def _segments(self, values: list[str], mask: np.ndarray | None) -> list[Segment]:
        score = users_for_items if self.member == "itemId" else users_for_attributes
        segments: list[Segment] = []
        for start in range(0, len(values), self.per_call):
            segments += score(self.model, values[start : start + self.per_call], self.count, mask)
        return segments

    def answer(self, texts: list[str]) -> list[dict[str, Any]]:
        queries = [parse_line(text, self.member) for text in texts]
        answers: list[dict[str, Any]] = [{} for _ in queries]
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for index, query in enumerate(queries):
            if query.error is not None:
                answers[index] = output_line(query, self.member)
            else:
                groups.setdefault(query.filter_key if self.filter else (), []).append(index)
        for lines in groups.values():
            try:
                mask = self.filter.mask(queries[lines[0]].filter_values) if self.filter else None
            except LineError as error:
                for index in lines:
                    answers[index] = output_line(queries[index], self.member, error=str(error))
                continue
            segments = self._segments([str(queries[i].value) for i in lines], mask)
            for index, segment in zip(lines, segments, strict=True):
                answers[index] = output_line(queries[index], self.member, segment)
        return answers


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
        answers = job.answer(_lines(channel / "input" / name, job.max_queries, job.member))
        target = model_dir / (name + OUTPUT_SUFFIX)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        partial.write_text("".join(json.dumps(a, separators=(",", ":")) + "\n" for a in answers), "utf-8")
        partial.rename(target)
        files, lines = files + 1, lines + len(answers)
        errors += sum(1 for a in answers if "error" in a)
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
    try:
        summary = run(channel, model_dir)
        print(json.dumps({**summary, "batchSegment": "done"}), flush=True)
        return 0
    except SegmentJobError as error:
        reason, code = str(error), 1
    except Exception as error:  # noqa: BLE001 - any crash must still leave a reason for the job
        traceback.print_exc()
        reason, code = f"Internal batch segment error: {type(error).__name__}: {error}", 2
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "failure").write_text(reason[:1000])
    print(f"batch segment job failed: {reason}", file=sys.stderr, flush=True)
    return code
