"""Exported events: anonymous sessions merge into the user who later used the session."""

from __future__ import annotations

import json

import pytest
from picks.dal.event_store import StoredEvent
from picks.dataset_schema import DatasetSchema, Field
from picks.errors import InvalidInputException
from picks.realtime import events_table, merge_sessions, stored_events
from picks.records import validate_event_properties


def event(event_id: str, session: str, user: str | None, item: str | None, at: int) -> StoredEvent:
    return StoredEvent(
        event_id=event_id,
        session_id=session,
        user_id=user,
        event_type="Click",
        sent_at=float(at),
        item_id=item,
        received_ms=at,
    )


def test_session_events_go_to_the_user_who_later_used_the_session():
    events = [
        event("a", "s1", None, "i1", 1),  # anonymous, before login
        event("b", "s1", "alice", "i2", 2),  # the same session, logged in
        event("c", "s2", None, "i3", 3),  # a session nobody logged into
        event("d", "s1", None, None, 4),  # no item: nothing to train on
    ]
    merged = {e.event_id: user for user, e in merge_sessions(events)}
    assert merged == {"a": "alice", "b": "alice", "c": "s2"}


def test_events_table_has_the_reserved_columns():
    table = events_table([event("a", "s1", "u1", "i1", 1700000000), event("b", "s1", "u1", "i2", 1700000001)])
    assert table is not None and table.row_count == 2
    rows = table.to_pylist()
    assert rows[0]["USER_ID"] == "u1" and rows[1]["ITEM_ID"] == "i2" and rows[0]["TIMESTAMP"] == 1700000000
    assert rows[0]["EVENT_TYPE"] == "Click" and rows[0]["EVENT_VALUE"] is None
    assert events_table([]) is None


# --- itemId / eventValue sent inside properties (the guide's PutEvents sample) --------------------

INTERACTIONS_SCHEMA = DatasetSchema(
    "Interactions",
    (
        Field("USER_ID", "string"),
        Field("ITEM_ID", "string"),
        Field("TIMESTAMP", "long"),
        Field("EVENT_TYPE", "string"),
        Field("EVENT_VALUE", "float", nullable=True),
        Field("NUM_RATINGS", "int", nullable=True),
    ),
)


def put(*events: dict) -> list[StoredEvent]:
    params = {"userId": "u1", "sessionId": "s1", "eventList": list(events)}
    return stored_events(
        params, lambda text, path: validate_event_properties(INTERACTIONS_SCHEMA, text, path)
    )


@pytest.mark.parametrize("key", ["itemId", "ItemId", "itemID", "ITEMID", "ITEM_ID"])
def test_an_item_id_inside_properties_is_the_events_item_whatever_its_case(key: str) -> None:
    [event] = put(
        {"eventType": "watch", "sentAt": 1700000000, "properties": json.dumps({key: "300", "numRatings": 13})}
    )
    assert event.item_id == "300"
    assert json.loads(event.properties) == {
        key: "300",
        "numRatings": 13,
    }  # the other properties are kept as sent
    table = events_table([event])
    assert table is not None and table.to_pylist()[0]["ITEM_ID"] == "300"  # and the training export sees it


def test_an_event_value_inside_properties_is_the_events_value() -> None:
    [event] = put(
        {"eventType": "rating", "sentAt": 1700000000, "properties": '{"itemId": "7", "eventValue": "4"}'}
    )
    assert (event.item_id, event.event_value) == ("7", 4.0)


def test_item_id_member_and_property_must_agree() -> None:
    [same] = put({"eventType": "watch", "sentAt": 1, "itemId": "300", "properties": '{"itemId": "300"}'})
    assert same.item_id == "300"
    with pytest.raises(InvalidInputException, match=r"eventList\.2\.properties: 'itemId' .*itemId member"):
        put(
            {"eventType": "watch", "sentAt": 1, "itemId": "1"},
            {"eventType": "watch", "sentAt": 1, "itemId": "300", "properties": '{"itemId": "301"}'},
        )
    with pytest.raises(InvalidInputException, match=r"eventList\.1\.properties: 'eventValue'"):
        put(
            {
                "eventType": "watch",
                "sentAt": 1,
                "eventValue": 2.0,
                "properties": '{"itemId": "1", "eventValue": 3}',
            }
        )


# --- context columns sent as properties (DEVICE, ...) ----------------------------------------------

CONTEXT_SCHEMA = DatasetSchema(
    "Interactions",
    (
        *INTERACTIONS_SCHEMA.fields,
        Field("DEVICE", "string", nullable=True, categorical=True),
    ),
)


def test_properties_are_exported_as_the_schemas_columns() -> None:
    params = {
        "userId": "u1",
        "sessionId": "s1",
        "eventList": [
            {
                # Events received together are exported in eventId order: named, not random.
                "eventId": "e1",
                "eventType": "watch",
                "sentAt": 1,
                "itemId": "a",
                "properties": '{"device": "ios", "numRatings": 3}',
            },
            {"eventId": "e2", "eventType": "watch", "sentAt": 2, "itemId": "b"},
            {
                "eventId": "e3",
                "eventType": "watch",
                "sentAt": 3,
                "itemId": "c",
                "properties": '{"DEVICE": "web"}',
            },
        ],
    }
    events = stored_events(params, lambda text, path: validate_event_properties(CONTEXT_SCHEMA, text, path))
    table = events_table(events, CONTEXT_SCHEMA)
    assert table is not None
    rows = table.to_pylist()
    assert [row["DEVICE"] for row in rows] == ["ios", None, "web"]
    assert [row["NUM_RATINGS"] for row in rows] == [3, None, None]
    device = table.schema.field("DEVICE")
    assert device is not None and device.categorical and device.nullable  # trained on as context
    assert table.schema.field("NUM_RATINGS").type == "int"
    # Without the schema (as before): the reserved columns only.
    assert "DEVICE" not in events_table(events)


def test_a_property_the_schema_no_longer_has_leaves_the_event_without_it() -> None:
    [kept] = stored_events(
        {
            "userId": "u1",
            "sessionId": "s1",
            "eventList": [
                {"eventType": "watch", "sentAt": 1, "itemId": "a", "properties": '{"device": "ios"}'}
            ],
        },
        lambda text, path: validate_event_properties(CONTEXT_SCHEMA, text, path),
    )
    table = events_table([kept, event("b", "s1", "u1", "i2", 2)], INTERACTIONS_SCHEMA)
    assert table is not None and table.row_count == 2 and "DEVICE" not in table
