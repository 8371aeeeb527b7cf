"""Shape handler results into exactly what the botocore output shape declares.

Members not in the model are dropped, ``None`` values are omitted and
timestamps become epoch seconds (JSON numbers), as AWS JSON 1.1 and
REST-JSON responses carry them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from picks.wire.service_model import operation_model

if TYPE_CHECKING:
    from botocore.model import Shape


# Shapes whose values are rebuilt; any other value is written as it is.
_REBUILT = frozenset({"structure", "list", "map", "timestamp"})
# id(shape) -> (shape, its members as (name, member shape or None where the value is written as it
# is)): a 25-item answer would otherwise look up each item's members' types one call at a time.
_plans: dict[int, tuple[Shape, tuple[tuple[str, Shape | None], ...]]] = {}


def _members(shape: Shape) -> tuple[tuple[str, Shape | None], ...]:
    entry = _plans.get(id(shape))
    if entry is None or entry[0] is not shape:
        plan = tuple(
            (name, member if member.type_name in _REBUILT else None) for name, member in shape.members.items()
        )
        entry = _plans[id(shape)] = (shape, plan)
    return entry[1]


def _shape_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in _members(shape):
            item = value.get(name)
            if item is not None:
                out[name] = item if member is None else _shape_value(member, item)
        return out
    if kind == "list":
        if shape.member.type_name not in _REBUILT:
            return list(value)
        return [_shape_value(shape.member, item) for item in value]
    if kind == "map":
        return {key: _shape_value(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value.timestamp()
        return value
    return value


def serialize_output(service: str, operation: str, result: dict[str, Any] | None) -> dict[str, Any]:
    shape = operation_model(service, operation).output_shape
    if shape is None or result is None:
        return {}
    output: dict[str, Any] = _shape_value(shape, result)
    return output
