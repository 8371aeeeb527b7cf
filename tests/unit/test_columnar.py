"""ColumnTable storage (npz + manifest in S3) and INCREMENTAL merge semantics."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from picks.dataset_schema import DatasetSchema, Field
from picks.ingest import columnar
from picks.ingest.columnar import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IncompatibleColumnsError,
    TableNotFoundError,
    concat,
    deduplicate,
    deserialize,
    in_user_time_order,
    merge,
    read_manifest,
    read_table,
    serialize,
    write_table,
)
from picks.ingest.csv_reader import read_csv

if TYPE_CHECKING:
    from collections.abc import Iterator

BUCKET = "picks-columnar-test"

INTERACTIONS = DatasetSchema(
    "Interactions",
    (
        Field("USER_ID", "string"),
        Field("ITEM_ID", "string"),
        Field("TIMESTAMP", "long"),
        Field("EVENT_VALUE", "float", nullable=True),
    ),
)
ITEMS = DatasetSchema(
    "Items",
    (
        Field("ITEM_ID", "string"),
        Field("GENRES", "string", nullable=True, categorical=True),
        Field("PRICE", "double", nullable=True),
        Field("IN_STOCK", "boolean", nullable=True),
        Field("DESCRIPTION", "string", nullable=True, textual=True),
    ),
)


def table_from(schema: DatasetSchema, dataset_type: str, *lines: str) -> Any:
    return read_csv(("\n".join(lines) + "\n").encode(), schema, dataset_type)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


# --------------------------------------------------------------------------- storage


def test_write_read_round_trip(s3: Any) -> None:
    table = table_from(
        ITEMS,
        "ITEMS",
        "ITEM_ID,GENRES,PRICE,IN_STOCK,DESCRIPTION",
        'i1,Comedy|Drama,9.5,true,"Ünïcödé, with ""quotes"""',
        "i2,,,,",
        f"i3,Horror,-1e3,false,{'z' * 5000}",
    )
    manifest = write_table(s3, BUCKET, "datasets/items/v1/", table)
    loaded = read_table(s3, BUCKET, "datasets/items/v1")
    assert loaded.to_pylist() == table.to_pylist()
    assert loaded.schema == ITEMS
    assert loaded.dataset_type == "ITEMS"
    for name, column in table.columns.items():
        assert loaded[name].data.dtype == column.data.dtype
        np.testing.assert_array_equal(loaded[name].data, column.data)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["datasets/items/v1/data.npz", "datasets/items/v1/manifest.json"]
    assert read_manifest(s3, BUCKET, "datasets/items/v1") == manifest


def test_manifest_describes_the_table(s3: Any) -> None:
    table = table_from(
        INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1", "u2,i1,2", "u1,i2,3"
    )
    manifest = write_table(s3, BUCKET, "t", table)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key="t/manifest.json")["Body"].read())
    assert stored == manifest
    assert manifest["format"] == FORMAT_NAME
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["schema_name"] == "Interactions"
    assert manifest["row_count"] == 3
    assert manifest["created_at"].endswith("Z")
    assert manifest["data"]["key"] == "data.npz"
    columns = {c["name"]: c for c in manifest["columns"]}
    assert list(columns) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE"]
    assert columns["USER_ID"] | {"arrays": None} == {
        "name": "USER_ID",
        "type": "string",
        "nullable": False,
        "categorical": False,
        "textual": False,
        "encoding": "dictionary",
        "dtype": "int32",
        "null_count": 0,
        "cardinality": 2,
        "arrays": None,
    }
    assert columns["TIMESTAMP"]["encoding"] == "plain"
    assert columns["TIMESTAMP"]["dtype"] == "int64"
    assert columns["EVENT_VALUE"]["null_count"] == 3
    assert "null" in columns["EVENT_VALUE"]["arrays"]


def test_npz_holds_no_object_arrays() -> None:
    table = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES", "i1,a|b", "i2,")
    data, manifest = serialize(table)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object
    assert deserialize(data, manifest).to_pylist() == table.to_pylist()


def test_saved_files_are_the_serialized_table(tmp_path: Any) -> None:
    table = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES", "i1,a|b", "i2,")
    data, manifest = serialize(table)
    saved = columnar.save(table, tmp_path / "out")
    assert (tmp_path / "out" / columnar.DATA_NAME).read_bytes() == data
    assert json.loads((tmp_path / "out" / columnar.MANIFEST_NAME).read_text()) == saved
    assert {**saved, "created_at": None} == {**manifest, "created_at": None}


@pytest.mark.parametrize("hashed_beside", [False, True], ids=["hashed-first", "hashed-beside-parsing"])
def test_corrupt_or_unknown_data_is_refused(hashed_beside: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if hashed_beside:  # as for tables of 16 MB and more
        monkeypatch.setattr(columnar, "PARALLEL_HASH_BYTES", 0)
    table = table_from(INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u,i,1\nv,i,2")
    data, manifest = serialize(table)
    assert deserialize(data, manifest)["USER_ID"].to_pylist() == ["u", "v"]
    with pytest.raises(ValueError, match="checksum"):
        deserialize(data[:-1] + b"x", manifest)
    with pytest.raises(ValueError, match="checksum"):  # unparseable too: the checksum explains it
        deserialize(data[: len(data) // 2], manifest)
    with pytest.raises(ValueError, match="unsupported"):
        deserialize(data, manifest | {"format_version": FORMAT_VERSION + 1})


def test_read_missing_table(s3: Any) -> None:
    with pytest.raises(TableNotFoundError):
        read_table(s3, BUCKET, "nothing/here")
    # Data without a manifest is an unfinished write and does not count as a table.
    s3.put_object(Bucket=BUCKET, Key="partial/data.npz", Body=b"x")
    with pytest.raises(TableNotFoundError):
        read_table(s3, BUCKET, "partial")


# --------------------------------------------------------------------------- merge


def test_interactions_are_appended_with_stable_codes() -> None:
    old = table_from(INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1", "u2,i2,2")
    new = table_from(INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u3,i2,3", "u1,i1,3")
    merged = merge(old, new, "INTERACTIONS")
    assert merged.row_count == 4
    assert merged.to_pylist() == old.to_pylist() + new.to_pylist()
    users = merged["USER_ID"]
    # Existing users keep their codes; new ones extend the dictionary densely.
    assert users.dictionary.tolist() == ["u1", "u2", "u3"]
    assert users.data.tolist() == [0, 1, 2, 0]
    assert merged["ITEM_ID"].data.tolist() == [0, 1, 1, 0]


def test_action_interactions_are_appended() -> None:
    schema = DatasetSchema(
        "ActionInteractions",
        (
            Field("USER_ID", "string"),
            Field("ACTION_ID", "string"),
            Field("TIMESTAMP", "long"),
            Field("EVENT_TYPE", "string"),
        ),
    )
    one = table_from(schema, "ACTION_INTERACTIONS", "USER_ID,ACTION_ID,TIMESTAMP,EVENT_TYPE", "u,a,1,Taken")
    assert merge(one, one, "action_interactions").row_count == 2


def test_items_are_upserted_by_id_last_row_wins() -> None:
    old = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES,PRICE", "i1,old,1", "i2,keep,2", "i3,gone,3")
    new = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES,PRICE", "i3,first,30", "i4,new,4", "i3,last,31", "i1,,")
    merged = merge(old, new, "ITEMS")
    by_id = {row["ITEM_ID"]: row for row in merged.to_pylist()}
    assert merged.row_count == 4
    assert by_id["i1"]["GENRES"] is None and by_id["i1"]["PRICE"] is None  # the incoming row wins whole
    assert by_id["i2"]["GENRES"] == "keep"
    assert (by_id["i3"]["GENRES"], by_id["i3"]["PRICE"]) == ("last", 31.0)
    assert by_id["i4"]["PRICE"] == 4.0
    # Replaced values leave the dictionaries; codes stay dense.
    genres = merged["GENRES"]
    assert sorted(genres.dictionary.tolist()) == ["keep", "last", "new"]
    assert set(genres.data.tolist()) == {-1, 0, 1, 2}
    items = merged["ITEM_ID"]
    assert sorted(items.dictionary.tolist()) == ["i1", "i2", "i3", "i4"]
    assert sorted(items.data.tolist()) == [0, 1, 2, 3]


def test_users_and_actions_upsert_on_their_ids() -> None:
    users = DatasetSchema("Users", (Field("USER_ID", "string"), Field("AGE", "int", nullable=True)))
    old = table_from(users, "USERS", "USER_ID,AGE", "u1,30", "u2,40")
    new = table_from(users, "USERS", "USER_ID,AGE", "u2,41")
    assert merge(old, new, "USERS").to_pylist() == [
        {"USER_ID": "u1", "AGE": 30},
        {"USER_ID": "u2", "AGE": 41},
    ]
    actions = DatasetSchema("Actions", (Field("ACTION_ID", "string"), Field("VALUE", "long", nullable=True)))
    old = table_from(actions, "ACTIONS", "ACTION_ID,VALUE", "a1,1", "a2,2")
    new = table_from(actions, "ACTIONS", "ACTION_ID,VALUE", "a1,10")
    assert merge(old, new, "ACTIONS").to_pylist() == [
        {"ACTION_ID": "a2", "VALUE": 2},
        {"ACTION_ID": "a1", "VALUE": 10},
    ]


def test_merge_without_existing_deduplicates_incoming() -> None:
    new = table_from(ITEMS, "ITEMS", "ITEM_ID,PRICE", "i1,1", "i1,2")
    assert [r["PRICE"] for r in merge(None, new, "ITEMS").to_pylist()] == [2.0]
    assert deduplicate(new, "ITEMS").row_count == 1
    assert merge(None, new, "INTERACTIONS").row_count == 2


def test_merge_fills_columns_added_by_a_newer_schema() -> None:
    old_schema = DatasetSchema("Interactions", INTERACTIONS.fields[:3])
    old = table_from(old_schema, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1")
    new_schema = DatasetSchema(
        "Interactions", (*INTERACTIONS.fields, Field("DEVICE", "string", nullable=True, categorical=True))
    )
    new = table_from(
        new_schema, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP,DEVICE,EVENT_VALUE", "u2,i1,2,ios,0.5"
    )
    merged = merge(old, new, "INTERACTIONS")
    assert list(merged.columns) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE", "DEVICE"]
    rows = merged.to_pylist()
    assert rows[0]["DEVICE"] is None and rows[0]["EVENT_VALUE"] is None
    assert rows[1]["DEVICE"] == "ios" and rows[1]["EVENT_VALUE"] == 0.5
    assert merged["EVENT_VALUE"].null.tolist() == [True, False]


def test_merge_keeps_columns_only_the_existing_data_has() -> None:
    old = table_from(INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE", "u1,i1,1,2.5")
    new_schema = DatasetSchema("Interactions", INTERACTIONS.fields[:3])
    new = table_from(new_schema, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u2,i2,2")
    merged = merge(old, new, "INTERACTIONS")
    assert list(merged.columns) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE"]
    assert [r["EVENT_VALUE"] for r in merged.to_pylist()] == [2.5, None]
    assert merged["EVENT_VALUE"].field.nullable


def test_merge_of_a_required_column_missing_on_one_side_makes_it_nullable() -> None:
    with_required = DatasetSchema("Items", (Field("ITEM_ID", "string"), Field("SIZE", "long")))
    old = table_from(with_required, "ITEMS", "ITEM_ID,SIZE", "i1,3")
    new = table_from(ITEMS, "ITEMS", "ITEM_ID,PRICE", "i2,1")
    merged = merge(old, new, "ITEMS")
    assert merged["SIZE"].field.nullable
    assert [r["SIZE"] for r in merged.to_pylist()] == [3, None]


def test_merge_rejects_incompatible_types() -> None:
    old = table_from(INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u,i,1")
    retyped = DatasetSchema("Interactions", (Field("USER_ID", "long"), *INTERACTIONS.fields[1:]))
    new = table_from(retyped, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "5,i,2")
    with pytest.raises(IncompatibleColumnsError) as caught:
        merge(old, new, "INTERACTIONS")
    assert caught.value.column == "USER_ID"


def test_int_and_long_merge() -> None:
    as_int = DatasetSchema("Users", (Field("USER_ID", "string"), Field("AGE", "int", nullable=True)))
    as_long = DatasetSchema("Users", (Field("USER_ID", "string"), Field("AGE", "long", nullable=True)))
    merged = concat(
        [
            table_from(as_int, "USERS", "USER_ID,AGE", "u1,1"),
            table_from(as_long, "USERS", "USER_ID,AGE", "u2,5000000000"),
        ]
    )
    assert merged["AGE"].type == "long"
    assert [r["AGE"] for r in merged.to_pylist()] == [1, 5_000_000_000]


def test_unknown_dataset_type() -> None:
    table = table_from(INTERACTIONS, "INTERACTIONS", "USER_ID,ITEM_ID,TIMESTAMP", "u,i,1")
    with pytest.raises(ValueError, match="unknown dataset type"):
        merge(table, table, "CLICKS")


def test_merged_table_round_trips(s3: Any) -> None:
    old = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES", "i1,a", "i2,b")
    new = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES,IN_STOCK", "i2,c,true")
    merged = merge(old, new, "ITEMS")
    write_table(s3, BUCKET, "v2", merged)
    assert read_table(s3, BUCKET, "v2").to_pylist() == merged.to_pylist()


def test_interactions_are_stored_by_user_then_time_keeping_ties_in_arrival_order() -> None:
    table = table_from(
        INTERACTIONS,
        "INTERACTIONS",
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE",
        "b,i1,30,1",
        "a,i2,20,2",
        "b,i3,10,3",
        "a,i4,20,4",
        "c,i5,5,5",
        "a,i6,10,6",
    )
    ordered = in_user_time_order(table)
    rows = [(r["USER_ID"], r["TIMESTAMP"], r["ITEM_ID"]) for r in ordered.to_pylist()]
    # Users in dictionary (first-seen) order, oldest first; a's two events at 20 stay as they came.
    assert rows == [
        ("b", 10, "i3"),
        ("b", 30, "i1"),
        ("a", 10, "i6"),
        ("a", 20, "i2"),
        ("a", 20, "i4"),
        ("c", 5, "i5"),
    ]
    assert sorted(map(str, ordered.to_pylist())) == sorted(map(str, table.to_pylist()))  # same rows
    assert in_user_time_order(ordered) is ordered  # already in order: nothing copied


def test_entity_tables_keep_their_row_order() -> None:
    items = table_from(ITEMS, "ITEMS", "ITEM_ID,GENRES,PRICE,IN_STOCK,DESCRIPTION", "z,,1,,", "a,,2,,")
    assert in_user_time_order(items) is items


def test_a_large_take_gathers_columns_on_threads_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = table_from(
        INTERACTIONS,
        "INTERACTIONS",
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE",
        "b,i1,30,1",
        "a,i2,20,",
        "c,i3,10,3",
    )
    order = np.array([2, 0, 1, 2])
    serial = table.take(order).to_pylist()
    monkeypatch.setattr(columnar, "PARALLEL_TAKE_ROWS", 0)
    assert table.take(order).to_pylist() == serial
    assert [row["ITEM_ID"] for row in serial] == ["i3", "i1", "i2", "i3"]
