"""CreateSchema / DescribeSchema / ListSchemas / DeleteSchema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane.common import arn_for, list_page, new_resource
from picks.controlplane.registry import operation
from picks.dataset_schema import parse_schema
from picks.errors import LimitExceededException, ResourceInUseException

if TYPE_CHECKING:
    from picks.services import Services

KIND = "schema"
WHAT = "Schema"


@operation("CreateSchema")
def create_schema(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    parse_schema(params["schema"])  # raises InvalidInputException saying what is wrong
    if len(services.resources.list(KIND)) >= services.settings.max_schemas:
        raise LimitExceededException(
            f"name: cannot create schema '{params['name']}': the account already has "
            f"{services.settings.max_schemas} schemas."
        )
    arn = arn_for(services, KIND, params["name"])
    doc = {
        "name": params["name"],
        "schemaArn": arn,
        "schema": params["schema"],
        "domain": params.get("domain"),
    }
    services.resources.create(new_resource(services, KIND, arn, doc), what=WHAT)
    return {"schemaArn": arn}


@operation("DescribeSchema")
def describe_schema(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"schema": services.resources.get(params["schemaArn"], what=WHAT, kind=KIND).to_wire()}


@operation("ListSchemas")
def list_schemas(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    fields = ("name", "schemaArn", "creationDateTime", "lastUpdatedDateTime", "domain")
    page, token = list_page(services, params, kind=KIND, fields=fields)
    return {"schemas": page, "nextToken": token}


@operation("DeleteSchema")
def delete_schema(services: Services, params: dict[str, Any]) -> None:
    arn = params["schemaArn"]
    services.resources.get(arn, what=WHAT, kind=KIND)
    for dataset in services.resources.list("dataset"):
        if dataset.doc.get("schemaArn") == arn:
            raise ResourceInUseException(f"schemaArn: {arn} is used by dataset {dataset.arn}.")
    services.resources.delete(arn)
