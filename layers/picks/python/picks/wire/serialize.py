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


def _shape_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = _shape_value(member, value[name])
        return out
    if kind == "list":
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
