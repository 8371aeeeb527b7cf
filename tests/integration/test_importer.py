"""run_import against moto S3: locations, FULL/INCREMENTAL, and nothing written on failure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from picks.dataset_schema import DatasetSchema, Field
from picks.ingest import ImportValidationError, TableNotFoundError, read_manifest, read_table, run_import

if TYPE_CHECKING:
    from collections.abc import Iterator

DATA = "customer-data"
STORE = "picks-datasets"

INTERACTIONS = DatasetSchema(
    "Interactions",
    (
        Field("USER_ID", "string"),
        Field("ITEM_ID", "string"),
        Field("TIMESTAMP", "long"),
        Field("EVENT_TYPE", "string", nullable=True),
    ),
)
ITEMS = DatasetSchema(
    "Items",
    (Field("ITEM_ID", "string"), Field("GENRES", "string", nullable=True, categorical=True)),
)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=DATA)
        client.create_bucket(Bucket=STORE)
        yield client


def put_csv(s3: Any, key: str, *lines: str) -> str:
    s3.put_object(Bucket=DATA, Key=key, Body=("\n".join(lines) + "\n").encode())
    return f"s3://{DATA}/{key}"


def keys_under(s3: Any, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=STORE, Prefix=prefix).get("Contents", []))


def import_(
    s3: Any,
    location: str,
    dest: str,
    *,
    schema: DatasetSchema = INTERACTIONS,
    dataset_type: str = "INTERACTIONS",
    mode: str = "FULL",
    previous: str | None = None,
) -> Any:
    return run_import(
        s3,
        data_location=location,
        bucket=STORE,
        dest_prefix=dest,
        schema=schema,
        dataset_type=dataset_type,
        mode=mode,
        previous_prefix=previous,
    )


def test_full_import_of_one_file(s3: Any) -> None:
    location = put_csv(
        s3, "in/interactions.csv", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE", "u1,i1,1,click", "u2,i1,2,"
    )
    result = import_(s3, location, "ds/interactions/v1")
    assert result.row_count == 2
    assert result.prefix == "ds/interactions/v1"
    assert keys_under(s3, "ds/") == ["ds/interactions/v1/data.npz", "ds/interactions/v1/manifest.json"]
    assert read_manifest(s3, STORE, result.prefix) == result.manifest
    assert result.manifest["extra"]["import"] == {
        "mode": "FULL",
        "data_location": location,
        "sources": [location],
        "previous_prefix": None,
        "imported_rows": 2,
    }
    table = read_table(s3, STORE, result.prefix)
    assert [r["EVENT_TYPE"] for r in table.to_pylist()] == ["click", None]


@pytest.mark.parametrize("folder", ["batch/", "batch"])
def test_folder_imports_every_csv_in_key_order(s3: Any, folder: str) -> None:
    put_csv(s3, "batch/b.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u2,i2,2")
    put_csv(s3, "batch/a.csv", "TIMESTAMP,USER_ID,ITEM_ID", "1,u1,i1")
    put_csv(s3, "batch/notes.txt", "not csv")
    put_csv(s3, "batch/nested/c.csv", "garbage")
    put_csv(s3, "batchy.csv", "garbage")
    result = import_(s3, f"s3://{DATA}/{folder}", "ds/v1")
    assert result.manifest["extra"]["import"]["sources"] == [
        f"s3://{DATA}/batch/a.csv",
        f"s3://{DATA}/batch/b.csv",
    ]
    assert [r["USER_ID"] for r in read_table(s3, STORE, "ds/v1").to_pylist()] == ["u1", "u2"]


def test_full_import_of_items_keeps_last_row_per_id(s3: Any) -> None:
    location = put_csv(s3, "items.csv", "ITEM_ID,GENRES", "i1,a", "i2,b", "i1,c")
    result = import_(s3, location, "items/v1", schema=ITEMS, dataset_type="ITEMS")
    assert result.row_count == 2
    assert read_table(s3, STORE, "items/v1").to_pylist() == [
        {"ITEM_ID": "i2", "GENRES": "b"},
        {"ITEM_ID": "i1", "GENRES": "c"},
    ]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        (f"s3://{DATA}/missing.csv", "object does not exist"),
        ("s3://no-such-bucket-anywhere/x.csv", "does not exist"),
        ("s3://no-such-bucket-anywhere/folder/", "does not exist"),
        (f"s3://{DATA}/empty-folder/", "no .csv objects"),
        ("https://example.com/data.csv", "not an s3://bucket/key URI"),
    ],
)
def test_missing_input_is_a_validation_error(s3: Any, location: str, reason: str) -> None:
    with pytest.raises(ImportValidationError) as caught:
        import_(s3, location, "ds/v1")
    assert caught.value.line == 0
    assert reason in caught.value.reason
    assert keys_under(s3, "") == []


def test_bad_second_file_writes_nothing_and_names_the_file(s3: Any) -> None:
    put_csv(s3, "batch/1.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1")
    put_csv(s3, "batch/2.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1", "u1,i1,yesterday")
    with pytest.raises(ImportValidationError) as caught:
        import_(s3, f"s3://{DATA}/batch/", "ds/v1")
    assert (caught.value.line, caught.value.column) == (3, "TIMESTAMP")
    assert str(caught.value).startswith(f"s3://{DATA}/batch/2.csv line 3, column TIMESTAMP:")
    assert keys_under(s3, "") == []


def test_incremental_interactions_append_to_previous(s3: Any) -> None:
    first = put_csv(s3, "day1.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1", "u2,i2,2")
    import_(s3, first, "ds/v1")
    second = put_csv(s3, "day2.csv", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE", "u3,i1,3,click")
    result = import_(s3, second, "ds/v2", mode="INCREMENTAL", previous="ds/v1")
    assert result.row_count == 3
    assert result.manifest["extra"]["import"]["previous_prefix"] == "ds/v1"
    assert result.manifest["extra"]["import"]["imported_rows"] == 1
    table = read_table(s3, STORE, "ds/v2")
    assert [r["USER_ID"] for r in table.to_pylist()] == ["u1", "u2", "u3"]
    assert read_table(s3, STORE, "ds/v1").row_count == 2  # the old version is untouched


def test_incremental_items_upsert(s3: Any) -> None:
    import_(
        s3,
        put_csv(s3, "i1.csv", "ITEM_ID,GENRES", "i1,a", "i2,b"),
        "items/v1",
        schema=ITEMS,
        dataset_type="ITEMS",
    )
    result = import_(
        s3,
        put_csv(s3, "i2.csv", "ITEM_ID,GENRES", "i2,c", "i3,d"),
        "items/v2",
        schema=ITEMS,
        dataset_type="ITEMS",
        mode="INCREMENTAL",
        previous="items/v1",
    )
    assert {r["ITEM_ID"]: r["GENRES"] for r in read_table(s3, STORE, result.prefix).to_pylist()} == {
        "i1": "a",
        "i2": "c",
        "i3": "d",
    }


def test_incremental_without_previous_is_just_the_new_data(s3: Any) -> None:
    location = put_csv(s3, "x.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u,i,1")
    assert import_(s3, location, "ds/v1", mode="INCREMENTAL", previous=None).row_count == 1


def test_full_import_ignores_previous(s3: Any) -> None:
    import_(s3, put_csv(s3, "a.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1"), "ds/v1")
    result = import_(
        s3, put_csv(s3, "b.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u2,i2,2"), "ds/v2", previous="ds/v1"
    )
    assert [r["USER_ID"] for r in read_table(s3, STORE, result.prefix).to_pylist()] == ["u2"]


def test_failed_incremental_import_leaves_previous_table_unchanged(s3: Any) -> None:
    import_(s3, put_csv(s3, "good.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1", "u2,i2,2"), "ds/v1")
    before_objects = {
        key: s3.get_object(Bucket=STORE, Key=key)["Body"].read() for key in keys_under(s3, "ds/v1/")
    }
    before_rows = read_table(s3, STORE, "ds/v1").to_pylist()

    bad = put_csv(s3, "bad.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u3,i3,3", "u4,,4")
    with pytest.raises(ImportValidationError) as caught:
        import_(s3, bad, "ds/v2", mode="INCREMENTAL", previous="ds/v1")
    assert (caught.value.line, caught.value.column) == (3, "ITEM_ID")

    assert keys_under(s3, "ds/v2") == []
    after_objects = {
        key: s3.get_object(Bucket=STORE, Key=key)["Body"].read() for key in keys_under(s3, "ds/v1/")
    }
    assert after_objects == before_objects
    assert read_table(s3, STORE, "ds/v1").to_pylist() == before_rows


def test_incompatible_schema_change_fails_without_writing(s3: Any) -> None:
    import_(s3, put_csv(s3, "a.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1"), "ds/v1")
    retyped = DatasetSchema(
        "Interactions", (*INTERACTIONS.fields[:3], Field("EVENT_TYPE", "long", nullable=True))
    )
    old = DatasetSchema("Interactions", INTERACTIONS.fields)  # v1 stored EVENT_TYPE as a string column
    assert read_table(s3, STORE, "ds/v1").schema == old
    location = put_csv(s3, "b.csv", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE", "u2,i2,2,7")
    with pytest.raises(ImportValidationError) as caught:
        import_(s3, location, "ds/v2", schema=retyped, mode="INCREMENTAL", previous="ds/v1")
    assert caught.value.column == "EVENT_TYPE"
    assert keys_under(s3, "ds/v2") == []


def test_missing_previous_table_fails(s3: Any) -> None:
    location = put_csv(s3, "a.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1")
    with pytest.raises(TableNotFoundError):
        import_(s3, location, "ds/v2", mode="INCREMENTAL", previous="ds/v1")
    assert keys_under(s3, "") == []


def test_refuses_to_overwrite_previous(s3: Any) -> None:
    location = put_csv(s3, "a.csv", "USER_ID,ITEM_ID,TIMESTAMP", "u1,i1,1")
    with pytest.raises(ValueError, match="differ"):
        import_(s3, location, "ds/v1/", mode="INCREMENTAL", previous="ds/v1")


def test_rejects_unknown_mode(s3: Any) -> None:
    with pytest.raises(ValueError, match="import mode"):
        import_(s3, f"s3://{DATA}/a.csv", "ds/v1", mode="APPEND")
