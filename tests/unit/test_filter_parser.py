"""picks.filters.parser: every documented example parses; every rule fails with its position."""

from __future__ import annotations

import re

import pytest
from picks.errors import InvalidInputException
from picks.filters.parser import (
    AnyValue,
    BoolOp,
    Comparison,
    CurrentRef,
    Membership,
    NumberValue,
    Param,
    StringValue,
    parse,
    parse_cached,
)

# personalize_api.md §4.1, plus the 2023 guide's filter-expressions.md examples.
DOCUMENTED = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    "INCLUDE ItemID WHERE Items.PRICE <= $PRICE",
    "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE",
    'EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")',
    "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
    "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
    "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)",
    "EXCLUDE UserID WHERE Users.AGE < $AGE",
    'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")',
    "INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)",
    "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN "
    '("click", "stream")',
    "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
    'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")',
    "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.CREATION_TIMESTAMP > $DATE",
    'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") IF '
    "CurrentUser.AGE > 18",
    'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click, rating")',
    "EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
    "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN "
    '("favorite")',
    'EXCLUDE ItemID WHERE Items.CATEGORY IN ("$CATEGORY")',  # the CLI page's example: a quoted literal
    'INCLUDE ActionID WHERE Action.MEMBERSHIP_LEVEL IN ("Gold")',  # the guide's "Action." spelling
    "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $DATE",  # the promotions page
]


@pytest.mark.parametrize("text", DOCUMENTED)
def test_documented_examples_parse(text: str) -> None:
    parsed = parse(text)
    assert parsed.clauses and parsed.text == text


def test_attributes() -> None:
    parsed = parse(
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE < CurrentItem.price "
        'IF CurrentUser.AGE > $AGE | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Click", *, $TYPES)'
    )
    assert parsed.target == "ItemID"
    assert parsed.parameters == {"GENRE", "AGE", "TYPES"}
    assert parsed.fields == {
        ("ITEMS", "GENRE"),
        ("ITEMS", "PRICE"),
        ("USERS", "AGE"),
        ("INTERACTIONS", "EVENT_TYPE"),
    }
    assert parsed.uses_current_item and parsed.uses_current_user
    assert parsed.interaction_event_types == {"click", "*"}
    first, second = parsed.clauses
    assert (first.action, first.dataset, first.include) == ("INCLUDE", "ITEMS", True)
    assert first.parameters == {"GENRE", "AGE"} and second.parameters == {"TYPES"}
    assert first.text == (
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE < CurrentItem.price "
        "IF CurrentUser.AGE > $AGE"
    )
    assert isinstance(second.where, Membership)
    assert [type(v) for v in second.where.values] == [StringValue, AnyValue, Param]


def test_and_binds_tighter_than_or() -> None:
    where = (
        parse(
            'INCLUDE ItemID WHERE Items.A IN ("1") OR Items.B IN ("2") AND Items.C IN ("3") OR '
            'Items.D IN ("4")'
        )
        .clauses[0]
        .where
    )
    assert isinstance(where, BoolOp) and where.op == "OR"
    first, middle, last = where.parts
    assert isinstance(middle, BoolOp) and middle.op == "AND"
    assert [c.subject.name for c in middle.parts] == ["B", "C"]
    assert first.subject.name == "A" and last.subject.name == "D"


def test_case_insensitive_keywords_and_names() -> None:
    parsed = parse(
        'include itemid where ITEMS.genre in ("Drama") and items.Price >= 2 '
        'if currentuser.age != 3 | exclude ItemId WHERE interactions.event_type not in ("x")'
    )
    assert [c.action for c in parsed.clauses] == ["INCLUDE", "EXCLUDE"]
    assert parsed.fields == {
        ("ITEMS", "GENRE"),
        ("ITEMS", "PRICE"),
        ("USERS", "AGE"),
        ("INTERACTIONS", "EVENT_TYPE"),
    }
    assert parse("INCLUDE UserId WHERE Users.AGE < 3").target == "UserID"


def test_values_and_operands() -> None:
    parsed = parse(
        r'INCLUDE ItemID WHERE Items.NAME IN ("say \"hi\"", "back\\slash", "") AND '
        "Items.PRICE >= -1.5e2 AND Items.YEAR = ($YEAR) AND Items.GENRE IN (CurrentItem.GENRE)"
    )
    name, price, year, genre = parsed.clauses[0].where.parts
    assert [v.value for v in name.values] == ['say "hi"', "back\\slash", ""]
    assert isinstance(price, Comparison) and isinstance(price.operand, NumberValue)
    assert price.operand.value == -150.0
    assert isinstance(year.operand, Param) and year.operand.name == "YEAR"
    assert isinstance(genre.current, CurrentRef) and genre.current.name == "GENRE" and not genre.values


def test_positions_are_one_based_columns() -> None:
    clause = parse('INCLUDE ItemID WHERE Items.GENRE IN ("a") | EXCLUDE ItemID WHERE Items.X > 1').clauses[1]
    assert clause.position == 45
    assert clause.where.subject.position == 66
    assert clause.where.operand.position == 76


def test_parse_cached_returns_the_same_object() -> None:
    text = "INCLUDE ItemID WHERE Items.PRICE <= $PRICE"
    assert parse_cached(text) is parse_cached(text)


# Each rule: (expression, position, a regex the rest of the message must match).
ERRORS = [
    # structure
    ("", 1, "expected INCLUDE or EXCLUDE, found the end of the expression"),
    ("ITEMS WHERE", 1, "expected INCLUDE or EXCLUDE, found 'ITEMS'"),
    ('INCLUDE Items WHERE Items.A IN ("x")', 9, "expected ItemID, UserID or ActionID after INCLUDE"),
    ('INCLUDE ItemID Items.A IN ("x")', 16, "expected WHERE after ItemID, found 'Items'"),
    (
        "INCLUDE ItemID WHERE Items.PRICE BETWEEN 1 AND 2",
        34,
        "expected IN, NOT IN or a comparison after Items.PRICE, found 'BETWEEN'",
    ),
    ('INCLUDE ItemID WHERE Items.A NOT ("x")', 34, r"expected IN after NOT"),
    (
        'INCLUDE ItemID WHERE Items.A IN "x"',
        33,
        r"expected '\(' and a list of values or CurrentItem.FIELD after IN",
    ),
    ('INCLUDE ItemID WHERE Items.A IN ("x" "y")', 38, r"expected ',' or '\)' in the value list"),
    ("INCLUDE ItemID WHERE Items.A IN ()", 34, r"expected a value"),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") Items.B IN ("y")',
        39,
        r"expected AND, OR, IF, '\|' or the end of the expression after a condition, found 'Items'",
    ),
    ('INCLUDE ItemID WHERE Items.A IN ("x") |', 40, "expected INCLUDE or EXCLUDE, found the end"),
    ('INCLUDE ItemID WHERE A IN ("x")', 22, r"expected a condition \(dataset.FIELD\); write the dataset"),
    ('INCLUDE ItemID WHERE Item.A IN ("x")', 22, "unknown dataset 'Item'"),
    ('INCLUDE ItemID WHERE Items. IN ("x")', 28, r"expected a field name right after 'Items.' \(no spaces"),
    (
        'INCLUDE ItemID WHERE Items .A IN ("x")',
        27,
        r"expected '\.' and a field name right after 'Items' \(no spaces\), found '\.'",
    ),
    # lexical
    ('INCLUDE ItemID WHERE Items.A IN ("x)', 34, "unterminated string"),
    ("INCLUDE ItemID WHERE Items.A IN ('x')", 34, "single quote"),
    ("INCLUDE ItemID WHERE Items.A IN (\u201cx\u201d)", 34, "plain double quotes"),
    ("INCLUDE ItemID WHERE Items.A <> 3", 30, "write '!='"),
    ("INCLUDE ItemID WHERE Items.A == 3", 30, "write '='"),
    ("INCLUDE ItemID WHERE Items.A IN ($)", 34, r"parameter name"),
    ("INCLUDE ItemID WHERE Items.A # 3", 30, "unexpected character '#'"),
    # no grouping parentheses
    ('INCLUDE ItemID WHERE (Items.A IN ("x") OR Items.B IN ("y"))', 22, "parentheses can't group conditions"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") AND (Items.B IN ("y"))', 43, "parentheses can't group"),
    # placeholders with NOT IN
    ("INCLUDE ItemID WHERE Items.A NOT IN ($A)", 38, r"placeholder \$A can't be used with NOT IN; use IN"),
    ('INCLUDE ItemID WHERE Items.A NOT IN ("x", $A)', 43, "can't be used with NOT IN"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.B NOT IN ($B)', 64, "can't be used with NOT IN"),
    # one dataset per expression; Items and Interactions apart
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") AND Interactions.EVENT_TYPE IN ("click")',
        43,
        r"Items and Interactions conditions can't be in one expression; chain two expressions with '\|'",
    ),
    (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") OR Items.A IN ("x")',
        62,
        "Interactions and Items conditions can't be in one expression",
    ),
    (
        'INCLUDE ActionID WHERE Actions.A IN ("x") AND Action_Interactions.EVENT_TYPE IN ("TAKEN")',
        47,
        "Actions and Action_Interactions conditions can't be in one expression",
    ),
    # targets and datasets
    (
        "INCLUDE ItemID WHERE Users.AGE > 3",
        22,
        r"ItemID expressions can only use Items or Interactions fields, not Users \(check the current user",
    ),
    (
        'INCLUDE UserID WHERE Items.A IN ("x")',
        22,
        "UserID expressions can only use Users or Interactions fields",
    ),
    (
        'INCLUDE ActionID WHERE Items.A IN ("x")',
        24,
        "ActionID expressions can only use Actions or Action_Interactions fields",
    ),
    ('INCLUDE ItemID WHERE Action_Interactions.EVENT_TYPE IN ("x")', 22, "not Action_Interactions"),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") | EXCLUDE UserID WHERE Users.B IN ("y")',
        49,
        "every expression of a filter must filter the same thing: expected ItemID, found UserID",
    ),
    # interactions: only EVENT_TYPE, only IN / NOT IN
    (
        'EXCLUDE ItemID WHERE Interactions.EVENT_VALUE IN ("1")',
        22,
        "only EVENT_TYPE can be filtered in Interactions, not EVENT_VALUE",
    ),
    ("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE = 3", 46, "takes IN or NOT IN with a list of event types"),
    # '*' only for EVENT_TYPE
    ("EXCLUDE ItemID WHERE Items.GENRE IN (*)", 38, r"'\*' \(every event type\) can only be used with"),
    ('EXCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.B IN (*)', 60, r"'\*'"),
    # comparisons: numbers, parameters or CurrentItem only
    (
        'INCLUDE ItemID WHERE Items.PRICE < "10"',
        36,
        r"expected a number, \$PARAMETER or CurrentItem.FIELD after '<' \(comparisons test numeric data",
    ),
    ("INCLUDE ItemID WHERE Items.PRICE < Items.COST", 36, "expected a number"),
    ("INCLUDE ItemID WHERE Items.A IN (3)", 34, r"double-quoted string or \$PARAMETER in the value list"),
    ("INCLUDE ItemID WHERE Items.PRICE > 10abc", 36, "neither a number nor a name"),
    # CurrentItem
    (
        'INCLUDE ItemID WHERE CurrentItem.GENRE IN ("x")',
        22,
        "CurrentItem.FIELD can only follow IN or a comparison",
    ),
    ("INCLUDE ItemID WHERE Items.GENRE NOT IN CurrentItem.GENRE", 41, "NOT IN can't take CurrentItem.GENRE"),
    (
        "INCLUDE UserID WHERE Users.A IN CurrentItem.A",
        33,
        "CurrentItem can only be compared with Items fields",
    ),
    ("INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN CurrentItem.A", 49, "CurrentItem can only be compared"),
    ('INCLUDE ItemID WHERE Items.A IN ("x", CurrentItem.A)', 39, "can't be part of a value list"),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.AGE > CurrentItem.AGE',
        60,
        "IF conditions can only compare CurrentUser fields with values",
    ),
    # IF CurrentUser: only CurrentUser, AND only, once, at the end, not for UserID
    ("INCLUDE ItemID WHERE CurrentUser.AGE > 3", 22, "CurrentUser can only be used in the IF clause"),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF Items.B IN ("y")',
        42,
        "IF conditions can only check the current user: expected CurrentUser.FIELD, found 'Items.B'",
    ),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.B = 1 OR CurrentUser.C = 2',
        60,
        "IF conditions can only be joined with AND, found 'OR'",
    ),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.B = 1 IF CurrentUser.C = 2',
        60,
        "only one IF clause",
    ),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.B = 1 AND Items.C IN ("y")',
        64,
        "IF conditions can only check the current user",
    ),
    (
        'INCLUDE UserID WHERE Users.A IN ("x") IF CurrentUser.B = 1',
        39,
        "UserID expressions .* can't have an IF clause",
    ),
    ("INCLUDE ItemID WHERE IF CurrentUser.B = 1", 22, r"expected a condition \(dataset.FIELD\) before IF"),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF (CurrentUser.B = 1)',
        42,
        "parentheses can't group IF conditions",
    ),
]


@pytest.mark.parametrize(("text", "position", "message"), ERRORS)
def test_rule_errors_name_the_position(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidInputException) as caught:
        parse(text)
    prefix = f"filterExpression: at position {position}: "
    assert caught.value.message.startswith(prefix), caught.value.message
    assert re.search(message, caught.value.message[len(prefix) :]), caught.value.message
    assert caught.value.code == "InvalidInputException"


def test_length_limits() -> None:
    base = "INCLUDE ItemID WHERE Items.A IN ("
    values = ",".join(['"x"'] * 1000)
    text = (base + values)[:2499] + ")"
    with pytest.raises(InvalidInputException):  # 2500 characters: parses far enough to fail on syntax only
        parse(text)
    with pytest.raises(
        InvalidInputException, match=r"^filterExpression: at position 2501: .* 2501 characters long"
    ):
        parse("X" * 2501)
    long_ok = "INCLUDE ItemID WHERE Items.A IN (" + ", ".join(['"v"'] * 490) + ")"
    assert len(long_ok) <= 2500 and parse(long_ok)
    with pytest.raises(
        InvalidInputException, match="at position 4: expected INCLUDE or EXCLUDE, found the end"
    ):
        parse("   ")


def test_parameter_names() -> None:
    assert parse("INCLUDE ItemID WHERE Items.A IN ($a_1, $2B)").parameters == {"a_1", "2B"}
    with pytest.raises(InvalidInputException, match="longer than 50"):
        parse("INCLUDE ItemID WHERE Items.A IN ($" + "P" * 51 + ")")


@pytest.mark.parametrize(
    "text",
    [
        "\u00d13",
        'INCLUDE ItemID WHERE Items.CAT\u00c9GORIE IN ("a")',
        "INCLUDE ItemID WHERE Items.PRICE > 3\u0663",
        "\u0663",
    ],
)
def test_non_ascii_letters_and_digits_are_syntax_errors(text: str) -> None:
    # Found by the wire fuzzer: a non-ASCII letter failed an assertion in the tokenizer (HTTP 500).
    with pytest.raises(InvalidInputException, match="filterExpression"):
        parse(text)
