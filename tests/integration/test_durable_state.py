"""emulator.durable against moto: what the S3 and DynamoDB clients changed comes back after a crash
(no compaction, no goodbye) and after a compaction, including under concurrent writers."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws
from picks.dal.event_store import events_table_definition
from picks.dal.resources import table_definition

from emulator import durable
from emulator.durable import DurableState, StateDirectoryInUse

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"


@contextmanager
def server_life(directory, **options) -> Iterator[DurableState]:
    """One run of a server: a fresh moto restored from ``directory``; ends as if killed."""
    with mock_aws():
        state = DurableState(directory, fsync=False, **options)
        state.open()
        try:
            yield state
        finally:
            crash(state)


def crash(state: DurableState) -> None:
    """What kill -9 leaves: the journal as written, no final snapshot."""
    if durable._active is state:
        durable._active = None
        if state._compactor is not None:
            state._compactor.join()
        state.journal.close()
        state._unlock_directory()


def clients():
    return boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)


def everything() -> dict:
    s3, dynamodb = clients()
    objects = {}
    for bucket in s3.list_buckets()["Buckets"]:
        for entry in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            got = s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])
            objects[(bucket["Name"], entry["Key"])] = (
                got["Body"].read(),
                got["ETag"],
                got["ContentType"],
                got["Metadata"],
                got["LastModified"],
            )
    tables = {}
    for name in dynamodb.list_tables()["TableNames"]:
        items = dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]
        tables[name] = sorted(items, key=repr)
    return {"objects": objects, "tables": tables}


def test_a_crash_loses_nothing_that_was_acknowledged(tmp_path):
    body = os.urandom(3 << 20)
    with server_life(tmp_path):
        s3, dynamodb = clients()
        s3.create_bucket(Bucket="data")
        s3.put_object(
            Bucket="data",
            Key="small.csv",
            Body=b"a,b\n1,2\n",
            ContentType="text/csv",
            Metadata={"origin": "test"},
        )
        s3.put_object(Bucket="data", Key="model/data.npz", Body=body)
        s3.copy_object(
            Bucket="data", Key="model/copy.npz", CopySource={"Bucket": "data", "Key": "model/data.npz"}
        )
        s3.put_object(Bucket="data", Key="removed", Body=b"x")
        s3.delete_object(Bucket="data", Key="removed")
        dynamodb.create_table(**table_definition("resources"))
        dynamodb.create_table(**events_table_definition("events"))
        dynamodb.put_item(
            TableName="resources",
            Item={"pk": {"S": "a"}, "kind": {"S": "k"}, "sk": {"S": "1"}, "rev": {"N": "1"}},
        )
        dynamodb.update_item(
            TableName="resources",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET rev = rev + :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        dynamodb.put_item(
            TableName="resources", Item={"pk": {"S": "b"}, "kind": {"S": "k"}, "sk": {"S": "2"}}
        )
        dynamodb.delete_item(TableName="resources", Key={"pk": {"S": "b"}})
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "events",
                        "Item": {
                            "pk": {"S": "user"},
                            "sk": {"S": f"{n:03d}"},
                            "gpk": {"S": "group"},
                            "gsk": {"S": f"{n:03d}"},
                            "raw": {"B": bytes([n])},
                            "nested": {"M": {"b": {"B": b"\x00"}}},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for n in range(20)
            ]
        )
        before = everything()
    with server_life(tmp_path):
        assert everything() == before
        _, dynamodb = clients()
        # Indexes are rebuilt from the items, as DynamoDB keeps them.
        by_kind = dynamodb.query(
            TableName="resources",
            IndexName="byKind",
            KeyConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": {"S": "k"}},
        )["Items"]
        assert [item["pk"]["S"] for item in by_kind] == ["a"]


def test_the_state_after_compactions_and_concurrent_writers_is_the_last_one_written(tmp_path):
    with server_life(tmp_path, compact_bytes=20_000) as state:
        s3, dynamodb = clients()
        s3.create_bucket(Bucket="data")
        dynamodb.create_table(**events_table_definition("events"))

        errors: list[BaseException] = []

        def writer(worker: int) -> None:
            try:
                write(worker)
            except BaseException as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        def write(worker: int) -> None:
            s3_client, dynamodb_client = clients()
            for n in range(60):
                # Every worker writes the same "shared" item over and over, and its own item and object
                # (moto itself cannot take concurrent PutObjects of one key: the loser's response fails).
                dynamodb_client.put_item(
                    TableName="events",
                    Item={"pk": {"S": "shared"}, "sk": {"S": "x"}, "value": {"S": f"{worker}-{n}"}},
                )
                dynamodb_client.put_item(
                    TableName="events",
                    Item={"pk": {"S": f"worker-{worker}"}, "sk": {"S": f"{n:03d}"}, "value": {"N": str(n)}},
                )
                s3_client.put_object(Bucket="data", Key=f"worker-{worker}", Body=f"{worker}-{n}".encode())

        threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        if state._compactor is not None:
            state._compactor.join()
        before = everything()
        assert (tmp_path / "journal").is_dir()
        assert any(path.name.startswith("snapshot-") for path in (tmp_path / "journal").iterdir())
    with server_life(tmp_path) as state:
        assert everything() == before
        assert state.report.skipped == []


def test_a_graceful_close_leaves_one_snapshot_and_drops_unused_bodies(tmp_path):
    with mock_aws():
        state = DurableState(tmp_path, fsync=False)
        state.open()
        s3, _ = clients()
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="kept", Body=b"kept body")
        s3.put_object(Bucket="data", Key="replaced", Body=b"first body")
        s3.put_object(Bucket="data", Key="replaced", Body=b"second body")
        state.close()
    assert sorted(path.name.split("-")[0] for path in (tmp_path / "journal").iterdir()) == [
        "journal",
        "snapshot",
    ]
    with server_life(tmp_path) as state:
        assert state.collect_garbage() == 1  # "first body": no object has it any more
        s3, _ = clients()
        assert s3.get_object(Bucket="data", Key="replaced")["Body"].read() == b"second body"
        assert s3.get_object(Bucket="data", Key="kept")["Body"].read() == b"kept body"


def test_one_directory_serves_one_server(tmp_path):
    with server_life(tmp_path):
        other = DurableState(tmp_path)
        with pytest.raises(StateDirectoryInUse, match="in use by another picks emulator"):
            other._lock_directory()
