"""The dataset import job: a large CSV source -> the dataset's columnar table, off Lambda.

``picks.workflows.dataset_import`` stages the job's ``train`` channel: ``config.json`` (``"task":
"import"``, the schema, dataset type, import mode, data location) with the source objects under
``input/`` in import order, and for an INCREMENTAL import the dataset's current table under
``previous/``.  The job parses each file with ``picks.ingest.importer.read_csv`` (pyarrow's
multi-threaded reader here: the training image installs it) and builds the table with
``picks.ingest.importer.imported_table``: the same table, checks and messages as an import run in
the Lambda step.  It writes the table's ``data.npz`` and ``manifest.json`` into the model
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
from picks.ingest.columnar import DATA_NAME, MANIFEST_NAME, ColumnTable, deserialize, serialize
from picks.ingest.csv_reader import ImportValidationError
from picks.ingest.importer import csv_reader_for, imported_table

from training.tasks import run_task

if TYPE_CHECKING:
    from pathlib import Path

TASK = "import"  # picks.workflows.dataset_import.TASK


def _previous(channel: Path, config: dict[str, Any]) -> ColumnTable | None:
    folder = config.get("previous")
    if not folder:
        return None
    manifest = json.loads((channel / folder / MANIFEST_NAME).read_text())
    return deserialize(npz.map_file(channel / folder / manifest["data"]["key"]), manifest)


def run(channel: Path, model_dir: Path) -> dict[str, Any]:
    config = json.loads((channel / "config.json").read_text())
    schema = parse_schema(config["schema"])
    dataset_type = str(config["datasetType"]).upper()
    read_csv = csv_reader_for()
    started = time.perf_counter()
    tables = []
    for number, source in enumerate(config["sources"], start=1):
        data = (channel / source["file"]).read_bytes()
        tables.append(read_csv(data, schema, dataset_type, source["uri"]))
        del data
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
    data, manifest = serialize(table)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / DATA_NAME).write_bytes(data)
    (model_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return {"rows": table.row_count, "seconds": round(time.perf_counter() - started, 3)}


def main(channel: Path, model_dir: Path, output_dir: Path) -> int:
    return run_task("import", "import", run, ImportValidationError, channel, model_dir, output_dir)
