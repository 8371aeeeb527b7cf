"""CreateDatasetGroup / DescribeDatasetGroup / ListDatasetGroups / DeleteDatasetGroup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane.common import arn_for, list_page, new_resource
from picks.controlplane.registry import operation
from picks.domain.states import ACTIVE
from picks.errors import LimitExceededException, ResourceInUseException, ResourceNotFoundException

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

KIND = "dataset-group"
WHAT = "Dataset group"
CHILD_KINDS = ("dataset", "solution", "filter", "event-tracker", "recommender", "metric-attribution")


@operation("CreateDatasetGroup")
def create_dataset_group(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    store = services.resources
    if len(store.list(KIND)) >= services.settings.max_dataset_groups:
        raise LimitExceededException(
            f"name: cannot create dataset group '{params['name']}': the account already has "
            f"{services.settings.max_dataset_groups} dataset groups."
        )
    arn = arn_for(services, KIND, params["name"])
    doc = {
        "name": params["name"],
        "datasetGroupArn": arn,
        # Created synchronously: there is nothing to provision, so it is usable at once.
        "status": ACTIVE,
        "roleArn": params.get("roleArn"),
        "kmsKeyArn": params.get("kmsKeyArn"),
        "domain": params.get("domain"),
    }
    store.create(new_resource(services, KIND, arn, doc, tags=params.get("tags")), what=WHAT)
    return {"datasetGroupArn": arn, "domain": params.get("domain")}


@operation("DescribeDatasetGroup")
def describe_dataset_group(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    group = services.resources.get(params["datasetGroupArn"], what=WHAT, kind=KIND)
    return {"datasetGroup": group.to_wire()}


@operation("ListDatasetGroups")
def list_dataset_groups(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    fields = (
        "name",
        "datasetGroupArn",
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
        "failureReason",
        "domain",
    )
    page, token = list_page(services, params, kind=KIND, fields=fields)
    return {"datasetGroups": page, "nextToken": token}


@operation("DeleteDatasetGroup")
def delete_dataset_group(services: Services, params: dict[str, Any]) -> None:
    arn = params["datasetGroupArn"]
    services.resources.get(arn, what=WHAT, kind=KIND)
    for kind in CHILD_KINDS:
        children = services.resources.list(kind, parent=arn)
        if children:
            raise ResourceInUseException(
                f"datasetGroupArn: {arn} still contains {kind} {children[0].arn}; delete it first."
            )
    services.resources.delete(arn)


def active_group(services: Services, arn: str, field: str = "datasetGroupArn") -> Resource:
    """The dataset group a new child resource goes into: it must exist and be ACTIVE."""
    group = services.resources.find(arn)
    if group is None or group.kind != KIND:
        raise ResourceNotFoundException(f"{field}: {WHAT} {arn} does not exist.")
    if group.doc.get("status") != ACTIVE:
        raise ResourceInUseException(f"{field}: {group.arn} is {group.doc.get('status')}, not ACTIVE.")
    return group
