"""Validate request parameters against botocore's service model.

botocore only checks ``required``, ``min`` and types client-side; lengths,
patterns and enums are the server's job.  Messages follow the AWS wording
("1 validation error detected: Value 'x' at 'name' failed to satisfy
constraint: ...") and always name the member path.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

from botocore.model import Shape

from picks.errors import InvalidInputException
from picks.wire.service_model import operation_model

# Java-style Unicode classes used by the Personalize models; Python's ``re`` lacks \p{..}.
_UNICODE_CLASSES = {
    "ASCII": r"\x00-\x7F",
    "L": r"^\W\d_",  # placeholder, handled specially below
    "Z": r"\s",
    "N": r"\d",
}


def _translate_java_pattern(pattern: str) -> str:
    """Rewrite ``\\p{X}`` classes into Python regex equivalents."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and pattern.startswith("\\p{", i):
            end = pattern.index("}", i)
            name = pattern[i + 3 : end]
            # Letters: \w minus digits/underscore is not expressible inside a class,
            # so \p{L} widens to \w; the surrounding Personalize classes allow _ and digits anyway.
            body = r"\w" if name == "L" else _UNICODE_CLASSES[name]
            out.append(body if in_class else f"[{body}]")
            i = end + 1
            continue
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate_java_pattern(pattern), re.DOTALL)


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.errors.append(f"Value {_fmt(value)} at '{path}' failed to satisfy constraint: {constraint}")


def _check(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            out.fail(value, path, "Member must be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                out.fail(None, _join(path, name), "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name), out)
        return
    if kind == "list":
        if not isinstance(value, list):
            out.fail(value, path, "Member must be a list")
            return
        _check_size(len(value), meta, value, path, out, "length")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}.member" if path else str(index + 1), out)
        return
    if kind == "map":
        if not isinstance(value, dict):
            out.fail(value, path, "Member must be a map")
            return
        _check_size(len(value), meta, value, path, out, "length")
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", out)
            _check(shape.value, item, f"{path}.{key}", out)
        return
    if kind == "string":
        if not isinstance(value, str):
            out.fail(value, path, "Member must be a string")
            return
        _check_size(len(value), meta, value, path, out, "length")
        if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
            out.fail(value, path, f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            out.fail(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            out.fail(value, path, "Member must be an integer")
            return
        _check_size(value, meta, value, path, out, "value")
        return
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.fail(value, path, "Member must be a number")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            out.fail(value, path, "Member must be a boolean")
        return
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str | dt.datetime):
            out.fail(value, path, "Member must be a timestamp")
        return


def _check_size(size: int, meta: dict, value: Any, path: str, out: _Collector, noun: str) -> None:
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
        raise InvalidInputException(f"{count} validation {noun} detected: " + "; ".join(out.errors))
