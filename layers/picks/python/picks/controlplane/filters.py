"""CreateFilter / DescribeFilter / ListFilters / DeleteFilter.

A filter is its expression, parsed and checked by ``picks.filters.parser`` and evaluated at request
time by ``picks.filters.engine``.  CreateFilter also checks the expression against the dataset
group: every ``dataset.FIELD`` it names (``CurrentItem.F`` is an Items field, ``CurrentUser.F`` a
Users field) must be a field of that dataset's schema; boolean and textual fields can't be
filtered; comparisons need numeric fields.  Nothing is provisioned, so a filter is ACTIVE as soon
as CreateFilter returns.

Quotas (``Settings``; the current guide's values): ``max_filters_per_group`` (30),
``max_fields_per_filter`` (10 distinct dataset fields in one filter, across its ``|`` expressions)
and ``max_filter_fields_per_group`` (20 distinct fields across all filters of a dataset group).

The ARN is ``filter/<name>``, so names are unique per account.  ListFilters answers under the key
``Filters`` (capital F), as the service model spells it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane import dataset_groups
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.controlplane.solutions import get_resource
from picks.dataset_schema import DatasetSchema, Field, parse_schema
from picks.domain.states import ACTIVE
from picks.errors import (
    InvalidInputException,
    LimitExceededException,
)
from picks.filters.parser import (
    DISPLAY_NAMES,
    Comparison,
    CurrentRef,
    FieldRef,
    FilterExpression,
    conditions,
    operands,
    parse_cached,
)

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

KIND = "filter"
WHAT = "Filter"
SUMMARY_FIELDS = (
    "name",
    "filterArn",
    "creationDateTime",
    "lastUpdatedDateTime",
    "datasetGroupArn",
    "failureReason",
    "status",
)
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})


def get_filter(services: Services, arn: str) -> Resource:
    return get_resource(services, arn, kind=KIND, what=WHAT, field="filterArn")


@operation("CreateFilter")
def create_filter(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    group = dataset_groups.active_group(services, params["datasetGroupArn"])
    expression = parse_cached(params["filterExpression"])
    _check_fields(services, group, expression)
    _check_limits(services, group, expression, params["name"])

    arn = arn_for(services, KIND, params["name"])
    doc = {
        "name": params["name"],
        "filterArn": arn,
        "datasetGroupArn": group.arn,
        "filterExpression": params["filterExpression"],
        "status": ACTIVE,
    }
    resource = new_resource(services, KIND, arn, doc, parent=group.arn, tags=params.get("tags"))
    create_resource(
        services,
        resource,
        what=WHAT,
        duplicate=f"name: filter {params['name']} already exists ({arn}); names are unique per account.",
    )
    return {"filterArn": arn}


@operation("DescribeFilter")
def describe_filter(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"filter": get_filter(services, params["filterArn"]).to_wire()}


@operation("ListFilters")
def list_filters(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    # The model declares no ResourceNotFoundException here: an unknown group lists nothing.
    parent = params.get("datasetGroupArn")
    page, token = list_page(services, params, kind=KIND, fields=SUMMARY_FIELDS, parent=parent)
    return {"Filters": page, "nextToken": token}


@operation("DeleteFilter")
def delete_filter(services: Services, params: dict[str, Any]) -> None:
    resource = get_filter(services, params["filterArn"])
    services.resources.delete(resource.arn)


# --------------------------------------------------------------------------- checks


def _schemas(services: Services, group: Resource) -> dict[str, DatasetSchema]:
    """The group's dataset schemas by dataset type."""
    found: dict[str, DatasetSchema] = {}
    for dataset in services.resources.list("dataset", parent=group.arn):
        schema = services.resources.find(dataset.doc["schemaArn"])
        if schema is not None:
            found[dataset.doc["datasetType"]] = parse_schema(schema.doc["schema"])
    return found


def _references(expression: FilterExpression) -> list[tuple[FieldRef | CurrentRef, str]]:
    """Every field reference with its role: ``compare`` (numeric needed) or ``match`` (IN / NOT IN)."""
    found: list[tuple[FieldRef | CurrentRef, str]] = []
    for clause in expression.clauses:
        for condition in (*conditions(clause.where), *clause.if_conditions):
            role = "compare" if isinstance(condition, Comparison) else "match"
            found.append((condition.subject, role))
            found.extend((value, role) for value in operands(condition) if isinstance(value, CurrentRef))
    return found


def _invalid(ref: FieldRef | CurrentRef, message: str) -> InvalidInputException:
    return InvalidInputException(f"filterExpression: at position {ref.position}: {message}")


def _check_fields(services: Services, group: Resource, expression: FilterExpression) -> None:
    schemas = _schemas(services, group)
    for ref, role in _references(expression):
        dataset_type = ref.dataset
        name = DISPLAY_NAMES[dataset_type]
        schema = schemas.get(dataset_type)
        if schema is None:
            raise _invalid(
                ref,
                f"{ref.text} refers to the {name} dataset, but dataset group {group.arn} has no "
                f"{dataset_type} dataset.",
            )
        field = schema.field(ref.name)
        if field is None:
            known = ", ".join(schema.field_names)
            raise _invalid(
                ref,
                f"{ref.text}: {ref.name} is not a field of the {dataset_type} dataset's schema "
                f"(its fields: {known}).",
            )
        _check_field_type(ref, field, role)


def _check_field_type(ref: FieldRef | CurrentRef, field: Field, role: str) -> None:
    if field.type == "boolean":
        raise _invalid(
            ref,
            f"{ref.text} is a boolean field, and filters can't use boolean fields; use a string field "
            'with "True" / "False" values or an int field with 0 / 1.',
        )
    if field.textual:
        raise _invalid(
            ref, f"{ref.text} is a textual field; filters can't use unstructured textual metadata."
        )
    if role == "compare" and field.type not in NUMERIC_TYPES:
        raise _invalid(
            ref,
            f"{ref.text} is a {field.type} field; comparisons (=, !=, <, <=, >, >=) only apply to numeric "
            "fields, use IN / NOT IN to match strings.",
        )


def _field_names(fields: frozenset[tuple[str, str]] | set[tuple[str, str]]) -> str:
    return ", ".join(f"{DISPLAY_NAMES[dataset]}.{name}" for dataset, name in sorted(fields))


def _check_limits(services: Services, group: Resource, expression: FilterExpression, name: str) -> None:
    settings = services.settings
    existing = services.resources.list(KIND, parent=group.arn)
    if len(existing) >= settings.max_filters_per_group:
        raise LimitExceededException(
            f"datasetGroupArn: cannot create filter '{name}': {group.arn} already has "
            f"{settings.max_filters_per_group} filters, the most a dataset group can have "
            "(picks setting Settings.max_filters_per_group; delete a filter or raise the setting)."
        )
    if len(expression.fields) > settings.max_fields_per_filter:
        raise LimitExceededException(
            f"filterExpression: the filter uses {len(expression.fields)} distinct dataset fields "
            f"({_field_names(expression.fields)}); a filter can use at most {settings.max_fields_per_filter} "
            "(picks setting Settings.max_fields_per_filter)."
        )
    used: set[tuple[str, str]] = set()
    for other in existing:
        try:
            used |= parse_cached(other.doc["filterExpression"]).fields
        except InvalidInputException:
            continue  # an expression this version no longer accepts counts for nothing
    combined = used | expression.fields
    if len(combined) > settings.max_filter_fields_per_group:
        new = expression.fields - used
        raise LimitExceededException(
            f"filterExpression: the dataset group's filters would use {len(combined)} distinct dataset "
            f"fields; the most is {settings.max_filter_fields_per_group} (picks setting "
            f"Settings.max_filter_fields_per_group). Fields this filter adds: {_field_names(new)}."
        )
