"""Avro schema text in Amazon Personalize's shape, for the demo, the benchmarks and the tests.

``avro_schema("Items", ("ITEM_ID", "string"), ("CATEGORY", "string", "categorical"))`` is the
``json.dumps`` of a ``record`` in the ``com.amazonaws.personalize.schema`` namespace, version 1.0. A field is
``(name, type, *flags)`` (each flag, e.g. ``"categorical"`` or ``"textual"``, becomes ``flag: true``) or
a dict passed through as written.
"""

from __future__ import annotations

import json

Field = tuple[str, object] | tuple[str, object, str] | dict[str, object]

NAMESPACE = "com.amazonaws.personalize.schema"
# The required interactions columns, in the order the demo, bench and tests write them.
USER_ITEM_TIME: tuple[Field, ...] = (("USER_ID", "string"), ("ITEM_ID", "string"), ("TIMESTAMP", "long"))


def field(spec: Field) -> dict[str, object]:
    if isinstance(spec, dict):
        return spec
    name, avro_type, *flags = spec
    return {"name": name, "type": avro_type} | {str(flag): True for flag in flags}


def avro_schema(name: str, *fields: Field) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": NAMESPACE,
            "fields": [field(spec) for spec in fields],
            "version": "1.0",
        }
    )
