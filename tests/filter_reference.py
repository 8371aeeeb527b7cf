"""A reference filter evaluator: row by row, plain Python, slow, written to be obviously right.

It shares only the parser (the AST) with ``picks.filters.engine`` and restates the semantics of
``picks.filters.engine``'s docstring directly:

* each ``|`` expression: missing parameters skip an EXCLUDE and fail an INCLUDE; an IF clause
  that does not hold skips the expression; otherwise its WHERE tree selects rows;
* result = union(INCLUDE) - union(EXCLUDE), everything when no INCLUDE is active;
* IN on a null is false, NOT IN is the negation of IN, comparisons with null are false;
* categorical values match on any ``|`` part; event types ignore case;
* interaction conditions hold only for rows the user interacted with.

Items are dicts ``{FIELD: value}`` (categorical values ``|``-joined, None for null) and ``kinds``
says each field's kind: ``categorical``, ``string``, ``numeric`` or ``boolean``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from picks.errors import InvalidInputException
from picks.filters.parser import (
    AnyValue,
    BoolOp,
    Comparison,
    CurrentRef,
    FieldRef,
    FilterExpression,
    Membership,
    NumberValue,
    Param,
    StringValue,
)

OPS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ITEM = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]*))\s*(,|$)')
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")

Row = Callable[[int], bool]


def _fail(message: str) -> InvalidInputException:
    return InvalidInputException(message)


def split_param(raw: str) -> list[str]:
    """Comma-separated values, each double-quoted (backslash escapes) or bare (stripped)."""
    values, position = [], 0
    while True:
        match = _ITEM.match(raw, position)
        if match is None:
            raise _fail(f"bad filter value {raw!r}")
        quoted, bare, separator = match.groups()
        if quoted is not None:
            values.append(re.sub(r"\\(.)", r"\1", quoted))
        elif bare.strip():
            values.append(bare.strip())
        else:
            raise _fail(f"empty filter value in {raw!r}")
        position = match.end()
        if separator == "":
            if position != len(raw):
                raise _fail(f"bad filter value {raw!r}")
            return values


def to_number(text: str) -> float | None:
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def given(filter_values: dict[str, str], name: str) -> bool:
    return name in filter_values and filter_values[name].strip() != ""


def reference_mask(
    expression: FilterExpression,
    items: list[dict[str, Any]],
    kinds: dict[str, str],
    *,
    filter_values: dict[str, str],
    user: dict[str, Any] | None,
    user_plain: frozenset[str] = frozenset(),
    current_item: dict[str, Any] | None,
    history: list[tuple[int, str]],
) -> list[bool]:
    reference = _Reference(items, kinds, filter_values, user, user_plain, current_item, history)
    return reference.mask(expression)


def parts(value: Any, kind: str | None) -> list[str]:
    if kind == "categorical":
        return [part for part in value.split("|") if part]
    return [value]


class _Reference:
    """One request: the items and everything the expression may refer to (values, user, current item)."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        kinds: dict[str, str],
        filter_values: dict[str, str],
        user: dict[str, Any] | None,
        user_plain: frozenset[str],
        current_item: dict[str, Any] | None,
        history: list[tuple[int, str]],
    ) -> None:
        self.items = items
        self.kinds = kinds
        self.filter_values = filter_values
        self.user = {k.upper(): v for k, v in (user or {}).items()}
        self.user_plain = user_plain
        self.current_item = current_item
        self.history = history

    def mask(self, expression: FilterExpression) -> list[bool]:
        n = len(self.items)
        includes: list[set[int]] = []
        excludes: list[set[int]] = []
        for clause in expression.clauses:
            if not all(given(self.filter_values, name) for name in clause.parameters):
                if clause.include:
                    raise _fail("an INCLUDE parameter is missing")
                continue
            if clause.if_conditions:
                truths = [self.user_condition(c) for c in clause.if_conditions]
                if not all(truths):
                    continue
            row = self.tree(clause.where)
            selected = {i for i in range(n) if row(i)}
            (includes if clause.include else excludes).append(selected)
        allowed = set().union(*includes) if includes else set(range(n))
        allowed -= set().union(*excludes)
        return [i in allowed for i in range(n)]

    # --- values the expression refers to

    def param_strings(self, name: str) -> list[str]:
        return split_param(self.filter_values[name])

    def param_number(self, name: str) -> float:
        values = self.param_strings(name)
        number = to_number(values[0]) if len(values) == 1 else None
        if number is None:
            raise _fail(f"${name} is not one number")
        return number

    def list_strings(self, node: Membership) -> list[str]:
        out: list[str] = []
        for value in node.values:
            if isinstance(value, StringValue):
                out.append(value.value)
            elif isinstance(value, Param):
                out.extend(self.param_strings(value.name))
        return out

    def current(self, ref: CurrentRef) -> tuple[Any, str | None]:
        if self.current_item is None:
            raise _fail(f"{ref.text} needs a current item")
        value = {k.upper(): v for k, v in self.current_item.items()}.get(ref.name)
        kind = self.kinds.get(ref.name)
        if kind is None and value is not None:
            kind = (
                "boolean"
                if isinstance(value, bool)
                else "numeric"
                if isinstance(value, (int, float))
                else "categorical"
            )
        if kind == "boolean" or isinstance(value, bool):
            raise _fail(f"{ref.text} is boolean")
        return value, kind

    # --- WHERE: one test per row

    def tree(self, node: Any) -> Row:
        if isinstance(node, BoolOp):
            rows = [self.tree(part) for part in node.parts]
            if node.op == "AND":
                return lambda i: all([row(i) for row in rows])
            return lambda i: any([row(i) for row in rows])
        return self.condition(node)

    def condition(self, node: Membership | Comparison) -> Row:
        """Resolve everything that doesn't depend on the row (raising now), then test rows."""
        subject = node.subject
        assert isinstance(subject, FieldRef)
        if subject.dataset in ("INTERACTIONS", "ACTION_INTERACTIONS"):
            assert isinstance(node, Membership)
            return self.interaction_condition(node)
        kind = self.kinds.get(subject.name)
        if kind == "boolean":
            raise _fail(f"{subject.text} is boolean")
        if isinstance(node, Comparison):
            return self.comparison_condition(node, subject, kind)
        return self.membership_condition(node, subject, kind)

    def interaction_condition(self, node: Membership) -> Row:
        types: set[str] = set()
        for value in node.values:
            if isinstance(value, AnyValue):
                types.add("*")
            elif isinstance(value, StringValue):
                types.add(value.value.lower())
            else:
                types.update(v.lower() for v in self.param_strings(value.name))

        def matches(event_type: str) -> bool:
            return "*" in types or event_type.lower() in types

        def interaction_row(i: int) -> bool:
            mine = [event_type for row, event_type in self.history if row == i]
            if node.negated:
                return bool(mine) and not any(matches(t) for t in mine)
            return any(matches(t) for t in mine)

        return interaction_row

    def comparison_condition(self, node: Comparison, subject: FieldRef, kind: str | None) -> Row:
        if kind in ("categorical", "string"):
            raise _fail(f"{subject.text} is a string")
        operand = node.operand
        if isinstance(operand, NumberValue):
            number: float | None = operand.value
        elif isinstance(operand, Param):
            number = self.param_number(operand.name)
        else:
            value, current_kind = self.current(operand)
            if value is not None and not isinstance(value, (int, float)):
                raise _fail(f"{operand.text} is a string")
            number = None if value is None else float(value)

        def compare_row(i: int) -> bool:
            value = self.items[i].get(subject.name) if kind is not None else None
            if value is None or number is None:
                return False
            return OPS[node.op](float(value), number)

        return compare_row

    def membership_condition(self, node: Membership, subject: FieldRef, kind: str | None) -> Row:
        if node.current is not None:
            value, current_kind = self.current(node.current)
            if value is None:
                wanted: list[str] = []
            elif current_kind == "numeric":
                wanted = [str(int(value)) if float(value).is_integer() else repr(float(value))]
            else:
                wanted = parts(value, current_kind)
        else:
            wanted = self.list_strings(node)

        def member_row(i: int) -> bool:
            value = self.items[i].get(subject.name) if kind is not None else None
            if value is None:
                found = False
            elif kind == "numeric":
                found = any(to_number(w) == float(value) for w in wanted)
            else:
                found = any(part in wanted for part in parts(value, kind))
            return not found if node.negated else found

        return member_row

    # --- IF: one truth per request

    def user_condition(self, node: Membership | Comparison) -> bool:
        subject = node.subject
        assert isinstance(subject, CurrentRef)
        value = self.user.get(subject.name)
        if isinstance(value, bool):
            raise _fail(f"{subject.text} is boolean")
        if isinstance(node, Membership):
            return self.user_membership(node, subject, value)
        operand = node.operand
        number = operand.value if isinstance(operand, NumberValue) else self.param_number(operand.name)
        if value is None:
            return False
        if not isinstance(value, (int, float)):
            raise _fail(f"{subject.text} is a string")
        return OPS[node.op](float(value), number)

    def user_membership(self, node: Membership, subject: CurrentRef, value: Any) -> bool:
        wanted = self.list_strings(node)
        if value is None:
            found = False
        elif isinstance(value, (int, float)):
            found = any(to_number(w) == float(value) for w in wanted)
        else:
            kind = "string" if subject.name in self.user_plain else "categorical"
            found = any(part in wanted for part in parts(value, kind))
        return not found if node.negated else found
