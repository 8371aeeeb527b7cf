"""User segments (USER_SEGMENTATION recipes): the users most likely to interact with an item, or
with the items an attribute query selects.  Numpy only: a batch segment job calls these.

A segment model (``aws-item-affinity``, ``aws-item-attribute-affinity``, trained by
``training/recipes/item_affinity.py`` / ``item_attribute_affinity.py``) is a factor model:
``user_factors`` (users × k) and ``item_factors`` (items × k), so a user's score for an item is one
dot product.  A query is one vector: the item's factors, or for an attribute query the mean of the
factors of the items it matches (the user's mean score over those items: a popularity-weighted
mean measured the same, within 0.5% of hits at 1%, 10% and 25% of users on the demo data, so the
simpler one stays).  Users are scored in blocks, one
matrix product per block for every query at once, keeping a running top ``num_results`` per query,
so memory is bounded by the block whatever the number of users.  The top lists themselves hold
``ENTRY_BYTES`` per kept user and query; a caller that must bound them too (a batch segment job at
5M users per segment) asks ``top_users`` for some of the queries' lists at a time (``columns``),
the matrix products staying the same, so the scores, and the order they give, do not depend on how
the queries are split.

Attribute queries (developer guide, "Batch segment job input and output JSON examples") select
items by their metadata at training time, which the artifact carries (``attribute_codes.<FIELD>``
+ ``attribute_values.<FIELD>`` for strings, ``attribute_numbers.<FIELD>`` for numbers)::

    query     := condition ( "AND" condition )*
    condition := "ITEMS" "." FIELD "=" value
    value     := '"' text '"' | number

Only ``=`` and ``AND`` exist; a categorical field matches when any of its ``|``-separated values
equals the value, as filters do.  ``ITEMS`` and ``AND`` are case-insensitive, field names too.

A segment model serves no runtime operation: Personalize gives segments only through
CreateBatchSegmentJob, and CreateCampaign refuses these recipes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from picks.errors import excerpt
from picks.filters.catalog import CATEGORICAL, NUMERIC, STRING, FieldValues

if TYPE_CHECKING:
    from collections.abc import Sequence

    from picks.model_artifact import ModelArtifact

USER_SEGMENTATION = "USER_SEGMENTATION"
ITEM_AFFINITY = "aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY = "aws-item-attribute-affinity"

# Developer guide (Item-Affinity, Item-Attribute-Affinity, service quotas).
MAX_ITEM_QUERIES = 500
MAX_ATTRIBUTE_QUERIES = 10
MAX_USERS_PER_SEGMENT = 5_000_000
DEFAULT_USERS_PER_SEGMENT = 25
# Scores held at once per block: rows × queries; 16M float32 = 64 MB.
BLOCK_SCORES = 1 << 24
MIN_BLOCK_ROWS = 1024
# What one kept (user, score) entry of a running top list holds: an int64 index and a float32 score.
ENTRY_BYTES = np.dtype(np.int64).itemsize + np.dtype(np.float32).itemsize

CODES_PREFIX = "attribute_codes."
VALUES_PREFIX = "attribute_values."
NUMBERS_PREFIX = "attribute_numbers."


class SegmentInputError(ValueError):
    """The request as a whole is outside what a segment model answers (too many queries, a bad
    number of results, the wrong recipe): the job fails with this message."""


@dataclass(frozen=True)
class Segment:
    """One input line's answer: user ids, best first, with their scores; or the line's ``error``."""

    users: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Condition:
    field: str  # upper-cased
    value: str | float


@dataclass(frozen=True)
class AttributeQuery:
    text: str
    conditions: tuple[Condition, ...]


class QueryError(ValueError):
    """An attribute query that does not parse or matches nothing; the message names the query."""


class SegmentModel:
    """A USER_SEGMENTATION artifact, loaded for scoring (no runtime operation)."""

    def __init__(self, artifact: ModelArtifact) -> None:
        if artifact.recipe_type != USER_SEGMENTATION:
            raise SegmentInputError(
                f"solutionVersionArn: the version was trained with {artifact.recipe} "
                f"({artifact.recipe_type}); user segments need a USER_SEGMENTATION recipe "
                f"({ITEM_AFFINITY} or {ITEM_ATTRIBUTE_AFFINITY})."
            )
        self.artifact = artifact
        self.recipe = artifact.recipe
        self.user_ids = artifact.user_ids
        self.item_ids = artifact.item_ids
        self.user_factors = np.asarray(artifact.arrays["user_factors"], dtype=np.float32)
        self.item_factors = np.asarray(artifact.arrays["item_factors"], dtype=np.float32)
        self.popularity = np.asarray(artifact.arrays["popularity"], dtype=np.float32)

    @property
    def user_count(self) -> int:
        return len(self.user_ids)

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {item: index for index, item in enumerate(self.item_ids.tolist())}

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {user: index for index, user in enumerate(self.user_ids.tolist())}

    @cached_property
    def attributes(self) -> dict[str, FieldValues]:
        """The item metadata attribute queries may name, by upper-case field name."""
        arrays, strings = self.artifact.arrays, self.artifact.strings
        fields: dict[str, FieldValues] = {}
        for name, kind in (self.artifact.info.get("itemAttributes") or {}).items():
            if kind == NUMERIC:
                fields[name] = FieldValues(name, kind, numbers=np.asarray(arrays[NUMBERS_PREFIX + name]))
            else:
                dictionary = [str(v) for v in strings[VALUES_PREFIX + name].tolist()]
                codes = np.asarray(arrays[CODES_PREFIX + name], dtype=np.int32)
                fields[name] = FieldValues(name, kind, codes=codes, dictionary=dictionary)
        return fields


def check_num_results(num_results: int) -> int:
    if not 1 <= num_results <= MAX_USERS_PER_SEGMENT:
        raise SegmentInputError(
            f"numResults: {num_results} users per segment; it must be from 1 to {MAX_USERS_PER_SEGMENT}."
        )
    return num_results


# --------------------------------------------------------------------------- scoring


def top_users(
    model: SegmentModel,
    vectors: np.ndarray,
    num_results: int,
    user_mask: np.ndarray | None = None,
    block_rows: int | None = None,
    columns: Sequence[int] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query vector (rows of ``vectors``), the ``num_results`` best users (indices, scores),
    best first, ties by lower index; ``user_mask``: the users allowed (None: all).  ``columns``:
    the queries whose lists are wanted (None: all), in that order.

    Users are scored in blocks of ``block_rows`` (one GEMM per block for all queries, whichever
    ``columns`` are wanted: a product's rounding depends on its shape, so the same ``vectors`` give
    the same scores whatever is asked); each wanted query keeps its running best, and a block only
    adds users above the current cut-off."""
    queries = np.ascontiguousarray(vectors, dtype=np.float32)
    count = len(queries)
    wanted = list(range(count)) if columns is None else list(columns)
    k = min(num_results, model.user_count)
    best: list[tuple[np.ndarray, np.ndarray]] = [
        (np.empty(0, np.int64), np.empty(0, np.float32)) for _ in wanted
    ]
    if not wanted or k <= 0:
        return best
    rows = block_rows or max(MIN_BLOCK_ROWS, BLOCK_SCORES // count)
    for start in range(0, model.user_count, rows):
        block = model.user_factors[start : start + rows]
        scores = block @ queries.T  # block × queries
        if user_mask is not None:
            scores[~user_mask[start : start + len(block)]] = -np.inf
        for position, column in enumerate(wanted):
            best[position] = _merge(best[position], scores[:, column], start, k)
    for position, (indices, values) in enumerate(best):  # in place: one list's copy at a time
        best[position] = _ordered(indices, values)
    return best


def _merge(
    current: tuple[np.ndarray, np.ndarray], scores: np.ndarray, offset: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    indices, values = current
    keep = np.isfinite(scores)
    if len(values) >= k:
        keep &= scores >= values.min()  # only users that may enter the top k
    candidates = np.flatnonzero(keep)
    if len(candidates) == 0:
        return current
    indices = np.concatenate([indices, candidates + offset])
    values = np.concatenate([values, scores[candidates]])
    if len(values) > k:
        # Ties at the cut-off go to the lower index, as the final order does.
        chosen = np.lexsort((indices, -values))[:k]
        indices, values = indices[chosen], values[chosen]
    return indices, values


def _ordered(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((indices, -values))
    return indices[order], values[order]


def _segments(
    model: SegmentModel,
    vectors: list[np.ndarray | str],
    num_results: int,
    user_mask: np.ndarray | None,
) -> list[Segment]:
    """Score the lines that have a vector; a line given as a string is that line's error."""
    valid = [i for i, v in enumerate(vectors) if not isinstance(v, str)]
    stacked = np.stack([vectors[i] for i in valid]) if valid else np.empty((0, 0), np.float32)
    ranked = top_users(model, stacked, num_results, user_mask) if valid else []
    answers: list[Segment] = [Segment(error=v) if isinstance(v, str) else Segment() for v in vectors]
    for line, (indices, scores) in zip(valid, ranked, strict=True):
        answers[line] = Segment(model.user_ids[indices].tolist(), [float(s) for s in scores])
    return answers


def users_for_items(
    model: SegmentModel,
    item_ids: Sequence[str],
    num_results: int = DEFAULT_USERS_PER_SEGMENT,
    user_mask: np.ndarray | None = None,
) -> list[Segment]:
    """Item-Affinity: per item id, the users most likely to interact with it.  An item the model
    was not trained on gets an ``error`` on its line; the others are answered."""
    if len(item_ids) > MAX_ITEM_QUERIES:
        raise SegmentInputError(
            f"jobInput: {len(item_ids)} itemId lines; an Item-Affinity batch segment job takes at most "
            f"{MAX_ITEM_QUERIES}."
        )
    check_num_results(num_results)
    return _segments(model, item_vectors(model, item_ids), num_results, user_mask)


def item_vectors(model: SegmentModel, item_ids: Sequence[str]) -> list[np.ndarray | str]:
    """Per item id, its factors, or (an item the model was not trained on) that line's error."""
    vectors: list[np.ndarray | str] = []
    for item_id in item_ids:
        row = model.item_index.get(item_id)
        if row is None:
            vectors.append(
                f"itemId: item '{excerpt(str(item_id))}' was not in the solution version's training "
                "data; retrain to get segments for it."
            )
        else:
            vectors.append(model.item_factors[row])
    return vectors


def users_for_attributes(
    model: SegmentModel,
    queries: Sequence[str],
    num_results: int = DEFAULT_USERS_PER_SEGMENT,
    user_mask: np.ndarray | None = None,
) -> list[Segment]:
    """Item-Attribute-Affinity: per query, the users most likely to interact with items it
    matches.  A query that does not parse or matches no item gets an ``error`` on its line."""
    if len(queries) > MAX_ATTRIBUTE_QUERIES:
        raise SegmentInputError(
            f"jobInput: {len(queries)} itemAttributes lines; an Item-Attribute-Affinity batch segment job "
            f"takes at most {MAX_ATTRIBUTE_QUERIES}."
        )
    check_num_results(num_results)
    return _segments(model, attribute_vectors(model, queries), num_results, user_mask)


def attribute_vectors(model: SegmentModel, queries: Sequence[str]) -> list[np.ndarray | str]:
    """Per attribute query, its vector, or (a query that does not parse or matches no item) that
    line's error."""
    vectors: list[np.ndarray | str] = []
    for text in queries:
        try:
            vectors.append(query_vector(model, parse_query(text)))
        except QueryError as error:
            vectors.append(str(error))
    return vectors


def query_vector(model: SegmentModel, query: AttributeQuery) -> np.ndarray:
    """The mean factors of the items ``query`` matches."""
    matched = np.flatnonzero(matching_items(model, query))
    if len(matched) == 0:
        raise QueryError(
            f"itemAttributes: no item in the solution version's training data matches "
            f"'{excerpt(query.text)}'."
        )
    return np.asarray(model.item_factors[matched].mean(axis=0), dtype=np.float32)


def matching_items(model: SegmentModel, query: AttributeQuery) -> np.ndarray:
    """Boolean mask over the model's items: those matching every condition of ``query``."""
    mask = np.ones(len(model.item_ids), dtype=bool)
    for condition in query.conditions:
        values = model.attributes.get(condition.field)
        if values is None:
            known = ", ".join(sorted(model.attributes)) or "none"
            raise QueryError(
                f"itemAttributes: '{excerpt(query.text)}' names ITEMS.{excerpt(condition.field)}, which is "
                f"not an attribute the model was trained with (attributes: {known})."
            )
        mask &= _condition_mask(values, condition, query)
    return mask


def _condition_mask(values: FieldValues, condition: Condition, query: AttributeQuery) -> np.ndarray:
    if values.kind == NUMERIC:
        assert values.numbers is not None
        try:
            wanted = float(condition.value)
        except ValueError:
            raise QueryError(
                f"itemAttributes: '{excerpt(query.text)}': ITEMS.{condition.field} is numeric; "
                f"'{excerpt(str(condition.value))}' is not a number."
            ) from None
        return np.asarray(values.numbers == wanted)
    assert values.kind in (CATEGORICAL, STRING)
    text = condition.value if isinstance(condition.value, str) else _number_text(condition.value)
    return np.asarray(values.in_mask(frozenset({text})))


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --------------------------------------------------------------------------- the query grammar

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<symbol>!=|<=|>=|<>|[=.<>(),!|])
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.lastgroup is None:  # pragma: no cover - the pattern matches any non-space
            break
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def fail(self, expected: str) -> QueryError:
        found = self.tokens[self.position][1] if self.position < len(self.tokens) else "the end of the query"
        return QueryError(
            f"itemAttributes: '{excerpt(self.text)}' is not a valid attribute query: expected {expected}, "
            f'found {excerpt(found, 20)}. Write ITEMS.<field> = "<value>", joined with AND; '
            "only = and AND are supported."
        )

    def take(self, kind: str, value: str | None = None) -> str | None:
        if self.position >= len(self.tokens):
            return None
        found_kind, found = self.tokens[self.position]
        if found_kind != kind or (value is not None and found.upper() != value):
            return None
        self.position += 1
        return found

    def condition(self) -> Condition:
        if self.take("word", "ITEMS") is None:
            raise self.fail("ITEMS")
        if self.take("symbol", ".") is None:
            raise self.fail("'.' after ITEMS")
        name = self.take("word")
        if name is None:
            raise self.fail("a field name after ITEMS.")
        if self.take("symbol", "=") is None:
            raise self.fail(f"'=' after ITEMS.{name}")
        return Condition(name.upper(), self.value())

    def value(self) -> str | float:
        quoted = self.take("string")
        if quoted is not None:
            return _ESCAPE.sub(r"\1", quoted[1:-1])
        number = self.take("number")
        if number is not None:
            value = float(number)
            if math.isfinite(value):
                return value
        raise self.fail('a quoted value ("...") or a number after =')

    def query(self) -> AttributeQuery:
        if not self.tokens:
            raise QueryError('itemAttributes: the query is empty; write ITEMS.<field> = "<value>".')
        conditions = [self.condition()]
        while self.position < len(self.tokens):
            if self.take("word", "AND") is None:
                raise self.fail("AND or the end of the query")
            conditions.append(self.condition())
        return AttributeQuery(self.text, tuple(conditions))


def parse_query(text: str) -> AttributeQuery:
    """``text`` (an ``itemAttributes`` line) as conditions, or QueryError naming the query."""
    if not isinstance(text, str):
        raise QueryError(f"itemAttributes: must be a string, not {type(text).__name__}.")
    return _Parser(text).query()
