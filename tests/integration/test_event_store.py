"""The real-time event store against moto's DynamoDB: what interaction filters and fold-in read."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from picks.dal.event_store import EventStore, StoredEvent
from picks.serving.business_rules import RECENT_EVENTS, RequestRules

from tests.conftest import EVENTS_TABLE

if TYPE_CHECKING:
    import numpy as np

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


@pytest.fixture
def store(aws) -> EventStore:
    from picks.dal.event_store import events_table_definition

    from emulator import moto_patches

    moto_patches.install()  # moto's own TransactWriteItems copies the table: O(events stored) per call
    aws.client("dynamodb").create_table(**events_table_definition(EVENTS_TABLE))
    ticks = itertools.count(1_700_000_000_000, 10)  # 1 ms per event of a 10-event call
    return EventStore(aws.client("dynamodb"), EVENTS_TABLE, clock=lambda: next(ticks) / 1000)


def send(store: EventStore, user: str, event_type: str, items: list[str], prefix: str) -> None:
    events = [
        StoredEvent(
            event_id=f"{prefix}-{n}",
            session_id="s",
            user_id=user,
            event_type=event_type,
            sent_at=1_700_000_000.0 + n,
            item_id=item,
        )
        for n, item in enumerate(items)
    ]
    for start in range(0, len(events), 10):  # PutEvents' 10 events per call
        store.put_events(GROUP, events[start : start + 10])


class _Model:
    """What ``user_interactions`` reads of a model: no training history, items 0..n-1."""

    def __init__(self, n: int) -> None:
        self.item_index = {f"i{k}": k for k in range(n)}

    def interaction_history(self, user_id: str | None) -> dict[str, np.ndarray]:
        return {}


def filter_history(store: EventStore, user: str) -> dict[str, set[int]]:
    from picks.serving.business_rules import user_interactions

    services = type("S", (), {"events": store})()
    model = _Model(2000)
    rules = RequestRules(services, GROUP, model, "m", user, None, 0)  # type: ignore[arg-type]
    return {
        kind: set(items.tolist())
        for kind, items in user_interactions(model, user, rules.interaction_events()).items()
    }


@pytest.mark.parametrize("watches_last", [True, False])
def test_filters_see_the_newest_thousand_events_of_every_type_whatever_the_mix(store, watches_last):
    clicks = [f"i{k}" for k in range(1500)]
    watches = [f"i{k}" for k in range(1500, 1530)]
    order = [("click", clicks, "c"), ("watch", watches, "w")]
    for event_type, items, prefix in order if watches_last else order[::-1]:
        send(store, "heavy", event_type, items, prefix)
    send(store, "other", "watch", ["i1999"], "o")
    seen = filter_history(store, "heavy")
    assert seen["watch"] == set(range(1500, 1530))  # every watch, 1,500 clicks after them or not
    assert seen["click"] >= set(range(1500 - RECENT_EVENTS, 1500))  # at least the newest 1,000 clicks
    by_type = store.recent_by_type(GROUP, "heavy", per_type=RECENT_EVENTS)
    assert len(by_type) == RECENT_EVENTS + 30
    assert [e.item_id for e in by_type if e.event_type == "watch"] == watches  # oldest first


def test_by_type_reads_respect_since_and_case_and_repeated_event_ids(store):
    send(store, "u", "Watch", ["i1", "i2"], "a")
    cut = int(store._clock() * 1000)
    send(store, "u", "watch", ["i3"], "b")
    send(store, "u", "WATCH", ["i3"], "b")  # the same eventId again: stored once
    newer = store.recent_by_type(GROUP, "u", since_ms=cut)
    assert [(e.event_id, e.item_id) for e in newer] == [("b-0", "i3")]
    assert [e.item_id for e in store.recent_by_type(GROUP, "u")] == ["i1", "i2", "i3"]  # one type, any case
    assert [e.item_id for e in store.recent(GROUP, "u")] == ["i1", "i2", "i3"]  # by-type entries not mixed in
    assert sum(1 for _ in store.export(GROUP)) == 3  # nor exported twice


def test_a_history_shorter_than_the_window_is_read_with_one_query(store):
    send(store, "light", "click", [f"i{k}" for k in range(30)], "c")
    send(store, "light", "watch", [f"i{k}" for k in range(30, 40)], "w")
    queries = []
    query = store._db.query

    def counting(**kwargs):
        queries.append(kwargs)
        return query(**kwargs)

    store._db.query = counting
    assert filter_history(store, "light") == {"click": set(range(30)), "watch": set(range(30, 40))}
    assert len(queries) == 1
