"""Exported events: anonymous sessions merge into the user who later used the session."""
from __future__ import annotations

from picks.dal.events import StoredEvent
from picks.realtime import events_table, merge_sessions


def event(event_id: str, session: str, user: str | None, item: str | None, at: int) -> StoredEvent:
    return StoredEvent(event_id=event_id, session_id=session, user_id=user, event_type="Click",
                       sent_at=float(at), item_id=item, received_ms=at)


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
