"""Imports pick pyarrow's CSV reader where pyarrow is installed, the hand-written one elsewhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from picks.ingest import arrow_reader, csv_reader, importer

from tests.unit.test_csv_reader import HEADER, INTERACTIONS, csv_bytes


def test_without_pyarrow_imports_use_the_hand_written_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in the Lambda layer, where importing pyarrow fails (the next test does that for real).
    monkeypatch.setattr(arrow_reader, "PYARROW", False)
    monkeypatch.delenv(importer.CSV_READER_ENV, raising=False)
    assert not arrow_reader.available()
    assert importer.csv_reader_for() is csv_reader.read_csv
    table = importer.read_csv(csv_bytes(HEADER, "u,i,1"), INTERACTIONS, "INTERACTIONS")
    assert table.to_pylist()[0]["USER_ID"] == "u"


def test_the_layer_imports_and_reads_in_a_process_without_pyarrow() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pyarrow"] = None  # what `import pyarrow` meets in the numpy-only Lambda layer
        from picks.dataset_schema import DatasetSchema, Field
        from picks.ingest import importer
        schema = DatasetSchema("S", (Field("USER_ID", "string"), Field("ITEM_ID", "string")))
        table = importer.read_csv(b"USER_ID,ITEM_ID\\nu,i\\n", schema, "INTERACTIONS")
        assert importer.csv_reader_for().__module__ == "picks.ingest.csv_reader"
        try:
            importer.read_csv(b"USER_ID,ITEM_ID\\nu\\n", schema, "INTERACTIONS")
        except Exception as error:
            print(error)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "line 2: expected 2 columns, as in the header, but found 1"


def test_the_environment_chooses_a_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(importer.CSV_READER_ENV, "python")
    assert importer.csv_reader_for() is csv_reader.read_csv
    monkeypatch.setenv(importer.CSV_READER_ENV, "arrow")
    assert importer.csv_reader_for() is arrow_reader.read_csv
    monkeypatch.setenv(importer.CSV_READER_ENV, "fastest")
    with pytest.raises(ValueError, match="PICKS_CSV_READER must be one of"):
        importer.csv_reader_for()


def test_with_pyarrow_imports_use_the_arrow_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyarrow")
    monkeypatch.delenv(importer.CSV_READER_ENV, raising=False)
    assert importer.csv_reader_for() is arrow_reader.read_csv


def test_pyarrow_ships_with_training_not_with_the_lambda_layer() -> None:
    root = Path(__file__).resolve().parents[2]

    def names(path: str) -> set[str]:
        lines = (root / path).read_text(encoding="utf-8").splitlines()
        return {line.split("==")[0].strip().lower() for line in lines if "==" in line}

    assert "pyarrow" in names("training/requirements.txt")
    assert "pyarrow" in names("requirements.txt")
    assert "pyarrow" not in names("layers/picks/requirements.txt")
