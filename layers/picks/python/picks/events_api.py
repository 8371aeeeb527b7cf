"""Personalize events operations (REST-JSON): PutEvents, PutActionInteractions, PutItems, PutUsers,
PutActions.

Every operation stores what it accepts durably before answering 200 (``picks.realtime`` for
events, ``picks.dal.metadata`` for records); bad input is a 4xx naming the field, and a storage
fault is a retryable error, never a 200 followed by loss.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from picks import cache, realtime
from picks.dal.event_store import EventStoreUnavailable
from picks.domain.queries import dataset_schema, group_dataset, resolve_tracker
from picks.domain.states import ACTIVE
from picks.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from picks.records import validate_event_properties, validate_record_properties

if TYPE_CHECKING:
    from picks.dataset_schema import DatasetSchema
    from picks.domain.resources import Resource
    from picks.services import Services

# operation -> (dataset type, request member with the records, the records' id member)
_RECORD_OPERATIONS = {
    "PutItems": ("ITEMS", "items", "itemId"),
    "PutUsers": ("USERS", "users", "userId"),
    "PutActions": ("ACTIONS", "actions", "actionId"),
}


def _dataset(services: Services, dataset_arn: str, operation: str) -> tuple[Resource, DatasetSchema]:
    """The dataset a PutItems / PutUsers / PutActions call writes to, with its current schema."""
    dataset_type = _RECORD_OPERATIONS[operation][0]
    dataset = services.resources.find(dataset_arn)
    if dataset is None or dataset.kind != "dataset":
        raise ResourceNotFoundException(f"datasetArn: Dataset {dataset_arn} does not exist.")
    actual = dataset.doc.get("datasetType")
    if actual != dataset_type:
        raise InvalidInputException(
            f"datasetArn: {dataset_arn} is the {actual} dataset of its group; {operation} writes to the "
            f"{dataset_type} dataset."
        )
    if dataset.doc.get("status") != ACTIVE:
        raise ResourceInUseException(f"datasetArn: {dataset_arn} is {dataset.doc.get('status')}, not ACTIVE.")
    # An import job in progress does not block individual records: they are stored apart from the
    # bulk data, which a FULL import replaces without touching them.
    return dataset, dataset_schema(services, dataset)


def _put_records(services: Services, params: dict[str, Any], operation: str) -> None:
    """Validate every record of the call against the dataset's schema, then store them all at once."""
    dataset_type, member, id_member = _RECORD_OPERATIONS[operation]
    dataset, schema = _dataset(services, params["datasetArn"], operation)
    records = [
        (
            record[id_member],
            validate_record_properties(
                schema, dataset_type, record.get("properties"), f"{member}.{index}.properties"
            ),
        )
        for index, record in enumerate(params[member])
    ]
    if services.metadata is None:
        raise EventStoreUnavailable(f"{operation}: record storage is not configured; nothing was stored.")
    services.metadata.put(dataset.arn, records)
    # Filters and metadata in this process see the new records on the next request: the item
    # catalogs (``picks.serving.business_rules``) revalidate their records.
    cache.expire(cache.ITEM_CATALOGS)


def put_events(services: Services, params: dict[str, Any]) -> None:
    """PutEvents: validate, then store every event of the call durably before answering."""
    tracker = resolve_tracker(services, params["trackingId"])
    group_arn = tracker.doc["datasetGroupArn"]
    validator = None
    if any(e.get("properties") for e in params["eventList"]):
        interactions = group_dataset(services, group_arn, "INTERACTIONS")
        if interactions is None:
            raise InvalidInputException(
                "eventList.properties: the dataset group has no INTERACTIONS dataset whose schema "
                "declares them."
            )
        validator = functools.partial(validate_event_properties, dataset_schema(services, interactions))
    realtime.record_events(services, group_arn, realtime.stored_events(params, validator))


def put_action_interactions(services: Services, params: dict[str, Any]) -> None:
    """PutActionInteractions: stored durably with the events."""
    tracker = resolve_tracker(services, params["trackingId"])
    realtime.record_events(
        services, tracker.doc["datasetGroupArn"], realtime.action_interaction_events(params)
    )


def put_items(services: Services, params: dict[str, Any]) -> None:
    _put_records(services, params, "PutItems")


def put_users(services: Services, params: dict[str, Any]) -> None:
    _put_records(services, params, "PutUsers")


def put_actions(services: Services, params: dict[str, Any]) -> None:
    _put_records(services, params, "PutActions")


OPERATIONS = {
    "PutEvents": put_events,
    "PutActionInteractions": put_action_interactions,
    "PutItems": put_items,
    "PutUsers": put_users,
    "PutActions": put_actions,
}
