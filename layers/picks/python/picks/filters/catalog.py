"""Entity metadata aligned to a model's index, laid out for fast filter evaluation.

``ItemCatalog.build(item_ids, table, records)`` takes

* ``item_ids``: the model's item index (object array of str); row ``i`` of every array below is
  item ``item_ids[i]``;
* ``table``: the Items dataset's bulk ``ColumnTable`` (``picks.ingest.columnar``: strings
  dictionary-encoded, multiple categorical values joined with ``|``), or None;
* ``records``: PutItems records ``{itemId: {FIELD: value}}``; a record replaces the bulk row of its
  id entirely (fields it lacks are null), as training reads them; or None.

Items with no metadata have nulls.  Each field is held as one of

* ``categorical`` strings: int32 codes into the distinct raw values (``"a|b"`` is one raw value);
  ``IN`` turns the wanted values into a boolean table over the distinct raw values (an inverted
  index from each ``|``-separated value to the raw values holding it, built on first use) and
  gathers it through the codes.  Masks are cached per set of values.
* ``string`` (plain or textual strings): the same codes, matched on the whole value.
* ``numeric`` (int, long, float, double): float64 with NaN for null (epoch seconds are exact).
* ``boolean``: kept only to say so; filters can't use boolean fields (evaluation raises an
  ``InvalidInputException`` naming the field).

The class is generic over the entity: ``ItemCatalog.build(user_ids, users_table, user_records,
id_field="USER_ID")`` gives the catalog a UserID filter (user segments) evaluates over.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from picks.ingest.columnar import ID_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.dataset_schema import DatasetSchema
    from picks.ingest.columnar import Column, ColumnTable

CATEGORICAL = "categorical"
STRING = "string"
NUMERIC = "numeric"
BOOLEAN = "boolean"
SEPARATOR = "|"
MASK_CACHE_SIZE = 128  # per field; a mask is one byte per item


def split_values(raw: str, kind: str | None) -> tuple[str, ...]:
    """The values a raw string holds: its ``|``-separated parts when categorical, else itself."""
    if kind == CATEGORICAL:
        return tuple(part for part in raw.split(SEPARATOR) if part)
    return (raw,)


def kind_of(type_name: str, categorical: bool) -> str:
    if type_name == "string":
        return CATEGORICAL if categorical else STRING
    if type_name == "boolean":
        return BOOLEAN
    return NUMERIC


def is_boolean(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """int / float, numpy scalars included, but not booleans."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not is_boolean(value)


def kind_of_value(value: Any) -> str | None:
    """The kind a bare Python value implies (strings count as categorical); None for None."""
    if value is None:
        return None
    if is_boolean(value):
        return BOOLEAN
    if is_number(value):
        return NUMERIC
    return CATEGORICAL


@dataclass
class FieldValues:
    """One field over the catalog's rows."""

    name: str
    kind: str
    codes: np.ndarray | None = None  # strings: int32, -1 = null
    dictionary: list[str] = field(default_factory=list)  # strings: distinct raw values
    numbers: np.ndarray | None = None  # numeric: float64, NaN = null
    flags: np.ndarray | None = None  # boolean: object array of True / False / None (for current_item)
    _masks: OrderedDict[frozenset[str], np.ndarray] = field(default_factory=OrderedDict, repr=False)
    _postings: dict[str, list[int]] | None = field(default=None, repr=False)
    _notnull: np.ndarray | None = field(default=None, repr=False)

    def value(self, row: int) -> Any:
        if self.kind in (CATEGORICAL, STRING):
            assert self.codes is not None
            code = int(self.codes[row])
            return None if code < 0 else self.dictionary[code]
        if self.kind == NUMERIC:
            assert self.numbers is not None
            number = float(self.numbers[row])
            return None if np.isnan(number) else number
        assert self.flags is not None
        return self.flags[row]

    def in_mask(self, wanted: frozenset[str]) -> np.ndarray:
        """Rows whose value (any ``|`` value, for categorical fields) is in ``wanted``; read-only."""
        cached = self._masks.get(wanted)
        if cached is not None:
            self._masks.move_to_end(wanted)
            return cached
        assert self.codes is not None
        hit = np.zeros(len(self.dictionary) + 1, dtype=bool)  # the last slot is null (code -1)
        postings = self._index()
        for value in wanted:
            positions = postings.get(value)
            if positions:
                hit[positions] = True
        mask: np.ndarray = hit[self.codes]
        mask.flags.writeable = False
        self._masks[wanted] = mask
        if len(self._masks) > MASK_CACHE_SIZE:
            self._masks.popitem(last=False)
        return mask

    def _index(self) -> dict[str, list[int]]:
        if self._postings is None:
            postings: dict[str, list[int]] = {}
            for position, raw in enumerate(self.dictionary):
                for value in split_values(raw, self.kind):
                    postings.setdefault(value, []).append(position)
            self._postings = postings
        return self._postings

    def notnull(self) -> np.ndarray:
        if self._notnull is None:
            assert self.numbers is not None
            self._notnull = ~np.isnan(self.numbers)
        return self._notnull


class ItemCatalog:
    """Per-field metadata of the entities a filter selects from, in the model's index order."""

    def __init__(
        self,
        ids: np.ndarray,
        fields: dict[str, FieldValues],
        id_field: str = "ITEM_ID",
        extra: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.ids = ids
        self.size = int(len(ids))
        self.fields = fields  # by upper-case field name
        self.id_field = id_field.upper()
        self._extra = extra or {}  # records of ids outside the index (for current_item)
        self._positions: dict[str, int] | None = None

    def __len__(self) -> int:
        return self.size

    def field(self, name: str) -> FieldValues | None:
        return self.fields.get(name.upper())

    def position(self, entity_id: str) -> int | None:
        if self._positions is None:
            self._positions = {str(value): index for index, value in enumerate(self.ids.tolist())}
        return self._positions.get(entity_id)

    def current_item(self, item_id: str) -> dict[str, Any]:
        """``{FIELD: value}`` of one entity (the ``CurrentItem`` of a related-items request).

        Strings are raw (categorical values still ``|``-joined), numbers float, null None.  An id
        outside the index gives its PutItems record if there is one, else only its id.
        """
        row = self.position(item_id)
        if row is None:
            record = self._extra.get(item_id, {})
            return {self.id_field: item_id, **{name.upper(): value for name, value in record.items()}}
        return {name: values.value(row) for name, values in self.fields.items()}

    @classmethod
    def build(
        cls,
        item_ids: np.ndarray,
        table: ColumnTable | None = None,
        records: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        schema: DatasetSchema | None = None,
        id_field: str | None = None,
    ) -> ItemCatalog:
        """Align ``table`` rows and ``records`` to ``item_ids`` (see the module docstring).

        ``schema`` (the dataset's schema) says which string fields are categorical for fields the
        table lacks; without either, record strings are taken as categorical.
        """
        ids = np.asarray(item_ids, dtype=object)
        n = len(ids)
        if id_field is None:
            id_field = (
                ID_COLUMNS.get(table.dataset_type.upper(), "ITEM_ID") if table is not None else "ITEM_ID"
            )
        id_field = id_field.upper()
        id_list = [str(value) for value in ids.tolist()]
        fields: dict[str, FieldValues] = {
            id_field: FieldValues(id_field, STRING, np.arange(n, dtype=np.int32), id_list)
        }
        declared: dict[str, str] = {}
        if schema is not None:
            declared = {f.name.upper(): kind_of(f.type, f.categorical) for f in schema.fields}

        if table is not None and id_field in table:
            for name, values in _table_fields(table, id_field, id_list).items():
                fields[name] = values
                declared.setdefault(name, values.kind)

        for name, kind in declared.items():  # schema fields no row has: all null
            if name not in fields:
                fields[name] = _null_field(name, kind, n)

        overrides, extra = _split_records(records, id_list)
        if overrides:
            _apply_records(fields, overrides, declared, id_field, n)
        return cls(ids, fields, id_field, extra)


def _table_fields(table: ColumnTable, id_field: str, id_list: list[str]) -> dict[str, FieldValues]:
    """The table's columns (but the id) over the catalog's rows; an id the table lacks is null throughout."""
    rows = _rows_of(table, id_field, id_list)
    present = rows >= 0
    safe = np.where(present, rows, 0)
    fields: dict[str, FieldValues] = {}
    for column in table.columns.values():
        name = column.name.upper()
        if name == id_field:
            continue
        kind = kind_of(column.type, column.field.categorical)
        if not present.any():
            fields[name] = _null_field(name, kind, len(id_list))
        else:
            fields[name] = _column_values(column, name, kind, present, safe)
    return fields


def _column_values(
    column: Column, name: str, kind: str, present: np.ndarray, safe: np.ndarray
) -> FieldValues:
    """``column`` taken at rows ``safe``, null where the id is not ``present`` in the table."""
    if column.is_string:
        assert column.dictionary is not None
        codes = np.where(present, column.data[safe], -1).astype(np.int32)
        return FieldValues(name, kind, codes, column.dictionary.tolist())
    if kind == NUMERIC:
        numbers = column.data[safe].astype(np.float64)
        numbers[column.null_mask()[safe] | ~present] = np.nan
        return FieldValues(name, kind, numbers=numbers)
    values = column.data[safe].tolist()
    nulls = (column.null_mask()[safe] | ~present).tolist()
    flags = np.empty(len(present), dtype=object)
    flags[:] = [None if is_null else bool(v) for v, is_null in zip(values, nulls, strict=True)]
    return FieldValues(name, kind, flags=flags)


def _split_records(
    records: Mapping[str, Mapping[str, Any]] | None, id_list: list[str]
) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    """PutItems records (field names upper-cased) by catalog row, and those of ids outside the catalog."""
    overrides: dict[int, dict[str, Any]] = {}
    extra: dict[str, dict[str, Any]] = {}
    if not records:
        return overrides, extra
    positions = {value: index for index, value in enumerate(id_list)}
    for record_id, record in records.items():
        upper = {name.upper(): value for name, value in record.items()}
        row = positions.get(record_id)
        if row is None:
            extra[record_id] = upper
        else:
            overrides[row] = upper
    return overrides, extra


def _rows_of(table: ColumnTable, id_field: str, id_list: list[str]) -> np.ndarray:
    """For each id, the table row holding it (the last one if repeated), or -1."""
    decoded = table[id_field].decoded().tolist()
    row_of = {value: row for row, value in enumerate(decoded) if value is not None}
    return np.fromiter((row_of.get(value, -1) for value in id_list), dtype=np.int64, count=len(id_list))


def _apply_records(
    fields: dict[str, FieldValues],
    overrides: dict[int, dict[str, Any]],
    declared: dict[str, str],
    id_field: str,
    n: int,
) -> None:
    rows = np.fromiter(overrides, dtype=np.int64, count=len(overrides))
    names = set(fields) | {name for record in overrides.values() for name in record}
    names.discard(id_field)
    for name in names:
        values = [overrides[int(row)].get(name) for row in rows]
        current = fields.get(name)
        if current is None:
            kind = declared.get(name) or next(
                (k for k in map(kind_of_value, values) if k is not None), CATEGORICAL
            )
            current = _null_field(name, kind, n)
            fields[name] = current
        if current.kind in (CATEGORICAL, STRING):
            assert current.codes is not None
            index = {value: code for code, value in enumerate(current.dictionary)}
            codes = current.codes.copy()
            for row, value in zip(rows.tolist(), values, strict=True):
                if value is None or is_boolean(value):
                    codes[row] = -1
                    continue
                text = value if isinstance(value, str) else _number_text(value)
                code = index.get(text)
                if code is None:
                    code = index[text] = len(current.dictionary)
                    current.dictionary.append(text)
                codes[row] = code
            current.codes = codes
        elif current.kind == NUMERIC:
            assert current.numbers is not None
            numbers = current.numbers.copy()
            numbers[rows] = [_as_float(value) for value in values]
            current.numbers = numbers
        else:
            assert current.flags is not None
            flags = current.flags.copy()
            for row, value in zip(rows.tolist(), values, strict=True):
                flags[row] = None if value is None else bool(value)
            current.flags = flags


def _null_field(name: str, kind: str, n: int) -> FieldValues:
    if kind in (CATEGORICAL, STRING):
        return FieldValues(name, kind, np.full(n, -1, dtype=np.int32), [])
    if kind == NUMERIC:
        return FieldValues(name, kind, numbers=np.full(n, np.nan))
    flags = np.empty(n, dtype=object)
    return FieldValues(name, kind, flags=flags)


def _as_float(value: Any) -> float:
    if value is None or is_boolean(value):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _number_text(value: Any) -> str:
    return str(value)


class UserProfile(dict):  # type: ignore[type-arg]
    """The ``CurrentUser``: ``{FIELD: value}`` with the catalog's value conventions.

    A plain dict works as well; then every string value is read as categorical (split at ``|``).
    ``UserProfile.from_record(values, schema)`` records which string fields are plain, so their
    values are matched whole.
    """

    plain: frozenset[str] = frozenset()

    @classmethod
    def from_record(
        cls, values: Mapping[str, Any] | None, schema: DatasetSchema | None = None
    ) -> UserProfile:
        profile = cls({name.upper(): value for name, value in (values or {}).items()})
        if schema is not None:
            profile.plain = frozenset(
                f.name.upper() for f in schema.fields if f.type == "string" and not f.categorical
            )
        return profile
