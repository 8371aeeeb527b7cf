"""The dataset import job: a large CSV source -> the dataset's columnar table, off Lambda.

``picks.workflows.dataset_import`` stages the job's ``train`` channel: ``config.json`` (``"task":
"import"``, the schema, dataset type, import mode, data location) with the source objects under
``input/`` in import order, and for an INCREMENTAL import the dataset's current table under
``previous/``.  The job parses each file with ``picks.ingest.importer.read_csv`` (pyarrow's
multi-threaded reader here: the training image installs it) and builds the table with
``picks.ingest.importer.imported_table``: the same table, checks and messages as an import run in
the Lambda step.  Each source is parsed where it lies (the file mapped, not read into memory).  It
writes the table's ``data.npz`` and ``manifest.json`` (``columnar.save``: straight to disk) into the model
directory (uploaded by SageMaker, or the emulator, as they are); the Publish step stores them under
the dataset's new prefix.  A bad file ends the job with the message the Lambda step would report
(``s3://bucket/key line N, column C: ...``) in ``SM_OUTPUT_DIR/failure``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from picks import npz
from picks.dataset_schema import parse_schema
from picks.ingest import arrow_reader
from picks.ingest.columnar import MANIFEST_NAME, ColumnTable, deserialize, save
from picks.ingest.csv_reader import ImportValidationError
from picks.ingest.importer import csv_reader_for, imported_table

from training.tasks import run_task

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from picks.dataset_schema import DatasetSchema

TASK = "import"  # picks.workflows.dataset_import.TASK


def _previous(channel: Path, config: dict[str, Any]) -> ColumnTable | None:
    folder = config.get("previous")
    if not folder:
        return None
    manifest = json.loads((channel / folder / MANIFEST_NAME).read_text())
    return deserialize(npz.map_file(channel / folder / manifest["data"]["key"]), manifest)


def _read_source(
    read_csv: Callable[..., ColumnTable], path: Path, schema: DatasetSchema, dataset_type: str, uri: str
) -> ColumnTable:
    """One source file parsed where it lies: mapped, not read into memory (pyarrow's reader parses
    the mapping; the numpy-only reader needs the bytes)."""
    data = npz.map_file(path)
    if isinstance(data, bytes) or read_csv is not arrow_reader.read_csv:
        return read_csv(bytes(data), schema, dataset_type, uri)
    return read_csv(data, schema, dataset_type, uri)  # unmapped once nothing views it any more


def run(channel: Path, model_dir: Path) -> dict[str, Any]:
    config = json.loads((channel / "config.json").read_text())
    schema = parse_schema(config["schema"])
    dataset_type = str(config["datasetType"]).upper()
    read_csv = csv_reader_for()
    started = time.perf_counter()
    tables = []
    for number, source in enumerate(config["sources"], start=1):
        tables.append(_read_source(read_csv, channel / source["file"], schema, dataset_type, source["uri"]))
        print(
            json.dumps(
                {"importProgress": f"{number}/{len(config['sources'])} files", "rows": tables[-1].row_count}
            ),
            flush=True,
        )
    table = imported_table(
        tables,
        dataset_type=dataset_type,
        mode=str(config["mode"]).upper(),
        existing=_previous(channel, config),
        data_location=config["dataLocation"],
        sources=[source["uri"] for source in config["sources"]],
        previous_prefix=config.get("previousPrefix"),
    )
    del tables
    save(table, model_dir)
    return {"rows": table.row_count, "seconds": round(time.perf_counter() - started, 3)}


def main(channel: Path, model_dir: Path, output_dir: Path) -> int:
    return run_task("import", "import", run, ImportValidationError, channel, model_dir, output_dir)
