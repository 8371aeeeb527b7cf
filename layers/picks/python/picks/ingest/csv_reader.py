"""Read a bulk-import CSV, validate every row against the dataset schema, return columns.

Rules follow the Personalize developer guide ("Formatting your input data", "Datasets and
schemas", quotas):

* UTF-8 (a leading byte-order mark is accepted); RFC 4180 quoting via the ``csv`` module.  When
  the schema has a textual field, ``\\`` also escapes quotes and backslashes, as the guide tells
  users to do for unstructured text.
* The first row is a header naming schema fields (case-insensitive, any order).  Unknown or
  duplicate columns are errors; only nullable fields may be left out (they become all-null).
* Every row has as many columns as the header.  Blank lines are skipped.
* An empty value is null, which only nullable fields accept.
* int/long: an optional sign and ASCII digits.  TIMESTAMP-like reserved fields are Unix epoch
  seconds, so a 13-digit millisecond value is rejected.  float/double: plain decimal or
  exponent notation, finite.  boolean: lower-case ``true`` / ``false`` (the guide requires
  lower case).
* Strings: at most 1000 characters (categorical multi-values joined with ``|`` count as one
  value, separators included, as the guide says for impressions); USER_ID / ITEM_ID / ACTION_ID
  at most 256; textual fields are truncated to 20,000 characters, as Personalize does.

Errors name the first offending physical line (header = line 1) and column.

Speed: rows are parsed by the C ``csv`` reader in chunks, each chunk is transposed into column
tuples, and each column is checked and converted with C-level operations (``str.join`` + one
regex search, ``map(int, ...)`` into ``np.fromiter``, dict-based dictionary encoding).  Only when
a fast check fails does a per-value scan run, to find and describe the first bad value.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from picks.errors import excerpt
from picks.ingest.columnar import (
    FLOAT_TYPES,
    INTEGER_TYPES,
    Column,
    ColumnTable,
    DictionaryEncoder,
    null_column,
    string_column,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader  # what csv.reader returns (typeshed names it here)
    from collections.abc import Callable, Iterator, Sequence

    from picks.dataset_schema import DatasetSchema, Field

CHUNK_ROWS = 65_536
MAX_VALUE_CHARS = 1000
MAX_ID_CHARS = 256
MAX_TEXTUAL_CHARS = 20_000
# Error messages quote at most QUOTED_VALUE characters of a value from the file (picks.errors.excerpt).
QUOTED_VALUE = 40
ID_FIELDS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})
EPOCH_FIELDS = frozenset(
    {"TIMESTAMP", "CREATION_TIMESTAMP", "EXPIRATION_TIMESTAMP", "ACTION_EXPIRATION_TIMESTAMP"}
)
# 9999-12-31T23:59:59Z.  Anything larger is not a plausible date in seconds; in practice it is a
# millisecond timestamp, which would silently wreck recency-aware training.
MAX_EPOCH_SECONDS = 253_402_300_799
INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
FLOAT32_MAX = float(np.finfo(np.float32).max)

_UTF8_BOM = codecs.BOM_UTF8
_UTF8_CHECK_STEP = 1 << 22

# Strict per-value syntax, used by the slow scan (and the definition of "valid").
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Fast path: int()/float() accept things the schema must not (" 1", "1_000", "nan", non-ASCII
# digits); one search over the NUL-joined column rules those out before converting.
_SEPARATOR = "\x00"
_NOT_INT_CHARS = re.compile(r"[^0-9+\-\x00]")
_NOT_FLOAT_CHARS = re.compile(r"[^0-9.eE+\-\x00]")


class ImportValidationError(Exception):
    """The input data does not satisfy the dataset's schema or Personalize's format rules.

    ``line`` is the 1-based physical line (header = 1; 0 when the problem is not on a line, such
    as a missing object), ``column`` the schema field name or None.
    """

    def __init__(self, line: int, column: str | None, reason: str, source: str = "") -> None:
        self.line = line
        self.column = column
        self.reason = reason
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        location = []
        if self.line > 0:
            location.append(f"line {self.line}")
        if self.column:
            # Usually a schema field, but an unknown header cell is the file's data: keep a prefix.
            location.append(f"column {excerpt(self.column)}")
        where = ", ".join(location)
        prefix = " ".join(part for part in (self.source, where) if part)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle via self.args, which here is the rendered message; keep the fields.
        return (type(self), (self.line, self.column, self.reason, self.source))

    def with_source(self, source: str) -> ImportValidationError:
        return ImportValidationError(self.line, self.column, self.reason, source)


@dataclass(frozen=True)
class _Problem:
    index: int  # row index within the chunk
    reason: str


def _show(value: str) -> str:
    """A value from the file, quoted for an error message: at most its first ``QUOTED_VALUE`` characters."""
    return repr(excerpt(value, QUOTED_VALUE))


def _empty_reason(f: Field) -> str:
    return f"empty value, but {f.name} is not nullable"


def _first_problem(values: Sequence[str], check: Callable[[str], str | None]) -> _Problem | None:
    for index, value in enumerate(values):
        reason = check(value)
        if reason is not None:
            return _Problem(index, reason)
    return None


# --------------------------------------------------------------------------- per-type columns


def _char_limit(f: Field) -> int:
    if f.textual:
        return MAX_TEXTUAL_CHARS
    if f.name.upper() in ID_FIELDS:
        return MAX_ID_CHARS
    return MAX_VALUE_CHARS


def _string_problem(f: Field, value: str) -> str | None:
    if not value:
        return None if f.nullable else _empty_reason(f)
    limit = _char_limit(f)
    if len(value) > limit:
        what = "values (including '|' separators)" if f.categorical else "values"
        return f"value is {len(value)} characters long; {f.name} {what} may have at most {limit}"
    return None


def _integer_problem(f: Field, value: str) -> str | None:
    if not value:
        return None if f.nullable else _empty_reason(f)
    epoch = f.name.upper() in EPOCH_FIELDS
    kind = f"{f.type} (epoch seconds)" if epoch else f.type
    if not _INT_RE.fullmatch(value):
        return f"{_show(value)} is not a valid {kind}"
    number = int(value)
    low, high = INT_RANGES[f.type]
    if not low <= number <= high:
        hint = "; use long" if f.type == "int" else ""
        return f"{_show(value)} is out of range for {f.type}{hint}"
    if epoch and number > MAX_EPOCH_SECONDS:
        return f"{_show(value)} is not a valid {kind}: it looks like milliseconds"
    return None


def _float_problem(f: Field, value: str) -> str | None:
    if not value:
        return None if f.nullable else _empty_reason(f)
    if not _FLOAT_RE.fullmatch(value):
        return f"{_show(value)} is not a valid {f.type}"
    number = float(value)
    if not np.isfinite(number):
        return f"{_show(value)} is not a finite {f.type}"
    if f.type == "float" and abs(number) > FLOAT32_MAX:
        return f"{_show(value)} is out of range for float; use double"
    return None


def _boolean_problem(f: Field, value: str) -> str | None:
    if not value:
        return None if f.nullable else _empty_reason(f)
    if value not in ("true", "false"):
        return f"{_show(value)} is not a valid boolean (use lower-case true or false)"
    return None


def value_problem(f: Field, value: str) -> str | None:
    """Why one value, written as in a bulk CSV, is invalid for ``f``; None when it is valid.

    The per-value rules of ``read_csv`` (empty = null, number syntax and ranges, epoch seconds,
    lower-case booleans, string lengths), for other record sources such as PutItems properties.
    A textual string over the limit is reported: ``read_csv`` truncates those instead, so callers
    that follow it truncate to ``MAX_TEXTUAL_CHARS`` before asking.
    """
    if f.type == "string":
        return _string_problem(f, value)
    if f.type in INTEGER_TYPES:
        return _integer_problem(f, value)
    if f.type in FLOAT_TYPES:
        return _float_problem(f, value)
    if f.type == "boolean":
        return _boolean_problem(f, value)
    raise ValueError(f"field {f.name} has unsupported type {f.type!r}")


class _ColumnBuilder:
    """Checks and converts one column, chunk by chunk.

    ``check`` returns converted chunk data or the first problem; nothing is kept until
    ``append``, so a chunk with an error in any column leaves every builder unchanged.
    """

    def __init__(self, f: Field) -> None:
        self.field = f
        self._parts: list[np.ndarray] = []
        self._nulls: list[np.ndarray] = []
        # Only used by string columns.  Empty means null, so for nullable strings "" encodes as
        # -1 instead of becoming a dictionary value.
        self._encoder = DictionaryEncoder(null_value="" if f.nullable else None)
        if f.type == "string":
            self.check: Callable[[Sequence[str]], Any] = self._check_strings
        elif f.type in INTEGER_TYPES:
            self.check = self._check_integers
        elif f.type in FLOAT_TYPES:
            self.check = self._check_floats
        elif f.type == "boolean":
            self.check = self._check_booleans
        else:
            raise ValueError(f"field {f.name} has unsupported type {f.type!r}")

    # Each _check_* returns a _Problem or a converted payload for append().

    def _check_strings(self, values: Sequence[str]) -> Any:
        f = self.field
        distinct = dict.fromkeys(values)
        if not f.nullable and "" in distinct:
            return self._scan(values, _string_problem)
        # Values seen in earlier chunks already passed, so only new distinct ones are checked.
        fresh = self._encoder.new_values(distinct)
        limit = _char_limit(f)
        if fresh and max(map(len, fresh)) > limit:
            if not f.textual:
                return self._scan(values, _string_problem)
            # The guide: Personalize truncates textual values at the limit instead of failing.
            values = [v[:limit] for v in values]
            fresh = self._encoder.new_values(dict.fromkeys(values))
        return values, fresh

    def _nulls_and_filled(self, values: Sequence[str], fill: str) -> tuple[np.ndarray | None, Sequence[str]]:
        if "" not in values:
            return (np.zeros(len(values), dtype=bool) if self.field.nullable else None), values
        null = np.fromiter(map(_is_empty, values), dtype=bool, count=len(values))
        return null, [v or fill for v in values]

    def _check_integers(self, values: Sequence[str]) -> Any:
        f = self.field
        if not f.nullable and "" in values:
            return self._scan(values, _integer_problem)
        null, filled = self._nulls_and_filled(values, "0")
        if _NOT_INT_CHARS.search(_SEPARATOR.join(filled)):
            return self._scan(values, _integer_problem)
        try:
            data = np.fromiter(map(int, filled), dtype=np.int64, count=len(filled))
        except (ValueError, OverflowError):
            return self._scan(values, _integer_problem)
        low, high = INT_RANGES[f.type]
        if f.name.upper() in EPOCH_FIELDS:
            high = min(high, MAX_EPOCH_SECONDS)
        if data.size and (int(data.min()) < low or int(data.max()) > high):
            return self._scan(values, _integer_problem)
        return data, null

    def _check_floats(self, values: Sequence[str]) -> Any:
        f = self.field
        if not f.nullable and "" in values:
            return self._scan(values, _float_problem)
        null, filled = self._nulls_and_filled(values, "0")
        if _NOT_FLOAT_CHARS.search(_SEPARATOR.join(filled)):
            return self._scan(values, _float_problem)
        try:
            data = np.fromiter(map(float, filled), dtype=np.float64, count=len(filled))
        except ValueError:
            return self._scan(values, _float_problem)
        limit = FLOAT32_MAX if f.type == "float" else np.inf
        if not np.isfinite(data).all() or (data.size and float(np.abs(data).max()) > limit):
            return self._scan(values, _float_problem)
        if null is not None and null.any():
            data[null] = np.nan
        return data, null

    def _check_booleans(self, values: Sequence[str]) -> Any:
        f = self.field
        allowed = {"true", "false", ""} if f.nullable else {"true", "false"}
        if not set(values) <= allowed:
            return self._scan(values, _boolean_problem)
        null, _ = self._nulls_and_filled(values, "false")
        data = np.fromiter(map("true".__eq__, values), dtype=bool, count=len(values))
        return data, null

    def _scan(self, values: Sequence[str], problem: Callable[[Field, str], str | None]) -> Any:
        found = _first_problem(values, lambda value: problem(self.field, value))
        if found is None:  # the fast check was stricter than the rules; should not happen
            raise AssertionError(f"fast check rejected column {self.field.name} but no value is invalid")
        return found

    def append(self, payload: Any) -> None:
        if self.field.type == "string":
            values, fresh = payload
            self._encoder.add(fresh)
            self._parts.append(self._encoder.lookup(values))
            return
        data, null = payload
        self._parts.append(data)
        if null is not None:
            self._nulls.append(null)

    def finish(self, row_count: int) -> Column:
        f = self.field
        if f.type == "string":
            codes = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.int32)
            return string_column(f, codes, self._encoder.dictionary())
        if not self._parts:
            empty = null_column(f, row_count)
            return Column(f, empty.data, empty.null if f.nullable else None, None)
        data = np.concatenate(self._parts)
        null = np.concatenate(self._nulls) if f.nullable else None
        return Column(f, data, null, None)


def _is_empty(value: str) -> bool:
    return not value


# --------------------------------------------------------------------------- file level


def _dialect(schema: DatasetSchema) -> dict[str, Any]:
    # strict: malformed quoting is an error rather than silently merged fields.
    dialect: dict[str, Any] = {"delimiter": ",", "quotechar": '"', "doublequote": True, "strict": True}
    if any(f.textual for f in schema.fields):
        dialect["escapechar"] = "\\"
    return dialect


def _reader(data: bytes, dialect: dict[str, Any]) -> CsvReader:
    # TextIOWrapper decodes incrementally, so the whole file never exists twice as str;
    # utf-8-sig drops a byte-order mark (common in spreadsheet exports).
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    return csv.reader(stream, **dialect)


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Parsing allocates millions of small lists and strs that form no cycles; the cyclic
    # collector would rescan them over and over (measured: ~2x slower parsing).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first_invalid_utf8(data: bytes) -> tuple[int, str] | None:
    """Byte offset and reason of the first invalid UTF-8 sequence, or None."""
    if data.isascii():
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    pending = 0  # bytes of an incomplete sequence the decoder buffered from the previous step
    for start in range(0, len(data), _UTF8_CHECK_STEP):
        end = start + _UTF8_CHECK_STEP
        try:
            decoder.decode(view[start:end], final=end >= len(data))
        except UnicodeDecodeError as error:
            return start - pending + error.start, error.reason
        pending = len(decoder.getstate()[0])
    return None


def _match_header(
    header: list[str], schema: DatasetSchema, fail: Callable[..., ImportValidationError]
) -> list[Field]:
    if not header or header == [""]:
        raise fail(1, None, "the header row is empty; the first row must name the columns")
    fields: list[Field] = []
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise fail(1, None, f"header column {position} has no name")
        f = schema.field(name)
        if f is None:
            hint = " (remove the surrounding spaces)" if schema.field(name.strip()) else ""
            known = ", ".join(schema.field_names)
            raise fail(1, name, f"column {_show(name)} is not in schema {schema.name} ({known}){hint}")
        if f.name.upper() in seen:
            raise fail(1, f.name, f"column {_show(name)} appears more than once in the header")
        seen.add(f.name.upper())
        fields.append(f)
    for f in schema.fields:
        if f.name.upper() not in seen and not f.nullable:
            raise fail(1, f.name, f"required field {f.name} is missing from the header")
    return fields


def _locate_line(data: bytes, dialect: dict[str, Any], record: int) -> int:
    """Physical start line of data record ``record`` (0-based, blank lines not counted).

    Only runs on the error path, for chunks whose records do not map 1:1 to lines (quoted
    newlines, blank lines) or that hit a CSV syntax error.
    """
    reader = _reader(data, dialect)
    next(reader)  # header
    index = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except (StopIteration, csv.Error):
            return start
        if not row:
            continue
        if index == record:
            return start
        index += 1


def _check_chunk(
    rows: list[list[str]], widths: set[int], builders: list[_ColumnBuilder]
) -> tuple[list[Any], _Problem | None, str | None]:
    """Convert a chunk; return payloads, or the earliest problem and its column.

    ``widths`` is the set of row lengths in the chunk, computed by the caller anyway.
    """
    width = len(builders)
    ragged: _Problem | None = None
    if widths - {width}:
        index = next(i for i, row in enumerate(rows) if len(row) != width)
        ragged = _Problem(index, f"expected {width} columns, as in the header, but found {len(rows[index])}")
        rows = rows[:index]  # only rows before it can hold an earlier problem
    payloads: list[Any] = []
    best: _Problem | None = ragged
    best_column: str | None = None
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in builders]
    for builder, values in zip(builders, columns, strict=True):
        result = builder.check(values)
        if isinstance(result, _Problem):
            if best is None or result.index < best.index:  # ties keep the leftmost column
                best, best_column = result, builder.field.name
        else:
            payloads.append(result)
    return payloads, best, best_column


def _parse(
    data: bytes, schema: DatasetSchema, dataset_type: str, source: str, *, allow_no_rows: bool
) -> ColumnTable:
    def fail(line: int, column: str | None, reason: str) -> ImportValidationError:
        return ImportValidationError(line, column, reason, source)

    dialect = _dialect(schema)
    reader = _reader(data, dialect)
    builders = [_ColumnBuilder(f) for f in _match_header(_read_header(reader, fail), schema, fail)]

    row_count = 0
    with _gc_paused():
        while (chunk := _read_chunk(reader)) is not None:
            payloads, problem, bad_column = _check_chunk(chunk.rows, chunk.widths, builders)
            if problem is not None or chunk.syntax_error is not None:
                raise _chunk_failure(data, dialect, chunk, row_count, problem, bad_column, fail)
            for builder, payload in zip(builders, payloads, strict=True):
                builder.append(payload)
            row_count += len(chunk.rows)

    if row_count == 0 and not allow_no_rows:
        raise fail(1, None, "the file has a header row but no data rows")
    built = {b.field.name.upper(): b.finish(row_count) for b in builders}
    columns: dict[str, Column] = {}
    for f in schema.fields:
        column = built.get(f.name.upper())
        columns[f.name] = column if column is not None else null_column(f, row_count)
    return ColumnTable(schema.name, dataset_type, columns, row_count)


def _read_header(reader: CsvReader, fail: Callable[..., ImportValidationError]) -> list[str]:
    try:
        return next(reader)
    except StopIteration:
        raise fail(0, None, "file is empty") from None
    except csv.Error as error:
        raise fail(1, None, f"malformed CSV header: {error}") from None


@dataclass
class _Chunk:
    rows: list[list[str]]  # blank lines dropped
    widths: set[int]  # the rows' lengths
    first_line: int  # physical line of the first row
    one_line_per_row: bool  # row i is on line first_line + i
    syntax_error: str | None  # the CSV error that ended the chunk, if one did


def _read_chunk(reader: CsvReader) -> _Chunk | None:
    """The next up-to-CHUNK_ROWS rows, or None at the end of the file."""
    first_line = reader.line_num + 1
    rows: list[list[str]] = []
    syntax_error: str | None = None
    try:
        # list.extend keeps the rows read before an exception, so a syntax error does not
        # hide an earlier invalid row in the same chunk.
        rows.extend(islice(reader, CHUNK_ROWS))
    except csv.Error as error:
        syntax_error = str(error)
    if not rows and syntax_error is None:
        return None
    one_line_per_row = syntax_error is None and reader.line_num - first_line + 1 == len(rows)
    widths = set(map(len, rows))
    if 0 in widths:  # blank lines
        rows = [row for row in rows if row]
        widths.discard(0)
        one_line_per_row = False
    return _Chunk(rows, widths, first_line, one_line_per_row, syntax_error)


def _chunk_failure(
    data: bytes,
    dialect: dict[str, Any],
    chunk: _Chunk,
    rows_before: int,
    problem: _Problem | None,
    bad_column: str | None,
    fail: Callable[..., ImportValidationError],
) -> ImportValidationError:
    """The error for the chunk's earliest invalid row, or for the syntax error that ended it."""
    # A syntax error ends the chunk: it belongs to the record after the last row read.
    index = problem.index if problem is not None else len(chunk.rows)
    if chunk.one_line_per_row:
        line = chunk.first_line + index
    else:
        line = _locate_line(data, dialect, rows_before + index)
    if problem is not None:
        return fail(line, bad_column, problem.reason)
    return fail(line, None, f"malformed CSV: {chunk.syntax_error}")


def read_csv(data: bytes, schema: DatasetSchema, dataset_type: str, source: str = "") -> ColumnTable:
    """Validate a bulk-import CSV against ``schema`` and return it as a ``ColumnTable``.

    Raises ``ImportValidationError`` for the first offending line.  ``source`` (for example
    ``s3://bucket/key.csv``) prefixes error messages.
    """
    dataset_type = dataset_type.upper()
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    if not body.strip():
        raise ImportValidationError(0, None, "file is empty", source)

    invalid = _first_invalid_utf8(data)
    if invalid is not None:
        offset, why = invalid
        line = data.count(b"\n", 0, offset) + 1
        utf8_error = ImportValidationError(
            line,
            None,
            f"not valid UTF-8 (byte 0x{data[offset]:02x} at byte offset {offset}: {why}); "
            "save the file with UTF-8 encoding",
            source,
        )
        if line > 1:
            # Lines before the undecodable one may hold an earlier error; it should win.
            line_start = data.rfind(b"\n", 0, offset) + 1
            try:
                _parse(data[:line_start], schema, dataset_type, source, allow_no_rows=True)
            except ImportValidationError as earlier:
                if earlier.line < line:
                    raise earlier from None
        raise utf8_error

    return _parse(data, schema, dataset_type, source, allow_no_rows=False)
