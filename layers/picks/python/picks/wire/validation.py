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


def _check(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    # The containers below dispatch their members through _CHECKERS directly: one call per value, not two
    # (this runs on every request).
    _CHECKERS.get(shape.type_name, _check_nothing)(shape, value, path, out)


def _check_structure(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, dict):
        out.fail(value, path, "Member must be a structure")
        return
    for name in shape.required_members:
        if value.get(name) is None:
            out.fail(None, _join(path, name), "Member must not be null")
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _CHECKERS.get(member.type_name, _check_nothing)(member, value[name], _join(path, name), out)


def _check_list(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, list):
        out.fail(value, path, "Member must be a list")
        return
    _check_size(len(value), shape.metadata, value, path, out, "length")
    member = shape.member
    check_member = _CHECKERS.get(member.type_name, _check_nothing)
    for index, item in enumerate(value):
        check_member(member, item, f"{path}.{index + 1}.member" if path else str(index + 1), out)


def _check_map(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, dict):
        out.fail(value, path, "Member must be a map")
        return
    _check_size(len(value), shape.metadata, value, path, out, "length")
    key_shape, value_shape = shape.key, shape.value
    check_key = _CHECKERS.get(key_shape.type_name, _check_nothing)
    check_value = _CHECKERS.get(value_shape.type_name, _check_nothing)
    for key, item in value.items():
        check_key(key_shape, key, f"{path}.key", out)
        check_value(value_shape, item, f"{path}.{excerpt(str(key))}", out)


def _check_string(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, str):
        out.fail(value, path, "Member must be a string")
        return
    meta = shape.metadata
    _check_size(len(value), meta, value, path, out, "length")
    if "pattern" in meta and not compiled_pattern(meta["pattern"]).fullmatch(value):
        out.fail(value, path, f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if shape.enum and value not in shape.enum:
        out.fail(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")


def _check_integer(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.fail(value, path, "Member must be an integer")
        return
    _check_size(value, shape.metadata, value, path, out, "value")


def _check_number(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.fail(value, path, "Member must be a number")


def _check_boolean(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if not isinstance(value, bool):
        out.fail(value, path, "Member must be a boolean")


def _check_timestamp(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | dt.datetime):
        out.fail(value, path, "Member must be a timestamp")


def _check_nothing(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    """Blobs and the like: the model gives them no constraint the server checks."""


_CHECKERS: dict[str, Callable[[Shape, Any, str, _Collector], None]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
}


def _check_size(size: int, meta: dict[str, Any], value: Any, path: str, out: _Collector, noun: str) -> None:
    if "min" in meta and size < meta["min"]:
        out.fail(value, path, f"Member must have {noun} greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        out.fail(value, path, f"Member must have {noun} less than or equal to {meta['max']}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate_input(service: str, operation: str, params: Any) -> None:
    """Raise InvalidInputException listing every constraint ``params`` breaks."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        return
    out = _Collector()
    _check(shape, params if params is not None else {}, "", out)
    if out.errors:
        count = len(out.errors)
        noun = "error" if count == 1 else "errors"
        listed = "; ".join(out.errors[:LISTED_ERRORS])
        more = f"; and {count - LISTED_ERRORS} more" if count > LISTED_ERRORS else ""
        raise InvalidInputException(f"{count} validation {noun} detected: {listed}{more}")
