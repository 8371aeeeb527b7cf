"""Real-time events in DynamoDB: the per-user recent history read at request time, and the durable
log the next solution version trains on — one write serves both.

Item layout of the events table (the CDK storage construct declares the same keys):

* event     ``pk = U#<datasetGroupArn>#<userId or sessionId>``, ``sk = E#<receivedAt ms>#<eventId>``,
            ``ev`` = the event as JSON, plus ``gpk = <datasetGroupArn>#<shard>`` / ``gsk = sk`` for
            the ``byGroup`` index that training exports from (sharded so one busy dataset group does
            not make one hot index partition)
* by type   ``pk`` = the event's, ``sk = T#<hash of the lower-cased eventType>#<receivedAt ms>#<eventId>``,
            ``ev``: the same event again, for events with an item.  Interaction filters consider the
            newest 1,000 events of each event type (``recent_by_type``), which one read of the newest
            events overall cannot promise: 1,500 clicks after the last watch would hide every watch.
            Not in the ``byGroup`` index (no ``gpk``), so training exports each event once.
* event id  ``pk = I#<datasetGroupArn>#<eventId>``, ``sk = I``: makes a repeated eventId a no-op
* metadata  ``pk = M#<datasetArn>``, ``sk = <item/user/action id>`` (PutItems / PutUsers / PutActions)

A PutEvents call is one DynamoDB transaction: every event of the call is stored with its id
marker, or none is, so a caller never gets a 200 for events that were lost.  Events whose
eventId was stored before (a client retry after a lost response) are skipped, not duplicated.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from picks.errors import PicksError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BY_GROUP_INDEX = "byGroup"
SHARDS = 16
MAX_TRANSACTION_ATTEMPTS = 4
THROTTLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
}


class EventStoreThrottled(PicksError):
    """Storage is throttling: retryable, and botocore retries ThrottlingException by itself."""

    code = "ThrottlingException"
    status = 400


class EventStoreUnavailable(PicksError):
    """Storage failed: nothing was stored; retryable (botocore retries a 503)."""

    code = "ServiceUnavailableException"
    status = 503


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    session_id: str
    event_type: str
    sent_at: float
    user_id: str | None = None
    item_id: str | None = None
    event_value: float | None = None
    properties: str | None = None
    recommendation_id: str | None = None
    impression: list[str] | None = None
    received_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """Whose history the event extends: the user, or the session for anonymous events."""
        return self.user_id or self.session_id

    def to_json(self) -> str:
        return json.dumps(
            {k: v for k, v in asdict(self).items() if v not in (None, {}, [])}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> StoredEvent:
        raw = json.loads(text)
        return cls(**raw)


def new_event_id() -> str:
    return uuid.uuid4().hex


def _shard(event_id: str) -> int:
    return int(hashlib.blake2b(event_id.encode(), digest_size=2).hexdigest(), 16) % SHARDS


def _user_key(group_arn: str, subject: str) -> str:
    return f"U#{group_arn}#{subject}"


def _event_sk(received_ms: int, event_id: str) -> str:
    return f"E#{received_ms:015d}#{event_id}"


LAST_EVENT_SK = _event_sk(10**15 - 1, "~")  # above every event's sk, below every by-type sk ("T#...")
# Event types one read of a user's by-type history visits at most (two small queries each): a bound
# on what a client inventing event types can make a filtered request cost.
MAX_EVENT_TYPES_READ = 100


def _type_prefix(event_type: str) -> str:
    """The by-type entries' sk prefix: a hash, so any event type text (``#``, 256 characters) fits."""
    return f"T#{hashlib.blake2b(event_type.lower().encode(), digest_size=8).hexdigest()}#"


def _first_of_each_id(events: list[StoredEvent], now_ms: int) -> list[StoredEvent]:
    """``events`` stamped with their receipt time; of a repeated eventId the first wins, as in Personalize."""
    unique: dict[str, StoredEvent] = {}
    for offset, event in enumerate(events):
        if event.event_id not in unique:
            unique[event.event_id] = StoredEvent(**{**asdict(event), "received_ms": now_ms + offset})
    return list(unique.values())


def _duplicate_ids(error: ClientError, pending: list[StoredEvent], owners: list[int]) -> set[str]:
    """The eventIds a cancelled transaction found already stored (only the id markers are conditional)."""
    if error.response.get("Error", {}).get("Code", "") != "TransactionCanceledException":
        return set()
    reasons = error.response.get("CancellationReasons") or []
    return {
        pending[owners[index]].event_id
        for index, reason in enumerate(reasons[: len(owners)])
        if reason.get("Code") == "ConditionalCheckFailed"
    }


def _write_failure(error: ClientError) -> PicksError:
    """What to tell the caller when a write failed for another reason than duplicates: always retryable."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        if any(r.get("Code") in ("TransactionConflict", "ThrottlingError") for r in reasons):
            return EventStoreThrottled("Events were not stored (write conflict); retry the call.")
    if code in THROTTLE_CODES:
        return EventStoreThrottled("Events were not stored (storage throttled); retry the call.")
    return EventStoreUnavailable(f"Events were not stored ({code or 'storage error'}); retry the call.")


class EventStore:
    """Events of every dataset group; ``dynamodb`` is an injected boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock

    # --- writing ------------------------------------------------------------------------------

    def _items(self, group_arn: str, event: StoredEvent) -> list[dict[str, Any]]:
        """The transaction's Puts for one event: its id marker first (the only conditional one)."""
        sk = _event_sk(event.received_ms, event.event_id)
        by_type = []
        if event.item_id:
            by_type.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": _user_key(group_arn, event.subject)},
                            "sk": {"S": f"{_type_prefix(event.event_type)}{sk[2:]}"},
                            "ev": {"S": event.to_json()},
                        },
                    }
                }
            )
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": f"I#{group_arn}#{event.event_id}"},
                        "sk": {"S": "I"},
                        "at": {"S": f"{_user_key(group_arn, event.subject)}|{sk}"},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": _user_key(group_arn, event.subject)},
                        "sk": {"S": sk},
                        "ev": {"S": event.to_json()},
                        "gpk": {"S": f"{group_arn}#{_shard(event.event_id):02d}"},
                        "gsk": {"S": sk},
                    },
                }
            },
            *by_type,
        ]

    def put_events(self, group_arn: str, events: list[StoredEvent]) -> int:
        """Store ``events`` atomically; returns how many were new (repeated eventIds are skipped)."""
        pending = _first_of_each_id(events, int(self._clock() * 1000))
        for _ in range(MAX_TRANSACTION_ATTEMPTS):
            if not pending:
                return 0
            items, owners = self._transaction(group_arn, pending)
            try:
                self._db.transact_write_items(TransactItems=items)
                return len(pending)
            except ClientError as error:
                duplicates = _duplicate_ids(error, pending, owners)
                if not duplicates:
                    raise _write_failure(error) from error
                pending = [e for e in pending if e.event_id not in duplicates]
            except Exception as error:  # noqa: BLE001 - network or client failure: nothing was acknowledged
                raise EventStoreUnavailable(
                    f"Events were not stored ({type(error).__name__}); retry the call."
                ) from error
        raise EventStoreThrottled("Events were not stored (concurrent duplicates); retry the call.")

    def _transaction(
        self, group_arn: str, pending: list[StoredEvent]
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """The Puts storing ``pending``, and for each Put the index of the event it belongs to."""
        items: list[dict[str, Any]] = []
        owners: list[int] = []
        for number, event in enumerate(pending):
            puts = self._items(group_arn, event)
            items += puts
            owners += [number] * len(puts)
        return items, owners

    # --- reading ------------------------------------------------------------------------------

    def recent(
        self, group_arn: str, subject: str, *, limit: int = 1000, since_ms: int = 0
    ) -> list[StoredEvent]:
        """The subject's newest ``limit`` events received after ``since_ms``, oldest first."""
        pk = _user_key(group_arn, subject)
        events = self._newest(pk, _event_sk(since_ms, "~"), LAST_EVENT_SK, limit)
        return events[::-1]

    def recent_by_type(
        self, group_arn: str, subject: str, *, per_type: int = 1000, since_ms: int = 0
    ) -> list[StoredEvent]:
        """The subject's newest ``per_type`` events with an item of every event type (event types
        compared lower-cased), received after ``since_ms``; oldest first within each type.

        Each type's entries are one key range of the user's partition: the types are found one
        after the other (the first entry past the previous type's range names the next), at most
        ``MAX_EVENT_TYPES_READ`` of them, so the cost is bounded by the number of types and
        ``per_type``, never by how many events of other types came in between.
        """
        pk = _user_key(group_arn, subject)
        out: list[StoredEvent] = []
        after = "T#"
        for _ in range(MAX_EVENT_TYPES_READ):
            response = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk > :after",
                ExpressionAttributeValues={":pk": {"S": pk}, ":after": {"S": after}},
                ProjectionExpression="sk",
                ConsistentRead=True,
                Limit=1,
            )
            found = response.get("Items", [])
            if not found or not found[0]["sk"]["S"].startswith("T#"):
                break
            prefix = found[0]["sk"]["S"][: len(_type_prefix(""))]
            events = self._newest(pk, prefix + f"{since_ms:015d}#~", prefix + "~", per_type)
            out += events[::-1]
            after = prefix + "~"
        return out

    def _newest(self, pk: str, lower: str, upper: str, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events of ``pk`` with ``lower < sk <= upper``, newest first."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lower AND :upper",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":lower": {"S": lower}, ":upper": {"S": upper}},
            "ScanIndexForward": False,
            "ConsistentRead": True,  # read-your-writes: the next request sees the event just put
            "Limit": limit,
        }
        events: list[StoredEvent] = []
        while True:  # a page stops at 1 MB: large events may need more than one for ``limit``
            response = self._db.query(**query)
            events += [
                StoredEvent.from_json(item["ev"]["S"])
                for item in response.get("Items", [])
                if item["sk"]["S"] != lower
            ]
            if len(events) >= limit or "LastEvaluatedKey" not in response:
                return events[:limit]
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            query["Limit"] = limit - len(events)

    def export(
        self, group_arn: str, *, since_ms: int = 0, until_ms: int | None = None
    ) -> Iterator[StoredEvent]:
        """Every event of the group received in ``(since_ms, until_ms]``, shard by shard."""
        upper = _event_sk(until_ms if until_ms is not None else 10**15 - 1, "~")
        for shard in range(SHARDS):
            query: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": BY_GROUP_INDEX,
                "KeyConditionExpression": "gpk = :g AND gsk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {
                    ":g": {"S": f"{group_arn}#{shard:02d}"},
                    ":lo": {"S": _event_sk(since_ms + 1, "")},
                    ":hi": {"S": upper},
                },
            }
            while True:
                response = self._db.query(**query)
                for item in response.get("Items", []):
                    yield StoredEvent.from_json(item["ev"]["S"])
                if "LastEvaluatedKey" not in response:
                    break
                query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def events_table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable parameters for moto and the emulator; mirrors the CDK storage construct."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gpk", "AttributeType": "S"},
            {"AttributeName": "gsk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": BY_GROUP_INDEX,
                "KeySchema": [
                    {"AttributeName": "gpk", "KeyType": "HASH"},
                    {"AttributeName": "gsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
