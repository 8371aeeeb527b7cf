"""Validate request parameters against botocore's service model.

botocore only checks ``required``, ``min`` and types client-side; lengths,
patterns and enums are the server's job.  Messages follow the AWS wording
("1 validation error detected: Value 'x' at 'name' failed to satisfy
constraint: ...") and always name the member path.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import TYPE_CHECKING, Any

import regex

from picks.errors import InvalidInputException, excerpt
from picks.wire.service_model import operation_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.model import Shape

    # A value's checker: (value, its member path, where failures go).
    Checker = Callable[[Any, str, "_Collector"], None]
    # (size, the value it is the size of, its path, where failures go)
    SizeChecker = Callable[[int, Any, str, "_Collector"], None]

# java.util.regex meanings of the shorthands the models use, where Python's differ: Java's are ASCII-only.
# (``\p{L}``, ``\p{Z}``, ``\p{N}``, ``\p{ASCII}`` need no rewrite: the ``regex`` package knows them
# as Java does.)
_JAVA_SHORTHANDS_IN_CLASS = {"d": "0-9", "w": "a-zA-Z_0-9", "s": " \\t\\n\\x0B\\f\\r"}
_JAVA_SHORTHANDS = {
    **{name: f"[{body}]" for name, body in _JAVA_SHORTHANDS_IN_CLASS.items()},
    **{name.upper(): f"[^{body}]" for name, body in _JAVA_SHORTHANDS_IN_CLASS.items()},
}
# Without DOTALL, Java's ``.`` stops at every line terminator, not only at \n.
_JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"


def _translate_java_pattern(pattern: str) -> str:
    """Rewrite the constructs whose meaning differs between java.util.regex and the ``regex`` package."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if in_class and escaped in _JAVA_SHORTHANDS_IN_CLASS:
                out.append(_JAVA_SHORTHANDS_IN_CLASS[escaped])
            elif in_class and escaped in ("D", "W", "S"):
                raise ValueError(
                    f"pattern {pattern!r}: \\{escaped} inside a character class is not translated."
                )
            elif not in_class and escaped in _JAVA_SHORTHANDS:
                out.append(_JAVA_SHORTHANDS[escaped])
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "." and not in_class:
            char = _JAVA_DOT
        out.append(char)
        i += 1
    return "".join(out)


@cache
def compiled_pattern(pattern: str) -> regex.Pattern[str]:
    """A model ``pattern`` compiled to behave as Java does (the service validates with java.util.regex)."""
    return regex.compile(_translate_java_pattern(pattern))


# A message lists this many of the broken constraints (and counts the rest): a 10,000-element list of bad
# values must not make a 10,000-line message.
LISTED_ERRORS = 10


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{excerpt(value)}'"
    if isinstance(value, dict | list):
        return f"{type(value).__name__} of {len(value)}"
    return excerpt(str(value))


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.errors.append(f"Value {_fmt(value)} at '{path}' failed to satisfy constraint: {constraint}")


# Each input shape is compiled once into a checker (``_checker``), so a request walks plain closures over
# precomputed constraints instead of asking botocore's shapes for their type, members and metadata value
# by value.


def _checker(shape: Shape, structures: dict[str, Checker]) -> Checker | None:
    """The checker of ``shape``'s values; None where the model gives them nothing the server checks
    (blobs and the like)."""
    kind = shape.type_name
    if kind == "structure":
        found = structures.get(shape.name)
        return found if found is not None else _structure_checker(shape, structures)
    if kind == "list":
        return _list_checker(shape, structures)
    if kind == "map":
        return _map_checker(shape, structures)
    if kind == "string":
        return _string_checker(shape)
    if kind in ("integer", "long"):
        return _integer_checker(shape)
    return _SCALAR_CHECKERS.get(kind)


def _structure_checker(shape: Shape, structures: dict[str, Checker]) -> Checker:
    required = tuple(shape.required_members)
    # Filled after this checker is registered under the shape's name, so that a shape containing itself
    # compiles (botocore builds a new Shape object for every reference to a named shape).
    members: list[tuple[str, Checker]] = []

    def check_structure(value: Any, path: str, out: _Collector) -> None:
        if not isinstance(value, dict):
            out.fail(value, path, "Member must be a structure")
            return
        prefix = f"{path}." if path else ""
        for name in required:
            if value.get(name) is None:
                out.fail(None, prefix + name, "Member must not be null")
        for name, check in members:
            item = value.get(name)
            if item is not None:
                check(item, prefix + name, out)

    structures[shape.name] = check_structure
    for name, member in shape.members.items():
        check = _checker(member, structures)
        if check is not None:
            members.append((name, check))
    return check_structure


def _list_checker(shape: Shape, structures: dict[str, Checker]) -> Checker:
    check_size = _size_checker(shape.metadata, "length")
    check_member = _checker(shape.member, structures)

    def check_list(value: Any, path: str, out: _Collector) -> None:
        if not isinstance(value, list):
            out.fail(value, path, "Member must be a list")
            return
        check_size(len(value), value, path, out)
        if check_member is not None:
            for index, item in enumerate(value):
                check_member(item, f"{path}.{index + 1}.member" if path else str(index + 1), out)

    return check_list


def _map_checker(shape: Shape, structures: dict[str, Checker]) -> Checker:
    check_size = _size_checker(shape.metadata, "length")
    check_key = _checker(shape.key, structures) or _check_nothing
    check_value = _checker(shape.value, structures) or _check_nothing

    def check_map(value: Any, path: str, out: _Collector) -> None:
        if not isinstance(value, dict):
            out.fail(value, path, "Member must be a map")
            return
        check_size(len(value), value, path, out)
        for key, item in value.items():
            check_key(key, f"{path}.key", out)
            check_value(item, f"{path}.{excerpt(str(key))}", out)

    return check_map


def _string_checker(shape: Shape) -> Checker:
    meta = shape.metadata
    check_size = _size_checker(meta, "length")
    pattern = compiled_pattern(meta["pattern"]) if "pattern" in meta else None
    pattern_failure = f"Member must satisfy regular expression pattern: {meta.get('pattern')}"
    enum = frozenset(shape.enum)
    enum_failure = f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"

    def check_string(value: Any, path: str, out: _Collector) -> None:
        if not isinstance(value, str):
            out.fail(value, path, "Member must be a string")
            return
        check_size(len(value), value, path, out)
        if pattern is not None and not pattern.fullmatch(value):
            out.fail(value, path, pattern_failure)
        if enum and value not in enum:
            out.fail(value, path, enum_failure)

    return check_string


def _integer_checker(shape: Shape) -> Checker:
    check_size = _size_checker(shape.metadata, "value")

    def check_integer(value: Any, path: str, out: _Collector) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.fail(value, path, "Member must be an integer")
            return
        check_size(value, value, path, out)

    return check_integer


def _check_number(value: Any, path: str, out: _Collector) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.fail(value, path, "Member must be a number")


def _check_boolean(value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, bool):
        out.fail(value, path, "Member must be a boolean")


def _check_timestamp(value: Any, path: str, out: _Collector) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | dt.datetime):
        out.fail(value, path, "Member must be a timestamp")


def _check_nothing(value: Any, path: str, out: _Collector) -> None:
    """Blobs and the like: the model gives them no constraint the server checks."""


_SCALAR_CHECKERS: dict[str, Checker] = {
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
}


def _size_checker(meta: dict[str, Any], noun: str) -> SizeChecker:
    low, high = meta.get("min"), meta.get("max")
    too_small = f"Member must have {noun} greater than or equal to {low}"
    too_large = f"Member must have {noun} less than or equal to {high}"

    def check_size(size: int, value: Any, path: str, out: _Collector) -> None:
        if low is not None and size < low:
            out.fail(value, path, too_small)
        if high is not None and size > high:
            out.fail(value, path, too_large)

    return check_size


@cache
def _input_checker(service: str, operation: str) -> Checker | None:
    shape = operation_model(service, operation).input_shape
    return None if shape is None else _checker(shape, {})


def validate_input(service: str, operation: str, params: Any) -> None:
    """Raise InvalidInputException listing every constraint ``params`` breaks."""
    check = _input_checker(service, operation)
    if check is None:
        return
    out = _Collector()
    check(params if params is not None else {}, "", out)
    if out.errors:
        count = len(out.errors)
        noun = "error" if count == 1 else "errors"
        listed = "; ".join(out.errors[:LISTED_ERRORS])
        more = f"; and {count - LISTED_ERRORS} more" if count > LISTED_ERRORS else ""
        raise InvalidInputException(f"{count} validation {noun} detected: {listed}{more}")
