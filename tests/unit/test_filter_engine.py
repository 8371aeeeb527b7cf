"""The filter engine (picks.filters.engine + catalog) against the row-by-row reference evaluator.

Property tests draw small catalogs (bulk table + PutItems records, categorical multi-values,
numerics and strings with nulls), user histories, users, current items, filter values and
expressions from a grammar, and require the engine's mask to equal the reference's — or both to
raise ``InvalidInputException``.  Example tests pin the documented semantics one by one.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from picks.dataset_schema import DatasetSchema, Field
from picks.errors import InvalidInputException
from picks.filters import ItemCatalog, UserProfile, evaluate, parse, parse_filter_values
from picks.ingest.columnar import Column, ColumnTable, DictionaryEncoder

from tests.filter_reference import reference_mask

ITEM_FIELDS = (
    Field("ITEM_ID", "string"),
    Field("GENRE", "string", nullable=True, categorical=True),
    Field("COLOR", "string", nullable=True),
    Field("PRICE", "double", nullable=True),
    Field("YEAR", "long", nullable=True),
    Field("FLAG", "boolean", nullable=True),
)
ITEMS_SCHEMA = DatasetSchema("Items", ITEM_FIELDS)
KINDS = {
    "ITEM_ID": "string",
    "GENRE": "categorical",
    "COLOR": "string",
    "PRICE": "numeric",
    "YEAR": "numeric",
    "FLAG": "boolean",
}
GENRES = ("drama", "comedy", "horror", "Drama")
COLORS = ("red", "blue", "red|blue", "Red")
EVENT_TYPES = ("click", "Click", "purchase", "view", "VIEW", "rate")
TIERS = ("gold", "silver", "gold|silver")
PARAMS = ("P1", "P2", "P3", "P4")
NUMBER_PARAMS = st.sampled_from(("P1", "P1", "P2", "P2", "P2", "P3"))  # mostly given one number
LIST_PARAMS = st.sampled_from(("P3", "P3", "P4", "P4", "P4", "P1"))  # mostly given a value list


# --------------------------------------------------------------------------- building catalogs


def build_table(rows: list[dict[str, Any]], fields: tuple[Field, ...] = ITEM_FIELDS) -> ColumnTable:
    """A columnar Items table as the importer stores it (strings dictionary-encoded)."""
    columns = {}
    for f in fields:
        values = [row.get(f.name) for row in rows]
        if f.type == "string":
            encoder = DictionaryEncoder()
            present = [v for v in values if v is not None]
            encoder.add(encoder.new_values(dict.fromkeys(present)))
            codes = np.array(
                [-1 if v is None else int(encoder.lookup([v])[0]) for v in values], dtype=np.int32
            )
            columns[f.name] = Column(f, codes, None, encoder.dictionary())
        else:
            dtype = {"double": np.float64, "long": np.int64, "boolean": np.bool_}[f.type]
            null = np.array([v is None for v in values], dtype=bool)
            data = np.array([0 if v is None else v for v in values], dtype=dtype)
            if f.type == "double":
                data[null] = np.nan
            columns[f.name] = Column(f, data, null if f.nullable else None, None)
    return ColumnTable("Items", "ITEMS", columns, len(rows))


def item_values(draw: Any) -> dict[str, Any]:
    nullable = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
    return {
        "GENRE": draw(nullable(st.lists(st.sampled_from(GENRES), min_size=1, max_size=3).map("|".join))),
        "COLOR": draw(nullable(st.sampled_from(COLORS))),
        "PRICE": draw(nullable(st.sampled_from((0.0, 1.5, 2.0, 9.99, 10.0, -3.0)))),
        "YEAR": draw(nullable(st.integers(1990, 1994))),
        "FLAG": draw(nullable(st.booleans())),
    }


@st.composite
def catalogs(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(3, 14)) if draw(st.integers(0, 9)) else draw(st.integers(0, 2))
    ids = [f"i{k}" for k in range(n)]
    pool = ids + ["ghost"]  # an id in the data but not in the model's index
    bulk_ids = draw(st.lists(st.sampled_from(pool), max_size=n + 2)) if pool else []
    bulk = [{"ITEM_ID": item_id, **item_values(draw)} for item_id in bulk_ids]
    record_ids = draw(st.lists(st.sampled_from(pool), max_size=3, unique=True))
    records = {}
    for item_id in record_ids:
        values = item_values(draw)
        kept = draw(st.sets(st.sampled_from(sorted(values))))
        records[item_id] = {name: values[name] for name in kept}  # absent fields are null
    use_table = draw(st.booleans()) or not records
    merged = []
    for item_id in ids:
        row = {"ITEM_ID": item_id, **{name: None for name in KINDS if name != "ITEM_ID"}}
        if use_table:
            for bulk_row in bulk:  # the last row of an id wins
                if bulk_row["ITEM_ID"] == item_id:
                    row = dict(bulk_row)
        if item_id in records:
            row = {
                "ITEM_ID": item_id,
                **{name: None for name in KINDS if name != "ITEM_ID"},
                **records[item_id],
            }
        merged.append(row)
    table = build_table(bulk) if use_table else None
    catalog = ItemCatalog.build(np.array(ids, dtype=object), table, records or None, schema=ITEMS_SCHEMA)
    return {"ids": ids, "catalog": catalog, "items": merged, "records": records}


# --------------------------------------------------------------------------- expression grammar

quoted = lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731


@st.composite
def value_list(draw: Any, pool: tuple[str, ...], allow_params: bool, allow_star: bool = False) -> str:
    options = [st.sampled_from(pool).map(quoted)]
    if allow_params:
        options.append(LIST_PARAMS.map(lambda p: "$" + p))
    if allow_star:
        options.append(st.just("*"))
    values = draw(st.lists(st.one_of(options), min_size=1, max_size=3))
    return "(" + ", ".join(values) + ")"


@st.composite
def item_condition(draw: Any) -> str:
    choice = draw(st.integers(0, 29))
    negated = draw(st.booleans())
    keyword = "NOT IN" if negated else "IN"
    if choice >= 9:  # (choice 8 is rare: the odd cases)
        choice = choice % 8
    if choice <= 2:  # strings / categorical
        field = draw(st.sampled_from(("GENRE", "COLOR", "ITEM_ID")))
        pool = {"GENRE": GENRES, "COLOR": COLORS + ("blue",), "ITEM_ID": ("i0", "i1", "i3")}[field]
        return f"Items.{field} {keyword} {draw(value_list(pool, allow_params=not negated))}"
    if choice == 3:  # IN on a numeric field
        field = draw(st.sampled_from(("PRICE", "YEAR")))
        return f"Items.{field} {keyword} {draw(value_list(('1990', '1992', '2', '9.99', 'x'), not negated))}"
    if choice <= 6:  # comparisons
        field = draw(st.sampled_from(("PRICE", "YEAR")))
        op = draw(st.sampled_from(("=", "!=", "<", "<=", ">", ">=")))
        operand = draw(
            st.one_of(
                st.sampled_from(("0", "2", "9.99", "1991", "-1", "1e1")),
                NUMBER_PARAMS.map(lambda p: "$" + p),
                NUMBER_PARAMS.map(lambda p: f"(${p})"),
                st.sampled_from(("CurrentItem.PRICE", "CurrentItem.YEAR")),
            )
        )
        return f"Items.{field} {op} {operand}"
    if choice == 7:  # IN CurrentItem
        field = draw(st.sampled_from(("GENRE", "COLOR", "YEAR", "PRICE")))
        wrapped = draw(st.booleans())
        return f"Items.{field} IN " + (f"(CurrentItem.{field})" if wrapped else f"CurrentItem.{field}")
    if choice == 8:  # rare: fields the engine must refuse or treat as null
        return draw(
            st.sampled_from(
                (
                    'Items.FLAG IN ("true")',
                    "Items.COLOR < 3",
                    'Items.MISSING IN ("x")',
                    'Items.MISSING NOT IN ("x")',
                    "Items.MISSING > 1",
                    "Items.PRICE < CurrentItem.GENRE",
                    "Items.GENRE IN CurrentItem.FLAG",
                )
            )
        )
    return f"items.genre {keyword.lower()} {draw(value_list(GENRES, allow_params=not negated))}"


@st.composite
def interaction_condition(draw: Any) -> str:
    negated = draw(st.booleans())
    keyword = "NOT IN" if negated else "IN"
    dataset = draw(st.sampled_from(("Interactions", "INTERACTIONS", "interactions")))
    values = draw(value_list(EVENT_TYPES + ("none",), allow_params=not negated, allow_star=True))
    return f"{dataset}.EVENT_TYPE {keyword} {values}"


@st.composite
def user_condition(draw: Any) -> str:
    choice = draw(st.integers(0, 12)) % 5
    negated = draw(st.booleans())
    keyword = "NOT IN" if negated else "IN"
    if choice == 0:
        op = draw(st.sampled_from(("=", "!=", "<", "<=", ">", ">=")))
        operand = draw(st.sampled_from(("18", "30", "$P1", "($P2)", "$P4")))
        return f"CurrentUser.AGE {op} {operand}"
    if choice == 1:
        return (
            f"CurrentUser.TIER {keyword} {draw(value_list(('gold', 'silver', 'gold|silver'), not negated))}"
        )
    if choice == 2:
        return f"CurrentUser.AGE {keyword} {draw(value_list(('18', '30', 'x'), not negated))}"
    if choice == 3:
        return f"CurrentUser.TAGS {keyword} {draw(value_list(('a', 'b'), not negated))}"
    return draw(
        st.sampled_from(
            ('CurrentUser.VIP IN ("true")', "CurrentUser.TIER > 1", 'CurrentUser.MISSING IN ("x")')
        )
    )


@st.composite
def clause(draw: Any) -> str:
    action = draw(st.sampled_from(("INCLUDE", "EXCLUDE", "include", "Exclude")))
    condition = item_condition() if draw(st.integers(0, 2)) else interaction_condition()
    parts = draw(st.lists(condition, min_size=1, max_size=3))
    where = parts[0]
    for part in parts[1:]:
        where += f" {draw(st.sampled_from(('AND', 'OR', 'and', 'or')))} {part}"
    text = f"{action} ItemID WHERE {where}"
    if draw(st.integers(0, 3)) == 0:
        user_parts = draw(st.lists(user_condition(), min_size=1, max_size=2))
        text += " IF " + " AND ".join(user_parts)
    return text


expressions = st.lists(clause(), min_size=1, max_size=3).map(" | ".join)


@st.composite
def filter_values(draw: Any) -> dict[str, str]:
    out = {}
    for name in PARAMS:
        kind = _value_kind(draw, name)
        if kind != "absent":
            out[name] = _value_of_kind(draw, kind)
    return out


def _value_kind(draw: Any, name: str) -> str:
    roll = draw(st.integers(0, 19))
    if roll == 0:
        return "absent"
    if roll == 1:
        return "blank"  # counts as not given
    if roll == 2:
        return "malformed"
    if name in ("P1", "P2"):
        return "number" if roll < 17 else "list"  # a number, sometimes a list
    return "list" if roll < 15 else "written" if roll < 18 else "number"  # a list, sometimes a number


def _value_of_kind(draw: Any, kind: str) -> str:
    if kind == "blank":
        return draw(st.sampled_from(("", "  ")))
    if kind == "number":
        return draw(st.sampled_from(("18", "2", " 1991 ", "9.99", '"30"', "-1")))
    if kind == "list":
        values = draw(
            st.lists(
                st.sampled_from(GENRES + COLORS + EVENT_TYPES + ("gold", "a", "1992", "2")),
                min_size=1,
                max_size=3,
            )
        )
        return ",".join(quoted(v) for v in values)
    if kind == "written":  # lists as people write them: spaces, escapes, unquoted numbers
        return draw(st.sampled_from(('"drama", "click"', '"gold" ,"silver"', '"x\\"y"', "1990,1992")))
    return draw(st.sampled_from(('"unterminated', '"a",', 'a"b', '"a" "b"')))  # malformed


@st.composite
def users(draw: Any) -> tuple[Any, frozenset[str]]:
    if draw(st.integers(0, 4)) == 0:
        return None, frozenset()
    values = {
        "AGE": draw(st.one_of(st.none(), st.sampled_from((10, 18, 30, 45.5)))),
        "TIER": draw(st.one_of(st.none(), st.sampled_from(TIERS))),
        "TAGS": draw(st.one_of(st.none(), st.sampled_from(("a", "b", "a|b", "c")))),
        "VIP": draw(st.one_of(st.none(), st.booleans())),
    }
    if draw(st.booleans()):
        profile = UserProfile(values)
        profile.plain = frozenset({"TIER"})
        return profile, profile.plain
    return {name.lower(): value for name, value in values.items()}, frozenset()


def outcome(function: Any) -> Any:
    try:
        return function()
    except InvalidInputException as error:
        return InvalidInputException, error.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=catalogs(), text=expressions, values=filter_values(), user=users(), st_data=st.data())
def test_engine_matches_reference(
    data: dict[str, Any], text: str, values: dict[str, str], user: Any, st_data: Any
) -> None:
    expression = parse(text)  # the grammar only produces valid expressions
    ids, catalog, items = data["ids"], data["catalog"], data["items"]
    n = len(ids)
    history = (
        st_data.draw(
            st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.sampled_from(EVENT_TYPES)), max_size=8)
        )
        if n
        else []
    )
    current_choice = st_data.draw(st.integers(0, n + 1)) if st_data.draw(st.integers(0, 7)) else 0
    if current_choice == 0:
        current_engine = current_reference = None
    elif current_choice <= n:
        current_engine = catalog.current_item(ids[current_choice - 1])
        current_reference = items[current_choice - 1]
    else:
        current_engine = catalog.current_item("unknown-item")
        current_reference = {"ITEM_ID": "unknown-item"}
    by_type: dict[str, list[int]] = {}
    for row, event_type in history:
        by_type.setdefault(event_type, []).append(row)  # "Click" and "click" arrive as separate keys
    interactions = {key: np.array(rows, dtype=np.int64) for key, rows in by_type.items()}
    profile, plain = user

    expected = outcome(
        lambda: reference_mask(
            expression,
            items,
            KINDS,
            filter_values=values,
            user=profile,
            user_plain=plain,
            current_item=current_reference,
            history=history,
        )
    )
    actual = outcome(
        lambda: evaluate(
            expression,
            catalog,
            filter_values=values,
            user=profile,
            current_item=current_engine,
            interactions=interactions,
        ).tolist()
    )
    if isinstance(expected, tuple):
        event("both raise")
    else:
        event("empty" if not any(expected) else "all" if all(expected) else "some rows")
    if isinstance(expected, tuple) or isinstance(actual, tuple):
        assert isinstance(expected, tuple) and isinstance(actual, tuple), (text, values, expected, actual)
        assert expected[0] is actual[0]
        assert actual[1].startswith(("filterValues", "filterArn"))
    else:
        assert actual == expected, (text, values, items, history)


@settings(max_examples=100, deadline=None)
@given(data=catalogs())
def test_catalog_aligns_table_and_records(data: dict[str, Any]) -> None:
    catalog = data["catalog"]
    for item_id, row in zip(data["ids"], data["items"], strict=True):
        expected = {
            name: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
            for name, v in row.items()
        }
        assert catalog.current_item(item_id) == expected


# --------------------------------------------------------------------------- documented semantics

DOCS_ITEMS = [
    {
        "ITEM_ID": "shoe1",
        "CATEGORY": "shoe",
        "DESCRIPTION": "boot",
        "GENRE": "drama|comedy",
        "PRICE": 10.0,
        "CREATION_TIMESTAMP": 1_700_000_000,
    },
    {
        "ITEM_ID": "shoe2",
        "CATEGORY": "shoe",
        "DESCRIPTION": "sandal",
        "GENRE": "horror",
        "PRICE": 30.0,
        "CREATION_TIMESTAMP": 1_600_000_000,
    },
    {
        "ITEM_ID": "watch1",
        "CATEGORY": "watch",
        "DESCRIPTION": "luxury",
        "GENRE": None,
        "PRICE": None,
        "CREATION_TIMESTAMP": None,
    },
    {
        "ITEM_ID": "shoe3",
        "CATEGORY": "shoe",
        "DESCRIPTION": None,
        "GENRE": "comedy",
        "PRICE": 5.0,
        "CREATION_TIMESTAMP": 1_800_000_000,
    },
]
DOCS_FIELDS = (
    Field("ITEM_ID", "string"),
    Field("CATEGORY", "string", categorical=True),
    Field("DESCRIPTION", "string", nullable=True),
    Field("GENRE", "string", nullable=True, categorical=True),
    Field("PRICE", "double", nullable=True),
    Field("CREATION_TIMESTAMP", "long", nullable=True),
)


@pytest.fixture(scope="module")
def docs_catalog() -> ItemCatalog:
    ids = np.array([row["ITEM_ID"] for row in DOCS_ITEMS], dtype=object)
    return ItemCatalog.build(ids, build_table(DOCS_ITEMS, DOCS_FIELDS))


def allowed(catalog: ItemCatalog, text: str, **kwargs: Any) -> list[str]:
    mask = evaluate(text, catalog, **kwargs)
    return [item_id for item_id, keep in zip(catalog.ids.tolist(), mask.tolist(), strict=True) if keep]


def test_exclude_shoes_that_are_not_boots(docs_catalog: ItemCatalog) -> None:
    # The guide: "excludes items in the shoe category that do not have a description of boot";
    # shoe3 has no description at all, so it does not have "boot" either: NOT IN holds for null.
    text = 'EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")'
    assert allowed(docs_catalog, text) == ["shoe1", "watch1"]


def test_comparison_with_parameter_and_nulls(docs_catalog: ItemCatalog) -> None:
    text = "INCLUDE ItemID WHERE Items.PRICE <= $PRICE"
    assert allowed(docs_catalog, text, filter_values={"PRICE": "10"}) == ["shoe1", "shoe3"]
    assert allowed(docs_catalog, text, filter_values={"PRICE": '"10"'}) == ["shoe1", "shoe3"]
    assert allowed(docs_catalog, "INCLUDE ItemID WHERE Items.PRICE != 10") == [
        "shoe2",
        "shoe3",
    ]  # null: false
    epoch = "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE"
    assert allowed(docs_catalog, epoch, filter_values={"DATE": "1700000000"}) == ["shoe2"]


def test_categorical_any_value_matches(docs_catalog: ItemCatalog) -> None:
    text = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"
    assert allowed(docs_catalog, text, filter_values={"GENRE": '"comedy"'}) == ["shoe1", "shoe3"]
    assert allowed(docs_catalog, text, filter_values={"GENRE": '"horror","drama"'}) == ["shoe1", "shoe2"]
    assert allowed(docs_catalog, text, filter_values={"GENRE": '"Comedy"'}) == []  # case matters


def test_include_needs_its_parameters_and_exclude_is_skipped_without_them(docs_catalog: ItemCatalog) -> None:
    with pytest.raises(InvalidInputException, match=r"^filterValues: .*\$GENRE"):
        evaluate("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)", docs_catalog)
    exclude = "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)"
    assert allowed(docs_catalog, exclude) == ["shoe1", "shoe2", "watch1", "shoe3"]
    assert allowed(docs_catalog, exclude, filter_values={"CATEGORY": "  "}) == [
        "shoe1",
        "shoe2",
        "watch1",
        "shoe3",
    ]
    assert allowed(docs_catalog, exclude, filter_values={"CATEGORY": '"shoe"'}) == ["watch1"]


def test_chained_expressions_include_minus_exclude(docs_catalog: ItemCatalog) -> None:
    text = (
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")'
    )
    history = {"Click": np.array([0]), "purchase": np.array([2])}
    assert allowed(docs_catalog, text, filter_values={"GENRE": '"comedy"'}, interactions=history) == ["shoe3"]
    both = (
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") | '
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert allowed(docs_catalog, both, interactions={"FAVORITE": np.array([1])}) == ["shoe2", "watch1"]


def test_interaction_conditions(docs_catalog: ItemCatalog) -> None:
    history = {"click": np.array([0, 1]), "purchase": np.array([1])}
    assert allowed(
        docs_catalog, "INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)", interactions=history
    ) == ["shoe1", "shoe2"]
    not_bought = 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("purchase")'
    assert allowed(docs_catalog, not_bought, interactions=history) == ["shoe1"]
    both = (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") AND '
        'Interactions.EVENT_TYPE IN ("PURCHASE")'
    )
    assert allowed(docs_catalog, both, interactions=history) == ["shoe2"]
    assert allowed(docs_catalog, "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)") == [
        "shoe1",
        "shoe2",
        "watch1",
        "shoe3",
    ]


def test_if_current_user(docs_catalog: ItemCatalog) -> None:
    exclude = "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE"
    values = {"GENRE": '"comedy"', "AGE": "30"}
    assert allowed(docs_catalog, exclude, filter_values=values, user={"AGE": 30}) == ["shoe2", "watch1"]
    assert allowed(docs_catalog, exclude, filter_values=values, user={"AGE": 31}) == [
        "shoe1",
        "shoe2",
        "watch1",
        "shoe3",
    ]
    # An INCLUDE whose IF fails is left out: the user is not restricted to watches.
    include = (
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") '
        "IF CurrentUser.AGE > 18"
    )
    assert allowed(docs_catalog, include, user={"age": 40}) == ["watch1"]
    assert allowed(docs_catalog, include, user={"age": 12}) == ["shoe1", "shoe2", "watch1", "shoe3"]
    assert allowed(docs_catalog, include, user=None) == ["shoe1", "shoe2", "watch1", "shoe3"]
    # numpy scalars are numbers
    assert allowed(docs_catalog, include, user={"AGE": np.int64(40)}) == ["watch1"]
    with pytest.raises(InvalidInputException, match=r"CurrentUser\.AGE is a boolean field"):
        evaluate(include, docs_catalog, user={"AGE": np.bool_(True)})


def test_current_item(docs_catalog: ItemCatalog) -> None:
    text = "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE"
    assert allowed(docs_catalog, text, current_item=docs_catalog.current_item("shoe2")) == []
    assert allowed(docs_catalog, text, current_item={"PRICE": 20, "GENRE": "comedy|horror"}) == [
        "shoe1",
        "shoe3",
    ]
    with pytest.raises(InvalidInputException, match=r"CurrentItem\.PRICE"):
        evaluate(text, docs_catalog)


def test_boolean_fields_and_string_comparisons_are_refused() -> None:
    catalog = ItemCatalog.build(np.array(["a"], dtype=object), None, {"a": {"ON_SALE": True, "NAME": "x"}})
    with pytest.raises(InvalidInputException, match=r"Items\.ON_SALE is a boolean field"):
        evaluate('INCLUDE ItemID WHERE Items.ON_SALE IN ("true")', catalog)
    with pytest.raises(InvalidInputException, match=r"Items\.NAME is a string field"):
        evaluate("INCLUDE ItemID WHERE Items.NAME > 3", catalog)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"comedy"', ("comedy",)),
        ('"comedy","drama", "horror"', ("comedy", "drama", "horror")),
        ('"a, b",  "c\\"d"', ("a, b", 'c"d')),
        ("1700000000", ("1700000000",)),
        (" 1, 2 ", ("1", "2")),
    ],
)
def test_filter_values_format(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_filter_values("P", raw) == expected


@pytest.mark.parametrize("raw", ['"open', '"a",', '"a" "b"', 'a"b', ",a"])
def test_malformed_filter_values(raw: str) -> None:
    with pytest.raises(InvalidInputException, match=r"^filterValues\.P: "):
        parse_filter_values("P", raw)


def test_timing_100k_items() -> None:
    """Information only (no assertion on time): one metadata + one interaction condition."""
    rng = np.random.default_rng(7)
    n = 100_000
    genres = np.array([f"g{k}" for k in range(40)], dtype=object)
    raw = ["|".join(rng.choice(genres, size=rng.integers(1, 4), replace=False)) for _ in range(n)]
    encoder = DictionaryEncoder()
    codes = encoder.encode(raw)
    price = rng.uniform(0, 100, n)
    price[rng.random(n) < 0.05] = np.nan
    fields = (
        Field("ITEM_ID", "string"),
        Field("GENRE", "string", categorical=True),
        Field("PRICE", "double", nullable=True),
    )
    ids = np.array([f"item{k}" for k in range(n)], dtype=object)
    id_encoder = DictionaryEncoder()
    table = ColumnTable(
        "Items",
        "ITEMS",
        {
            "ITEM_ID": Column(fields[0], id_encoder.encode(ids.tolist()), None, id_encoder.dictionary()),
            "GENRE": Column(fields[1], codes, None, encoder.dictionary()),
            "PRICE": Column(fields[2], price, np.isnan(price), None),
        },
        n,
    )
    started = time.perf_counter()
    catalog = ItemCatalog.build(ids, table, None)
    build_ms = (time.perf_counter() - started) * 1000
    interactions = {t: rng.integers(0, n, 1000) for t in ("click", "purchase", "view")}
    text = (
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "purchase")'
    )
    both = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE < $PRICE"

    def run(expression: str, genre: str) -> float:
        values = {"GENRE": f'"{genre}","g1"', "PRICE": "50"}
        started = time.perf_counter()
        mask = evaluate(expression, catalog, filter_values=values, interactions=interactions)
        elapsed = (time.perf_counter() - started) * 1000
        assert mask.shape == (n,)
        return elapsed

    cold = [run(text, f"g{k}") for k in range(2, 40)]  # new value sets: masks built
    warm = [run(text, "g2") for _ in range(200)]  # cached masks
    metadata_only = [run(both, "g3") for _ in range(200)]
    print(
        f"\n100k items: catalog build {build_ms:.1f} ms; metadata IN + interaction EXCLUDE: "
        f"cold median {statistics.median(cold):.3f} ms, warm median {statistics.median(warm):.3f} ms; "
        f"GENRE IN AND PRICE <: warm median {statistics.median(metadata_only):.3f} ms"
    )


def test_user_and_action_catalogs() -> None:
    """The engine is generic over the entity: UserID (user segments) and ActionID filters."""
    users = ItemCatalog.build(
        np.array(["u1", "u2", "u3"], dtype=object),
        None,
        {"u1": {"AGE": 15, "MEMBERSHIP_STATUS": "gold"}, "u2": {"AGE": 40}},
        id_field="USER_ID",
    )
    text = "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($M) | EXCLUDE UserID WHERE Users.AGE < $AGE"
    mask = evaluate(text, users, filter_values={"M": '"gold"', "AGE": "18"})
    assert mask.tolist() == [False, False, False]
    assert evaluate("EXCLUDE UserID WHERE Users.AGE < 18", users).tolist() == [False, True, True]
    clicked = 'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click, rating")'  # the guide's literal
    assert evaluate(clicked, users, interactions={"click, rating": np.array([2])}).tolist() == [
        False,
        False,
        True,
    ]
    assert users.current_item("u1") == {"USER_ID": "u1", "AGE": 15.0, "MEMBERSHIP_STATUS": "gold"}

    actions = ItemCatalog.build(
        np.array(["a1", "a2"], dtype=object), None, {"a1": {"VALUE": 5}}, id_field="ACTION_ID"
    )
    assert evaluate(
        "INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)", actions, filter_values={"VALUE": "1"}
    ).tolist() == [
        True,
        False,
    ]
    not_taken = 'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")'
    assert evaluate(not_taken, actions, interactions={"not_taken": np.array([0])}).tolist() == [False, True]
