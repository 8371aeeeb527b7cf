"""``training.data.listed_ids``: the ids of an ITEMS / USERS table, which similar-items' catalogue,
exploration's cold items and the USERS dataset's users without interactions all read."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from picks.dataset_schema import parse_schema
from picks.ingest.columnar import table_from_records

from demo.schemas import avro_schema
from training.data import listed_ids

SCHEMA = parse_schema(avro_schema("Items", ("ITEM_ID", "string"), ("GENRE", "string", "categorical")))


def _table(ids: list[str]):
    return table_from_records(SCHEMA, "ITEMS", [(item, {"GENRE": "g"}) for item in ids])


def test_distinct_ids_in_first_row_order_with_their_rows():
    table = _table(["c", "a", "b"]).take(np.array([0, 1, 0, 2, 1, 2]))  # c a c b a b
    column = table["ITEM_ID"]
    codes = np.asarray(column.data).copy()
    codes[1] = -1  # a null id on the first row of "a": its next row is its first
    table.columns["ITEM_ID"] = replace(column, data=codes)
    ids, rows = listed_ids(table, "ITEM_ID")
    assert ids.dtype == object and ids.tolist() == ["c", "b", "a"]
    assert rows.tolist() == [0, 3, 4]


def test_a_table_of_one_row_per_id_lists_its_rows_in_order():
    ids, rows = listed_ids(_table(["x", "b", "a"]), "ITEM_ID")
    assert ids.tolist() == ["x", "b", "a"] and rows.tolist() == [0, 1, 2]


def test_no_table_or_no_id_column_lists_nothing():
    for table, column in ((None, "ITEM_ID"), (_table(["a"]), "USER_ID")):
        ids, rows = listed_ids(table, column)
        assert ids.dtype == object and len(ids) == 0 and len(rows) == 0
