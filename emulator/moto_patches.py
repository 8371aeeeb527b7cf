"""Performance and thread-safety fixes for moto behind the emulator (not used on AWS).

Query: moto answers a primary-key Query by sorting every item of the table and keeping the
partition's; the per-user event history makes that O(events stored) per GetRecommendations.  For
a base-table Query on a table with a range key, only the partition's items are handed to moto's
own Query logic (conditions, order, paging unchanged).

moto's TransactWriteItems deep-copies every table it touches so it can roll back; on the events
table that makes each PutEvents cost O(events stored) and, with the emulator's threads, races
("dictionary changed size during iteration").  For the transactions picks writes — Puts, each
optionally conditioned on ``attribute_not_exists(...)`` — checking every condition first and
then applying the Puts is all-or-nothing without a copy.  Anything else still goes to moto's own
implementation.  Both run under one lock, so concurrent transactions are serialised as DynamoDB
would isolate them.

S3 objects of hundreds of MB (channel tables, model files): a value up to ``IN_MEMORY_BYTES`` is
kept as the bytes object received, shared by CopyObject and returned as it is by GetObject (bytes
never change, so sharing is safe); a larger one is written straight to the key's temporary file
(``SpooledTemporaryFile`` would copy it into its in-memory buffer first, then into the file).
CopyObject of a single-part object carries the source's ETag over (same bytes, same MD5) instead
of hashing the copy again.  A large PUT body reaches the backend as the bytes read from the
caller's file, not re-read from werkzeug's request stream in 64 KB pieces.  CompleteMultipartUpload
joins the parts once (moto grows a bytearray part by part, then copies it into bytes, and copies
the whole object once more for its full-object checksum: 10 s of a 594 MB streamed copy).
"""

from __future__ import annotations

import io
import re
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from moto.core.request import Request
from moto.dynamodb.exceptions import MultipleTransactionsException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.s3.models import FakeKey, FakeMultipart, MultipartChecksumBuilder, S3Backend
from moto.s3.utils import compute_checksum
from moto.settings import S3_UPLOAD_PART_MIN_SIZE
from moto.utilities.utils import md5_hash

if TYPE_CHECKING:
    from collections.abc import Iterator

_LOCK = threading.RLock()
# S3 values up to this size stay in memory as the bytes received (moto would spool them to a
# temporary file: one more copy in, one out); larger ones still go to disk.
IN_MEMORY_BYTES = 1 << 30
_NOT_EXISTS = re.compile(r"\s*attribute_not_exists\s*\(\s*[A-Za-z0-9_#]+\s*\)\s*")
_original = DynamoDBBackend.transact_write_items
_original_query = Table.query


def _simple_puts(items: list[dict[str, Any]]) -> bool:
    for item in items:
        if list(item) != ["Put"]:
            return False
        condition = item["Put"].get("ConditionExpression")
        if condition is not None and not _NOT_EXISTS.fullmatch(condition):
            return False
    return True


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    with _LOCK:
        if not _simple_puts(transact_items) or len(transact_items) > 100:
            return _original(self, transact_items)
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            op = item["Put"]
            table = self.get_table(op["TableName"])
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            marker = (op["TableName"], str(sorted(key.items())))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            exists = self.get_item(op["TableName"], key) is not None
            if op.get("ConditionExpression") and exists:
                errors.append(("ConditionalCheckFailed", "The conditional request failed", None))
            else:
                errors.append((None, None, None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for item in transact_items:
            self.put_item(item["Put"]["TableName"], item["Put"]["Item"])
        return None


class _Partition:
    """The table as moto's Query sees it, with ``all_items`` narrowed to one partition.

    Everything else is the real table's; nothing is changed on it, so concurrent readers and
    writers are unaffected.
    """

    def __init__(self, table: Table, items: list[Any]) -> None:
        self._table = table
        self._items = items

    def all_items(self) -> list[Any]:
        return self._items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _original_query(self, hash_key, *args, **kwargs)
    partition = list(self.items.get(hash_key, {}).values())
    return _original_query(_Partition(self, partition), hash_key, *args, **kwargs)  # type: ignore[arg-type]


_original_from_primitives = Request.from_primitives.__func__  # type: ignore[attr-defined]
LARGE_BODY_BYTES = 1 << 20


def _from_primitives(cls: type[Request], method: str, url: str, headers: Any, body: Any = None) -> Request:
    """moto's in-process request with a large PUT body read once: werkzeug would read it back out of
    the request stream 64 KB at a time into a growing buffer (2 s for a 400 MB model file)."""
    if method != "PUT" or body is None or isinstance(body, str):
        return _original_from_primitives(cls, method, url, headers, body)
    if hasattr(body, "read"):
        body = body.read()
    request = _original_from_primitives(cls, method, url, headers, body)
    if isinstance(body, bytes) and len(body) >= LARGE_BODY_BYTES:
        request.data = body  # werkzeug's cached ``data``: the very bytes given (a PUT body is never a form)
    return request


_original_value_setter = FakeKey.value.fset  # type: ignore[attr-defined]  # a property; mypy sees its getter
_original_copy_object = S3Backend.copy_object
_original_complete = FakeMultipart.complete


def _set_value(self: FakeKey, new_value: bytes) -> None:
    if isinstance(new_value, bytes) and self._max_buffer_size < len(new_value) <= IN_MEMORY_BYTES:
        # The value itself: a BytesIO over a bytes object shares it until written to, and reading
        # it whole gives that very object back, so GetObject and CopyObject copy nothing.
        self._value_buffer.close()
        self._value_buffer = io.BytesIO(new_value)  # type: ignore[assignment]  # moto declares a spooled file
        self.contentsize = len(new_value)
        return
    if not isinstance(self._value_buffer, tempfile.SpooledTemporaryFile):
        self._value_buffer = tempfile.SpooledTemporaryFile(self._max_buffer_size)
    if len(new_value) > self._max_buffer_size:
        self._value_buffer.rollover()  # a no-op once rolled over
    _original_value_setter(self, new_value)


def _copy_object(
    self: S3Backend, src_key: FakeKey, dest_bucket_name: str, dest_key_name: str, *args: Any, **kwargs: Any
) -> None:
    _original_copy_object(self, src_key, dest_bucket_name, dest_key_name, *args, **kwargs)
    if src_key.multipart is None and src_key._etag is not None:
        self.get_bucket(dest_bucket_name).keys[dest_key_name]._etag = src_key._etag


def _complete_multipart(
    self: FakeMultipart, body: Iterator[tuple[int, str]]
) -> tuple[bytes, str, tuple[str, str, int] | None]:
    """``FakeMultipart.complete``: the same checks, ETag and checksum, the parts joined once."""
    checksums = MultipartChecksumBuilder(
        self.metadata.get("x-amz-checksum-algorithm"), self.metadata.get("x-amz-checksum-type")
    )
    composite = checksums.checksum_type == "COMPOSITE"
    values: list[bytes] = []
    md5s: list[bytes] = []
    last: FakeKey | None = None
    for number, etag in body:
        part = self.parts.get(number)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise InvalidPart()
        if last is not None and last.contentsize < S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        md5s.append(bytes.fromhex(part.etag.replace('"', "")))
        values.append(part.value)
        if composite:
            checksums.addPart(values[-1])
        last = part
    if not values:
        raise MalformedXML()
    whole = b"".join(values)
    del values
    if composite:
        checksum = checksums.build()
    else:
        algorithm = checksums.checksum_algorithm
        checksum = (checksums.checksum_type, compute_checksum(whole, algorithm).decode(), 1)
    return whole, f"{md5_hash(b''.join(md5s)).hexdigest()}-{len(md5s)}", checksum


def install() -> None:
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]
    FakeKey.value = FakeKey.value.setter(_set_value)  # type: ignore[attr-defined, method-assign]
    S3Backend.copy_object = _copy_object  # type: ignore[method-assign]
    FakeMultipart.complete = _complete_multipart  # type: ignore[method-assign]
    Request.from_primitives = classmethod(_from_primitives)  # type: ignore[method-assign, assignment]
