"""Shape handler results into exactly what the botocore output shape declares.

Members not in the model are dropped, ``None`` values are omitted and
timestamps become epoch seconds (JSON numbers), as AWS JSON 1.1 and
REST-JSON responses carry them.

Each output shape is compiled once into a function (``_shaper``): a 25-item answer would otherwise
ask each item's shape for its type and members, one call per value.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import TYPE_CHECKING, Any

from picks.wire.service_model import operation_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.model import Shape

    # A value -> what the wire carries for it.
    Shaper = Callable[[Any], Any]


def _timestamp(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def _structure_shaper(shape: Shape, compiled: dict[str, Shaper | None]) -> Shaper:
    # Filled after this shaper is registered under the shape's name, so that a shape containing itself
    # compiles (botocore builds a new Shape object for every reference to a named shape).
    plan: list[tuple[str, Shaper | None]] = []

    def shape_structure(value: Any) -> dict[str, Any]:
        out = {}
        for name, member in plan:
            item = value.get(name)
            if item is not None:
                out[name] = item if member is None else member(item)
        return out

    compiled[shape.name] = shape_structure
    plan.extend((name, _shaper(member, compiled)) for name, member in shape.members.items())
    return shape_structure


def _list_shaper(member: Shaper | None) -> Shaper:
    if member is None:
        return list

    def shape_list(value: Any) -> list[Any]:
        return [member(item) for item in value]

    return shape_list


def _map_shaper(member: Shaper | None) -> Shaper:
    if member is None:
        return dict

    def shape_map(value: Any) -> dict[Any, Any]:
        return {key: member(item) for key, item in value.items()}

    return shape_map


def _shaper(shape: Shape, compiled: dict[str, Shaper | None]) -> Shaper | None:
    """The function that shapes a value of ``shape``; None where the value is written as it is."""
    if shape.name in compiled:
        return compiled[shape.name]
    kind = shape.type_name
    shaper: Shaper | None = None
    if kind == "structure":
        return _structure_shaper(shape, compiled)
    if kind == "list":
        shaper = _list_shaper(_shaper(shape.member, compiled))
    elif kind == "map":
        shaper = _map_shaper(_shaper(shape.value, compiled))
    elif kind == "timestamp":
        shaper = _timestamp
    compiled[shape.name] = shaper
    return shaper


@cache
def _output_shaper(service: str, operation: str) -> Shaper | None:
    shape = operation_model(service, operation).output_shape
    return None if shape is None else _shaper(shape, {})


def serialize_output(service: str, operation: str, result: dict[str, Any] | None) -> dict[str, Any]:
    shaper = _output_shaper(service, operation)
    if shaper is None or result is None:
        return {}
    output: dict[str, Any] = shaper(result)
    return output
