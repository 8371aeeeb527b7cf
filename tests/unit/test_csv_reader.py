"""read_csv: Personalize's bulk-CSV rules, with the first bad line and column reported."""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
from picks.dataset_schema import DatasetSchema, Field
from picks.ingest import csv_reader
from picks.ingest.csv_reader import ImportValidationError, read_csv

INTERACTIONS = DatasetSchema(
    "Interactions",
    (
        Field("USER_ID", "string"),
        Field("ITEM_ID", "string"),
        Field("TIMESTAMP", "long"),
        Field("EVENT_TYPE", "string", nullable=True),
        Field("EVENT_VALUE", "float", nullable=True),
        Field("IMPRESSION", "string", nullable=True),
    ),
)

ITEMS = DatasetSchema(
    "Items",
    (
        Field("ITEM_ID", "string"),
        Field("GENRES", "string", nullable=True, categorical=True),
        Field("PRICE", "double", nullable=True),
        Field("IN_STOCK", "boolean", nullable=True),
        Field("RATING", "int", nullable=True),
        Field("CREATION_TIMESTAMP", "long", nullable=True),
        Field("DESCRIPTION", "string", nullable=True, textual=True),
    ),
)

HEADER = "USER_ID,ITEM_ID,TIMESTAMP"


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def rejected(
    data: bytes, schema: DatasetSchema = INTERACTIONS, dataset_type: str = "INTERACTIONS", source: str = ""
) -> ImportValidationError:
    with pytest.raises(ImportValidationError) as caught:
        read_csv(data, schema, dataset_type, source=source)
    return caught.value


# --------------------------------------------------------------------------- accepted input


def test_reads_columns_with_dense_codes_and_types() -> None:
    table = read_csv(
        csv_bytes(
            "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1596238243,click,1.5",
            "u2,i1,1596238244,,",
            "u1,i2,1596238245,buy,-2e3",
        ),
        INTERACTIONS,
        "interactions",
    )
    assert table.row_count == 3
    assert table.dataset_type == "INTERACTIONS"
    assert list(table.columns) == [f.name for f in INTERACTIONS.fields]
    users = table["USER_ID"]
    assert users.data.dtype == np.int32
    assert users.data.tolist() == [0, 1, 0]
    assert users.dictionary.tolist() == ["u1", "u2"]
    assert table["TIMESTAMP"].data.dtype == np.int64
    assert table["TIMESTAMP"].null is None
    assert table.to_pylist() == [
        {
            "USER_ID": "u1",
            "ITEM_ID": "i1",
            "TIMESTAMP": 1596238243,
            "EVENT_TYPE": "click",
            "EVENT_VALUE": 1.5,
            "IMPRESSION": None,
        },
        {
            "USER_ID": "u2",
            "ITEM_ID": "i1",
            "TIMESTAMP": 1596238244,
            "EVENT_TYPE": None,
            "EVENT_VALUE": None,
            "IMPRESSION": None,
        },
        {
            "USER_ID": "u1",
            "ITEM_ID": "i2",
            "TIMESTAMP": 1596238245,
            "EVENT_TYPE": "buy",
            "EVENT_VALUE": -2000.0,
            "IMPRESSION": None,
        },
    ]
    value = table["EVENT_VALUE"]
    assert value.data.dtype == np.float64
    assert value.null.tolist() == [False, True, False]
    assert np.isnan(value.data[1])
    # A nullable field absent from the header is all null.
    assert table["IMPRESSION"].null_count == 3


def test_header_matches_case_insensitively_in_any_order() -> None:
    table = read_csv(csv_bytes("timestamp,Item_Id,user_id", "7,i,u"), INTERACTIONS, "INTERACTIONS")
    assert table.to_pylist()[0] == {
        "USER_ID": "u",
        "ITEM_ID": "i",
        "TIMESTAMP": 7,
        "EVENT_TYPE": None,
        "EVENT_VALUE": None,
        "IMPRESSION": None,
    }


def test_quoting_crlf_bom_and_blank_lines() -> None:
    data = (
        "\ufeffUSER_ID,ITEM_ID,TIMESTAMP,IMPRESSION\r\n"
        '"u,1","i ""quoted""",1,"a|b|c"\r\n'
        "\r\n"
        '"multi\r\nline",i2,2,\r\n'
        "\r\n"
    ).encode("utf-8")
    table = read_csv(data, INTERACTIONS, "INTERACTIONS")
    rows = table.to_pylist()
    assert [r["USER_ID"] for r in rows] == ["u,1", "multi\r\nline"]
    assert rows[0]["ITEM_ID"] == 'i "quoted"'
    # Multi-value fields are kept raw; splitting on "|" is the consumer's business.
    assert rows[0]["IMPRESSION"] == "a|b|c"
    assert rows[1]["IMPRESSION"] is None


def test_items_types_textual_escapes_and_truncation() -> None:
    long_text = "x" * 25_000
    data = csv_bytes(
        "ITEM_ID,GENRES,PRICE,IN_STOCK,RATING,CREATION_TIMESTAMP,DESCRIPTION",
        'i1,Comedy|Drama,9.99,true,5,1596238243,"He said \\"hi\\" \\\\ bye"',
        f"i2,,,false,,,{long_text}",
        "i3,Horror,.5,,-3,0,",
    )
    table = read_csv(data, ITEMS, "ITEMS")
    rows = table.to_pylist()
    assert rows[0]["DESCRIPTION"] == 'He said "hi" \\ bye'
    assert rows[0]["GENRES"] == "Comedy|Drama"
    assert [r["IN_STOCK"] for r in rows] == [True, False, None]
    assert [r["PRICE"] for r in rows] == [9.99, None, 0.5]
    assert [r["RATING"] for r in rows] == [5, None, -3]
    assert table["IN_STOCK"].data.dtype == np.bool_
    # Personalize truncates textual values at 20,000 characters rather than failing.
    assert rows[1]["DESCRIPTION"] == "x" * 20_000


def test_values_up_to_the_limits_are_accepted() -> None:
    data = csv_bytes(f"{HEADER},IMPRESSION", f"{'u' * 256},i,1,{'|'.join(['ab'] * 333)}|a")
    table = read_csv(data, INTERACTIONS, "INTERACTIONS")
    assert len(table.to_pylist()[0]["IMPRESSION"]) == 1000


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("data", "line", "column", "reason"),
    [
        pytest.param(b"", 0, None, "file is empty", id="empty-file"),
        pytest.param(b"\n\r\n  \n", 0, None, "file is empty", id="whitespace-only"),
        pytest.param(csv_bytes(HEADER), 1, None, "no data rows", id="header-only"),
        pytest.param(csv_bytes(HEADER, "", ""), 1, None, "no data rows", id="header-and-blank-lines"),
        pytest.param(
            csv_bytes("USER_ID,ITEM_ID,TIMESTAMP,COLOR", "u,i,1,red"),
            1,
            "COLOR",
            "not in schema Interactions",
            id="unknown-column",
        ),
        pytest.param(
            csv_bytes("USER_ID,ITEM_ID", "u,i"),
            1,
            "TIMESTAMP",
            "required field TIMESTAMP is missing from the header",
            id="missing-required-column",
        ),
        pytest.param(
            csv_bytes("USER_ID,ITEM_ID,TIMESTAMP,user_id", "u,i,1,u"),
            1,
            "USER_ID",
            "appears more than once",
            id="duplicate-column",
        ),
        pytest.param(
            csv_bytes("USER_ID,,TIMESTAMP", "u,i,1"),
            1,
            None,
            "header column 2 has no name",
            id="unnamed-column",
        ),
        pytest.param(
            csv_bytes("USER_ID, ITEM_ID,TIMESTAMP", "u,i,1"),
            1,
            " ITEM_ID",
            "remove the surrounding spaces",
            id="header-with-spaces",
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i,1", "u,i,2,extra"),
            3,
            None,
            "expected 3 columns, as in the header, but found 4",
            id="ragged-long",
        ),
        pytest.param(csv_bytes(HEADER, "u,i,1", "u,i"), 3, None, "but found 2", id="ragged-short"),
        pytest.param(
            csv_bytes(HEADER, "u,i,1", ",i,2"),
            3,
            "USER_ID",
            "empty value, but USER_ID is not nullable",
            id="null-in-required-string",
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i,"),
            2,
            "TIMESTAMP",
            "empty value, but TIMESTAMP is not nullable",
            id="null-in-required-long",
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i,1", "u,i,abc"),
            3,
            "TIMESTAMP",
            "'abc' is not a valid long (epoch seconds)",
            id="timestamp-text",
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i,2020-01-01"),
            2,
            "TIMESTAMP",
            "not a valid long (epoch seconds)",
            id="timestamp-date",
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i,1596238243.5"), 2, "TIMESTAMP", "not a valid long", id="timestamp-float"
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i,1596238243000"),
            2,
            "TIMESTAMP",
            "looks like milliseconds",
            id="timestamp-milliseconds",
        ),
        pytest.param(
            csv_bytes(HEADER, "u,i, 1596238243"),
            2,
            "TIMESTAMP",
            "not a valid long",
            id="timestamp-whitespace",
        ),
        pytest.param(csv_bytes(HEADER, "u,i,1_000"), 2, "TIMESTAMP", "not a valid long", id="underscore"),
        pytest.param(
            csv_bytes(HEADER, "u,i,99999999999999999999"),
            2,
            "TIMESTAMP",
            "out of range for long",
            id="long-overflow",
        ),
        pytest.param(
            csv_bytes(f"{HEADER},EVENT_VALUE", "u,i,1,nan"),
            2,
            "EVENT_VALUE",
            "'nan' is not a valid float",
            id="float-nan",
        ),
        pytest.param(
            csv_bytes(f"{HEADER},EVENT_VALUE", "u,i,1,1", "u,i,2,inf"),
            3,
            "EVENT_VALUE",
            "not a valid float",
            id="float-inf",
        ),
        pytest.param(
            csv_bytes(f"{HEADER},EVENT_VALUE", "u,i,1,1e39"),
            2,
            "EVENT_VALUE",
            "out of range for float",
            id="float32-overflow",
        ),
        pytest.param(
            csv_bytes(f"{HEADER},EVENT_VALUE", "u,i,1,1e999"),
            2,
            "EVENT_VALUE",
            "not a finite float",
            id="float-infinite-literal",
        ),
        pytest.param(
            csv_bytes(f"{HEADER},EVENT_VALUE", 'u,i,1,"1,5"'),
            2,
            "EVENT_VALUE",
            "not a valid float",
            id="float-decimal-comma",
        ),
        pytest.param(
            csv_bytes(HEADER, f"{'u' * 257},i,1"),
            2,
            "USER_ID",
            "257 characters long; USER_ID values may have at most 256",
            id="oversize-id",
        ),
        pytest.param(
            csv_bytes(f"{HEADER},IMPRESSION", "u,i,1,a", f"u,i,2,{'|'.join(['ab'] * 334)}"),
            3,
            "IMPRESSION",
            "1001 characters long; IMPRESSION values may have at most 1000",
            id="oversize-multi-value",
        ),
        pytest.param(csv_bytes(HEADER, 'u,"i"x,1'), 2, None, "malformed CSV", id="malformed-quotes"),
        pytest.param(
            csv_bytes(HEADER, 'u,"unterminated,1'), 2, None, "malformed CSV", id="unterminated-quote"
        ),
    ],
)
def test_rejects(data: bytes, line: int, column: str | None, reason: str) -> None:
    error = rejected(data)
    assert (error.line, error.column) == (line, column)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("i,,,True,,,", "IN_STOCK", "'True' is not a valid boolean (use lower-case true or false)"),
        ("i,,,yes,,,", "IN_STOCK", "not a valid boolean"),
        ("i,,,,3000000000,,", "RATING", "out of range for int; use long"),
        ("i,,,,1.0,,", "RATING", "'1.0' is not a valid int"),
        ("i,,abc,,,,", "PRICE", "'abc' is not a valid double"),
        ("i,,,,,1e9,", "CREATION_TIMESTAMP", "'1e9' is not a valid long (epoch seconds)"),
        (f"i,{'g' * 1001},,,,,", "GENRES", "values (including '|' separators) may have at most 1000"),
    ],
)
def test_rejects_item_values(row: str, column: str, reason: str) -> None:
    header = "ITEM_ID,GENRES,PRICE,IN_STOCK,RATING,CREATION_TIMESTAMP,DESCRIPTION"
    error = rejected(csv_bytes(header, "ok,,,,,,", row), ITEMS, "ITEMS")
    assert (error.line, error.column) == (3, column)
    assert reason in error.reason


def test_non_utf8_names_line_and_byte_offset() -> None:
    data = csv_bytes(HEADER, "u1,i1,1") + "u2,caf\u00e9,2\n".encode("latin-1")
    error = rejected(data)
    assert error.line == 3
    assert error.column is None
    assert "not valid UTF-8" in error.reason
    offset = data.index(b"\xe9")
    assert f"byte offset {offset}" in error.reason


def test_non_utf8_in_header() -> None:
    error = rejected(b"USER_ID,ITEM_\xff,TIMESTAMP\nu,i,1\n")
    assert error.line == 1
    assert "UTF-8" in error.reason


def test_earlier_error_wins_over_later_non_utf8() -> None:
    data = csv_bytes(HEADER, "u1,i1,1", "u1,i1,oops") + b"u\xff,i,3\n"
    error = rejected(data)
    assert (error.line, error.column) == (3, "TIMESTAMP")


def test_reports_first_bad_line_across_columns() -> None:
    # Line 3 is bad in two columns, lines 4 and 5 in other ways: the earliest line wins, and
    # within it the leftmost column.
    data = csv_bytes(HEADER, "u,i,1", ",i,bad", "u,i,x", "u,i,1,2")
    error = rejected(data)
    assert (error.line, error.column) == (3, "USER_ID")


def test_ragged_row_after_bad_value_reports_the_value() -> None:
    error = rejected(csv_bytes(HEADER, "u,i,bad", "u,i"))
    assert (error.line, error.column) == (2, "TIMESTAMP")


def test_bad_value_before_syntax_error_wins() -> None:
    error = rejected(csv_bytes(HEADER, "u,i,bad", 'u,"i"x,1'))
    assert (error.line, error.column) == (2, "TIMESTAMP")


def test_line_numbers_count_quoted_newlines_and_blank_lines() -> None:
    data = csv_bytes(HEADER, '"a\nb\nc",i,1', "", "u,i,2", "u,i,nope")
    error = rejected(data)
    assert (error.line, error.column) == (7, "TIMESTAMP")


def test_line_numbers_in_later_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_reader, "CHUNK_ROWS", 4)
    lines = [HEADER] + [f"u{i},i{i},{i}" for i in range(10)]
    lines[9] = "u,i,later"
    error = rejected(csv_bytes(*lines))
    assert (error.line, error.column) == (10, "TIMESTAMP")
    lines[9] = '"u\n2",i,later'
    error = rejected(csv_bytes(*lines))
    assert (error.line, error.column) == (10, "TIMESTAMP")


def test_chunked_read_matches_single_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    data = csv_bytes(HEADER, *[f"u{i % 7},i{i % 5},{i}" for i in range(50)])
    whole = read_csv(data, INTERACTIONS, "INTERACTIONS").to_pylist()
    monkeypatch.setattr(csv_reader, "CHUNK_ROWS", 3)
    assert read_csv(data, INTERACTIONS, "INTERACTIONS").to_pylist() == whole


def test_error_message_format_includes_source() -> None:
    error = rejected(csv_bytes(HEADER, *["u,i,1"] * 10, "u,i,abc"), source="s3://b/k.csv")
    assert str(error) == "s3://b/k.csv line 12, column TIMESTAMP: 'abc' is not a valid long (epoch seconds)"
    assert (
        str(ImportValidationError(0, None, "file is empty", "s3://b/k.csv")) == "s3://b/k.csv: file is empty"
    )
    assert str(ImportValidationError(3, None, "bad")) == "line 3: bad"


# --------------------------------------------------------------------------- size sanity


def synthetic_interactions(rows: int) -> bytes:
    events = ("click", "purchase", "watch")
    body = "\n".join(
        f"user_{(i * 7919) % 100_000},item_{(i * 104_729) % 50_000},{1_600_000_000 + i},{events[i % 3]}"
        for i in range(rows)
    )
    return f"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n{body}\n".encode()


def test_parses_a_large_file() -> None:
    """Sanity check at scale; timing is printed (pytest -s), never asserted."""
    rows = int(os.environ.get("PICKS_PARSE_SANITY_ROWS", "100000"))
    data = synthetic_interactions(rows)
    started = time.perf_counter()
    table = read_csv(data, INTERACTIONS, "INTERACTIONS")
    elapsed = time.perf_counter() - started
    print(f"\nread_csv: {rows:,} rows ({len(data) / 1e6:.1f} MB) in {elapsed:.2f}s")
    assert table.row_count == rows
    users = table["USER_ID"]
    assert users.data.min() == 0 and users.data.max() == len(users.dictionary) - 1
    assert table["TIMESTAMP"].data[-1] == 1_600_000_000 + rows - 1


def test_error_survives_pickling() -> None:
    error = ImportValidationError(4, "TIMESTAMP", "bad", "s3://b/k.csv")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.line, copy.column, copy.reason, copy.source, str(copy)) == (
        4,
        "TIMESTAMP",
        "bad",
        "s3://b/k.csv",
        str(error),
    )


SECRET = "AKIA" + "S" * 60 + "-the-rest-of-a-secret-line-that-must-not-be-echoed"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(csv_bytes(f"{HEADER},{SECRET}", "u,i,1,x"), id="unknown-header-cell"),
        pytest.param(csv_bytes(f"{HEADER},{SECRET.lower()},{SECRET.upper()}", "u,i,1,x,y"), id="second-cell"),
        pytest.param(csv_bytes(f"{SECRET},ITEM_ID,TIMESTAMP", "u,i,1"), id="first-cell"),
        pytest.param(csv_bytes(HEADER, f"u,i,{SECRET}"), id="bad-value"),
    ],
)
def test_errors_quote_at_most_a_short_prefix_of_the_data(data: bytes) -> None:
    # A failureReason is str(error): whatever a file holds, at most 64 characters of it come back.
    message = str(rejected(data))
    assert SECRET[:65] not in message and SECRET.lower()[:65] not in message
    assert "the-rest-of-a-secret" not in message.lower()
