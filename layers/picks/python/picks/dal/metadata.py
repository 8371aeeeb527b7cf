"""Items, users and actions written one by one (PutItems / PutUsers / PutActions), in the events
table (layout in ``picks.dal.event_store``):

* ``pk = M#<datasetArn>``, ``sk = <item / user / action id>``
* ``rec``        the validated record, ``{schema field name: value}``, as JSON text (floats survive)
* ``updatedAt``  epoch seconds of the write

A record with the id of an earlier one replaces it, as Personalize does.  These records live apart
from bulk-imported data, so a FULL import, which replaces the bulk data, keeps them (the guide: an
import "replaces any existing data in the dataset that you imported in bulk"); training reads both
and lets the individually written record win.

Every record of one call is written in one transaction, so the call is stored whole or not at all.
Storage faults surface as ``EventStoreThrottled`` / ``EventStoreUnavailable``: retryable errors, never
a 200 for records that were not stored.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from picks.dal.event_store import THROTTLE_CODES, EventStoreThrottled, EventStoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_RECORDS_PER_CALL = 10  # PutItems / PutUsers / PutActions take at most 10 records
BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem limit
MAX_UNPROCESSED_ROUNDS = 5


def metadata_key(dataset_arn: str) -> str:
    return f"M#{dataset_arn}"


class MetadataStore:
    """Individually written records of every dataset; ``dynamodb`` is an injected boto3 client."""

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self._clock = clock
        self._sleep = sleep

    def put(self, dataset_arn: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Upsert ``records`` (id, fields) atomically; for a repeated id the last record wins."""
        if not records:
            return
        latest = dict(records)  # one transaction may not touch an item twice
        if len(latest) > MAX_RECORDS_PER_CALL:
            raise ValueError(f"at most {MAX_RECORDS_PER_CALL} records per call, got {len(latest)}")
        now = repr(float(self._clock()))
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": metadata_key(dataset_arn)},
                        "sk": {"S": record_id},
                        "rec": {"S": json.dumps(fields, separators=(",", ":"))},
                        "updatedAt": {"N": now},
                    },
                }
            }
            for record_id, fields in latest.items()
        ]
        try:
            self._db.transact_write_items(TransactItems=items)
        except Exception as error:  # noqa: BLE001 - whatever failed, nothing was acknowledged
            raise _storage_error(error, "Records were not stored") from error

    def get(self, dataset_arn: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored records among ``ids`` (strongly consistent), by id; unknown ids are absent."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys = [
                {"pk": {"S": metadata_key(dataset_arn)}, "sk": {"S": record_id}}
                for record_id in wanted[start : start + BATCH_GET_KEYS]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(MAX_UNPROCESSED_ROUNDS):
                try:
                    response = self._db.batch_get_item(RequestItems=request)
                except Exception as error:  # noqa: BLE001
                    raise _storage_error(error, "Records could not be read") from error
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["sk"]["S"]] = json.loads(item["rec"]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**attempt)
            else:
                raise EventStoreThrottled("Records could not be read (storage throttled); retry the call.")
        return found

    def scan_all(self, dataset_arn: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored record of the dataset as (id, fields), in id order, page by page."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": metadata_key(dataset_arn)}},
        }
        while True:
            try:
                response = self._db.query(**query)
            except Exception as error:  # noqa: BLE001
                raise _storage_error(error, "Records could not be read") from error
            for item in response.get("Items", []):
                yield item["sk"]["S"], json.loads(item["rec"]["S"])
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _storage_error(error: Exception, what: str) -> EventStoreThrottled | EventStoreUnavailable:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        reasons = error.response.get("CancellationReasons") or []
        if code in THROTTLE_CODES or any(
            reason.get("Code") in ("TransactionConflict", "ThrottlingError") for reason in reasons
        ):
            return EventStoreThrottled(f"{what} (storage throttled or a concurrent write); retry the call.")
        return EventStoreUnavailable(f"{what} ({code or 'storage error'}); retry the call.")
    return EventStoreUnavailable(f"{what} ({type(error).__name__}); retry the call.")
