"""Run one dataset import job: CSV objects in S3 -> validated columnar table in S3.

Every input object is read and validated before anything is written, and the result goes to
a new prefix chosen by the caller.  The previous table is only ever read, so a failed import
(bad row, missing object, crash) leaves the dataset's current data exactly as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

import picks.ingest.arrow_reader as arrow_reader
import picks.ingest.csv_reader as csv_reader
from picks.ingest.columnar import (
    APPEND_DATASET_TYPES,
    ID_COLUMNS,
    ColumnTable,
    IncompatibleColumnsError,
    concat,
    deduplicate,
    in_user_time_order,
    merge,
    read_table,
    write_table,
)
from picks.ingest.csv_reader import ImportValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.dataset_schema import DatasetSchema

IMPORT_MODES = ("FULL", "INCREMENTAL")
# Which CSV reader imports use: "auto" (pyarrow's where pyarrow is installed, as in the training
# image and the dev venv; the hand-written one in the numpy-only Lambda layer), "arrow", "python".
CSV_READER_ENV = "PICKS_CSV_READER"
CSV_READERS = ("auto", "arrow", "python")

_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}


@dataclass(frozen=True)
class ImportResult:
    row_count: int
    prefix: str
    manifest: dict[str, Any]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); the key may be empty or end in ``/`` (a folder)."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise ImportValidationError(0, None, f"data location {uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ImportValidationError(0, None, f"data location {uri!r} has no bucket name")
    return bucket, key


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def source_failure(error: ClientError, uri: str, reader: str | None = None) -> ImportValidationError | None:
    """Turn a permanent S3 error into a job failure; None for errors worth retrying.

    ``reader``: the role the source was read as (named in an access-denied failure), None for picks' own.
    """
    code = _error_code(error)
    if code == "NoSuchBucket":
        return ImportValidationError(0, None, f"bucket in {uri} does not exist", uri)
    if code in _NOT_FOUND_CODES:
        return ImportValidationError(0, None, "object does not exist", uri)
    if code in _DENIED_CODES:
        who = f"roleArn {reader}" if reader else "picks' own role"
        return ImportValidationError(0, None, f"access denied reading the data location as {who}", uri)
    return None


@dataclass(frozen=True)
class SourceObjects:
    """The CSV objects an import reads: their bucket, keys (in import order) and sizes."""

    bucket: str
    keys: list[str]
    sizes: list[int]

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _list_csv_objects(s3: Any, bucket: str, folder: str) -> list[tuple[str, int]]:
    # A folder means the CSV files directly in it (Delimiter="/"), like a directory listing;
    # other objects (markers, _SUCCESS files, sub-folders) are ignored.
    found: list[tuple[str, int]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
        found.extend(
            (obj["Key"], int(obj.get("Size", 0)))
            for obj in page.get("Contents", [])
            if obj["Key"].lower().endswith(".csv")
        )
    return sorted(found)


def _sources(bucket: str, found: list[tuple[str, int]]) -> SourceObjects:
    return SourceObjects(bucket, [key for key, _ in found], [size for _, size in found])


def resolve_sources(s3: Any, data_location: str, reader: str | None = None) -> SourceObjects:
    """The objects ``data_location`` names (one object, or the .csv files of a folder), read as
    ``s3``; raises ``ImportValidationError`` when there are none or they cannot be listed."""
    bucket, key = parse_s3_uri(data_location)
    try:
        if key and not key.endswith("/"):
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                return _sources(bucket, [(key, int(head.get("ContentLength", 0)))])
            except ClientError as error:
                if _error_code(error) not in _NOT_FOUND_CODES - {"NoSuchBucket"}:
                    raise
            # "s3://b/folder" without the trailing slash: accept it if it names a folder.
            found = _list_csv_objects(s3, bucket, key + "/")
            if not found:
                raise ImportValidationError(0, None, "object does not exist", data_location)
            return _sources(bucket, found)
        found = _list_csv_objects(s3, bucket, key)
    except ClientError as error:
        failure = source_failure(error, data_location, reader)
        if failure is None:
            raise
        raise failure from None
    if not found:
        raise ImportValidationError(0, None, "no .csv objects found in this folder", data_location)
    return _sources(bucket, found)


def open_object(s3: Any, bucket: str, key: str, reader: str | None) -> Any:
    """The object's streaming body, read as ``s3`` (``reader``: the role it acts as, or None)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        failure = source_failure(error, f"s3://{bucket}/{key}", reader)
        if failure is None:
            raise
        raise failure from None


def _read_object(s3: Any, bucket: str, key: str, reader: str | None) -> bytes:
    body: bytes = open_object(s3, bucket, key, reader).read()
    return body


def csv_reader_for(choice: str | None = None) -> Callable[..., ColumnTable]:
    """The ``read_csv`` of the reader ``choice`` (default: ``$PICKS_CSV_READER``, else "auto") names.

    Both return the same table and raise the same errors (tests/unit/test_arrow_reader.py).
    """
    choice = (choice or os.environ.get(CSV_READER_ENV) or "auto").lower()
    if choice not in CSV_READERS:
        raise ValueError(f"{CSV_READER_ENV} must be one of {CSV_READERS}, not {choice!r}")
    if choice == "python" or (choice == "auto" and not arrow_reader.available()):
        return csv_reader.read_csv
    return arrow_reader.read_csv


def read_csv(data: bytes, schema: DatasetSchema, dataset_type: str, source: str = "") -> ColumnTable:
    """One CSV object as a validated table, by the reader ``csv_reader_for`` selects."""
    return csv_reader_for()(data, schema, dataset_type, source)


def _normalize_prefix(prefix: str) -> str:
    return prefix.strip("/")


def run_import(
    s3: Any,
    *,
    data_location: str,
    bucket: str,
    dest_prefix: str,
    schema: DatasetSchema,
    dataset_type: str,
    mode: str,
    previous_prefix: str | None,
    source_s3: Any = None,
    source_role: str | None = None,
    sources: SourceObjects | None = None,
) -> ImportResult:
    """Import ``data_location`` into a new table at ``s3://bucket/dest_prefix``.

    ``s3`` reads and writes picks' own ``bucket``; ``source_s3`` (default: ``s3``) reads
    ``data_location``, acting as ``source_role`` if that is given (see ``picks.user_buckets``);
    ``sources``: the objects ``resolve_sources`` found there, if the caller has listed them already.

    FULL: the table is exactly the new data.  INCREMENTAL: the new data merged into the table
    at ``previous_prefix`` (appended for interactions, upserted by id for items/users/actions).
    Within the new data, the last row per id wins for entity datasets.
    Raises ``ImportValidationError`` for bad input; nothing is written in that case.
    """
    dataset_type = dataset_type.upper()
    mode = mode.upper()
    if mode not in IMPORT_MODES:
        raise ValueError(f"import mode must be one of {IMPORT_MODES}, not {mode!r}")
    if dataset_type not in APPEND_DATASET_TYPES and dataset_type not in ID_COLUMNS:
        raise ValueError(f"unknown dataset type {dataset_type!r}")
    dest = _normalize_prefix(dest_prefix)
    previous = _normalize_prefix(previous_prefix) if previous_prefix else None
    if not dest:
        raise ValueError("dest_prefix must not be empty")
    if previous is not None and previous == dest:
        raise ValueError(
            "dest_prefix must differ from previous_prefix; the previous table is never overwritten"
        )

    source_s3 = s3 if source_s3 is None else source_s3
    sources = sources or resolve_sources(source_s3, data_location, source_role)
    tables: list[ColumnTable] = []
    for key in sources.keys:
        # Read and parse one object at a time so only one raw file is in memory.
        data = _read_object(source_s3, sources.bucket, key, source_role)
        tables.append(read_csv(data, schema, dataset_type, source=sources.uri(key)))
        del data
    existing = read_table(s3, bucket, previous) if mode == "INCREMENTAL" and previous is not None else None
    result = imported_table(
        tables,
        dataset_type=dataset_type,
        mode=mode,
        existing=existing,
        data_location=data_location,
        sources=[sources.uri(key) for key in sources.keys],
        previous_prefix=previous,
    )
    manifest = write_table(s3, bucket, dest, result)
    return ImportResult(row_count=result.row_count, prefix=dest, manifest=manifest)


def imported_table(
    tables: list[ColumnTable],
    *,
    dataset_type: str,
    mode: str,
    existing: ColumnTable | None,
    data_location: str,
    sources: list[str],
    previous_prefix: str | None,
) -> ColumnTable:
    """The table an import stores, from the parsed ``tables`` of its source objects (in order) and,
    INCREMENTAL, the dataset's ``existing`` table; the import job (``training/import_job.py``) builds
    it the same way from the same parts."""
    incoming = deduplicate(concat(tables), dataset_type)
    incoming_rows = incoming.row_count
    result = incoming
    if mode == "INCREMENTAL" and existing is not None:
        try:
            result = merge(existing, incoming, dataset_type)
        except IncompatibleColumnsError as error:
            raise ImportValidationError(0, error.column, str(error), data_location) from None
    extra = {
        "import": {
            "mode": mode,
            "data_location": data_location,
            "sources": sources,
            "previous_prefix": previous_prefix if mode == "INCREMENTAL" else None,
            "imported_rows": incoming_rows,
        }
    }
    return in_user_time_order(replace(result, extra=extra))
