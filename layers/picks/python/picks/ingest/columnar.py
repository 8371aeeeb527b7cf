"""Columnar, training-ready dataset tables and their S3 storage.

A ``ColumnTable`` holds one numpy array per schema field:

* strings are dictionary-encoded: ``int32`` codes into an array of distinct values, with
  ``-1`` for null.  Codes are dense (``0 .. cardinality-1``), so USER_ID / ITEM_ID codes can be
  used directly as matrix row/column indices by training code.
* int/long are ``int64``, float/double ``float64``, boolean ``bool``; a nullable numeric column
  also carries a boolean null mask (null slots hold 0, NaN or False).

On S3 a table is two objects under a prefix::

    <prefix>/data.npz       plain numeric arrays only, an npz (np.load reads it, allow_pickle=False)
                            whose arrays are 64-byte aligned so readers map them (``picks.npz``)
    <prefix>/manifest.json  row count, columns, schema name, checksum; written last, so a prefix
                            without a manifest is an unfinished write and is never read

Array names inside ``data.npz`` are ``<FIELD>.data``, ``<FIELD>.null`` (nullable numerics) and,
for strings, ``<FIELD>.dict_text`` (uint8, the UTF-8 of all distinct values concatenated) plus
``<FIELD>.dict_offsets`` (int64, ``cardinality + 1`` character offsets into the decoded text).
Variable-length text plus offsets avoids both object arrays (which need pickle) and fixed-width
``U`` arrays (which pad every value to the longest one, e.g. a 20,000-character description).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import filterfalse
from typing import TYPE_CHECKING, Any

import numpy as np
from botocore.exceptions import ClientError

from picks import npz
from picks.dataset_schema import DatasetSchema, Field
from picks.ordering import column_counts, time_order

if TYPE_CHECKING:
    import mmap
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

FORMAT_NAME = "picks-columnar"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
PARALLEL_HASH_BYTES = 16 << 20  # from this size the checksum runs beside the parsing
PARALLEL_TAKE_ROWS = 1 << 20  # from this many rows a table's columns are gathered on threads
DATA_NAME = "data.npz"

# Dataset types whose rows are events (appended) vs. entities (upserted by their id column).
APPEND_DATASET_TYPES = frozenset({"INTERACTIONS", "ACTION_INTERACTIONS"})
ID_COLUMNS: Mapping[str, str] = {"ITEMS": "ITEM_ID", "USERS": "USER_ID", "ACTIONS": "ACTION_ID"}

INTEGER_TYPES = frozenset({"int", "long"})
FLOAT_TYPES = frozenset({"float", "double"})

NULL_CODE = -1


class TableNotFoundError(LookupError):
    """No finished table (no manifest) exists under the prefix."""


class IncompatibleColumnsError(ValueError):
    """A column has types in two tables that cannot be combined (e.g. string vs long)."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _kind(type_name: str) -> str:
    if type_name in INTEGER_TYPES:
        return "integer"
    if type_name in FLOAT_TYPES:
        return "float"
    return type_name  # "string" | "boolean"


def _numpy_dtype(type_name: str) -> np.dtype[Any]:
    kind = _kind(type_name)
    if kind == "integer":
        return np.dtype(np.int64)
    if kind == "float":
        return np.dtype(np.float64)
    if kind == "boolean":
        return np.dtype(np.bool_)
    return np.dtype(np.int32)  # dictionary codes


def _null_fill(type_name: str) -> Any:
    return np.nan if _kind(type_name) == "float" else 0


@dataclass(frozen=True)
class Column:
    """One field's values.  See the module docstring for the encoding."""

    field: Field
    data: np.ndarray
    null: np.ndarray | None = None  # bool, True = null; only for nullable non-string columns
    dictionary: np.ndarray | None = None  # object array of distinct str; only for strings

    def __post_init__(self) -> None:
        if self.is_string:
            if self.dictionary is None or self.data.dtype != np.int32:
                raise ValueError(f"string column {self.name} needs int32 codes and a dictionary")
        elif self.field.nullable and (self.null is None or self.null.shape != self.data.shape):
            raise ValueError(f"nullable column {self.name} needs a null mask")

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def type(self) -> str:
        return self.field.type

    @property
    def is_string(self) -> bool:
        return self.field.type == "string"

    @property
    def string_dictionary(self) -> np.ndarray:
        """The distinct strings a string column's codes index; a TypeError for other columns."""
        if self.dictionary is None:
            raise TypeError(f"column {self.name} is not a string column")
        return self.dictionary

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def null_mask(self) -> np.ndarray:
        if self.is_string:
            nulls: np.ndarray = self.data == NULL_CODE
            return nulls
        if self.null is not None:
            return self.null
        return np.zeros(len(self), dtype=bool)

    @property
    def null_count(self) -> int:
        return int(self.null_mask().sum())

    def decoded(self) -> np.ndarray:
        """String values per row as an object array (None for null); strings only."""
        if not self.is_string:
            raise TypeError(f"column {self.name} is not a string column")
        assert self.dictionary is not None
        # A trailing None slot lets null code -1 index it directly.
        lookup = np.empty(len(self.dictionary) + 1, dtype=object)
        lookup[:-1] = self.dictionary
        values: np.ndarray = lookup[self.data]
        return values

    def to_pylist(self) -> list[Any]:
        """Plain Python values per row (None for null) — for tests, export and debugging."""
        values: list[Any] = self.decoded().tolist() if self.is_string else self.data.tolist()
        if self.is_string or self.null is None:
            return values
        return [None if is_null else value for value, is_null in zip(values, self.null.tolist(), strict=True)]

    def take(self, indices: np.ndarray) -> Column:
        return replace(
            self,
            data=self.data[indices],
            null=None if self.null is None else self.null[indices],
        )


@dataclass
class ColumnTable:
    """A validated dataset: one ``Column`` per schema field, in schema order."""

    schema_name: str
    dataset_type: str
    columns: dict[str, Column]
    row_count: int
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, copied into the manifest

    def __post_init__(self) -> None:
        for name, column in self.columns.items():
            if name != column.name:
                raise ValueError(f"column key {name!r} does not match field name {column.name!r}")
            if len(column) != self.row_count:
                raise ValueError(f"column {name} has {len(column)} rows, table has {self.row_count}")

    def __getitem__(self, name: str) -> Column:
        column = self.columns.get(name)
        if column is None:
            for candidate in self.columns.values():
                if candidate.name.upper() == name.upper():
                    return candidate
            raise KeyError(name)
        return column

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(c.upper() == name.upper() for c in self.columns)

    def __len__(self) -> int:
        return self.row_count

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(c.field for c in self.columns.values())

    @property
    def schema(self) -> DatasetSchema:
        return DatasetSchema(self.schema_name, self.fields)

    def take(self, indices: np.ndarray) -> ColumnTable:
        names = list(self.columns)
        if len(indices) >= PARALLEL_TAKE_ROWS and len(names) > 1:
            # Gathers release the GIL and wait on memory, not on each other: columns side by side.
            with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1)) as pool:
                taken = list(pool.map(lambda name: self.columns[name].take(indices), names))
        else:
            taken = [self.columns[name].take(indices) for name in names]
        return ColumnTable(
            self.schema_name,
            self.dataset_type,
            dict(zip(names, taken, strict=True)),
            int(indices.shape[0]),
            dict(self.extra),
        )

    def to_pylist(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by field name.  Slow; meant for tests and small exports."""
        per_column = {name: c.to_pylist() for name, c in self.columns.items()}
        return [{name: values[i] for name, values in per_column.items()} for i in range(self.row_count)]


class DictionaryEncoder:
    """Incrementally maps strings to dense int32 codes in first-seen order.

    Shared by the CSV reader (one chunk of rows at a time) and by merges (to re-map another
    table's dictionary), so both produce identical encodings.  ``null_value`` (the CSV reader
    passes ``""``) encodes as -1 and never enters the dictionary.
    """

    def __init__(self, null_value: str | None = None) -> None:
        # The null value sits in the same dict (first, mapped to -1) so that encoding stays a
        # single C-level lookup per row.
        self._codes: dict[str, int] = {} if null_value is None else {null_value: NULL_CODE}
        self._has_null_key = null_value is not None

    def __len__(self) -> int:
        return len(self._codes) - self._has_null_key

    def new_values(self, distinct: Iterable[str]) -> list[str]:
        """The values of ``distinct`` not encoded yet, in order (the null value never is new)."""
        # filterfalse + a bound C method keeps this loop out of the interpreter.
        return list(filterfalse(self._codes.__contains__, distinct))

    def add(self, fresh: Sequence[str]) -> None:
        """Assign codes to values known to be new (from ``new_values``)."""
        start = len(self)
        self._codes.update(zip(fresh, range(start, start + len(fresh)), strict=True))

    def lookup(self, values: Sequence[str]) -> np.ndarray:
        """Codes of already-added values."""
        return np.fromiter(map(self._codes.__getitem__, values), dtype=np.int32, count=len(values))

    def encode(self, values: Sequence[str]) -> np.ndarray:
        # dict.fromkeys dedups in C, so later steps only touch distinct values.
        self.add(self.new_values(dict.fromkeys(values)))
        return self.lookup(values)

    def dictionary(self) -> np.ndarray:
        keys = list(self._codes)
        return _object_array(keys[1:] if self._has_null_key else keys)


def _object_array(values: Sequence[Any]) -> np.ndarray:
    # np.array(list_of_str, dtype=object) would still try to build nested arrays from sequences;
    # filling a pre-sized array keeps every value a plain str.
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def string_column(f: Field, codes: np.ndarray, dictionary: np.ndarray) -> Column:
    return Column(f, codes.astype(np.int32, copy=False), None, dictionary)


def null_column(f: Field, row_count: int) -> Column:
    """An all-null column, used for nullable fields absent from a CSV or an older table."""
    if f.type == "string":
        return Column(f, np.full(row_count, NULL_CODE, dtype=np.int32), None, _object_array([]))
    dtype = _numpy_dtype(f.type)
    return Column(
        f, np.full(row_count, _null_fill(f.type), dtype=dtype), np.ones(row_count, dtype=bool), None
    )


def table_from_records(
    schema: DatasetSchema, dataset_type: str, records: Iterable[tuple[str, Mapping[str, Any]]]
) -> ColumnTable | None:
    """PutItems / PutUsers / PutActions records as a table of the dataset's schema (None if none).

    A record is (its id, its properties by schema field name) with values already typed and checked
    when it was put (``picks.records``), so they are encoded as they are: the table is the one a
    bulk import of the same rows builds (strings dictionary-encoded in first-seen order, ``""``
    and missing values null).  A null in a field the schema no longer lets be null is a ValueError
    naming the record.
    """
    id_column = ID_COLUMNS[dataset_type]
    rows = list(records)
    if not rows:
        return None
    columns: dict[str, Column] = {}
    for f in schema.fields:
        if f.name.upper() == id_column:
            values: list[Any] = [record_id for record_id, _ in rows]
        else:
            values = [fields.get(f.name) for _, fields in rows]
        columns[f.name] = column_of_values(f, values, [record_id for record_id, _ in rows])
    return ColumnTable(schema.name, dataset_type, columns, len(rows))


def column_of_values(f: Field, values: list[Any], ids: list[str]) -> Column:
    """One column of typed values (None or ``""``: null), as a bulk import of them builds it;
    ``ids`` name the rows in the error for a null in a non-nullable field."""
    nulls = [value is None or value == "" for value in values]
    if not f.nullable and any(nulls):
        record_id = ids[nulls.index(True)]
        raise ValueError(
            f"record {record_id!r}: {f.name} is empty, but the schema's {f.name} is not nullable"
        )
    if f.type == "string":
        # Empty is null, as in a CSV: the nullable column's encoder maps it to -1.
        encoder = DictionaryEncoder(null_value="" if f.nullable else None)
        return string_column(
            f, encoder.encode(["" if value is None else value for value in values]), encoder.dictionary()
        )
    fill = _null_fill(f.type)
    data = np.array(
        [fill if is_null else value for value, is_null in zip(values, nulls, strict=True)],
        dtype=_numpy_dtype(f.type),
    )
    return Column(f, data, np.array(nulls, dtype=bool) if f.nullable else None, None)


# --------------------------------------------------------------------------- combining tables


def _unify_fields(tables: Sequence[ColumnTable]) -> list[Field]:
    """Union of the tables' fields; later tables (newer schema) win on type and attributes.

    Order: the newest table's fields, then fields only older tables have.  A field missing from
    some table is filled with nulls there, so the merged field must be nullable.
    """
    merged: dict[str, Field] = {}
    for table in tables:
        for f in table.fields:
            key = f.name.upper()
            previous = merged.get(key)
            if previous is not None and _kind(previous.type) != _kind(f.type):
                raise IncompatibleColumnsError(
                    f.name,
                    f"column {f.name} is {previous.type} in the existing data but {f.type} in the new data",
                )
            merged[key] = replace(f, nullable=f.nullable or (previous is not None and previous.nullable))
    newest = [f.name.upper() for f in tables[-1].fields]
    order = newest + [key for key in merged if key not in set(newest)]
    fields = [merged[key] for key in order]
    return [
        f if f.nullable or all(f.name in t for t in tables) else replace(f, nullable=True) for f in fields
    ]


def concat(tables: Sequence[ColumnTable]) -> ColumnTable:
    """Rows of all tables in order; string dictionaries are merged, existing codes kept stable."""
    if not tables:
        raise ValueError("concat needs at least one table")
    if len(tables) == 1:
        return tables[0]
    fields = _unify_fields(tables)
    columns: dict[str, Column] = {}
    for f in fields:
        parts = [t[f.name] if f.name in t else null_column(f, t.row_count) for t in tables]
        columns[f.name] = _concat_columns(f, parts)
    last = tables[-1]
    return ColumnTable(
        last.schema_name, last.dataset_type, columns, sum(t.row_count for t in tables), dict(last.extra)
    )


def _concat_columns(f: Field, parts: Sequence[Column]) -> Column:
    if f.type == "string":
        encoder = DictionaryEncoder()
        pieces = []
        for part in parts:
            assert part.dictionary is not None
            # Re-map only the (small) dictionary, then translate codes with one gather; the
            # appended -1 makes null codes map to themselves.
            remap = np.append(encoder.encode(part.dictionary.tolist()), np.int32(NULL_CODE))
            pieces.append(remap[part.data])
        return string_column(f, np.concatenate(pieces), encoder.dictionary())
    dtype = _numpy_dtype(f.type)
    data = np.concatenate([p.data.astype(dtype, copy=False) for p in parts])
    null = np.concatenate([p.null_mask() for p in parts]) if f.nullable else None
    return Column(f, data, null, None)


def compact(table: ColumnTable) -> ColumnTable:
    """Drop dictionary values no row uses (after an upsert) so codes stay dense."""
    columns = dict(table.columns)
    for name, column in table.columns.items():
        if not column.is_string:
            continue
        assert column.dictionary is not None
        used = np.zeros(len(column.dictionary) + 1, dtype=bool)
        used[column.data] = True  # code -1 marks the extra slot, which is ignored below
        used = used[:-1]
        if used.all():
            continue
        remap = np.full(len(column.dictionary) + 1, NULL_CODE, dtype=np.int32)
        remap[:-1][used] = np.arange(int(used.sum()), dtype=np.int32)
        columns[name] = string_column(column.field, remap[column.data], column.dictionary[used])
    return ColumnTable(table.schema_name, table.dataset_type, columns, table.row_count, dict(table.extra))


def deduplicate(table: ColumnTable, dataset_type: str) -> ColumnTable:
    """For entity datasets keep only the last row per id; event datasets are returned as is."""
    dataset_type = dataset_type.upper()
    if dataset_type in APPEND_DATASET_TYPES:
        return table
    id_name = ID_COLUMNS.get(dataset_type)
    if id_name is None:
        raise ValueError(f"unknown dataset type {dataset_type!r}")
    if id_name not in table:
        raise IncompatibleColumnsError(id_name, f"{dataset_type} data has no {id_name} column")
    ids = table[id_name].data
    n = table.row_count
    # np.unique returns the FIRST index of each value; on the reversed array that is the last
    # occurrence in the original order.  Survivors keep their relative order.
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    if len(first_in_reversed) == n:
        return table
    keep = np.sort(n - 1 - first_in_reversed)
    return compact(table.take(keep))


def in_user_time_order(table: ColumnTable) -> ColumnTable:
    """Event data with its rows by user, then time (ties in their given order); other tables as is.

    Training reads interactions user by user (histories, recent items, the holdout); stored in
    this order they need no sort and no gather from all over the table there.  Row order carries
    no meaning in an event dataset, and the stable order keeps same-second events as they came.
    """
    if table.dataset_type.upper() not in APPEND_DATASET_TYPES or table.row_count < 2:
        return table
    if "USER_ID" not in table or "TIMESTAMP" not in table:
        return table
    users, timestamps = table["USER_ID"], table["TIMESTAMP"]
    if users.null is not None or timestamps.null is not None:
        return table
    codes = users.data  # int32 dictionary codes: time_order widens them as it packs its keys
    if int(codes.min()) < 0:  # a null code: leave the table as it came
        return table
    order = time_order(codes, timestamps.data.astype(np.int64, copy=False))
    if bool(np.all(order[1:] > order[:-1])):
        return table
    others = {name: column for name, column in table.columns.items() if column is not users}
    ordered = ColumnTable(table.schema_name, table.dataset_type, others, table.row_count).take(order)
    # The users in their new order are each code repeated as often as it occurs: a sequential
    # write, where gathering them by ``order`` would be one more random read per row.
    counts = column_counts(codes, int(codes.max()) + 1)
    sorted_codes = np.repeat(np.arange(len(counts), dtype=codes.dtype), counts)
    columns = {
        name: replace(column, data=sorted_codes) if column is users else ordered.columns[name]
        for name, column in table.columns.items()
    }
    return ColumnTable(table.schema_name, table.dataset_type, columns, table.row_count, dict(table.extra))


def merge(existing: ColumnTable | None, incoming: ColumnTable, dataset_type: str) -> ColumnTable:
    """Combine an INCREMENTAL import with the current data.

    INTERACTIONS / ACTION_INTERACTIONS: rows are appended.  ITEMS / USERS / ACTIONS: upsert by
    the id column — an incoming row replaces the existing one, and within the incoming data the
    last row for an id wins.  Columns present on only one side are filled with nulls.
    """
    dataset_type = dataset_type.upper()
    if dataset_type not in APPEND_DATASET_TYPES and dataset_type not in ID_COLUMNS:
        raise ValueError(f"unknown dataset type {dataset_type!r}")
    combined = incoming if existing is None else concat([existing, incoming])
    return deduplicate(combined, dataset_type)


# --------------------------------------------------------------------------- S3 storage


def _key(prefix: str, name: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def encode_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strings as (UTF-8 bytes, character offsets): npz-safe without pickle or fixed-width padding."""
    strings: list[str] = values.tolist()
    text = "".join(strings)
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    if strings:
        np.cumsum(np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)), out=offsets[1:])
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8), offsets


def decode_strings(text_bytes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    # Offsets count characters, not bytes: slicing the decoded str is then O(1) per value.
    text = text_bytes.tobytes().decode("utf-8")
    bounds = offsets.tolist()
    return _object_array([text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


def _column_manifest(column: Column) -> dict[str, Any]:
    f = column.field
    entry: dict[str, Any] = {
        "name": f.name,
        "type": f.type,
        "nullable": f.nullable,
        "categorical": f.categorical,
        "textual": f.textual,
        "encoding": "dictionary" if column.is_string else "plain",
        "dtype": str(column.data.dtype),
        "null_count": column.null_count,
        "arrays": {"data": f"{f.name}.data"},
    }
    if column.is_string:
        assert column.dictionary is not None
        entry["cardinality"] = len(column.dictionary)
        entry["arrays"]["dict_text"] = f"{f.name}.dict_text"
        entry["arrays"]["dict_offsets"] = f"{f.name}.dict_offsets"
    elif column.null is not None:
        entry["arrays"]["null"] = f"{f.name}.null"
    return entry


def build_manifest(table: ColumnTable, data_size: int, data_sha256: str) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "schema_name": table.schema_name,
        "dataset_type": table.dataset_type,
        "row_count": table.row_count,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {"key": DATA_NAME, "size": data_size, "sha256": data_sha256},
        "columns": [_column_manifest(c) for c in table.columns.values()],
    }
    if table.extra:
        manifest["extra"] = table.extra
    return manifest


def serialize(table: ColumnTable) -> tuple[bytes, dict[str, Any]]:
    """The ``data.npz`` bytes and the manifest describing them."""
    buffer = io.BytesIO()
    with npz.HashingWriter(buffer) as writer:  # the same bytes as ``save`` writes to its file
        npz.write(writer, _arrays(table))
        digest = writer.hexdigest()
    data = buffer.getvalue()
    return data, build_manifest(table, len(data), digest)


def save(table: ColumnTable, folder: Path) -> dict[str, Any]:
    """``serialize``'s ``data.npz`` and ``manifest.json`` as files in ``folder``, the data written
    straight to disk (a table of millions of rows is never one more copy in memory); the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / DATA_NAME).open("wb") as handle, npz.HashingWriter(handle) as writer:
        npz.write(writer, _arrays(table))
        digest = writer.hexdigest()
    manifest = build_manifest(table, writer.size, digest)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return manifest


def _arrays(table: ColumnTable) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for column in table.columns.values():
        arrays[f"{column.name}.data"] = column.data
        if column.is_string:
            assert column.dictionary is not None
            text, offsets = encode_strings(column.dictionary)
            arrays[f"{column.name}.dict_text"] = text
            arrays[f"{column.name}.dict_offsets"] = offsets
        elif column.null is not None:
            arrays[f"{column.name}.null"] = column.null
    return arrays


def deserialize(data: bytes | mmap.mmap, manifest: Mapping[str, Any]) -> ColumnTable:
    """The table in ``data`` (``data.npz``'s bytes, or the file mapped by ``picks.npz.map_file``):
    its columns are read-only views into ``data`` where the file allows (``picks.npz``)."""
    if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"unsupported table format {manifest.get('format')!r} version {manifest.get('format_version')!r}"
        )
    expected = manifest["data"]["sha256"]
    # hashlib releases the GIL on large buffers: a big table is hashed beside the parsing (the
    # dictionaries' strings are decoded meanwhile).
    with ThreadPoolExecutor(max_workers=1) if len(data) >= PARALLEL_HASH_BYTES else nullcontext() as pool:
        digest = pool.submit(_sha256, data) if pool is not None else None
        try:
            columns, unreadable = _columns(data, manifest), None
        except Exception as error:  # noqa: BLE001 - a checksum mismatch is the better explanation
            columns, unreadable = {}, error
        actual = digest.result() if digest is not None else _sha256(data)
    if actual != expected:
        raise ValueError("table data does not match the checksum in its manifest")
    if unreadable is not None:
        raise unreadable
    return ColumnTable(
        manifest["schema_name"],
        manifest["dataset_type"],
        columns,
        int(manifest["row_count"]),
        dict(manifest.get("extra", {})),
    )


def _sha256(data: bytes | mmap.mmap) -> str:
    return hashlib.sha256(data).hexdigest()


def _columns(data: bytes | mmap.mmap, manifest: Mapping[str, Any]) -> dict[str, Column]:
    columns: dict[str, Column] = {}
    arrays = npz.read(data)
    for entry in manifest["columns"]:
        f = Field(
            name=entry["name"],
            type=entry["type"],
            nullable=entry["nullable"],
            categorical=entry.get("categorical", False),
            textual=entry.get("textual", False),
        )
        names = entry["arrays"]
        values = arrays[names["data"]]
        if f.type == "string":
            dictionary = decode_strings(arrays[names["dict_text"]], arrays[names["dict_offsets"]])
            columns[f.name] = string_column(f, values, dictionary)
        else:
            null = arrays[names["null"]] if "null" in names else None
            columns[f.name] = Column(f, values, null, None)
    return columns


def write_table(s3: Any, bucket: str, prefix: str, table: ColumnTable) -> dict[str, Any]:
    """Store ``table`` under ``prefix``; returns the manifest.

    The data object goes first and the manifest last: readers only trust a prefix that has a
    manifest, so a crash mid-write never exposes a half-written table.
    """
    data, manifest = serialize(table)
    s3.put_object(
        Bucket=bucket, Key=_key(prefix, DATA_NAME), Body=data, ContentType="application/octet-stream"
    )
    s3.put_object(
        Bucket=bucket,
        Key=_key(prefix, MANIFEST_NAME),
        Body=json.dumps(manifest, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    return manifest


MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})  # GetObject's and HeadObject's


def object_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes; None when there is no such key."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING_OBJECT_CODES:
            return None
        raise
    body: bytes = response["Body"].read()
    return body


def read_manifest(s3: Any, bucket: str, prefix: str) -> dict[str, Any]:
    raw = object_bytes(s3, bucket, _key(prefix, MANIFEST_NAME))
    if raw is None:
        raise TableNotFoundError(f"no dataset table at s3://{bucket}/{_key(prefix, MANIFEST_NAME)}")
    manifest: dict[str, Any] = json.loads(raw)
    return manifest


def read_table(s3: Any, bucket: str, prefix: str) -> ColumnTable:
    manifest = read_manifest(s3, bucket, prefix)
    data_key = _key(prefix, manifest["data"]["key"])
    data = object_bytes(s3, bucket, data_key)
    if data is None:
        raise TableNotFoundError(f"manifest found but s3://{bucket}/{data_key} is missing")
    return deserialize(data, manifest)
