"""Dataset schemas: Avro record JSON parsed and checked the way Personalize checks them.

Interface (other modules depend on these names):

* ``Field`` / ``DatasetSchema`` — the parsed, validated form of a schema.
* ``parse_schema(text) -> DatasetSchema`` — structural Avro checks done by CreateSchema.
* ``check_for_dataset_type(schema, dataset_type, domain=None)`` — the per-dataset-type rules
  (required fields, reserved names, textual only on items, field-count limits) that apply
  when a schema is bound to a dataset by CreateDataset / UpdateDataset.
* ``domain_schema_errors`` / defaults for VIDEO_ON_DEMAND and ECOMMERCE domains.

All failures raise ``picks.errors.InvalidInputException`` whose message says why.

Sources (copies under ``shared/reference``): the 2023 developer guide pages
``how-it-works-dataset-schema.md``, ``custom-datasets-and-schemas.md``, the
``*-dataset-requirements.md`` pages, ``VIDEO-ON-DEMAND-*`` / ``ECOMMERCE-*`` pages and
``limits.md``; the newer guide (``personalize_api.md`` §7, "doc-new") for the Actions /
Action interactions datasets and the current metadata-field quotas; the botocore model
for the ``AvroSchema`` length limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from picks.errors import InvalidInputException

DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")
PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean")
DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")

# botocore model: CreateSchema.schema is an ``AvroSchema`` string, max=20000.
MAX_SCHEMA_LENGTH = 20000

# The identifier column of each dataset type whose rows describe one entity.
ID_FIELDS = {"ITEMS": "ITEM_ID", "USERS": "USER_ID", "ACTIONS": "ACTION_ID"}

# Quotas on metadata fields (fields that are neither required nor reserved keywords).
# Current values from the newer guide's custom-datasets-and-schemas / limits pages
# ("at most 25 metadata fields for a Users schema, 100 ... for an Items schema, and 10 ...
# for an Actions schema"; "Maximum number of metadata columns, excluding reserved fields,
# in an Item interactions dataset: 5" and the same 5 for Action interactions).
# The 2023 guide's limits.md had Users 5 and Items 50; we follow the live service.
MAX_METADATA_FIELDS = {
    "INTERACTIONS": 5,
    "ITEMS": 100,
    "USERS": 25,
    "ACTIONS": 10,
    "ACTION_INTERACTIONS": 5,
}
# limits.md: "Maximum number of distinct event types combined with total number of optional
# metadata columns in Interactions datasets: 10" (EVENT_TYPE and EVENT_VALUE count as columns).
MAX_EVENT_TYPES_PLUS_OPTIONAL_COLUMNS = 10
# Newer limits page: "Maximum number of textual fields for an Items dataset: 1".
MAX_TEXTUAL_FIELDS = 1

_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_AVRO_FULLNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_NON_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_FLAT_HINT = 'use one of string, int, long, float, double, boolean, optionally in a union with "null"'


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # one of PRIMITIVE_TYPES
    nullable: bool = False
    categorical: bool = False
    textual: bool = False
    item_name: bool = False  # "itemName": true, the item title used by Semantic-Similarity


@dataclass(frozen=True)
class DatasetSchema:
    name: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        wanted = name.upper()
        for candidate in self.fields:
            if candidate.name.upper() == wanted:
                return candidate
        return None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


# --------------------------------------------------------------------------- parsing


def parse_schema(text: str) -> DatasetSchema:
    """Parse an Avro record schema string and apply the checks CreateSchema makes."""
    document = _load_record(text)
    name = _record_name(document)
    _check_namespace(document)
    return DatasetSchema(name=name, fields=_parse_fields(document))


def _load_record(text: Any) -> dict[str, Any]:
    """The schema's JSON object, checked to be an Avro record."""
    if not isinstance(text, str):
        raise _invalid(f"must be a JSON string, not {type(text).__name__}")
    if len(text) > MAX_SCHEMA_LENGTH:
        raise _invalid(f"is {len(text)} characters long; the maximum is {MAX_SCHEMA_LENGTH}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(f"is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _invalid(f"must be a JSON object describing an Avro record, not {json_kind(document)}")
    record_type = document.get("type")
    if record_type != "record":
        found = "missing" if record_type is None else f"{json.dumps(record_type)}"
        raise _invalid(f'top-level "type" must be "record" (found {found}); schemas are flat Avro records')
    return document


def _record_name(document: dict[str, Any]) -> str:
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid('the record needs a "name" string, e.g. "Interactions"')
    if not _AVRO_FULLNAME.match(name):
        raise _invalid(f"record name {name!r} is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def _check_namespace(document: dict[str, Any]) -> None:
    namespace = document.get("namespace")
    if namespace is None:
        return
    if not isinstance(namespace, str):
        raise _invalid(f'"namespace" must be a string, not {json_kind(namespace)}')
    if namespace and not _AVRO_FULLNAME.match(namespace):
        raise _invalid(f"namespace {namespace!r} is not a dotted sequence of Avro names")


def _parse_fields(document: dict[str, Any]) -> tuple[Field, ...]:
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, list):
        raise _invalid('the record needs a "fields" list')
    if not raw_fields:
        raise _invalid('"fields" must list at least one field')

    fields: list[Field] = []
    # Personalize wants names unique after dropping non-alphanumerics ("you can't add both a
    # GENRES_FIELD_1 field and a GENRESFIELD1 field"), which also makes them case-insensitive
    # because the CSV header and PutItems property keys are matched that way.
    seen: dict[str, str] = {}
    for position, raw in enumerate(raw_fields):
        parsed = _parse_field(raw, position)
        key = _NON_ALPHANUMERIC.sub("", parsed.name).upper()
        if key in seen:
            raise _invalid(
                f"field {parsed.name!r} clashes with field {seen[key]!r}: field names must be unique "
                "ignoring case and non-alphanumeric characters"
            )
        seen[key] = parsed.name
        fields.append(parsed)
    return tuple(fields)


def _parse_field(raw: Any, position: int) -> Field:
    if not isinstance(raw, dict):
        raise _invalid(f'fields[{position}] must be an object with "name" and "type", not {json_kind(raw)}')
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid(f'fields[{position}] needs a "name" string')
    if not _AVRO_NAME.match(name):
        raise _invalid(
            f"field {name!r} is not a valid Avro name: start with a letter or underscore, "
            "then use only letters, digits and underscores"
        )
    if "type" not in raw:
        raise _invalid(f'field {name!r} has no "type"; {_FLAT_HINT}')
    primitive, nullable = _parse_type(name, raw["type"])

    categorical = _flag(raw, name, "categorical")
    textual = _flag(raw, name, "textual")
    item_name = _flag(raw, name, "itemName")
    for flag, attribute in ((categorical, "categorical"), (textual, "textual"), (item_name, "itemName")):
        if flag and primitive != "string":
            raise _invalid(
                f'field {name!r} is of type {primitive} but sets "{attribute}": true; '
                f"only string fields can be {attribute}"
            )
    if categorical and textual:
        raise _invalid(f"field {name!r} can't be both categorical and textual; choose one")
    return Field(
        name=name,
        type=primitive,
        nullable=nullable,
        categorical=categorical,
        textual=textual,
        item_name=item_name,
    )


def _parse_type(name: str, declared: Any) -> tuple[str, bool]:
    """Return (primitive, nullable) for a field's Avro type, or raise explaining why not."""
    if isinstance(declared, str):
        return _primitive(name, declared), False
    if isinstance(declared, list):
        return _parse_union(name, declared)
    if isinstance(declared, dict):
        raise _object_type_error(name, declared)
    raise _invalid(f"field {name!r} has an invalid type {json.dumps(declared)}; {_FLAT_HINT}")


def _parse_union(name: str, declared: list[Any]) -> tuple[str, bool]:
    if not declared:
        raise _invalid(f"field {name!r} has an empty union type; {_FLAT_HINT}")
    members: list[str] = []
    for member in declared:
        if not isinstance(member, str):
            raise _invalid(
                f"field {name!r} has a nested type inside its union; schemas must be flat, {_FLAT_HINT}"
            )
        if member in members:
            raise _invalid(f"field {name!r} lists {member!r} twice in its union type")
        members.append(member)
    non_null = [m for m in members if m != "null"]
    if not non_null:
        raise _invalid(f'field {name!r} can\'t be only "null"; use a union such as ["null", "string"]')
    if len(non_null) > 1:
        raise _invalid(
            f"field {name!r} has union type {json.dumps(declared)}; a field can have one type, "
            'optionally together with "null"'
        )
    # A one-member union such as ["string"] is what the domain default schemas use.
    return _primitive(name, non_null[0]), len(non_null) != len(members)


def _object_type_error(name: str, declared: dict[str, Any]) -> InvalidInputException:
    """Why a type written as an object is refused: a wrapped primitive, or a complex (nested) type."""
    inner = declared.get("type")
    if isinstance(inner, str) and inner in PRIMITIVE_TYPES:
        return _invalid(f'field {name!r} declares its type as an object; write "type": "{inner}" instead')
    kind = inner if isinstance(inner, str) else "object"
    return _invalid(
        f"field {name!r} has a complex type ({kind}); Personalize schemas must be flat, {_FLAT_HINT}"
    )


def _primitive(name: str, declared: str) -> str:
    if declared in PRIMITIVE_TYPES:
        return declared
    if declared == "null":
        raise _invalid(f'field {name!r} can\'t be only "null"; use a union such as ["null", "string"]')
    if declared in ("record", "array", "map", "enum", "fixed"):
        raise _invalid(
            f"field {name!r} has a complex type ({declared}); Personalize schemas must be flat, {_FLAT_HINT}"
        )
    raise _invalid(f"field {name!r} has unsupported type {declared!r}; {_FLAT_HINT}")


def _flag(raw: dict[str, Any], name: str, attribute: str) -> bool:
    value = raw.get(attribute, False)
    if not isinstance(value, bool):
        raise _invalid(
            f'field {name!r} attribute "{attribute}" must be true or false, not {json.dumps(value)}'
        )
    return value


# ----------------------------------------------------------------- dataset-type rules


@dataclass(frozen=True)
class _Rule:
    """How a required field or reserved keyword must be declared."""

    types: tuple[str, ...]
    nullable: bool = False
    categorical: bool = False  # True: must set "categorical": true; False: must not
    textual: bool = False  # True: must set "textual": true; False: must not


_STRING = _Rule(("string",))
_NULLABLE_STRING = _Rule(("string",), nullable=True)
_LONG = _Rule(("long",))
_NULLABLE_LONG = _Rule(("long",), nullable=True)
# The guide says "float"; a double column holds the same values, so both are accepted.
_FLOAT = _Rule(("float", "double"))
_NULLABLE_FLOAT = _Rule(("float", "double"), nullable=True)
_CATEGORICAL = _Rule(("string",), nullable=True, categorical=True)
_REQUIRED_CATEGORICAL = _Rule(("string",), categorical=True)
_TEXTUAL = _Rule(("string",), nullable=True, textual=True)


@dataclass(frozen=True)
class _DatasetRules:
    required: dict[str, _Rule]
    # Reserved keywords: optional, non-metadata fields that must have the given declaration.
    reserved: dict[str, _Rule]
    min_metadata: int
    textual_allowed: bool


# custom-datasets-and-schemas.md ("Custom dataset and schema requirements" table), extended
# with the Actions / Action interactions rows of the newer guide.  Required fields are never
# nullable: every row needs them.  EVENT_TYPE is listed as plain `string` (its siblings list
# `null`), so it can't be nullable either.  CREATION_TIMESTAMP may be nullable because
# items-datasets.md says a missing creation timestamp is inferred from interactions.
_CUSTOM_RULES: dict[str, _DatasetRules] = {
    "INTERACTIONS": _DatasetRules(
        required={"USER_ID": _STRING, "ITEM_ID": _STRING, "TIMESTAMP": _LONG},
        reserved={
            "EVENT_TYPE": _STRING,
            "EVENT_VALUE": _NULLABLE_FLOAT,
            "IMPRESSION": _NULLABLE_STRING,
            "RECOMMENDATION_ID": _NULLABLE_STRING,
            "EVENT_ATTRIBUTION_SOURCE": _NULLABLE_STRING,
        },
        min_metadata=0,
        textual_allowed=False,
    ),
    "ITEMS": _DatasetRules(
        required={"ITEM_ID": _STRING},
        reserved={"CREATION_TIMESTAMP": _NULLABLE_LONG},
        min_metadata=1,
        textual_allowed=True,
    ),
    "USERS": _DatasetRules(
        required={"USER_ID": _STRING},
        reserved={},
        min_metadata=1,
        textual_allowed=False,
    ),
    "ACTIONS": _DatasetRules(
        required={"ACTION_ID": _STRING},
        reserved={
            "CREATION_TIMESTAMP": _NULLABLE_LONG,
            "VALUE": _NULLABLE_LONG,
            "TYPE": _NULLABLE_STRING,
            # The guide's table says EXPIRATION_TIMESTAMP, its prose ACTION_EXPIRATION_TIMESTAMP.
            "EXPIRATION_TIMESTAMP": _NULLABLE_LONG,
            "ACTION_EXPIRATION_TIMESTAMP": _NULLABLE_LONG,
            "REPEAT_FREQUENCY": _NULLABLE_LONG,
        },
        min_metadata=1,
        textual_allowed=False,
    ),
    "ACTION_INTERACTIONS": _DatasetRules(
        required={"USER_ID": _STRING, "ACTION_ID": _STRING, "EVENT_TYPE": _STRING, "TIMESTAMP": _LONG},
        reserved={"IMPRESSION": _NULLABLE_STRING, "RECOMMENDATION_ID": _NULLABLE_STRING},
        min_metadata=0,
        textual_allowed=False,
    ),
}


@dataclass(frozen=True)
class _DomainRules:
    # Domain fields are training features, so unlike custom reserved keywords they count as
    # metadata (the VOD default Users schema's only non-id field is SUBSCRIPTION_MODEL, and a
    # Users schema needs one metadata field).
    required: dict[str, _Rule]
    reserved: dict[str, _Rule]


# VIDEO-ON-DEMAND-datasets-and-schemas.md and ECOMMERCE-datasets-and-schemas.md tables.
# Conflicts in the guide, and what we chose:
# * ECOMMERCE-items-dataset.md lists CREATION_TIMESTAMP as `float`; its summary table and every
#   other page say `long`, and a Unix epoch needs long, so long it is.
# * The VOD default Items schema names the field GENRES_L1 while every requirement list says
#   GENRES; we require GENRES and ship a default schema that uses it.
_INTERACTIONS_DOMAIN = _DomainRules(required={"EVENT_TYPE": _STRING}, reserved={})
_DOMAIN_RULES: dict[tuple[str, str], _DomainRules] = {
    ("VIDEO_ON_DEMAND", "INTERACTIONS"): _INTERACTIONS_DOMAIN,
    ("ECOMMERCE", "INTERACTIONS"): _INTERACTIONS_DOMAIN,
    ("VIDEO_ON_DEMAND", "ITEMS"): _DomainRules(
        required={"GENRES": _REQUIRED_CATEGORICAL, "CREATION_TIMESTAMP": _LONG},
        reserved={
            "PRICE": _NULLABLE_FLOAT,
            "DURATION": _NULLABLE_FLOAT,
            "AVERAGE_RATING": _NULLABLE_FLOAT,
            "GENRE_L2": _CATEGORICAL,
            "GENRE_L3": _CATEGORICAL,
            "CONTENT_OWNER": _CATEGORICAL,
            "CONTENT_CLASSIFICATION": _CATEGORICAL,
            "PRODUCT_DESCRIPTION": _TEXTUAL,
        },
    ),
    ("ECOMMERCE", "ITEMS"): _DomainRules(
        required={"PRICE": _FLOAT, "CATEGORY_L1": _REQUIRED_CATEGORICAL},
        reserved={
            "CATEGORY_L2": _CATEGORICAL,
            "CATEGORY_L3": _CATEGORICAL,
            "AGE_GROUP": _CATEGORICAL,
            "ADULT": _CATEGORICAL,
            "GENDER": _CATEGORICAL,
            "PRODUCT_DESCRIPTION": _TEXTUAL,
        },
    ),
    ("VIDEO_ON_DEMAND", "USERS"): _DomainRules(required={}, reserved={"SUBSCRIPTION_MODEL": _CATEGORICAL}),
    ("ECOMMERCE", "USERS"): _DomainRules(required={}, reserved={}),
}


def normalize_dataset_type(dataset_type: str) -> str:
    """CreateDataset's datasetType is case-insensitive ("Interactions", "Action_Interactions")."""
    normalized = dataset_type.upper() if isinstance(dataset_type, str) else ""
    if normalized not in DATASET_TYPES:
        raise InvalidInputException(
            f"datasetType {dataset_type!r} is not valid; use one of "
            "Interactions, Items, Users, Actions, Action_Interactions"
        )
    return normalized


def check_for_dataset_type(schema: DatasetSchema, dataset_type: str, domain: str | None = None) -> None:
    """Raise unless ``schema`` can back a dataset of ``dataset_type`` (in a ``domain`` group)."""
    kind = normalize_dataset_type(dataset_type)
    if domain is not None:
        _check_domain(domain, kind)
    errors = dataset_schema_errors(schema, kind)
    if domain is not None:
        errors += domain_schema_errors(schema, kind, domain)
    if errors:
        # A domain can make a custom reserved keyword required (EVENT_TYPE), so the same
        # complaint may come from both rule sets; report it once, in order.
        raise _invalid("; ".join(dict.fromkeys(errors)))


def dataset_schema_errors(schema: DatasetSchema, dataset_type: str) -> list[str]:
    """Every violation of the custom-dataset-group rules for ``dataset_type``, as messages."""
    kind = normalize_dataset_type(dataset_type)
    rules = _CUSTOM_RULES[kind]
    errors: list[str] = []
    for field_name, rule in rules.required.items():
        errors += _required_errors(schema, kind, field_name, rule)
    for field_name, rule in rules.reserved.items():
        errors += _declared_errors(schema.field(field_name), rule, reserved=True)

    metadata = metadata_fields(schema, kind)
    if len(metadata) < rules.min_metadata:
        errors.append(
            f"{kind} schemas need at least {rules.min_metadata} metadata field besides "
            f"{' and '.join(rules.required)} and reserved keywords (a categorical string or a numeric field)"
        )
    limit = MAX_METADATA_FIELDS[kind]
    if len(metadata) > limit:
        errors.append(
            f"{kind} schemas allow at most {limit} metadata fields (fields other than required "
            f"fields and reserved keywords); this one has {len(metadata)}"
        )

    textual = [f.name for f in schema.fields if f.textual]
    if textual and not rules.textual_allowed:
        errors.append(f"field {textual[0]!r} is textual, but only ITEMS schemas can have textual fields")
    elif len(textual) > MAX_TEXTUAL_FIELDS:
        errors.append(
            f"ITEMS schemas allow at most {MAX_TEXTUAL_FIELDS} textual field; "
            f"this one has {len(textual)}: {', '.join(repr(n) for n in textual)}"
        )
    named = [f.name for f in schema.fields if f.item_name]
    if named and kind != "ITEMS":
        errors.append(f'field {named[0]!r} sets "itemName", which only ITEMS schemas support')
    elif len(named) > 1:
        errors.append(f'only one field can set "itemName"; found {", ".join(repr(n) for n in named)}')
    return errors


def domain_schema_errors(schema: DatasetSchema, dataset_type: str, domain: str) -> list[str]:
    """The extra violations a VIDEO_ON_DEMAND / ECOMMERCE dataset group adds, as messages."""
    kind = normalize_dataset_type(dataset_type)
    _check_domain(domain, kind)
    rules = _DOMAIN_RULES[(domain, kind)]
    errors: list[str] = []
    for field_name, rule in rules.required.items():
        errors += _required_errors(schema, f"{domain} {kind}", field_name, rule)
    for field_name, rule in rules.reserved.items():
        errors += _declared_errors(schema.field(field_name), rule, reserved=True)
    return errors


def metadata_fields(schema: DatasetSchema, dataset_type: str) -> tuple[Field, ...]:
    """Fields that are neither required nor reserved keywords for ``dataset_type``.

    These are the columns the metadata quotas count; for ITEMS / USERS / ACTIONS they are also
    the entity features.  Domain fields such as GENRES are metadata too.
    """
    rules = _CUSTOM_RULES[normalize_dataset_type(dataset_type)]
    special = set(rules.required) | set(rules.reserved)
    return tuple(f for f in schema.fields if f.name.upper() not in special)


def max_distinct_event_types(schema: DatasetSchema) -> int:
    """How many distinct event types an INTERACTIONS dataset with ``schema`` may hold.

    The quota caps distinct event types plus optional columns (EVENT_TYPE, EVENT_VALUE and
    custom metadata) at 10, so only the import job, which sees the data, can enforce it.
    """
    optional = len(metadata_fields(schema, "INTERACTIONS"))
    optional += sum(1 for name in ("EVENT_TYPE", "EVENT_VALUE") if schema.field(name) is not None)
    return max(MAX_EVENT_TYPES_PLUS_OPTIONAL_COLUMNS - optional, 0)


def _check_domain(domain: str, kind: str) -> None:
    if domain not in DOMAINS:
        raise InvalidInputException(f"domain {domain!r} is not valid; use ECOMMERCE or VIDEO_ON_DEMAND")
    if (domain, kind) not in _DOMAIN_RULES:
        # Newer guide: "You can't create next best action resources, including Actions and
        # Action Interactions datasets, in a domain dataset group."
        raise InvalidInputException(
            f"{kind} datasets can't be created in a domain dataset group ({domain}); "
            "use a custom dataset group (no domain)"
        )


def _required_errors(schema: DatasetSchema, owner: str, field_name: str, rule: _Rule) -> list[str]:
    declared = schema.field(field_name)
    if declared is None:
        return [f"{owner} schemas require a field {field_name!r} of type {_describe(rule)}"]
    return _declared_errors(declared, rule, reserved=False)


def _declared_errors(declared: Field | None, rule: _Rule, *, reserved: bool) -> list[str]:
    if declared is None:
        return []
    name = declared.name
    what = "is a reserved keyword and" if reserved else "is required and"
    if declared.type not in rule.types:
        return [f"field {name!r} must be of type {' or '.join(rule.types)}, not {declared.type}"]
    errors: list[str] = []
    if declared.nullable and not rule.nullable:
        errors.append(f'field {name!r} {what} can\'t be nullable; remove "null" from its type')
    if rule.categorical and not declared.categorical:
        errors.append(f'field {name!r} must be a categorical string; add "categorical": true')
    if declared.categorical and not rule.categorical:
        errors.append(f"field {name!r} {what} can't be categorical")
    if rule.textual and not declared.textual:
        errors.append(f'field {name!r} must be a textual string; add "textual": true')
    if declared.textual and not rule.textual:
        errors.append(f"field {name!r} {what} can't be textual")
    return errors


def _describe(rule: _Rule) -> str:
    kind = " or ".join(rule.types)
    if rule.categorical:
        return f'{kind} with "categorical": true'
    if rule.textual:
        return f'{kind} with "textual": true'
    return kind


def _invalid(reason: str) -> InvalidInputException:
    return InvalidInputException(f"schema: {reason}")


def json_kind(value: Any) -> str:
    """How a JSON value is named in error messages (\"an array\", \"a string\", ...)."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return "an object"


# ------------------------------------------------------------------ domain defaults


def _record(name: str, fields: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": fields,
            "version": "1.0",
        },
        indent=2,
    )


_DEFAULT_INTERACTIONS = _record(
    "Interactions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
)

# The default schemas printed in the guide's domain pages (one-member unions kept as printed),
# except VOD Items, whose printed GENRES_L1 contradicts the required GENRES field.
DOMAIN_DEFAULT_SCHEMAS: dict[tuple[str, str], str] = {
    ("VIDEO_ON_DEMAND", "INTERACTIONS"): _DEFAULT_INTERACTIONS,
    ("VIDEO_ON_DEMAND", "ITEMS"): _record(
        "Items",
        [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRES", "type": ["string"], "categorical": True},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
        ],
    ),
    ("VIDEO_ON_DEMAND", "USERS"): _record(
        "Users",
        [
            {"name": "USER_ID", "type": "string"},
            {"name": "SUBSCRIPTION_MODEL", "type": "string", "categorical": True},
        ],
    ),
    ("ECOMMERCE", "INTERACTIONS"): _DEFAULT_INTERACTIONS,
    ("ECOMMERCE", "ITEMS"): _record(
        "Items",
        [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "PRICE", "type": "float"},
            {"name": "CATEGORY_L1", "type": ["string"], "categorical": True},
        ],
    ),
    ("ECOMMERCE", "USERS"): _record(
        "Users",
        [
            {"name": "USER_ID", "type": "string"},
            {"name": "MEMBERSHIP_STATUS", "type": "string", "categorical": True},
        ],
    ),
}
