"""PutItems / PutUsers / PutActions records become a training table directly (``table_from_records``).

Until issue 13 the records were written out as CSV and parsed back with the bulk import's reader;
``_table_via_csv`` keeps that old path as the reference the direct build must match, column for
column, on records with nulls, multi-value categoricals, textual fields and every field type.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from picks.dataset_schema import DatasetSchema, parse_schema
from picks.ingest.columnar import ID_COLUMNS, ColumnTable, table_from_records
from picks.ingest.csv_reader import read_csv
from picks.records import validate_record_properties

ITEMS = parse_schema(
    json.dumps(
        {
            "type": "record",
            "name": "Items",
            "namespace": "com.amazonaws.personalize.schema",
            "version": "1.0",
            "fields": [
                {"name": "ITEM_ID", "type": "string"},
                {"name": "GENRES", "type": ["null", "string"], "categorical": True},
                {"name": "PRICE", "type": ["null", "double"]},
                {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]},
                {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
                {"name": "IN_STOCK", "type": ["null", "boolean"]},
                {"name": "BRAND", "type": "string"},
                {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
            ],
        }
    )
)
USERS = parse_schema(
    json.dumps(
        {
            "type": "record",
            "name": "Users",
            "namespace": "com.amazonaws.personalize.schema",
            "version": "1.0",
            "fields": [
                {"name": "USER_ID", "type": "string"},
                {"name": "AGE", "type": "int"},
                {"name": "SCORE", "type": "float"},
                {"name": "MEMBER", "type": "boolean"},
                {"name": "TIER", "type": ["null", "string"], "categorical": True},
            ],
        }
    )
)


def _table_via_csv(
    schema: DatasetSchema, dataset_type: str, records: list[tuple[str, dict[str, Any]]]
) -> ColumnTable | None:
    """The path before issue 13: render the records as a bulk-import CSV, read it back."""
    id_column = ID_COLUMNS[dataset_type]
    names = [f.name for f in schema.fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for record_id, fields in records:
        row = []
        for name in names:
            value = record_id if name.upper() == id_column else fields.get(name)
            row.append(
                "" if value is None else ("true" if value is True else "false" if value is False else value)
            )
        writer.writerow(row)
        count += 1
    if not count:
        return None
    return read_csv(
        buffer.getvalue().encode("utf-8"), schema, dataset_type, source="PutItems/PutUsers records"
    )


def _stored(schema: DatasetSchema, dataset_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A record's fields as the metadata store gives them back: validated, then a JSON round trip."""
    fields = validate_record_properties(schema, dataset_type, json.dumps(properties), "items.0.properties")
    return dict(json.loads(json.dumps(fields)))


def _assert_same_table(expected: ColumnTable, actual: ColumnTable) -> None:
    assert (actual.schema_name, actual.dataset_type, actual.row_count, actual.extra) == (
        expected.schema_name,
        expected.dataset_type,
        expected.row_count,
        expected.extra,
    )
    assert list(actual.columns) == list(expected.columns)
    for name, want in expected.columns.items():
        got = actual.columns[name]
        assert got.field == want.field, name
        assert got.data.dtype == want.data.dtype, name
        np.testing.assert_array_equal(got.data, want.data, err_msg=name)  # NaN == NaN here
        assert (got.null is None) == (want.null is None), name
        if want.null is not None:
            assert got.null is not None and got.null.dtype == want.null.dtype, name
            np.testing.assert_array_equal(got.null, want.null, err_msg=name)
        assert (got.dictionary is None) == (want.dictionary is None), name
        if want.dictionary is not None:
            assert got.dictionary is not None and got.dictionary.tolist() == want.dictionary.tolist(), name


ITEM_RECORDS = [
    (
        "i1",
        {
            "genres": "Horror|Action",
            "price": 9.99,
            "numberOfRatings": 12,
            "creationTimestamp": 1700000000,
            "inStock": True,
            "brand": "Acme, Inc.",
            "description": 'A "quoted", multi-line\ndescription – with ünïcode',
        },
    ),
    ("i2", {"brand": "Plain"}),  # every nullable field missing
    (
        "i3",
        {
            "genres": "Action",
            "price": "0.1",
            "numberOfRatings": "-3",
            "inStock": "false",
            "brand": "Acme, Inc.",
            "description": "",
        },
    ),
    ("i4", {"genres": None, "price": 1e-7, "inStock": False, "brand": "Zed", "description": "x" * 25_000}),
    ("i1", {"genres": "Comedy|Horror|Action", "price": 2.5, "brand": "Acme, Inc."}),  # an id repeats
]


@pytest.mark.parametrize("count", [1, 2, len(ITEM_RECORDS)])
def test_items_records_build_the_table_the_csv_round_trip_built(count: int) -> None:
    records = [(record_id, _stored(ITEMS, "ITEMS", props)) for record_id, props in ITEM_RECORDS[:count]]
    expected = _table_via_csv(ITEMS, "ITEMS", records)
    actual = table_from_records(ITEMS, "ITEMS", iter(records))
    assert expected is not None and actual is not None
    _assert_same_table(expected, actual)


def test_users_records_with_required_numbers_and_booleans_match_the_csv_round_trip() -> None:
    props = [
        {"age": 31, "score": 0.5, "member": True, "tier": "gold|silver"},
        {"age": "0", "score": "-1e3", "member": "false"},
        {"age": 2147483647, "score": 3.4e38, "member": False, "tier": None},
    ]
    records = [(f"u{index}", _stored(USERS, "USERS", p)) for index, p in enumerate(props)]
    expected = _table_via_csv(USERS, "USERS", records)
    actual = table_from_records(USERS, "USERS", records)
    assert expected is not None and actual is not None
    _assert_same_table(expected, actual)
    assert actual["AGE"].null is None and actual["MEMBER"].data.tolist() == [True, False, False]


def test_no_records_is_no_table() -> None:
    assert table_from_records(ITEMS, "ITEMS", []) is None
    assert _table_via_csv(ITEMS, "ITEMS", []) is None


def test_values_keep_backslashes_that_the_csv_round_trip_lost() -> None:
    # The old path wrote plain CSV but read it with the textual-field dialect, where "\" escapes:
    # a backslash in any string of an Items schema with a textual field was silently dropped.
    records = [("i1", _stored(ITEMS, "ITEMS", {"brand": r"AC\DC", "description": r"C:\path"}))]
    table = table_from_records(ITEMS, "ITEMS", records)
    assert table is not None
    assert table["BRAND"].to_pylist() == [r"AC\DC"]
    assert table["DESCRIPTION"].to_pylist() == [r"C:\path"]
    old = _table_via_csv(ITEMS, "ITEMS", records)
    assert old is not None and old["BRAND"].to_pylist() == ["ACDC"]


def test_a_null_in_a_field_the_schema_no_longer_lets_be_null_names_the_record() -> None:
    # UpdateDataset keeps field types, but a field may become required after records were put.
    with pytest.raises(ValueError, match=r"'u7'.*AGE"):
        table_from_records(USERS, "USERS", [("u7", {"score": 1.0, "member": True})])


def test_nulls_hold_the_null_fill() -> None:
    table = table_from_records(ITEMS, "ITEMS", [("i2", _stored(ITEMS, "ITEMS", {"brand": "Plain"}))])
    assert table is not None
    assert math.isnan(table["PRICE"].data[0]) and table["PRICE"].null_mask().tolist() == [True]
    assert table["NUMBER_OF_RATINGS"].data.tolist() == [0] and table["IN_STOCK"].data.tolist() == [False]
    assert table["GENRES"].data.tolist() == [-1] and table["GENRES"].dictionary is not None
