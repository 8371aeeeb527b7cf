"""CreateEventTracker / DescribeEventTracker / ListEventTrackers / DeleteEventTracker.

An event tracker names the dataset group that PutEvents adds to; PutEvents names the tracker by
its ``trackingId``.  A tracker is three records in the resources table:

* the tracker, ``event-tracker/<name>`` (names are unique per account, as the ARN says), a child
  of its dataset group, so DeleteDatasetGroup refuses while it exists;
* the alias ``tracking-id/<trackingId>`` (kind ``tracking-id``) holding the tracker's document, so
  PutEvents resolves a trackingId with one GetItem (``picks.domain.queries.resolve_tracker``);
* the claim ``event-tracker-of/<datasetGroupArn>`` (kind ``event-tracker-claim``): written with a
  conditional put, it makes "one tracker per dataset group" hold under concurrent creates.

Nothing is provisioned, so a tracker is ACTIVE as soon as CreateEventTracker returns.  Deleting a
tracker keeps the events it stored; PutEvents stops accepting its trackingId at once in this process
and within the ``tracking_ids`` cache's TTL everywhere else (``picks.cache.POLICIES``;
``picks.domain.queries.resolve_tracker`` caches).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from picks.controlplane import dataset_groups
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.controlplane.solutions import get_resource
from picks.dal.resources import ConcurrentUpdate
from picks.domain.queries import TRACKING_ID_KIND, forget_tracking_id, tracking_id_key
from picks.domain.resources import TRACKER_KIND, Resource
from picks.domain.states import ACTIVE
from picks.errors import ResourceAlreadyExistsException, ResourceInUseException

if TYPE_CHECKING:
    from picks.services import Services

KIND = TRACKER_KIND
WHAT = "Event tracker"
ALIAS_KIND = TRACKING_ID_KIND
CLAIM_KIND = "event-tracker-claim"
SUMMARY_FIELDS = ("name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime")


def alias_key(tracking_id: str) -> str:
    return tracking_id_key(tracking_id)


def claim_key(group_arn: str) -> str:
    return f"event-tracker-of/{group_arn}"


def get_tracker(services: Services, arn: str) -> Resource:
    return get_resource(services, arn, kind=KIND, what=WHAT, field="eventTrackerArn")


@operation("CreateEventTracker")
def create_event_tracker(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    group = get_resource(
        services,
        params["datasetGroupArn"],
        kind=dataset_groups.KIND,
        what=dataset_groups.WHAT,
        field="datasetGroupArn",
    )
    if group.doc.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"datasetGroupArn: {group.arn} is {group.doc.get('status')}, not ACTIVE."
        )
    existing = services.resources.list(KIND, parent=group.arn)
    if existing:
        raise _one_per_group(group.arn, existing[0].arn)

    arn = arn_for(services, KIND, params["name"])
    tracking_id = str(uuid.uuid4())
    doc = {
        "name": params["name"],
        "eventTrackerArn": arn,
        "accountId": services.settings.account,
        "trackingId": tracking_id,
        "datasetGroupArn": group.arn,
        "status": ACTIVE,
    }
    tracker = new_resource(services, KIND, arn, doc, parent=group.arn, tags=params.get("tags"))
    create_resource(
        services,
        tracker,
        what=WHAT,
        duplicate=(
            f"name: event tracker {params['name']} already exists ({arn}); names are unique per account."
        ),
    )
    try:
        _claim_group(services, group.arn, arn)
        alias = Resource(
            arn=alias_key(tracking_id), kind=ALIAS_KIND, doc=tracker.doc, parent=arn, created=tracker.created
        )
        services.resources.create(alias, what="Tracking ID")
    except BaseException:
        services.resources.delete(arn)
        _release_group(services, group.arn, arn)
        raise
    return {"eventTrackerArn": arn, "trackingId": tracking_id}


def _one_per_group(group_arn: str, tracker_arn: str) -> ResourceAlreadyExistsException:
    return ResourceAlreadyExistsException(
        f"datasetGroupArn: {group_arn} already has event tracker {tracker_arn}; a dataset group can have "
        "only one event tracker."
    )


def _claim_group(services: Services, group_arn: str, tracker_arn: str, attempts: int = 5) -> None:
    """Record ``tracker_arn`` as the group's one tracker, or raise if another tracker holds it."""
    for _ in range(attempts):
        claim = Resource(
            arn=claim_key(group_arn),
            kind=CLAIM_KIND,
            doc={"eventTrackerArn": tracker_arn},
            parent=group_arn,
            created=services.clock(),
        )
        try:
            services.resources.create(claim, what="Event tracker claim")
            return
        except ResourceAlreadyExistsException:
            pass
        held = services.resources.find(claim_key(group_arn))
        if held is None:
            continue  # released meanwhile: try again
        holder = held.doc.get("eventTrackerArn")
        if holder == tracker_arn:
            return
        if holder and services.resources.find(holder) is not None:
            raise _one_per_group(group_arn, holder)
        # The claim outlived its tracker (a delete that stopped half-way): take it over, unless
        # another create takes it first.
        held.doc["eventTrackerArn"] = tracker_arn
        try:
            services.resources.save(held)
            return
        except ConcurrentUpdate:
            continue
    raise ResourceInUseException(
        f"datasetGroupArn: {group_arn} is being changed concurrently; retry the call."
    )


def _release_group(services: Services, group_arn: str, tracker_arn: str) -> None:
    held = services.resources.find(claim_key(group_arn))
    if held is not None and held.doc.get("eventTrackerArn") == tracker_arn:
        services.resources.delete(held.arn)


@operation("DescribeEventTracker")
def describe_event_tracker(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"eventTracker": get_tracker(services, params["eventTrackerArn"]).to_wire()}


@operation("ListEventTrackers")
def list_event_trackers(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    # The model declares no ResourceNotFoundException here: an unknown group lists nothing.
    parent = params.get("datasetGroupArn")
    page, token = list_page(services, params, kind=KIND, fields=SUMMARY_FIELDS, parent=parent)
    return {"eventTrackers": page, "nextToken": token}


@operation("DeleteEventTracker")
def delete_event_tracker(services: Services, params: dict[str, Any]) -> None:
    tracker = get_tracker(services, params["eventTrackerArn"])
    tracking_id = tracker.doc["trackingId"]
    # Alias first: from here on PutEvents no longer finds the trackingId.  The events it stored stay.
    services.resources.delete(alias_key(tracking_id))
    forget_tracking_id(tracking_id)
    services.resources.delete(tracker.arn)
    _release_group(services, tracker.doc["datasetGroupArn"], tracker.arn)
