"""The ``properties`` JSON of PutItems / PutUsers / PutActions records and of PutEvents events,
validated against the dataset's schema the way Personalize reads it.

* ``properties`` is a JSON object (sent as a string).  Its keys are the schema's field names in
  camel case: split the field name at ``_``, lower-case the first part and capitalize the others
  (``NUMBER_OF_RATINGS`` → ``numberOfRatings``, ``CREATION_TIMESTAMP`` → ``creationTimestamp``,
  ``CATEGORY_L1`` → ``categoryL1``; the developer guide's ``importing-items`` / ``importing-users``
  pages and the Item / User / Event API shapes).  A key written as the field name itself (any case,
  as a CSV header may be) is accepted too.  Two keys naming the same field are an error.
* Values follow the bulk-CSV rules of ``picks.ingest.csv_reader`` (one definition of "valid"):
  numbers may be JSON numbers or numeric strings (the guide's examples send ``"12"``), booleans
  ``true`` / ``false`` or the strings ``"true"`` / ``"false"``, strings must be JSON strings;
  multiple categorical values are joined with ``|`` and count as one value of at most 1000
  characters; a textual value is truncated to 20,000 characters as the bulk import does; ``null``
  or ``""`` is null, which only nullable fields accept; epoch-second fields reject milliseconds.
* Records (items, users, actions): the id is the record's own ``itemId`` / ``userId`` /
  ``actionId`` member, so the id field can't appear among the properties; every non-nullable field
  other than the id must be given, as in a CSV import.
* Events: at most 1024 characters; keys are INTERACTIONS schema fields, except the ones an event
  carries as its own members — ``userId``, ``sessionId``, ``eventType``, ``timestamp``,
  ``recommendationId``, ``impression`` are refused whatever their case.  ``itemId`` and
  ``eventValue`` are accepted whatever their case (``ItemId``, ``itemID``: the guide's PutEvents
  example and the sample notebooks send them as properties) and stand for the event's own members
  (``picks.realtime.stored_events``).  Required interaction fields come from the event's members, so
  none is required here.

Both validators return ``{schema field name: typed value}`` (str, int, float, bool or None) for the
keys that were given; errors are ``InvalidInputException`` naming the request path and the key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from picks.dataset_schema import ID_FIELDS, DatasetSchema, Field, json_kind
from picks.errors import InvalidInputException
from picks.ingest.csv_reader import MAX_TEXTUAL_CHARS, value_problem

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_EVENT_PROPERTIES_CHARS = 1024
# PutEvents Event.properties: "The following can't be included as a keyword for properties (case
# insensitive)" — and the schema fields they stand for can't be set by another spelling either.
FORBIDDEN_EVENT_KEYS = ("userId", "sessionId", "eventType", "timestamp", "recommendationId", "impression")
_FORBIDDEN_EVENT_FIELDS = frozenset({"USER_ID", "EVENT_TYPE", "TIMESTAMP", "RECOMMENDATION_ID", "IMPRESSION"})
# Event members a ``properties`` key may carry instead (matched whatever its case, as the reserved
# keys are), and the schema field each stands for.
EVENT_MEMBER_PROPERTIES = {"itemid": "ITEM_ID", "eventvalue": "EVENT_VALUE"}
# The request member that carries each record type's id.
ID_MEMBERS = {"ITEMS": "itemId", "USERS": "userId", "ACTIONS": "actionId"}


def camel_case(field_name: str) -> str:
    """The ``properties`` key of a schema field: ``NUMBER_OF_RATINGS`` → ``numberOfRatings``."""
    parts = [part for part in field_name.split("_") if part]
    if not parts:
        return field_name
    return parts[0].lower() + "".join(part[:1].upper() + part[1:].lower() for part in parts[1:])


def property_field(schema: DatasetSchema, key: str) -> Field | None:
    """The schema field a ``properties`` key names: its camel-case form or the field name itself."""
    for field in schema.fields:
        if key == camel_case(field.name) or key.upper() == field.name.upper():
            return field
    return None


def validate_record_properties(
    schema: DatasetSchema, dataset_type: str, properties_json: str | None, path: str
) -> dict[str, Any]:
    """Validate one PutItems / PutUsers / PutActions record's ``properties`` against ``schema``.

    ``path`` locates the record in the request (``items.2.properties``) and prefixes every error.
    """
    dataset_type = dataset_type.upper()
    raw = _parse_object(properties_json, path)
    id_field = ID_FIELDS.get(dataset_type)
    values: dict[str, Any] = {}
    for key, value in raw:
        field = _field_for(schema, dataset_type, key, path)
        if id_field is not None and field.name.upper() == id_field:
            raise InvalidInputException(
                f"{path}: '{key}' is the record's id; send it as the {ID_MEMBERS[dataset_type]} member, "
                "not as a property."
            )
        _check_repeated(values, field, key, path)
        values[field.name] = typed_value(field, value, f"{path}: '{key}'")
    for field in schema.fields:
        if field.nullable or field.name in values:
            continue
        if id_field is not None and field.name.upper() == id_field:
            continue
        raise InvalidInputException(
            f"{path}: '{camel_case(field.name)}' is missing; field {field.name} of the {dataset_type} "
            "schema is not nullable."
        )
    return values


def validate_event_properties(
    schema: DatasetSchema, properties_json: str | None, path: str
) -> dict[str, Any]:
    """Validate one PutEvents event's ``properties`` against the INTERACTIONS ``schema``."""
    if properties_json is not None and len(properties_json) > MAX_EVENT_PROPERTIES_CHARS:
        raise InvalidInputException(
            f"{path}: is {len(properties_json)} characters long; the maximum is {MAX_EVENT_PROPERTIES_CHARS}."
        )
    raw = _parse_object(properties_json, path)
    forbidden = {name.lower() for name in FORBIDDEN_EVENT_KEYS}
    values: dict[str, Any] = {}
    for key, value in raw:
        if key.lower() in forbidden:
            raise InvalidInputException(
                f"{path}: '{key}' can't be a property ({', '.join(FORBIDDEN_EVENT_KEYS)} are reserved, "
                "whatever their case); use the request's own member."
            )
        member_field = EVENT_MEMBER_PROPERTIES.get(key.lower())
        field = schema.field(member_field) if member_field else None
        if field is None:
            field = _field_for(schema, "INTERACTIONS", key, path)
        if field.name.upper() in _FORBIDDEN_EVENT_FIELDS:
            raise InvalidInputException(
                f"{path}: '{key}' sets {field.name}, which the event carries in its own member; "
                "remove it from properties."
            )
        _check_repeated(values, field, key, path)
        values[field.name] = typed_value(field, value, f"{path}: '{key}'")
    return values


def typed_value(field: Field, value: Any, where: str) -> Any:
    """A JSON property value checked against ``field`` with the bulk-CSV rules, then converted."""
    if value is None:
        if field.nullable:
            return None
        raise InvalidInputException(f"{where}: null, but {field.name} is not nullable.")
    if isinstance(value, str):
        text = value
        if field.textual and len(text) > MAX_TEXTUAL_CHARS:
            text = text[:MAX_TEXTUAL_CHARS]  # as the bulk import does, and the guide describes
    else:
        text = _non_string_text(field, value, where)
    problem = value_problem(field, text)
    if problem is not None:
        raise InvalidInputException(f"{where}: {problem}.")
    if text == "":
        return None  # empty is null, as in a CSV; only nullable fields got here
    convert = _FROM_TEXT.get(field.type)
    return text if convert is None else convert(text)


def _non_string_text(field: Field, value: Any, where: str) -> str:
    """A JSON boolean or number as the CSV text it stands for; objects and arrays are refused."""
    if isinstance(value, bool):
        if field.type != "boolean":
            raise InvalidInputException(
                f"{where}: {json.dumps(value)} is not a valid {field.type} for {field.name}."
            )
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if field.type in ("string", "boolean"):
            kind = "a JSON string" if field.type == "string" else "true or false"
            raise InvalidInputException(
                f"{where}: {json.dumps(value)} is a number, but {field.name} is a {field.type}; send {kind}."
            )
        return str(value) if isinstance(value, int) else repr(value)
    hint = ""
    is_object = isinstance(value, _Pairs)
    if field.categorical and not is_object:
        hint = "; join multiple categorical values with '|' in one string, e.g. \"Horror|Action\""
    kind = "an object" if is_object else "an array"
    raise InvalidInputException(f"{where}: {kind} is not a valid {field.type} for {field.name}{hint}.")


def _is_true(text: str) -> bool:
    return text == "true"


# A checked value's text to its Python value, by field type; strings stay text.
_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": _is_true,
}


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object's (key, value) pairs in order, so repeated keys are seen, not merged."""


def _parse_object(properties_json: str | None, path: str) -> list[tuple[str, Any]]:
    if properties_json is None:
        return []
    try:
        document = json.loads(properties_json, object_pairs_hook=_Pairs, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        if isinstance(error, json.JSONDecodeError):
            detail = f"{error.msg} at position {error.pos}"
        else:
            detail = str(error)
        raise InvalidInputException(f"{path}: not valid JSON ({detail}).") from None
    if not isinstance(document, _Pairs):
        raise InvalidInputException(
            f'{path}: must be a JSON object such as {{"genres": "Comedy"}}, not {json_kind(document)}.'
        )
    return list(document)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _field_for(schema: DatasetSchema, dataset_type: str, key: str, path: str) -> Field:
    field = property_field(schema, key)
    if field is None:
        known = ", ".join(camel_case(f.name) for f in schema.fields)
        raise InvalidInputException(
            f"{path}: '{key}' is not a field of the {dataset_type} schema (keys are the field names in "
            f"camel case: {known})."
        )
    return field


def _check_repeated(values: dict[str, Any], field: Field, key: str, path: str) -> None:
    if field.name in values:
        raise InvalidInputException(f"{path}: '{key}' names field {field.name} a second time.")
