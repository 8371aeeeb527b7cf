"""Lookups the control plane, the workflows, the runtime and the events API share.

Each answers one question about stored resources (a dataset group's datasets, a dataset's schema,
a solution's ACTIVE versions and their models, the event tracker behind a trackingId) in one
place, so the request paths (``picks.runtime``, ``picks.events_api``, ``picks.realtime``,
``picks.serving.business_rules``) ask it here instead of importing the control plane's operation
modules, and the control plane and the workflows ask the same question the same way.  They sit
below every caller: they import only storage, schemas, caches and errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picks import cache
from picks.dataset_schema import DatasetSchema, parse_schema
from picks.domain.resources import (
    DATASET_KIND,
    SCHEMA_KIND,
    SOLUTION_VERSION_KIND,
    TRACKER_KIND,
    ModelRef,
    Resource,
)
from picks.domain.states import ACTIVE
from picks.errors import ResourceNotFoundException

if TYPE_CHECKING:
    from picks.services import Services

# A tracker's document under ``tracking-id/<trackingId>``, so PutEvents resolves a trackingId with
# one GetItem (``picks.controlplane.event_trackers`` writes and deletes it with the tracker).
TRACKING_ID_KIND = "tracking-id"

# --------------------------------------------------------------------------- datasets


def group_datasets(services: Services, group_arn: str) -> dict[str, Resource]:
    """The group's datasets by dataset type (a group has at most one of each)."""
    return {d.doc["datasetType"]: d for d in services.resources.list(DATASET_KIND, parent=group_arn)}


def group_dataset(services: Services, group_arn: str, dataset_type: str) -> Resource | None:
    """The group's dataset of ``dataset_type``, or None if it has none."""
    return group_datasets(services, group_arn).get(dataset_type)


def has_imported_interactions(services: Services, group_arn: str) -> bool:
    """Whether the group's INTERACTIONS dataset has data (an import finished): what training needs."""
    interactions = group_dataset(services, group_arn, "INTERACTIONS")
    return interactions is not None and interactions.dataset_state.data is not None


def dataset_schema(services: Services, dataset: Resource) -> DatasetSchema:
    """The dataset's current schema, parsed."""
    schema = services.resources.get(dataset.doc["schemaArn"], what="Schema", kind=SCHEMA_KIND)
    return parse_schema(schema.doc["schema"])


# --------------------------------------------------------------------------- solution versions


def servable_model(version: Resource) -> ModelRef | None:
    """The trained model of an ACTIVE solution version; None for anything else."""
    if version.kind != SOLUTION_VERSION_KIND or version.doc.get("status") != ACTIVE:
        return None
    return version.version_state.model


def active_versions(services: Services, solution_arn: str) -> list[tuple[Resource, ModelRef]]:
    """The solution's ACTIVE versions and their models, oldest first."""
    return [
        (version, model)
        for version in services.resources.list(SOLUTION_VERSION_KIND, parent=solution_arn)
        if (model := servable_model(version)) is not None
    ]


def latest_active_version(services: Services, solution_arn: str) -> Resource | None:
    """The newest ACTIVE version of the solution (what ``<solutionArn>/$LATEST`` names)."""
    versions = services.resources.list(SOLUTION_VERSION_KIND, parent=solution_arn)
    return next((v for v in reversed(versions) if v.doc.get("status") == ACTIVE), None)


def latest_full_model(services: Services, solution_arn: str, exclude: str) -> ModelRef | None:
    """The model of the solution's newest ACTIVE FULL (or AUTOTRAIN) version other than ``exclude``:
    what a ``trainingMode`` UPDATE version starts from."""
    models = [
        model
        for version, model in active_versions(services, solution_arn)
        if version.arn != exclude and (version.doc.get("trainingMode") or "FULL") in ("FULL", "AUTOTRAIN")
    ]
    return models[-1] if models else None


# --------------------------------------------------------------------------- event trackers

_tracking_ids: cache.TTLCache[str, Resource | None] = cache.named(cache.TRACKING_IDS)


def tracking_id_key(tracking_id: str) -> str:
    """The key of the record that maps ``tracking_id`` to its tracker."""
    return f"tracking-id/{tracking_id}"


def lookup_tracking_id(services: Services, tracking_id: str, *, now: float | None = None) -> Resource | None:
    """The event tracker with ``tracking_id`` (one GetItem, then cached), or None.

    Hits are cached per process for the ``tracking_ids`` TTL, so a tracker deleted by another
    process keeps resolving here that long; misses are not cached, so a new tracker works at once.
    """

    def read() -> Resource | None:
        alias = services.resources.find(tracking_id_key(tracking_id))
        if alias is None or alias.kind != TRACKING_ID_KIND:
            return None
        return Resource(
            arn=alias.doc["eventTrackerArn"],
            kind=TRACKER_KIND,
            doc=dict(alias.doc),
            parent=alias.doc["datasetGroupArn"],
            created=alias.created,
        )

    return _tracking_ids.get_or_load(tracking_id, read, now=now, cache_none=False)


def forget_tracking_id(tracking_id: str) -> None:
    """The tracker was deleted in this process: stop resolving its trackingId here at once."""
    _tracking_ids.invalidate(tracking_id)


def resolve_tracker(services: Services, tracking_id: str) -> Resource:
    """The event tracker (kind ``event-tracker``, ``doc`` as DescribeEventTracker returns it) whose
    trackingId is ``tracking_id``; ResourceNotFoundException naming the trackingId if there is none.

    One GetItem on the ``tracking-id/<trackingId>`` alias, then cached in this process for the
    ``tracking_ids`` cache's TTL (60 s, ``picks.cache.POLICIES``): a tracker deleted by another
    process (another Lambda container) keeps accepting events here for up to that long.
    DeleteEventTracker in this process takes effect at once.  Unknown trackingIds are not cached, so
    a new tracker works at once.
    """
    tracker = lookup_tracking_id(services, tracking_id)
    if tracker is None or not services.resources.visible(tracker.arn):  # another region's tracker
        raise ResourceNotFoundException(f"trackingId: no event tracker has tracking ID '{tracking_id}'.")
    return tracker
