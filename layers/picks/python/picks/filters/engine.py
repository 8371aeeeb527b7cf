"""Evaluate a filter expression to the mask of allowed catalog rows, vectorised with numpy.

``evaluate(expression, catalog, filter_values=..., user=..., current_item=..., interactions=...)``
returns a bool array over ``catalog`` (True = may be recommended).  Semantics, from the developer
guide's filter pages (``personalize_api.md`` §4.2) where it speaks, and stated here where it doesn't:

* Every ``|`` expression is evaluated on its own.  The result is (union of the INCLUDE results)
  minus (union of the EXCLUDE results); with no INCLUDE result, everything minus the EXCLUDEs.
  Order does not matter.
* Parameters: an EXCLUDE expression whose parameters are not all in ``filterValues`` is skipped
  ("Amazon Personalize doesn't use that portion of the expression"); an INCLUDE expression with a
  missing parameter is an ``InvalidInputException`` naming ``filterValues`` and the parameter ("you
  must provide values for all parameters").  A blank value counts as not given.  Values are
  comma-separated double-quoted strings (``"\\"comedy\\",\\"drama\\""``); unquoted values (numbers,
  epochs: ``1700000000``) are accepted too.  A comparison parameter takes exactly one number.
* ``IF CurrentUser...``: when the IF conditions do not all hold, the expression is skipped, exactly
  like an EXCLUDE without its parameters: it is left out of the filter for this request.  So
  ``INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") IF CurrentUser.AGE > 18`` restricts users over
  18 to watches and leaves everyone else unrestricted (the guide: "includes only items in the watch
  category ... if the current user's age is over 18"); if every INCLUDE is skipped, the result is
  everything minus the EXCLUDEs.  An unknown user (``user=None``) has only null fields.
* Matching: IN / NOT IN match exact strings; a categorical value matches if any of its
  ``|``-separated values does.  Event types are the only case-insensitive match.  IN on a numeric
  field compares numbers (values that are not numbers match nothing).
* Nulls: IN is false for a null value, NOT IN is its negation (true: a missing value "does not
  match" any listed value, which is how the guide reads ``NOT IN``), and every comparison with a
  null is false, ``!=`` included (SQL).
* Interactions (``Interactions.EVENT_TYPE`` / ``Action_Interactions.EVENT_TYPE``): a condition is
  about the items the user interacted with (``interactions`` maps a lower-cased event type to the
  catalog rows of the user's recent interactions of that type).  ``IN (types)`` holds for items
  with an interaction of one of the types (``*``: any type); ``NOT IN (types)`` holds for items
  the user interacted with but never with one of the types.  AND / OR combine per item, so
  ``EVENT_TYPE IN ("click") AND EVENT_TYPE IN ("purchase")`` is "clicked and purchased".
* ``CurrentItem.FIELD`` needs ``current_item`` (related-items requests); without it the evaluation
  is an ``InvalidInputException`` naming the field.  A null current value makes the condition
  false.
* Boolean fields can't be filtered: using one is an ``InvalidInputException`` naming it, as is a
  comparison on a string field.

Expressions are parsed once per text (``parse_cached``) and filter values once per value string;
item masks for IN values are cached in the catalog, so a typical call costs a few vector
operations over the catalog.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from picks.errors import InvalidInputException
from picks.filters.catalog import (
    BOOLEAN,
    CATEGORICAL,
    NUMERIC,
    STRING,
    ItemCatalog,
    is_boolean,
    is_number,
    kind_of_value,
    split_values,
)
from picks.filters.parser import (
    ANY_EVENT_TYPE,
    INTERACTION_DATASETS,
    AnyValue,
    BoolOp,
    Clause,
    Comparison,
    CurrentRef,
    FieldRef,
    FilterExpression,
    Membership,
    Node,
    NumberValue,
    Param,
    StringValue,
    parse_cached,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# --------------------------------------------------------------------------- filter values


@functools.lru_cache(maxsize=4096)
def parse_filter_values(name: str, raw: str) -> tuple[str, ...]:
    """``"\\"a\\",\\"b\\""`` -> ("a", "b"); unquoted items (``1700000000``) are taken as written."""
    values: list[str] = []
    i, n = 0, len(raw)
    while True:
        i = _skip_spaces(raw, i)
        if i < n and raw[i] == '"':
            value, i = _quoted_value(name, raw, i)
        else:
            value, i = _bare_value(name, raw, i)
        values.append(value)
        i = _skip_spaces(raw, i)
        if i >= n:
            return tuple(values)
        if raw[i] != ",":
            raise InvalidInputException(
                f"filterValues.{name}: expected ',' between values at character {i + 1} of '{raw[:100]}'."
            )
        i += 1


def _skip_spaces(raw: str, i: int) -> int:
    while i < len(raw) and raw[i].isspace():
        i += 1
    return i


def _quoted_value(name: str, raw: str, i: int) -> tuple[str, int]:
    """The value quoted at ``raw[i]`` (backslash escapes the next character) and the index past its quote."""
    n = len(raw)
    chars: list[str] = []
    i += 1
    while i < n and raw[i] != '"':
        if raw[i] == "\\" and i + 1 < n:
            i += 1
        chars.append(raw[i])
        i += 1
    if i >= n:
        raise InvalidInputException(
            f'filterValues.{name}: unterminated quoted value; write values as "\\"a\\",\\"b\\"".'
        )
    return "".join(chars), i + 1


def _bare_value(name: str, raw: str, i: int) -> tuple[str, int]:
    """The unquoted value from ``raw[i]`` up to the next comma (spaces trimmed) and the comma's index."""
    end = raw.find(",", i)
    end = len(raw) if end < 0 else end
    item = raw[i:end].strip()
    if '"' in item:
        raise InvalidInputException(
            f"filterValues.{name}: stray double quote in '{item[:100]}'; quote each whole value, "
            'e.g. "\\"comedy\\",\\"drama\\"".'
        )
    if not item:
        raise InvalidInputException(
            f"filterValues.{name}: empty value in '{raw[:100]}'; separate double-quoted values with "
            'commas, e.g. "\\"comedy\\",\\"drama\\"".'
        )
    return item, end


def as_number(text: str) -> float | None:
    """``text`` as a finite number, or None."""
    if _NUMBER.fullmatch(text.strip()) is None:
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def number_text(value: float) -> str:
    """A number as a string value: integral numbers without a decimal point (``2020``)."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


class _Values:
    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self.raw = raw or {}

    def given(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is not None and value.strip() != ""

    def strings(self, name: str) -> tuple[str, ...]:
        return parse_filter_values(name, self.raw[name])

    def number(self, name: str, where: str) -> float:
        values = self.strings(name)
        number = as_number(values[0]) if len(values) == 1 else None
        if number is None:
            raise InvalidInputException(
                f"filterValues.{name}: {where} compares numbers, so ${name} takes one number "
                f'(e.g. "10" or "\\"10\\""), not \'{self.raw[name][:100]}\'.'
            )
        return number


# --------------------------------------------------------------------------- evaluation


class _Context:
    def __init__(
        self,
        catalog: ItemCatalog,
        values: _Values,
        user: Mapping[str, Any] | None,
        current_item: Mapping[str, Any] | None,
        interactions: Mapping[str, np.ndarray] | None,
    ) -> None:
        self.catalog = catalog
        self.values = values
        self._user_raw = user
        self._user: dict[str, Any] | None = None
        self._current_raw = current_item
        self._current: dict[str, Any] | None = None
        self._interactions_raw = interactions
        self._interactions: dict[str, np.ndarray] | None = None
        self._interacted: np.ndarray | None = None

    @property
    def user(self) -> dict[str, Any]:
        if self._user is None:
            self._user = {str(k).upper(): v for k, v in (self._user_raw or {}).items()}
        return self._user

    @property
    def user_plain(self) -> frozenset[str]:
        return getattr(self._user_raw, "plain", frozenset())

    def current(self, ref: CurrentRef) -> Any:
        if self._current_raw is None:
            raise InvalidInputException(
                f"filterArn: the filter uses {ref.text}, which needs a current item: apply it to "
                "related-items recommendations (a RELATED_ITEMS recipe, with itemId)."
            )
        if self._current is None:
            self._current = {str(k).upper(): v for k, v in self._current_raw.items()}
        return self._current.get(ref.name)

    def interactions(self) -> dict[str, np.ndarray]:
        if self._interactions is None:
            merged: dict[str, list[np.ndarray]] = {}
            for event_type, rows in (self._interactions_raw or {}).items():
                merged.setdefault(str(event_type).lower(), []).append(np.asarray(rows, dtype=np.int64))
            self._interactions = {
                key: parts[0] if len(parts) == 1 else np.concatenate(parts) for key, parts in merged.items()
            }
        return self._interactions

    def rows_mask(self, arrays: list[np.ndarray]) -> np.ndarray:
        mask = np.zeros(self.catalog.size, dtype=bool)
        for rows in arrays:
            mask[rows] = True
        return mask

    def interacted(self) -> np.ndarray:
        if self._interacted is None:
            self._interacted = self.rows_mask(list(self.interactions().values()))
        return self._interacted


def evaluate(
    expression: FilterExpression | str,
    catalog: ItemCatalog,
    *,
    filter_values: Mapping[str, str] | None = None,
    user: Mapping[str, Any] | None = None,
    current_item: Mapping[str, Any] | None = None,
    interactions: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The allowed mask over ``catalog`` (see the module docstring for the semantics)."""
    parsed = parse_cached(expression) if isinstance(expression, str) else expression
    context = _Context(catalog, _Values(filter_values), user, current_item, interactions)
    included: np.ndarray | None = None
    excluded: np.ndarray | None = None
    for clause in parsed.clauses:
        mask = _clause(clause, context)
        if mask is None:
            continue
        if clause.include:
            included = mask if included is None else included | mask
        else:
            excluded = mask if excluded is None else excluded | mask
    result = np.ones(catalog.size, dtype=bool) if included is None else included.copy()
    if excluded is not None:
        result &= ~excluded
    return result


def _clause(clause: Clause, context: _Context) -> np.ndarray | None:
    """The clause's mask, or None when it is skipped for this request."""
    missing = sorted(name for name in clause.parameters if not context.values.given(name))
    if missing:
        if clause.include:
            names = ", ".join(f"${name}" for name in missing)
            raise InvalidInputException(
                f"filterValues: the filter's INCLUDE expression '{clause.text[:200]}' needs a value for "
                f'{names}; give it in filterValues (key {missing[0]!r}, e.g. "\\"value\\"").'
            )
        return None
    if clause.if_conditions:
        # Evaluate every IF condition (no short circuit), so an invalid one always surfaces.
        holds = [_user_condition(condition, context) for condition in clause.if_conditions]
        if not all(holds):
            return None
    return _node(clause.where, context)


def _node(node: Node, context: _Context) -> np.ndarray:
    if isinstance(node, BoolOp):
        masks = [_node(part, context) for part in node.parts]
        combine = np.logical_and if node.op == "AND" else np.logical_or
        result: np.ndarray = combine(masks[0], masks[1])
        for mask in masks[2:]:
            combine(result, mask, out=result)
        return result
    subject = node.subject
    assert isinstance(subject, FieldRef)
    if subject.dataset in INTERACTION_DATASETS:
        assert isinstance(node, Membership)
        return _interaction_condition(node, context)
    if isinstance(node, Membership):
        return _membership(node, subject, context)
    return _comparison(node, subject, context)


def _list_strings(node: Membership, context: _Context) -> list[str]:
    strings: list[str] = []
    for value in node.values:
        if isinstance(value, StringValue):
            strings.append(value.value)
        elif isinstance(value, Param):
            strings.extend(context.values.strings(value.name))
    return strings


def _interaction_condition(node: Membership, context: _Context) -> np.ndarray:
    types: set[str] = set()
    for value in node.values:
        if isinstance(value, AnyValue):
            types.add(ANY_EVENT_TYPE)
        elif isinstance(value, StringValue):
            types.add(value.value.lower())
        elif isinstance(value, Param):
            types.update(item.lower() for item in context.values.strings(value.name))
    history = context.interactions()
    if ANY_EVENT_TYPE in types:
        hit = context.interacted()
    else:
        hit = context.rows_mask([history[t] for t in types if t in history])
    if node.negated:
        missing: np.ndarray = context.interacted() & ~hit
        return missing
    return hit  # never written to: every combination below makes a new array


def _field_values(subject: FieldRef, context: _Context) -> Any:
    values = context.catalog.field(subject.name)
    if values is not None and values.kind == BOOLEAN:
        raise _boolean_error(subject.text)
    return values


def _boolean_error(name: str) -> InvalidInputException:
    return InvalidInputException(
        f"filterArn: {name} is a boolean field, and filters can't use boolean fields; "
        'store "True" / "False" strings or 0 / 1 numbers instead.'
    )


def _membership(node: Membership, subject: FieldRef, context: _Context) -> np.ndarray:
    values = _field_values(subject, context)
    size = context.catalog.size
    if node.current is not None:
        wanted = _current_strings(node.current, context)
    else:
        wanted = _list_strings(node, context)
    if values is None:
        mask = np.zeros(size, dtype=bool)
    elif values.kind == NUMERIC:
        numbers = [n for n in map(as_number, wanted) if n is not None]
        mask = np.isin(values.numbers, numbers) if numbers else np.zeros(size, dtype=bool)
    else:
        mask = values.in_mask(frozenset(wanted))
    return ~mask if node.negated else mask


def _current_strings(ref: CurrentRef, context: _Context) -> list[str]:
    """The current item's values of ``ref`` as strings (categorical values split)."""
    value = context.current(ref)
    kind = _current_kind(ref, value, context)
    if kind == BOOLEAN or is_boolean(value):
        raise _boolean_error(ref.text)
    if value is None:
        return []
    if kind == NUMERIC:
        return [number_text(value)] if not isinstance(value, str) else [value]
    return list(split_values(str(value), kind))


def _current_kind(ref: CurrentRef, value: Any, context: _Context) -> str | None:
    values = context.catalog.field(ref.name)
    if values is not None:
        return values.kind
    return kind_of_value(value)


def _comparison(node: Comparison, subject: FieldRef, context: _Context) -> np.ndarray:
    values = _field_values(subject, context)
    size = context.catalog.size
    if values is not None and values.kind in (CATEGORICAL, STRING):
        raise InvalidInputException(
            f"filterArn: {subject.text} is a string field; comparisons ({node.op}) only apply to numeric "
            "fields, use IN / NOT IN to match strings."
        )
    number = _operand_number(node, context)
    if values is None or number is None:
        return np.zeros(size, dtype=bool)
    result: np.ndarray = COMPARE[node.op](values.numbers, number)
    if node.op == "!=":
        result &= values.notnull()
    return result


def _operand_number(node: Comparison, context: _Context) -> float | None:
    operand = node.operand
    if isinstance(operand, NumberValue):
        return operand.value
    where = f"{node.subject.text} {node.op}"
    if isinstance(operand, Param):
        return context.values.number(operand.name, where + f" ${operand.name}")
    value = context.current(operand)
    kind = _current_kind(operand, value, context)
    if kind == BOOLEAN or is_boolean(value):
        raise _boolean_error(operand.text)
    if value is None:
        return None
    if is_number(value):
        return float(value)
    number = as_number(str(value)) if kind == NUMERIC else None
    if number is None:
        raise InvalidInputException(
            f"filterArn: {operand.text} is a string field; comparisons ({node.op}) only apply to numeric "
            "fields."
        )
    return number


def _user_condition(node: Membership | Comparison, context: _Context) -> bool:
    subject = node.subject
    assert isinstance(subject, CurrentRef)
    value = context.user.get(subject.name)
    if is_boolean(value):
        raise _boolean_error(subject.text)
    if isinstance(node, Membership):
        wanted = _list_strings(node, context)
        if value is None:
            found = False
        elif is_number(value):
            found = any(as_number(item) == float(value) for item in wanted)
        else:
            kind = STRING if subject.name in context.user_plain else CATEGORICAL
            found = not set(split_values(str(value), kind)).isdisjoint(wanted)
        return not found if node.negated else found
    operand = node.operand
    if isinstance(operand, NumberValue):
        number = operand.value
    else:
        assert isinstance(operand, Param)
        number = context.values.number(operand.name, f"{subject.text} {node.op} ${operand.name}")
    if value is None:
        return False
    if not is_number(value):
        raise InvalidInputException(
            f"filterArn: {subject.text} is a string field; comparisons ({node.op}) only apply to numeric "
            "fields."
        )
    return bool(COMPARE[node.op](float(value), number))
