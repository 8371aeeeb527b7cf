"""Personalize events operations (REST-JSON): PutEvents, PutActionInteractions, PutItems, PutUsers,
PutActions.

Every operation stores what it accepts durably before answering 200 (``picks.realtime`` for
events, ``picks.dal.metadata`` for records); bad input is a 4xx naming the field, and a storage
fault is a retryable error, never a 200 followed by loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks import realtime
from picks.controlplane import event_trackers
from picks.dal.event_store import EventStoreUnavailable
from picks.dataset_schema import DatasetSchema, parse_schema
from picks.domain.states import ACTIVE
from picks.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from picks.records import validate_record_properties

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

# operation -> (dataset type, request member with the records, the records' id member)
_RECORD_OPERATIONS = {
    "PutItems": ("ITEMS", "items", "itemId"),
    "PutUsers": ("USERS", "users", "userId"),
    "PutActions": ("ACTIONS", "actions", "actionId"),
}


def resolve_tracker(services: Services, tracking_id: str) -> Resource:
    """The event tracker (kind ``event-tracker``, ``doc`` as DescribeEventTracker returns it) whose
    trackingId is ``tracking_id``; ResourceNotFoundException naming the trackingId if there is none.

    One GetItem on the ``tracking-id/<trackingId>`` alias, then cached in this process for the
    ``tracking_ids`` cache's TTL (60 s, ``picks.cache.POLICIES``): a tracker deleted by another
    process (another Lambda container) keeps accepting events here for up to that long.
    DeleteEventTracker in this process takes effect at once.  Unknown trackingIds are not cached, so
    a new tracker works at once.
    """
    tracker = event_trackers.lookup_tracking_id(services, tracking_id)
    if tracker is None or not services.resources.visible(tracker.arn):  # another region's tracker
        raise event_trackers.not_found(tracking_id)
    return tracker


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
    schema = services.resources.get(dataset.doc["schemaArn"], what="Schema", kind="schema")
    return dataset, parse_schema(schema.doc["schema"])


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
    # Filters and metadata in this process see the new records on the next request.
    from picks.serving.business_rules import records_changed

    records_changed()


def put_events(services: Services, params: dict[str, Any]) -> None:
    realtime.put_events(services, params)


def put_action_interactions(services: Services, params: dict[str, Any]) -> None:
    realtime.put_action_interactions(services, params)


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
