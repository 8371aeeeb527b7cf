"""Real-time interactions: PutEvents in, recent history and training data out.

An acknowledged event is in DynamoDB (``picks.dal.event_store``) before PutEvents answers 200.  From
there it serves two readers: the runtime folds a user's events newer than the model into their
vector on the next request (read-your-writes), and the next solution version's Prepare step
exports the dataset group's events into the interactions it trains on.  Anonymous events
(sessionId, no userId) are kept under the session id, which is what a client passes as userId
to get that session's recommendations; at training time they are merged into the userId that
later used the same sessionId, as Personalize does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from picks.dal.event_store import StoredEvent, new_event_id
from picks.dataset_schema import DatasetSchema, Field, metadata_fields
from picks.errors import InvalidInputException
from picks.ingest.columnar import (
    NULL_CODE,
    Column,
    ColumnTable,
    DictionaryEncoder,
    column_of_values,
    string_column,
)
from picks.records import validate_event_properties
from picks.serving import exploration

if TYPE_CHECKING:
    from collections.abc import Iterable

    from picks.services import Services

EVENT_FIELDS = (
    Field("USER_ID", "string"),
    Field("ITEM_ID", "string"),
    Field("TIMESTAMP", "long"),
    Field("EVENT_TYPE", "string"),
    Field("EVENT_VALUE", "float", nullable=True),
)
IMPRESSION_FIELD = Field("IMPRESSION", "string", nullable=True)


def _timestamp(value: Any, path: str) -> float:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputException(f"{path}: '{value}' is not a timestamp (epoch seconds).") from None


def _member_or_property(
    event: dict[str, Any], member: str, values: dict[str, Any], field: str, path: str
) -> Any:
    """The event's ``member`` (``itemId`` / ``eventValue``), or the same given in its properties
    (validated ``values``, by schema field).  Personalize documents no precedence when both are
    given, so both are accepted only when they agree: a silent choice would train on the wrong item."""
    given, in_properties = event.get(member), values.get(field)
    if in_properties is None:
        return given
    if given is not None and (
        float(given) != in_properties if member == "eventValue" else given != in_properties
    ):
        raise InvalidInputException(
            f"{path}.properties: '{member}' differs from the event's {member} member; send it once "
            "(as the member or as a property)."
        )
    return in_properties


def stored_events(params: dict[str, Any], validate_properties: Any = None) -> list[StoredEvent]:
    """The request's events as stored records; raises InvalidInputException naming the field.

    ``validate_properties(text, path)`` returns the event's properties by schema field; an
    ``itemId`` or ``eventValue`` among them is the event's item or value (``_member_or_property``),
    so the stored event, fold-in, interaction filters and the training export all see it.
    """
    user_id, session_id = params.get("userId"), params["sessionId"]
    out = []
    for index, event in enumerate(params["eventList"]):
        path = f"eventList.{index + 1}"
        properties = event.get("properties")
        values: dict[str, Any] = {}
        if properties is not None and validate_properties is not None:
            values = validate_properties(properties, f"{path}.properties") or {}
        value = _member_or_property(event, "eventValue", values, "EVENT_VALUE", path)
        if value is not None and not np.isfinite(float(value)):
            raise InvalidInputException(f"{path}.eventValue: {value} is not a finite number.")
        out.append(
            StoredEvent(
                event_id=event.get("eventId") or new_event_id(),
                session_id=session_id,
                user_id=user_id,
                event_type=event["eventType"],
                sent_at=_timestamp(event["sentAt"], f"{path}.sentAt"),
                item_id=_member_or_property(event, "itemId", values, "ITEM_ID", path),
                event_value=None if value is None else float(value),
                properties=properties,
                recommendation_id=event.get("recommendationId"),
                impression=event.get("impression"),
                extra={"metricAttribution": event["metricAttribution"]}
                if event.get("metricAttribution")
                else {},
            )
        )
    return out


def action_interaction_events(params: dict[str, Any]) -> list[StoredEvent]:
    """A PutActionInteractions request's interactions as stored records (kept with the events;
    actions train nothing in picks yet); raises InvalidInputException naming the field."""
    events = []
    for index, interaction in enumerate(params["actionInteractions"]):
        events.append(
            StoredEvent(
                event_id=interaction.get("eventId") or new_event_id(),
                session_id=interaction["sessionId"],
                user_id=interaction.get("userId"),
                event_type=interaction["eventType"],
                sent_at=_timestamp(interaction["timestamp"], f"actionInteractions.{index + 1}.timestamp"),
                properties=interaction.get("properties"),
                recommendation_id=interaction.get("recommendationId"),
                impression=interaction.get("impression"),
                extra={"actionId": interaction["actionId"]},
            )
        )
    return events


def record_events(services: Services, group_arn: str, events: list[StoredEvent]) -> int:
    """Durably store the events (all or none); returns how many were new."""
    if services.events is None:
        raise RuntimeError("services.events is not configured")
    return services.events.put_events(group_arn, events)


# --- training export ----------------------------------------------------------------------------


def merge_sessions(events: Iterable[StoredEvent]) -> list[tuple[str, StoredEvent]]:
    """(training user id, event) for events with an item: a session's anonymous events go to the
    userId seen with that sessionId, if any; otherwise the session id stands in for the user."""
    events = list(events)
    owner: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e.received_ms):
        if event.user_id and event.session_id not in owner:
            owner[event.session_id] = event.user_id
    return [
        (event.user_id or owner.get(event.session_id, event.session_id), event)
        for event in events
        if event.item_id
    ]


def events_table(events: Iterable[StoredEvent], schema: DatasetSchema | None = None) -> ColumnTable | None:
    """The exported events as an interactions table, or None if empty: the reserved columns, and
    with the INTERACTIONS dataset's ``schema`` its metadata columns (context such as DEVICE) from
    the events' ``properties`` (``property_columns``), as a bulk import of the same rows has them.

    Rows in the order the events arrived (the export reads shard by shard): training orders a
    user's rows by TIMESTAMP, then row order, so events sent in one second keep their arrival
    order, as the runtime's fold-in sees them (``RequestRules.user_events``).
    """
    rows = merge_sessions(sorted(events, key=lambda e: (e.received_ms, e.event_id)))
    if not rows:
        return None
    users, items, types = DictionaryEncoder(), DictionaryEncoder(), DictionaryEncoder()
    fields = {f.name: f for f in EVENT_FIELDS}
    values = [e.event_value for _, e in rows]
    item_ids = [
        e.item_id for _, e in rows if e.item_id
    ]  # all of them: merge_sessions keeps events with an item
    columns = {
        "USER_ID": string_column(fields["USER_ID"], users.encode([u for u, _ in rows]), users.dictionary()),
        "ITEM_ID": string_column(fields["ITEM_ID"], items.encode(item_ids), items.dictionary()),
        "TIMESTAMP": Column(fields["TIMESTAMP"], np.array([int(e.sent_at) for _, e in rows], dtype=np.int64)),
        "EVENT_TYPE": string_column(
            fields["EVENT_TYPE"], types.encode([e.event_type for _, e in rows]), types.dictionary()
        ),
        "EVENT_VALUE": Column(
            fields["EVENT_VALUE"],
            np.array([np.nan if v is None else v for v in values], dtype=np.float64),
            np.array([v is None for v in values], dtype=bool),
        ),
    }
    # An event without its own impression list: the explored items its recommendationId names.
    impressions = [e.impression or exploration.shown_tokens(e.recommendation_id) for _, e in rows]
    if any(impressions):
        # As bulk data writes it (``|``-separated): item exploration counts impressions from it.
        shown = DictionaryEncoder()
        listed_rows = [row for row, listed in enumerate(impressions) if listed]
        codes = np.full(len(rows), NULL_CODE, dtype=np.int32)
        codes[listed_rows] = shown.encode(["|".join(impressions[row] or ()) for row in listed_rows])
        columns["IMPRESSION"] = string_column(IMPRESSION_FIELD, codes, shown.dictionary())
    if schema is not None:
        columns.update(property_columns(schema, [e for _, e in rows]))
    return ColumnTable("Interactions", "INTERACTIONS", columns, len(rows), {"source": "PutEvents"})


def property_columns(schema: DatasetSchema, events: list[StoredEvent]) -> dict[str, Column]:
    """The schema's metadata columns (nullable) from the events' ``properties``, typed as PutEvents
    validated them; columns no event sets are left out.  An event whose properties the current
    schema no longer accepts (it changed since) trains without them rather than not at all."""
    fields = metadata_fields(schema, "INTERACTIONS")
    if not fields or not any(e.properties for e in events):
        return {}
    values = [_property_values(schema, e) for e in events]
    ids = [e.event_id for e in events]
    columns = {}
    for f in fields:
        column = [given.get(f.name) for given in values]
        if any(value is not None for value in column):
            columns[f.name] = column_of_values(replace(f, nullable=True), column, ids)
    return columns


def _property_values(schema: DatasetSchema, event: StoredEvent) -> dict[str, Any]:
    if not event.properties:
        return {}
    try:
        return validate_event_properties(schema, event.properties, "properties")
    except InvalidInputException:
        return {}
