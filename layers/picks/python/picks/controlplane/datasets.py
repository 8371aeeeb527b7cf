"""CreateDataset / DescribeDataset / ListDatasets / UpdateDataset / DeleteDataset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks import arns
from picks.controlplane import dataset_groups, schemas
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.dataset_schema import DATASET_TYPES, DatasetSchema, check_for_dataset_type, parse_schema
from picks.domain.states import ACTIVE, IN_PROGRESS_STATES
from picks.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

KIND = "dataset"
WHAT = "Dataset"


def _dataset_type(value: str) -> str:
    # The developer guide's own examples pass "Interactions"; Personalize is case-insensitive here.
    normalized = value.upper()
    if normalized not in DATASET_TYPES:
        raise InvalidInputException(f"datasetType: '{value}' is not one of {', '.join(DATASET_TYPES)}.")
    return normalized


def _bind_schema(services: Services, schema_arn: str, dataset_type: str, group: Resource) -> DatasetSchema:
    schema = services.resources.get(schema_arn, what=schemas.WHAT, kind=schemas.KIND)
    group_domain = group.doc.get("domain")
    schema_domain = schema.doc.get("domain")
    if group_domain != schema_domain:
        raise InvalidInputException(
            f"schemaArn: schema domain {schema_domain or 'none'} does not match dataset group domain "
            f"{group_domain or 'none'}."
        )
    parsed = parse_schema(schema.doc["schema"])
    check_for_dataset_type(parsed, dataset_type, group_domain)
    return parsed


def in_progress_import(services: Services, dataset_arn: str) -> Resource | None:
    for job in services.resources.list("dataset-import-job", parent=dataset_arn):
        if job.doc.get("status") in IN_PROGRESS_STATES:
            return job
    return None


@operation("CreateDataset")
def create_dataset(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    dataset_type = _dataset_type(params["datasetType"])
    group = services.resources.get(
        params["datasetGroupArn"], what=dataset_groups.WHAT, kind=dataset_groups.KIND
    )
    if group.doc.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"datasetGroupArn: {group.arn} is {group.doc.get('status')}, not ACTIVE."
        )
    _bind_schema(services, params["schemaArn"], dataset_type, group)
    for sibling in services.resources.list(KIND, parent=group.arn):
        if sibling.doc["name"] == params["name"]:
            raise ResourceAlreadyExistsException(
                f"name: dataset {params['name']} already exists in {group.arn}."
            )
    arn = arn_for(services, KIND, f"{arns.parse(group.arn).path}/{dataset_type}")
    doc = {
        "name": params["name"],
        "datasetArn": arn,
        "datasetGroupArn": group.arn,
        "datasetType": dataset_type,
        "schemaArn": params["schemaArn"],
        "status": ACTIVE,
    }
    resource = new_resource(services, KIND, arn, doc, parent=group.arn, tags=params.get("tags"))
    create_resource(
        services,
        resource,
        what=WHAT,
        duplicate=f"datasetType: {group.arn} already has a {dataset_type} dataset ({arn}).",
    )
    return {"datasetArn": arn}


@operation("DescribeDataset")
def describe_dataset(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": services.resources.get(params["datasetArn"], what=WHAT, kind=KIND).to_wire()}


@operation("ListDatasets")
def list_datasets(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("datasetGroupArn")
    if parent:
        services.resources.get(parent, what=dataset_groups.WHAT, kind=dataset_groups.KIND)
    fields = ("name", "datasetArn", "datasetType", "status", "creationDateTime", "lastUpdatedDateTime")
    page, token = list_page(services, params, kind=KIND, fields=fields, parent=parent)
    return {"datasets": page, "nextToken": token}


@operation("UpdateDataset")
def update_dataset(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    dataset = services.resources.get(params["datasetArn"], what=WHAT, kind=KIND)
    busy = in_progress_import(services, dataset.arn)
    if busy is not None:
        raise ResourceInUseException(f"datasetArn: import job {busy.arn} is still in progress.")
    group = services.resources.get(dataset.parent or "", what=dataset_groups.WHAT, kind=dataset_groups.KIND)
    new_schema = _bind_schema(services, params["schemaArn"], dataset.doc["datasetType"], group)
    old_doc = services.resources.get(dataset.doc["schemaArn"], what=schemas.WHAT).doc
    _check_schema_evolution(parse_schema(old_doc["schema"]), new_schema)

    def apply(resource: Resource) -> None:
        now = services.clock()
        resource.doc["schemaArn"] = params["schemaArn"]
        resource.doc["lastUpdatedDateTime"] = now
        resource.doc["latestDatasetUpdate"] = {
            "schemaArn": params["schemaArn"],
            "status": ACTIVE,
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }

    services.resources.update(dataset.arn, apply, what=WHAT)
    return {"datasetArn": dataset.arn}


def _check_schema_evolution(old: DatasetSchema, new: DatasetSchema) -> None:
    """Existing data must stay valid: keep every field and type, add only nullable fields."""
    for field in old.fields:
        replacement = new.field(field.name)
        if replacement is None:
            raise InvalidInputException(f"schemaArn: the new schema drops field '{field.name}'.")
        if replacement.type != field.type:
            raise InvalidInputException(
                f"schemaArn: field '{field.name}' changes type from {field.type} to {replacement.type}."
            )
    for field in new.fields:
        if old.field(field.name) is None and not field.nullable:
            raise InvalidInputException(
                f"schemaArn: added field '{field.name}' must be nullable, existing data has no value for it."
            )


@operation("DeleteDataset")
def delete_dataset(services: Services, params: dict[str, Any]) -> None:
    dataset = services.resources.get(params["datasetArn"], what=WHAT, kind=KIND)
    busy = in_progress_import(services, dataset.arn)
    if busy is not None:
        raise ResourceInUseException(f"datasetArn: import job {busy.arn} is still in progress.")
    for job in services.resources.list("dataset-import-job", parent=dataset.arn):
        services.resources.delete(job.arn)
    services.resources.delete(dataset.arn)
