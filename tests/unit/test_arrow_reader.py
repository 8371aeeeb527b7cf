"""arrow_reader.read_csv == csv_reader.read_csv: the same table, or the same error, for any file.

A differential test: every case csv_reader's own tests cover, plus Hypothesis-generated files
(quoting, doubled quotes, quoted line breaks, CRLF / CR line ends, blank lines, a BOM, textual
escapes, multi-value categoricals, nulls, booleans, bad numbers, epoch milliseconds, wrong column
counts, bad headers, stray quotes, invalid UTF-8), through both readers.  Where the pyarrow path
is meant to read a file itself (no fallback), the tests check it did.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from picks.dataset_schema import DatasetSchema, Field
from picks.ingest import csv_reader
from picks.ingest.columnar import ColumnTable
from picks.ingest.csv_reader import ImportValidationError

from tests.unit import test_csv_reader as reader_tests
from tests.unit.test_csv_reader import HEADER, INTERACTIONS, ITEMS, csv_bytes

pytest.importorskip("pyarrow")

from picks.ingest import arrow_reader  # noqa: E402 - only importable... after the skip

TAGS = DatasetSchema("Tags", (Field("ITEM_ID", "string"),))
SCHEMAS = {"INTERACTIONS": INTERACTIONS, "ITEMS": ITEMS, "TAGS": TAGS}
DATASET_TYPES = {"INTERACTIONS": "INTERACTIONS", "ITEMS": "ITEMS", "TAGS": "ITEMS"}


def assert_same_table(ours: ColumnTable, theirs: ColumnTable) -> None:
    assert (ours.schema_name, ours.dataset_type, ours.row_count) == (
        theirs.schema_name,
        theirs.dataset_type,
        theirs.row_count,
    )
    assert list(ours.columns) == list(theirs.columns)
    for name, column in ours.columns.items():
        other = theirs.columns[name]
        assert column.field == other.field, name
        assert column.data.dtype == other.data.dtype, name
        assert np.array_equal(column.data, other.data, equal_nan=column.data.dtype.kind == "f"), name
        # Same sign of zero too (float("-0") is -0.0).
        if column.data.dtype.kind == "f":
            assert np.array_equal(np.signbit(column.data), np.signbit(other.data)), name
        assert (column.null is None) == (other.null is None), name
        if column.null is not None:
            assert column.null.dtype == np.bool_ and np.array_equal(column.null, other.null), name
        if other.dictionary is not None:
            assert column.dictionary is not None and column.dictionary.dtype == object, name
            assert column.dictionary.tolist() == other.dictionary.tolist(), name
        else:
            assert column.dictionary is None, name
        assert column.data.flags.writeable, name


def outcome(
    read: Any, data: bytes, schema: DatasetSchema, dataset_type: str
) -> ColumnTable | tuple[Any, ...]:
    try:
        return read(data, schema, dataset_type, source="s3://b/k.csv")
    except ImportValidationError as error:
        return (str(error), error.line, error.column, error.reason, error.source)


def assert_same_outcome(data: bytes, schema: DatasetSchema, dataset_type: str) -> ColumnTable | None:
    expected = outcome(csv_reader.read_csv, data, schema, dataset_type)
    actual = outcome(arrow_reader.read_csv, data, schema, dataset_type)
    if isinstance(expected, ColumnTable):
        assert isinstance(actual, ColumnTable), actual
        assert_same_table(actual, expected)
        return actual
    assert actual == expected
    return None


def read_by_arrow(data: bytes, schema: DatasetSchema, dataset_type: str) -> ColumnTable:
    """The pyarrow path alone: Declined (a test failure) if it would fall back."""
    table = arrow_reader._read(data, schema, dataset_type)
    assert_same_table(table, csv_reader.read_csv(data, schema, dataset_type))
    return table


# --------------------------------------------------------------------------- valid files, read by pyarrow


VALID = {
    "interactions": csv_bytes(
        f"{HEADER},EVENT_TYPE,EVENT_VALUE,IMPRESSION",
        "u1,i1,1,click,1.5,a|b",
        "u2,i1,2,,,",
        "u1,i3,3,buy,-0,i3",
        "u3,i2,253402300799,click,1e-400,",
    ),
    "quoting-crlf-bom-blank-lines": (
        "\ufeffUSER_ID,ITEM_ID,TIMESTAMP,IMPRESSION\r\n"
        '"u,1","i ""quoted""",1,"a|b|c"\r\n'
        "\r\n"
        '"multi\r\nline",i2,2,\r\n'
        '"u3",i3,+3,""\r'
        "\r\n"
    ).encode(),
    "items": csv_bytes(
        "ITEM_ID,GENRES,PRICE,IN_STOCK,RATING,CREATION_TIMESTAMP,DESCRIPTION",
        "i1,Comedy|Drama,9.99,true,5,1596238243,caf\u00e9 \u2603",
        f"i2,,,false,,,{'x' * 25_000}",
        f"i3,Horror,.5,,-3,0,{'x' * 20_000}y",
        'i4,"a,b",1E5,true,2147483647,,"said ""hi"""',
    ),
    "one-column": csv_bytes("item_id", "a", '""', "", "b"),
    "any-header-order": csv_bytes("timestamp,item_id,User_Id", "1,i,u", "2,j,v"),
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_files_are_read_by_pyarrow_into_the_same_table(name: str) -> None:
    schema = {
        "items": ITEMS,
        "one-column": DatasetSchema("Tags", (Field("ITEM_ID", "string", nullable=True),)),
    }
    dataset_type = "ITEMS" if name in schema else "INTERACTIONS"
    read_by_arrow(VALID[name], schema.get(name, INTERACTIONS), dataset_type)


def test_dictionaries_stay_in_first_seen_order_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_reader, "BLOCK_SIZE", 4096)
    rows = [f"u{(i * 7919) % 997},i{(i * 31) % 101},{i},{'' if i % 5 else 'x'}" for i in range(5000)]
    table = read_by_arrow(csv_bytes(f"{HEADER},EVENT_TYPE", *rows), INTERACTIONS, "INTERACTIONS")
    assert len(table["USER_ID"].dictionary) == 997


def test_integers_parsed_as_numbers_keep_a_plus_sign_and_leading_zeros() -> None:
    # pyarrow's integer parser refuses "+5": the file is read again with the column as text.
    read_by_arrow(csv_bytes(HEADER, "u1,i1,0012", "u2,i2,+5", "u1,i2,-0"), INTERACTIONS, "INTERACTIONS")


def test_a_mapped_file_reads_like_its_bytes(tmp_path: Any) -> None:
    from picks import npz

    data = VALID["interactions"]
    path = tmp_path / "interactions.csv"
    path.write_bytes(data)
    mapped = npz.map_file(path)
    schema = INTERACTIONS
    assert_same_table(
        arrow_reader._read(mapped, schema, "INTERACTIONS"), csv_reader.read_csv(data, schema, "INTERACTIONS")
    )
    path.write_bytes(data + b"u9,i9,oops\n")
    bad = npz.map_file(path)
    assert outcome(arrow_reader.read_csv, bad, schema, "INTERACTIONS") == outcome(
        csv_reader.read_csv, data + b"u9,i9,oops\n", schema, "INTERACTIONS"
    )


# --------------------------------------------------------------------------- csv_reader's own cases


def _cases(test: Any) -> list[Any]:
    return [getattr(param, "values", param) for mark in test.pytestmark for param in mark.args[1]]


@pytest.mark.parametrize("case", _cases(reader_tests.test_rejects))
def test_rejections_match(case: tuple[Any, ...]) -> None:
    assert assert_same_outcome(case[0], INTERACTIONS, "INTERACTIONS") is None


@pytest.mark.parametrize("case", _cases(reader_tests.test_rejects_item_values))
def test_item_rejections_match(case: tuple[Any, ...]) -> None:
    header = "ITEM_ID,GENRES,PRICE,IN_STOCK,RATING,CREATION_TIMESTAMP,DESCRIPTION"
    assert assert_same_outcome(csv_bytes(header, "ok,,,,,,", case[0]), ITEMS, "ITEMS") is None


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes(HEADER, "u1,i1,1") + "u2,caf\u00e9,2\n".encode("latin-1"),
        b"USER_ID,ITEM_\xff,TIMESTAMP\nu,i,1\n",
        csv_bytes(HEADER, "u1,i1,1", "u1,i1,oops") + b"u\xff,i,3\n",
        csv_bytes(HEADER, "u,i,1", ",i,bad", "u,i,x", "u,i,1,2"),
        csv_bytes(HEADER, "u,i,bad", "u,i"),
        csv_bytes(HEADER, "u,i,bad", 'u,"i"x,1'),
        csv_bytes(HEADER, '"a\nb\nc",i,1', "", "u,i,2", "u,i,nope"),
        csv_bytes(HEADER, *["u,i,1"] * 10, "u,i,abc"),
        csv_bytes(HEADER, "u,i,1600000000000"),
        csv_bytes(HEADER, "u,i,0x10"),
        csv_bytes(HEADER, "u,i,1", "u,i,0X1f"),
        csv_bytes(HEADER, "u,i,1", "u,i, 2"),
        csv_bytes(HEADER, "u,i,1", "u,i,2\t"),
        csv_bytes(HEADER, "u,i,1", f"u,i,{'0' * 140_000}1"),
        csv_bytes(HEADER, "u,i,9223372036854775808"),
        csv_bytes(HEADER, 'u,"i,1'),
        csv_bytes(HEADER, 'u,i"x,1'),
        csv_bytes(HEADER, "u,i,1\x00"),
        csv_bytes(HEADER, f"u,{'i' * 140_000},1"),
        csv_bytes(f"{HEADER},EVENT_VALUE", "u,i,1,nan", "u,i,2,1e39"),
        csv_bytes('"USER_ID\n",ITEM_ID,TIMESTAMP', "u,i,1"),
        csv_bytes(f"{HEADER},{reader_tests.SECRET}", "u,i,1,x"),
    ],
)
def test_other_csv_reader_cases_match(data: bytes) -> None:
    assert_same_outcome(data, INTERACTIONS, "INTERACTIONS")


def test_textual_escapes_fall_back_to_the_same_table() -> None:
    data = csv_bytes(
        "ITEM_ID,DESCRIPTION", 'i1,"He said \\"hi\\" \\\\ bye"', "i2,a\\,b", "i3,\\\nx", 'i4,"\\\\"'
    )
    assert assert_same_outcome(data, ITEMS, "ITEMS") is not None


# --------------------------------------------------------------------------- generated files

_ATOMS = ["", "a", "b", "u1", "X y", "|", "a|b", ",", '"', '""', "\n", "\r\n", "\r", "\\", "caf\u00e9", " "]
_NUMBERS = [
    "0",
    "1",
    "-1",
    "+7",
    "007",
    "-0",
    "1.5",
    ".5",
    "5.",
    "-2.5e3",
    "1E-5",
    "1e39",
    "1e999",
    "nan",
    "inf",
    "0x10",
    " 1",
    "1 ",
    "1_0",
    "--1",
    "+",
    "-",
    "e5",
    "1e",
    "2147483648",
    "-2147483649",
    "253402300799",
    "253402300800",
    "1600000000000",
    "9223372036854775807",
    "9223372036854775808",
    "3.4028235e38",
    "3.5e38",
    "4.9e-324",
    "1e-400",
    "0.1000000000000000055511151231257827",
]
_BOOLEANS = ["true", "false", "True", "FALSE", "1", "yes"]


@st.composite
def values(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["atom", "number", "boolean", "text", "long"]))
    if kind == "atom":
        return draw(st.sampled_from(_ATOMS))
    if kind == "number":
        return draw(st.sampled_from(_NUMBERS))
    if kind == "boolean":
        return draw(st.sampled_from(_BOOLEANS))
    if kind == "long":
        return draw(st.sampled_from(["x", "|"])) * draw(st.sampled_from([255, 257, 999, 1001, 20_001]))
    return draw(st.text(alphabet=string.ascii_letters + string.digits + ' ,"|\\\n\r\u00e9', max_size=8))


def render(value: str, draw: st.DrawFn, noise: int) -> str:
    style = draw(st.sampled_from(["plain", "plain", "quoted", "stray"] if noise else ["plain", "quoted"]))
    if not noise and any(c in value for c in ',"\r\n'):
        style = "quoted"
    if style == "quoted":
        return '"' + value.replace('"', '""') + '"'
    if style == "stray":
        return draw(st.sampled_from(['"' + value + '"x', '"' + value, value + '"', '"' + value + '" ']))
    return value


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, str]:
    name = draw(st.sampled_from(list(SCHEMAS)))
    schema = SCHEMAS[name]
    required = [f.name for f in schema.fields if not f.nullable]
    optional = [f.name for f in schema.fields if f.nullable]
    header = required + draw(st.lists(st.sampled_from(optional), unique=True)) if optional else required
    header = draw(st.permutations(header))
    # Half the files hold only valid values (read by pyarrow), the others some noise, 1 in `noise`.
    noise = draw(st.sampled_from([0, 0, 3, 12, 40]))
    if noise and draw(st.integers(0, 15)) == 0:
        header = [*header, draw(st.sampled_from(["COLOR", header[0].lower(), ""]))]
    if noise and draw(st.integers(0, 15)) == 0 and len(header) > 1:
        header = header[1:]
    header = [draw(st.sampled_from([h, h.lower(), f'"{h}"'])) for h in header]
    good = _good_values(schema, header)
    rows: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        width = len(header) + (
            draw(st.sampled_from([-1, 1])) if noise and draw(st.integers(0, 20)) == 0 else 0
        )
        cells = [
            render(
                draw(values())
                if noise and draw(st.integers(1, noise)) == 1
                else draw(st.sampled_from(good[i % len(good)])),
                draw,
                noise,
            )
            for i in range(max(width, 0))
        ]
        rows.append(",".join(cells))
        if draw(st.integers(0, 8)) == 0:
            rows.append("")
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join([",".join(header), *rows]) + draw(st.sampled_from([newline, ""]))
    data = (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8")
    if noise and draw(st.integers(0, 20)) == 0:
        data += b"u\xff,i,1\n"
    return data, name


def _good_values(schema: DatasetSchema, header: list[str]) -> list[list[str]]:
    by_type = {
        "string": ["u1", "u2", "i1", "a|b", "", "x y", "\u00e9", "a,b", 'say "hi"', "two\r\nlines", "\r"],
        "long": ["1", "1600000000", "", "-5", "+5"],
        "int": ["1", "-3", "", "2147483647"],
        "float": ["1.5", "", "-0", "3e2"],
        "double": ["1.5", ".25", "", "1e300"],
        "boolean": ["true", "false", ""],
    }
    result = []
    for name in header:
        f = schema.field(name.strip('"'))
        result.append(["z"] if f is None else [v for v in by_type[f.type] if v or f.nullable])
    return result


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_generated_files_give_the_same_table_or_error(file: tuple[bytes, str]) -> None:
    data, name = file
    assert_same_outcome(data, SCHEMAS[name], DATASET_TYPES[name])


def test_seeded_larger_files_match() -> None:
    rng = np.random.default_rng(14)
    for _ in range(5):
        rows = []
        for i in range(3000):
            user = f"u{rng.integers(500)}"
            item = '"i,' + str(rng.integers(300)) + '"' if rng.random() < 0.1 else f"i{rng.integers(300)}"
            value = "" if rng.random() < 0.2 else f"{rng.normal():.6g}"
            rows.append(f"{user},{item},{1_600_000_000 + i},{rng.choice(['click', 'buy', ''])},{value}")
        bad = rng.integers(len(rows))
        if rng.random() < 0.6:
            rows[bad] = rng.choice(
                ["u,i,1e3,,", "u,i,1,,x", "u,i", "u,,1,,", 'u,"i"x,1,,', "u,i,1600000000000,,"]
            )
        data = csv_bytes(f"{HEADER},EVENT_TYPE,EVENT_VALUE", *rows)
        assert_same_outcome(data, INTERACTIONS, "INTERACTIONS")
