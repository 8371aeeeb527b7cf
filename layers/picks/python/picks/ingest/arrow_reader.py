"""The bulk-import CSV reader on pyarrow: ``csv_reader.read_csv``'s table, parsed multi-threaded.

pyarrow's CSV reader splits and converts a file on every core, where ``csv_reader`` runs one
interpreter thread.  It is lenient where picks is strict (``"ab"c`` reads as ``abc``, an
unterminated quote is closed at the end of the file, ``0x10`` casts to 16), so this module only
lets it read files whose meaning both agree on, and only accepts values picks' rules accept:

* the file is checked first for what pyarrow would read differently: a quote anywhere but
  around a whole field, an odd number of quotes, an escape character (``\\`` when the schema has a
  textual field), NUL bytes, a header spread over several lines, invalid UTF-8;
* string columns are dictionary-encoded while parsing (one dictionary per block, unified in
  first-seen order), so their checks (lengths) run on the distinct values only; integer columns
  are parsed as numbers where pyarrow's integer syntax and picks' agree on the whole file (pyarrow
  also trims spaces and tabs and reads ``0x`` hexadecimal: a file holding a space, a tab, an ``x``
  or a long run of zeros has them read as text); every other column is read as text and then
  checked with vectorised kernels against the same rules ``csv_reader`` applies value by value
  (number syntax and ranges, epoch seconds, booleans, nulls, lengths), and converted;
* anything it declines or finds invalid is read again by ``csv_reader.read_csv``, which then
  reports the first bad line and column with its exact message.  Errors are rare; valid files
  never pay for them.

The result is the table ``csv_reader.read_csv`` returns: the same dtypes, null masks and
dictionaries in first-seen order (pyarrow's dictionary encoding assigns codes in that order too).

pyarrow is a training-image dependency (training/requirements.txt), not a Lambda one: the
Lambda layer stays numpy-only and ``read_csv`` there is ``csv_reader``'s (``available``).
"""

from __future__ import annotations

import csv
import re
from typing import TYPE_CHECKING, Any

import numpy as np

import picks.ingest.csv_reader as csv_reader
from picks.ingest.columnar import (
    FLOAT_TYPES,
    INTEGER_TYPES,
    NULL_CODE,
    Column,
    ColumnTable,
    _object_array,
    null_column,
    string_column,
)

try:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv
except ImportError:  # the numpy-only Lambda layer: imports read with csv_reader
    PYARROW = False
else:
    PYARROW = True

if TYPE_CHECKING:
    import mmap

    from picks.dataset_schema import DatasetSchema, Field

# The patterns csv_reader's per-value checks use, anchored for RE2 (pyarrow.compute).
_INT_PATTERN = f"^{csv_reader._INT_RE.pattern}$"
_FLOAT_PATTERN = f"^{csv_reader._FLOAT_RE.pattern}$"
# pyarrow parses blocks of this many bytes in parallel; each becomes one chunk of every column.
BLOCK_SIZE = 1 << 24
_QUOTE = ord('"')
# Bytes that may sit before an opening quote / after a closing quote: a delimiter, a line end,
# or the other quote of a doubled ("") quote.
_FIELD_EDGES = np.zeros(256, dtype=bool)
_FIELD_EDGES[[ord(","), ord("\n"), ord("\r"), _QUOTE]] = True
_LINE_END = re.compile(rb"\r\n|\r|\n")
# Bytes on which pyarrow's integer parser accepts what picks' rules refuse: it trims spaces and
# tabs around a number and reads ``0x1f`` as hexadecimal.  A long run of zeros could be a number
# padded past the csv module's field size limit, which picks refuses and pyarrow would read.
_INT_PARSE_DIFFERS = (b" ", b"\t", b"x", b"X", b"0" * 1024)
_STRING_CODES = pa.dictionary(pa.int32(), pa.string()) if PYARROW else None


class Declined(Exception):
    """This file (or a value in it) is for ``csv_reader`` to read: it reports errors exactly."""


def available() -> bool:
    """Whether pyarrow can be imported here (training image, dev venv; not the Lambda layer)."""
    return PYARROW


def read_csv(
    data: bytes | mmap.mmap, schema: DatasetSchema, dataset_type: str, source: str = ""
) -> ColumnTable:
    """``csv_reader.read_csv``, parsed by pyarrow where that gives the same table.

    Same arguments, result and ``ImportValidationError`` as ``csv_reader.read_csv``; ``data`` may
    also be a file mapped read-only (the import job's source: parsed where it lies, never copied
    into this process' memory unless ``csv_reader`` must read it).
    """
    try:
        return _read(data, schema, dataset_type.upper())
    except Declined:
        whole = data if isinstance(data, bytes) else bytes(data)
        return csv_reader.read_csv(whole, schema, dataset_type, source)


# --------------------------------------------------------------------------- file level


def _read(data: bytes | mmap.mmap, schema: DatasetSchema, dataset_type: str) -> ColumnTable:
    bom = csv_reader._UTF8_BOM
    start = len(bom) if data[: len(bom)] == bom else 0
    if data.find(b"\x00") >= 0 or not _valid_utf8(data):
        raise Declined
    fields, body_start = _header(data, start, schema)
    if any(f.textual for f in schema.fields) and data.find(b"\\", body_start) >= 0:
        raise Declined  # backslash escapes: left to the csv module
    body = memoryview(data)[body_start:]
    quoted = data.find(b'"', body_start) >= 0
    if quoted:
        _check_quotes(np.frombuffer(body, dtype=np.uint8))
    integers = all(data.find(differs, body_start) < 0 for differs in _INT_PARSE_DIFFERS)
    columns = _parse_body(body, [_read_type(f, integers=integers) for f in fields], quoted=quoted)
    row_count = columns[0].length() if columns else 0
    if row_count == 0:
        raise Declined
    built = {f.name.upper(): _column(f, column) for f, column in zip(fields, columns, strict=True)}
    table_columns: dict[str, Column] = {}
    for f in schema.fields:
        found = built.get(f.name.upper())
        table_columns[f.name] = found if found is not None else null_column(f, row_count)
    return ColumnTable(schema.name, dataset_type, table_columns, row_count)


def _valid_utf8(data: bytes | mmap.mmap) -> bool:
    if isinstance(data, bytes):
        return csv_reader._first_invalid_utf8(data) is None
    if not len(data) or int(np.frombuffer(data, dtype=np.uint8).max()) < 0x80:
        return True  # ASCII, checked without a copy
    return csv_reader._first_invalid_utf8(bytes(data)) is None


def _read_type(f: Field, *, integers: bool) -> Any:
    """The type pyarrow reads ``f``'s column as (see the module's docstring)."""
    if f.type == "string":
        return _STRING_CODES
    if f.type in INTEGER_TYPES and integers:
        return pa.int64()
    return pa.string()


def _header(data: bytes | mmap.mmap, start: int, schema: DatasetSchema) -> tuple[list[Field], int]:
    """The header's fields and where the data rows start; Declined unless it is one valid line."""
    match = _LINE_END.search(data, start)
    if match is None:
        raise Declined  # header only: csv_reader says so
    line = data[start : match.start()].decode("utf-8")
    try:
        rows = list(csv.reader([line], **csv_reader._dialect(schema)))
    except csv.Error:
        raise Declined from None
    if len(rows) != 1:
        raise Declined

    def fail(line: int, column: str | None, reason: str) -> csv_reader.ImportValidationError:
        raise Declined

    return csv_reader._match_header(rows[0], schema, fail), match.end()


def _check_quotes(body: np.ndarray) -> None:
    """Declined unless every quote opens or closes a whole field (doubled quotes included).

    Then picks' strict reading and pyarrow's agree: outside quotes no field holds a quote, and a
    closing quote is followed by a delimiter, a line end, the end of the file, or a second quote.
    """
    quotes = np.flatnonzero(body == _QUOTE)
    if quotes.size == 0:
        return
    if quotes.size % 2:
        raise Declined  # an unterminated quoted field
    opening, closing = quotes[0::2], quotes[1::2]
    before = opening[opening > 0] - 1
    after = closing[closing < body.size - 1] + 1
    if not (_FIELD_EDGES[body[before]].all() and _FIELD_EDGES[body[after]].all()):
        raise Declined


def _parse_body(body: memoryview, types: list[Any], *, quoted: bool) -> list[Any]:
    """The data rows as chunked columns of ``types`` (null = empty value); string codes share one
    dictionary.  A value pyarrow cannot read as a number reads the file again as text."""
    try:
        return _parse_typed(body, types, quoted=quoted)
    except pa.ArrowInvalid:
        text = [pa.string() if t == pa.int64() else t for t in types]
        if text == types:
            raise Declined from None  # a row with the wrong number of columns, most likely
    try:
        return _parse_typed(body, text, quoted=quoted)
    except pa.ArrowInvalid:
        raise Declined from None


def _parse_typed(body: memoryview, types: list[Any], *, quoted: bool) -> list[Any]:
    names = [f"c{index}" for index in range(len(types))]
    read_options = pa_csv.ReadOptions(column_names=names, use_threads=True, block_size=BLOCK_SIZE)
    parse_options = pa_csv.ParseOptions(
        delimiter=",",
        quote_char='"',
        double_quote=True,
        escape_char=False,
        # Quoted line breaks need the slower quote-aware block splitter; most files have none.
        newlines_in_values=quoted,
        ignore_empty_lines=True,
    )
    convert_options = pa_csv.ConvertOptions(
        column_types=dict(zip(names, types, strict=True)),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    # The system allocator, not pyarrow's default mimalloc: on a 25M-row file mimalloc's fresh
    # pages (zeroed by the kernel, and handed back between blocks) cost ~1 s of system time more.
    pool = pa.system_memory_pool()
    table = pa_csv.read_csv(
        pa.py_buffer(body), read_options, parse_options, convert_options, memory_pool=pool
    )
    if _STRING_CODES in types:
        table = table.unify_dictionaries(pool)  # the first block's values, then each block's new ones
    return [table.column(name) for name in names]


# --------------------------------------------------------------------------- columns


def _column(f: Field, values: Any) -> Column:
    if not f.nullable and values.null_count:
        raise Declined
    if f.type == "string":
        return _string_column(f, values)
    if f.type in INTEGER_TYPES and values.type == pa.int64():
        return _integer_range(f, values, values)
    _check_field_size(values)
    if f.type in INTEGER_TYPES:
        return _integer_column(f, values)
    if f.type in FLOAT_TYPES:
        return _float_column(f, values)
    if f.type == "boolean":
        return _boolean_column(f, values)
    raise ValueError(f"field {f.name} has unsupported type {f.type!r}")


def _check_field_size(values: Any) -> None:
    # The csv module refuses fields over its limit (characters; a byte count is an upper bound).

    longest = pc.max(pc.binary_length(values)).as_py()
    if longest is not None and longest > csv.field_size_limit():
        raise Declined


def _null_mask(f: Field, values: Any) -> np.ndarray | None:
    if not f.nullable:
        return None
    return np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _all_match(values: Any, pattern: str) -> None:

    # Nulls are skipped: emptiness was checked against the field's nullability already.
    if pc.all(pc.match_substring_regex(values, pattern)).as_py() is False:
        raise Declined


def _integer_column(f: Field, values: Any) -> Column:

    _all_match(values, _INT_PATTERN)
    if pc.any(pc.starts_with(values, "+")).as_py():
        values = pc.utf8_ltrim(values, characters="+")  # pyarrow's integer cast refuses a plus sign
    try:
        numbers = pc.cast(values, pa.int64())
    except pa.ArrowInvalid:
        raise Declined from None  # out of range for long
    return _integer_range(f, numbers, values)


def _integer_range(f: Field, numbers: Any, values: Any) -> Column:
    """``numbers`` (``values`` parsed) as the column, Declined unless all lie in the type's range."""
    low, high = csv_reader.INT_RANGES[f.type]
    if f.name.upper() in csv_reader.EPOCH_FIELDS:
        high = min(high, csv_reader.MAX_EPOCH_SECONDS)
    extremes = pc.min_max(numbers)
    smallest, largest = extremes["min"].as_py(), extremes["max"].as_py()
    if smallest is not None and (smallest < low or largest > high):
        raise Declined
    data = _concatenated(pc.fill_null(numbers, 0) if numbers.null_count else numbers, np.int64)
    return Column(f, data, _null_mask(f, values), None)


def _float_column(f: Field, values: Any) -> Column:

    _all_match(values, _FLOAT_PATTERN)
    numbers = pc.cast(values, pa.float64())  # correctly rounded, as Python's float()
    data = _writable(pc.fill_null(numbers, np.nan), np.float64)
    null = _null_mask(f, values)
    present = data if null is None else data[~null]
    limit = csv_reader.FLOAT32_MAX if f.type == "float" else np.inf
    if not np.isfinite(present).all() or (present.size and float(np.abs(present).max()) > limit):
        raise Declined
    return Column(f, data, null, None)


def _boolean_column(f: Field, values: Any) -> Column:

    if not set(pc.unique(values).drop_null().to_pylist()) <= {"true", "false"}:
        raise Declined
    data = _writable(pc.fill_null(pc.equal(values, "true"), False), np.bool_)
    return Column(f, data, _null_mask(f, values), None)


def _writable(values: Any, dtype: type[np.generic]) -> np.ndarray:
    """A null-free column as a writable numpy array (pyarrow hands out read-only views)."""
    return np.array(values.to_numpy(zero_copy_only=False), dtype=dtype)


def _concatenated(values: Any, dtype: type[np.generic]) -> np.ndarray:
    """A null-free chunked numeric column as one writable numpy array: each chunk copied once."""
    chunks = [chunk.to_numpy(zero_copy_only=False) for chunk in values.chunks]
    return np.concatenate(chunks).astype(dtype, copy=False) if chunks else np.zeros(0, dtype=dtype)


def _string_column(f: Field, values: Any) -> Column:
    """``values``: codes into one dictionary shared by every chunk (``_parse_typed``), in
    first-seen order; the checks run on the distinct values."""
    chunks = values.chunks
    if chunks:
        _check_field_size(chunks[0].dictionary)
    dictionary: list[str] = chunks[0].dictionary.to_pylist() if chunks else []
    indices = [chunk.indices for chunk in chunks]
    if values.null_count:
        indices = [pc.fill_null(index, NULL_CODE) for index in indices]
    codes = _concatenated(pa.chunked_array(indices, pa.int32()), np.int32)
    limit = csv_reader._char_limit(f)
    if dictionary and max(map(len, dictionary)) > limit:
        if not f.textual:
            raise Declined
        dictionary, codes = _truncated(dictionary, codes, limit)
    return string_column(f, codes, _object_array(dictionary))


def _truncated(dictionary: list[str], codes: np.ndarray, limit: int) -> tuple[list[str], np.ndarray]:
    """Textual values cut at ``limit`` characters, as Personalize does; equal cuts share a code."""
    merged: dict[str, int] = {}
    remap = np.fromiter(
        (merged.setdefault(value[:limit], len(merged)) for value in dictionary),
        dtype=np.int32,
        count=len(dictionary),
    )
    lookup = np.append(remap, np.int32(NULL_CODE))  # code -1 indexes the last slot
    return list(merged), lookup[codes]
