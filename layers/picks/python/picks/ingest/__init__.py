"""Dataset import engine: bulk CSV in S3 -> validated, columnar, training-ready tables in S3.

* ``read_csv`` validates one CSV file against a dataset schema (``csv_reader``).
* ``ColumnTable`` and its S3 storage, ``merge`` for INCREMENTAL imports (``columnar``).
* ``run_import`` ties them together for one dataset import job (``importer``).
"""

from __future__ import annotations

from picks.ingest.columnar import (
    Column,
    ColumnTable,
    IncompatibleColumnsError,
    TableNotFoundError,
    concat,
    deduplicate,
    merge,
    read_manifest,
    read_table,
    write_table,
)
from picks.ingest.csv_reader import ImportValidationError, read_csv
from picks.ingest.importer import ImportResult, parse_s3_uri, run_import

__all__ = [
    "Column",
    "ColumnTable",
    "ImportResult",
    "ImportValidationError",
    "IncompatibleColumnsError",
    "TableNotFoundError",
    "concat",
    "deduplicate",
    "merge",
    "parse_s3_uri",
    "read_csv",
    "read_manifest",
    "read_table",
    "run_import",
    "write_table",
]
