"""EventStore.put_events against a scripted DynamoDB client: duplicates, retries and the errors callers see.

The moto-backed tests (tests/integration/test_event_store.py) cover what is stored; these cover how a failed
transaction is read: which eventIds were already stored, and which failures are throttling (retry soon)
rather than unavailability.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from picks.dal.event_store import (
    MAX_TRANSACTION_ATTEMPTS,
    EventStore,
    EventStoreThrottled,
    EventStoreUnavailable,
    StoredEvent,
)

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def event(event_id: str, item: str | None = "i1") -> StoredEvent:
    return StoredEvent(
        event_id=event_id, session_id="s", event_type="click", sent_at=1.0, user_id="u", item_id=item
    )


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def failed(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "TransactWriteItems")


class ScriptedDynamo:
    """Answers each transact_write_items with the next scripted outcome (an exception, or None: success)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(TransactItems)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return {}


def store_with(db: ScriptedDynamo) -> EventStore:
    return EventStore(db, "events", clock=lambda: 1_700_000_000.0)


def test_an_already_stored_event_is_skipped_and_the_rest_stored() -> None:
    # Event a has an item (marker + by-user + by-type Puts); its marker, the first Put, is the duplicate.
    db = ScriptedDynamo(cancelled("ConditionalCheckFailed", "None", "None", "None", "None", "None"), None)
    assert store_with(db).put_events(GROUP, [event("evt-a"), event("evt-b")]) == 1
    assert len(db.calls) == 2
    assert len(db.calls[1]) == len(db.calls[0]) // 2  # only b's Puts the second time
    assert "evt-a" not in str(db.calls[1]) and "evt-b" in str(db.calls[1])


def test_all_already_stored_is_zero_new() -> None:
    db = ScriptedDynamo(cancelled("ConditionalCheckFailed", "None", "None"))
    assert store_with(db).put_events(GROUP, [event("a")]) == 0


def test_a_repeated_event_id_in_one_call_keeps_the_first() -> None:
    db = ScriptedDynamo(None)
    assert store_with(db).put_events(GROUP, [event("a", "i1"), event("a", "i2"), event("b")]) == 2
    puts = str(db.calls[0])
    assert "i1" in puts and "i2" not in puts


def test_duplicates_found_on_every_attempt_give_up_as_throttled() -> None:
    one_duplicate_each_time = [cancelled("ConditionalCheckFailed") for _ in range(MAX_TRANSACTION_ATTEMPTS)]
    db = ScriptedDynamo(*one_duplicate_each_time)
    events = [event(f"e{k}") for k in range(MAX_TRANSACTION_ATTEMPTS + 1)]
    with pytest.raises(EventStoreThrottled, match=r"^Events were not stored \(concurrent duplicates\)"):
        store_with(db).put_events(GROUP, events)


@pytest.mark.parametrize(
    ("error", "raised", "message"),
    [
        (cancelled("None", "TransactionConflict"), EventStoreThrottled, "(write conflict)"),
        (cancelled("ThrottlingError"), EventStoreThrottled, "(write conflict)"),
        (cancelled("None", "ValidationError"), EventStoreUnavailable, "(TransactionCanceledException)"),
        (failed("ProvisionedThroughputExceededException"), EventStoreThrottled, "(storage throttled)"),
        (failed("ValidationException"), EventStoreUnavailable, "(ValidationException)"),
        (failed(""), EventStoreUnavailable, "(storage error)"),
        (ConnectionError("reset"), EventStoreUnavailable, "(ConnectionError)"),
    ],
)
def test_failures_say_whether_to_retry_and_keep_the_cause(
    error: Exception, raised: type[Exception], message: str
) -> None:
    db = ScriptedDynamo(error)
    with pytest.raises(raised) as caught:
        store_with(db).put_events(GROUP, [event("a")])
    assert str(caught.value) == f"Events were not stored {message}; retry the call."
    assert caught.value.__cause__ is error
    assert len(db.calls) == 1  # nothing retried: the caller decides
