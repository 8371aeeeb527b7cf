"""Durable local state: moto's S3 buckets and objects and DynamoDB tables and items, kept in a
data directory so that the emulator's dataset groups, models, campaigns and events survive a
restart (see docs/local-state.md for the design and its limits).

How: every request that reaches moto, whether a handler's in-process boto3 call or an HTTP
client's, runs in a *scope* (``S3Response.*_response`` and ``DynamoHandler._dispatch`` are wrapped);
moto's mutating backend methods note which tables, items, buckets and objects they touched; when
the outermost scope ends, before moto's response goes back, the *current* value of each touched
thing is appended to the journal (``emulator.journal``) and fsynced.  Records say what a thing
now is (an item's attributes, an object's metadata and body), never how it changed, so replaying
them in order, or replaying one twice, gives the same state: a snapshot can be taken while
requests go on.  An S3 body is a file under ``blobs/`` named by its ETag and size (written once,
fsynced once, shared by copies and by every later snapshot); the journal holds only its name.

Ordering: item records are read and appended under one lock, and one object's records under a
lock for that key, so the last record of a thing is always read after its last change.  One
request's DynamoDB records go in one journal record, so a transaction is replayed whole or not at
all (a record torn by kill -9 was never acknowledged and is dropped).
"""

from __future__ import annotations

import datetime
import fcntl
import functools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.backends import get_backend
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import DynamoJsonEncoder
from moto.dynamodb.responses import DynamoHandler
from moto.s3.models import FakeKey, S3Backend
from moto.s3.responses import S3Response
from moto.utilities.utils import LowercaseDict

from emulator import moto_patches
from emulator.journal import Journal, JournalError, fsync_directory

log = logging.getLogger("picks.emulator.state")

# A snapshot replaces the journal once it has grown this much (and at every start and stop).
COMPACT_BYTES = 64 << 20
ITEMS_PER_SNAPSHOT_RECORD = 500
COPY_CHUNK = 8 << 20
_KEY_STRIPES = 64


class StateDirectoryInUse(Exception):
    """Another emulator holds the data directory."""


@dataclass
class _Touched:
    """What one request changed: filled by the backend hooks, journaled when the request ends."""

    depth: int = 0
    buckets: set[tuple[str, str, str]] = field(default_factory=set)
    objects: set[tuple[str, str, str, str]] = field(default_factory=set)
    tables: set[tuple[str, str, str]] = field(default_factory=set)
    whole_tables: set[tuple[str, str, str]] = field(default_factory=set)
    items: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.buckets or self.objects or self.tables or self.whole_tables or self.items)


_local = threading.local()
_active: DurableState | None = None


def _enter() -> _Touched:
    touched = getattr(_local, "touched", None)
    if touched is None:
        touched = _local.touched = _Touched()
    touched.depth += 1
    return touched


def _leave(touched: _Touched) -> None:
    touched.depth -= 1
    if touched.depth:
        return
    _local.touched = None
    state = _active
    if state is not None and not touched.empty():
        state.record(touched)


def _scoped(original: Callable[..., Any]) -> Callable[..., Any]:
    """One request: whatever it changes is journaled when it returns, before its response is sent."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _active is None:
            return original(*args, **kwargs)
        touched = _enter()
        try:
            return original(*args, **kwargs)
        finally:
            _leave(touched)

    wrapper.__wrapped_by_picks__ = True  # type: ignore[attr-defined]
    return wrapper


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


Note = Callable[[_Touched, Any, tuple[Any, ...], dict[str, Any]], None]


def _noting(original: Callable[..., Any], note: Note) -> Callable[..., Any]:
    """A mutating backend method: after it ran (or failed: nothing is lost by looking), ``note``
    adds what it may have changed to the request's scope."""

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _active is None:
            return original(self, *args, **kwargs)
        touched = _enter()
        succeeded = False
        try:
            result = original(self, *args, **kwargs)
            succeeded = True
            return result
        finally:
            try:
                note(touched, self, args, kwargs)
            except Exception:  # noqa: BLE001 - a failed call with arguments we cannot read changed nothing
                if succeeded:
                    raise
            finally:
                _leave(touched)

    wrapper.__wrapped_by_picks__ = True  # type: ignore[attr-defined]
    return wrapper


# --- what each mutating backend method touches -------------------------------------------------


def _item_key(table: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _note_item(touched: _Touched, backend: Any, table_name: str, key: dict[str, Any]) -> None:
    marker = (backend.account_id, backend.region_name, table_name, json.dumps(key, sort_keys=True))
    touched.items[marker] = key


def _note_put_item(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    name = _arg(args, kwargs, 0, "table_name")
    attributes = _arg(args, kwargs, 1, "item_attrs")
    _note_item(touched, backend, name, _item_key(backend.get_table(name), attributes))


def _note_keyed_item(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    name = _arg(args, kwargs, 0, "table_name")
    _note_item(touched, backend, name, _item_key(backend.get_table(name), _arg(args, kwargs, 1, "key")))


def _note_transaction(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for entry in _arg(args, kwargs, 0, "transact_items") or []:
        for kind, operation in entry.items():
            if kind == "ConditionCheck":
                continue
            table = backend.get_table(operation["TableName"])
            source = operation["Item"] if kind == "Put" else operation["Key"]
            _note_item(touched, backend, operation["TableName"], _item_key(table, source))


def _note_table(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    name = kwargs.get("name") or kwargs.get("table_name") or args[0]
    touched.tables.add((backend.account_id, backend.region_name, name))


def _note_statement(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # PartiQL may change any item of any table; record them whole (picks itself never uses it).
    for name in list(backend.tables):
        touched.whole_tables.add((backend.account_id, backend.region_name, name))


def _note_bucket(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    touched.buckets.add((backend.account_id, backend.region_name, _arg(args, kwargs, 0, "bucket_name")))


def _note_object(touched: _Touched, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    bucket, key = _arg(args, kwargs, 0, "bucket_name"), _arg(args, kwargs, 1, "key_name")
    touched.objects.add((backend.account_id, backend.region_name, bucket, key))


_SCOPES: tuple[tuple[type, str], ...] = (
    (S3Response, "key_response"),
    (S3Response, "bucket_response"),
    (S3Response, "ambiguous_response"),
    (DynamoHandler, "_dispatch"),
)
_NOTES: tuple[tuple[type, str, Note], ...] = (
    (DynamoDBBackend, "create_table", _note_table),
    (DynamoDBBackend, "delete_table", _note_table),
    (DynamoDBBackend, "update_table", _note_table),
    (DynamoDBBackend, "update_time_to_live", _note_table),
    (DynamoDBBackend, "put_item", _note_put_item),
    (DynamoDBBackend, "update_item", _note_keyed_item),
    (DynamoDBBackend, "delete_item", _note_keyed_item),
    (DynamoDBBackend, "transact_write_items", _note_transaction),
    (DynamoDBBackend, "execute_statement", _note_statement),
    (S3Backend, "create_bucket", _note_bucket),
    (S3Backend, "delete_bucket", _note_bucket),
    (S3Backend, "put_bucket_versioning", _note_bucket),
    (S3Backend, "put_object", _note_object),
    (S3Backend, "delete_object", _note_object),
)


def install_hooks() -> None:
    """Wrap moto's request handlers and mutating backend methods; inert while no state is active.
    Idempotent, and re-wraps whatever ``moto_patches.install`` (run by every emulator start) put back."""
    moto_patches.install()
    for owner, name in _SCOPES:
        method = getattr(owner, name)
        if not getattr(method, "__wrapped_by_picks__", False):
            setattr(owner, name, _scoped(method))
    for owner, name, note in _NOTES:
        method = getattr(owner, name)
        if not getattr(method, "__wrapped_by_picks__", False):
            setattr(owner, name, _noting(method, note))


# --- records --------------------------------------------------------------------------------


# DynamoDB binary values come back from moto as bytes where they are nested: base64, as on the wire.
_ENCODER = DynamoJsonEncoder(separators=(",", ":"))


def _encode(records: list[dict[str, Any]]) -> bytes:
    return _ENCODER.encode(records).encode()


def _table_params(table: Any) -> dict[str, Any]:
    """CreateTable arguments (moto's names) that rebuild ``table``'s key schema and indexes."""
    described = table.describe()["TableDescription"]
    billing = (described.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    throughput = None
    if billing == "PROVISIONED":
        throughput = {
            name: described["ProvisionedThroughput"][name]
            for name in ("ReadCapacityUnits", "WriteCapacityUnits")
        }

    def index(spec: dict[str, Any]) -> dict[str, Any]:
        kept: dict[str, Any] = {
            name: spec[name] for name in ("IndexName", "KeySchema", "Projection") if name in spec
        }
        if billing == "PROVISIONED" and "ProvisionedThroughput" in spec:
            kept["ProvisionedThroughput"] = {
                name: spec["ProvisionedThroughput"][name]
                for name in ("ReadCapacityUnits", "WriteCapacityUnits")
            }
        return kept

    return {
        "schema": described["KeySchema"],
        "attr": described["AttributeDefinitions"],
        "throughput": throughput,
        "global_indexes": [index(spec) for spec in described.get("GlobalSecondaryIndexes") or []],
        "indexes": [index(spec) for spec in described.get("LocalSecondaryIndexes") or []],
        "streams": described.get("StreamSpecification"),
        "billing_mode": billing,
        "sse_specification": None,
        "tags": list(table.tags or []),
        "deletion_protection_enabled": bool(described.get("DeletionProtectionEnabled")),
        "warm_throughput": None,
    }


def _items_of(table: Any) -> list[Any]:
    """The table's items, copied without sorting and without iterating a dict another thread may
    grow (``list(dict.values())`` runs without releasing the GIL)."""
    partitions = list(table.items.values())
    if not table.range_key_attr:
        return partitions
    return [item for partition in partitions for item in list(partition.values())]


def _attributes(item: Any) -> dict[str, Any]:
    for _ in range(3):
        try:
            return item.to_json()["Attributes"]
        except RuntimeError:  # changed in place (UpdateItem) while being read: read it again
            continue
    return item.to_json()["Attributes"]


def _load_item(table: Any, attributes: dict[str, Any]) -> None:
    """Put an item that moto accepted once already: what ``Table.put_item`` stores, without its
    validation and condition checks, and without ``Item.__init__``'s size check, which sizes every
    attribute again as each is added (a restart replays every item; that was most of its time)."""
    item: Item = Item.__new__(Item)  # type: ignore[assignment]  # moto types BaseModel.__new__ as BaseModel
    item.hash_key = DynamoType(attributes[table.hash_key_attr])
    ranged = table.range_key_attr is not None
    item.range_key = DynamoType(attributes[table.range_key_attr]) if ranged else None
    item.attrs = LimitedSizeDict()
    dict.update(item.attrs, {name: DynamoType(value) for name, value in attributes.items()})
    if item.range_key is None:
        table.items[item.hash_key] = item
    else:
        table.items[item.hash_key][item.range_key] = item


def _backends(service: str) -> Iterator[tuple[str, str, Any]]:
    for account, regions in list(get_backend(service).items()):  # type: ignore[call-overload]
        for region, backend in list(regions.items()):
            yield account, region, backend


@dataclass
class ReplayReport:
    records: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


class DurableState:
    """The data directory behind the emulator's moto: ``open`` restores, then journals; ``close``
    compacts.  Only one process may hold a directory at a time."""

    def __init__(
        self, directory: str | os.PathLike[str], *, fsync: bool = True, compact_bytes: int = COMPACT_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.blobs = self.directory / "blobs"
        self.journal = Journal(self.directory / "journal", fsync=fsync)
        self.fsync = fsync
        self.compact_bytes = compact_bytes
        self._record_lock = threading.Lock()
        self._object_locks = [threading.Lock() for _ in range(_KEY_STRIPES)]
        self._lock_file: int | None = None
        self._compacting = threading.Lock()
        self._compactor: threading.Thread | None = None
        self.report = ReplayReport()

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> ReplayReport:
        """Lock the directory, load its state into moto (whose mock must be started), then journal
        every change from here on.  Returns what was replayed and how long it took."""
        global _active
        if _active is not None:
            raise JournalError("another durable state is already active in this process")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(exist_ok=True)
        self._lock_directory()
        install_hooks()
        started = time.perf_counter()
        try:
            for payload in self.journal.open():
                for record in json.loads(payload):
                    self._apply(record)
                    self.report.records += 1
        except BaseException:
            self._unlock_directory()
            raise
        self.report.seconds = time.perf_counter() - started
        _active = self
        return self.report

    def close(self) -> None:
        """Compact (so the next start reads one snapshot) and let the directory go."""
        global _active
        if _active is not self:
            return
        if self._compactor is not None:
            self._compactor.join()
        try:
            self.compact()
        finally:
            _active = None
            self.journal.close()
            self._unlock_directory()

    def _lock_directory(self) -> None:
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateDirectoryInUse(
                f"{self.directory} is in use by another picks emulator; stop it, or set PICKS_DATA_DIR "
                "to another directory"
            ) from None
        self._lock_file = fd

    def _unlock_directory(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)  # closing releases the flock
            self._lock_file = None

    # --- journaling --------------------------------------------------------------------------

    def record(self, touched: _Touched) -> None:
        """Append the current value of everything ``touched`` names; returns once it is on disk."""
        sequences: list[int] = []
        with self._record_lock:
            records = [self._bucket_record(*marker) for marker in sorted(touched.buckets)]
            records += [self._table_record(*marker) for marker in sorted(touched.tables)]
            for (account, region, table, _), item_key in touched.items.items():
                item = self._item_record(account, region, table, item_key)
                if item is not None:
                    records.append(item)
            for marker in sorted(touched.whole_tables):
                records.append(self._whole_table_record(*marker))
            if records:
                sequences.append(self.journal.append(_encode(records)))
        for account, region, bucket, key in sorted(touched.objects):
            with self._object_locks[hash((bucket, key)) % _KEY_STRIPES]:
                record = self._object_record(account, region, bucket, key)
                sequences.append(self.journal.append(_encode([record])))
        if sequences:
            self.journal.sync(max(sequences))
        if self.journal.bytes_since_snapshot > self.compact_bytes:
            self._compact_in_background()

    def _bucket_record(self, account: str, region: str, name: str) -> dict[str, Any]:
        bucket = get_backend("s3")[account][region].buckets.get(name)
        record: dict[str, Any] = {"k": "bucket", "a": account, "r": region, "n": name}
        if bucket is None:
            record["gone"] = True
        else:
            record.update(region_name=bucket.region_name, versioning=bucket.versioning_status)
        return record

    def _table_record(self, account: str, region: str, name: str) -> dict[str, Any]:
        table = get_backend("dynamodb")[account][region].tables.get(name)
        record: dict[str, Any] = {"k": "table", "a": account, "r": region, "n": name}
        if table is None:
            record["gone"] = True
        else:
            record.update(params=_table_params(table), ttl=dict(table.ttl))
        return record

    def _item_record(
        self, account: str, region: str, table_name: str, key: dict[str, Any]
    ) -> dict[str, Any] | None:
        backend = get_backend("dynamodb")[account][region]
        table = backend.tables.get(table_name)
        if table is None:
            return None  # the table is gone, and its record says so
        try:
            hash_value, range_value = backend.get_keys_value(table, key)
        except Exception:  # noqa: BLE001 - a key moto refused: the request changed nothing
            return None
        item = table.get_item(hash_value, range_value)
        return {
            "k": "item",
            "a": account,
            "r": region,
            "t": table_name,
            "key": key,
            "item": _attributes(item) if item is not None else None,
        }

    def _whole_table_record(self, account: str, region: str, name: str) -> dict[str, Any]:
        table = get_backend("dynamodb")[account][region].tables.get(name)
        items = [_attributes(item) for item in _items_of(table)] if table is not None else []
        return {"k": "items", "a": account, "r": region, "t": name, "items": items, "replace": True}

    def _object_record(self, account: str, region: str, bucket_name: str, key_name: str) -> dict[str, Any]:
        bucket = get_backend("s3")[account][region].buckets.get(bucket_name)
        record: dict[str, Any] = {"k": "object", "a": account, "r": region, "b": bucket_name, "n": key_name}
        while True:
            key = bucket.keys.get(key_name) if bucket is not None else None
            try:
                record["o"] = self._object_state(key) if isinstance(key, FakeKey) else None
                return record
            except ValueError:
                # moto closed that value as a newer PutObject replaced it: record the newer one.
                if bucket is None or key is bucket.keys.get(key_name):
                    raise

    def _object_state(self, key: FakeKey) -> dict[str, Any]:
        return {
            "blob": self._store_blob(key),
            "size": key.size,
            "etag": key.etag.strip('"'),
            "meta": dict(key.metadata),
            "storage": key.storage_class,
            "modified": key.last_modified.isoformat(),
            "version": key._version_id,
            "checksum": [key.checksum_algorithm, key.checksum_value, key.checksum_type, key.checksum_parts],
            "encryption": [key.encryption, key.kms_key_id],
        }

    def _blob_path(self, name: str) -> Path:
        return self.blobs / name[:2] / name

    def _store_blob(self, key: FakeKey) -> str:
        """The body's file, named by ETag and size: written (and fsynced) only if no object with the
        same content was stored before, so a copy or a snapshot never writes a body again."""
        name = f"{key.etag.strip(chr(34))}-{key.size}"
        path = self._blob_path(name)
        if path.exists():
            return name
        path.parent.mkdir(exist_ok=True)
        temporary = path.parent / f".{name}.{uuid.uuid4().hex}.tmp"
        with key.lock, temporary.open("wb") as handle:
            buffer = key._value_buffer
            if hasattr(buffer, "getvalue"):
                handle.write(buffer.getvalue())  # the shared bytes themselves, no copy
            else:
                buffer.seek(0)
                shutil.copyfileobj(buffer, handle, COPY_CHUNK)
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
        if self.fsync:
            fsync_directory(path.parent)
        return name

    # --- replay ------------------------------------------------------------------------------

    def _apply(self, record: dict[str, Any]) -> None:
        kind = record["k"]
        if kind == "item":
            self._apply_item(record)
        elif kind == "items":
            self._apply_items(record)
        elif kind == "object":
            self._apply_object(record)
        elif kind == "table":
            self._apply_table(record)
        elif kind == "bucket":
            self._apply_bucket(record)
        else:
            self.report.skipped.append(f"unknown record kind {kind!r}")

    def _dynamodb(self, record: dict[str, Any]) -> Any:
        return get_backend("dynamodb")[record["a"]][record["r"]]

    def _s3(self, record: dict[str, Any]) -> Any:
        return get_backend("s3")[record["a"]][record["r"]]

    def _apply_table(self, record: dict[str, Any]) -> None:
        backend = self._dynamodb(record)
        if record.get("gone"):
            backend.tables.pop(record["n"], None)
            return
        table = backend.tables.get(record["n"])
        if table is None:
            table = backend.create_table(record["n"], **record["params"])
        table.ttl = dict(record.get("ttl") or table.ttl)

    def _apply_item(self, record: dict[str, Any]) -> None:
        backend = self._dynamodb(record)
        table = backend.tables.get(record["t"])
        if table is None:
            self.report.skipped.append(f"item of missing table {record['t']}")
            return
        if record["item"] is not None:
            _load_item(table, record["item"])
            return
        hash_value, range_value = backend.get_keys_value(table, record["key"])
        if table.get_item(hash_value, range_value) is not None:
            table.delete_item(hash_value, range_value)

    def _apply_items(self, record: dict[str, Any]) -> None:
        table = self._dynamodb(record).tables.get(record["t"])
        if table is None:
            self.report.skipped.append(f"items of missing table {record['t']}")
            return
        if record.get("replace"):
            table.items.clear()
        for attributes in record["items"]:
            _load_item(table, attributes)

    def _apply_bucket(self, record: dict[str, Any]) -> None:
        backend = self._s3(record)
        if record.get("gone"):
            backend.buckets.pop(record["n"], None)
            get_backend("s3").bucket_accounts.pop(record["n"], None)  # type: ignore[attr-defined]
            return
        bucket = backend.buckets.get(record["n"])
        if bucket is None:
            bucket = backend.create_bucket(record["n"], record.get("region_name") or "us-east-1")
        bucket.versioning_status = record.get("versioning")

    def _apply_object(self, record: dict[str, Any]) -> None:
        backend = self._s3(record)
        bucket = backend.buckets.get(record["b"])
        state = record["o"]
        if state is None:
            if bucket is not None and record["n"] in bucket.keys:
                bucket.keys.pop(record["n"])
            return
        if bucket is None:
            bucket = backend.create_bucket(record["b"], "us-east-1")
        path = self._blob_path(state["blob"])
        if not path.is_file():
            # Only a record that a later one replaces can lack its body (see collect_garbage).
            self.report.skipped.append(f"s3://{record['b']}/{record['n']}: body {state['blob']} missing")
            return
        large = state["size"] > moto_patches.IN_MEMORY_BYTES
        algorithm, checksum, checksum_type, parts = state.get("checksum") or [None] * 4
        encryption, kms_key = state.get("encryption") or [None, None]
        key = backend.put_object(
            record["b"],
            record["n"],
            b"" if large else path.read_bytes(),
            storage=state.get("storage"),
            etag=state["etag"],
            checksum_value=checksum,
            encryption=encryption,
            kms_key_id=kms_key,
            disable_notification=True,
        )
        if large:
            buffer = tempfile.SpooledTemporaryFile(key._max_buffer_size)
            buffer.rollover()
            with path.open("rb") as source:
                shutil.copyfileobj(source, buffer, COPY_CHUNK)
            key._value_buffer, key.contentsize = buffer, state["size"]
        key._metadata = LowercaseDict()
        key._metadata.update(state.get("meta") or {})
        key.last_modified = datetime.datetime.fromisoformat(state["modified"])
        key._version_id = state.get("version")
        key.checksum_algorithm, key.checksum_type, key.checksum_parts = algorithm, checksum_type, parts
        bucket.keys.setlist(record["n"], [key])  # the current version only

    # --- compaction --------------------------------------------------------------------------

    def compact(self) -> None:
        """Write a snapshot of the current state and drop the journal before it."""
        with self._compacting:
            started = time.perf_counter()
            self.journal.compact(self._snapshot)
            log.debug("state compacted in %.2fs", time.perf_counter() - started)

    def _compact_in_background(self) -> None:
        if self._compacting.locked() or (self._compactor is not None and self._compactor.is_alive()):
            return
        self._compactor = threading.Thread(target=self.compact, name="picks-state-compaction", daemon=True)
        self._compactor.start()

    def _snapshot(self, emit: Callable[[bytes], None]) -> None:
        for account, region, backend in _backends("s3"):
            buckets = list(backend.buckets.values())
            for bucket in buckets:
                emit(_encode([self._bucket_record(account, region, bucket.name)]))
            for bucket in buckets:
                for name in list(bucket.keys.keys()):
                    with self._object_locks[hash((bucket.name, name)) % _KEY_STRIPES]:
                        emit(_encode([self._object_record(account, region, bucket.name, name)]))
        for account, region, backend in _backends("dynamodb"):
            for name, table in list(backend.tables.items()):
                emit(_encode([self._table_record(account, region, name)]))
                batch: list[dict[str, Any]] = []
                for item in _items_of(table):
                    batch.append(_attributes(item))
                    if len(batch) == ITEMS_PER_SNAPSHOT_RECORD:
                        emit(_encode([{"k": "items", "a": account, "r": region, "t": name, "items": batch}]))
                        batch = []
                if batch:
                    emit(_encode([{"k": "items", "a": account, "r": region, "t": name, "items": batch}]))

    def collect_garbage(self) -> int:
        """Delete bodies no current object uses (run right after a compaction, before serving:
        then no record that is replayed later can name them).  Returns how many were deleted."""
        used: set[str] = set()
        for _, _, backend in _backends("s3"):
            for bucket in list(backend.buckets.values()):
                for name in list(bucket.keys.keys()):
                    key = bucket.keys.get(name)
                    if isinstance(key, FakeKey):
                        used.add(f"{key.etag.strip(chr(34))}-{key.size}")
        deleted = 0
        for path in self.blobs.glob("*/*"):
            if path.name not in used:
                path.unlink(missing_ok=True)
                deleted += 1
        return deleted
