"""Performance and thread-safety fixes for moto behind the emulator (not used on AWS).

moto's TransactWriteItems deep-copies every table it touches so it can roll back; on the events
table that makes each PutEvents cost O(events stored) and, with the emulator's threads, races
("dictionary changed size during iteration").  For the transactions picks writes — Puts, each
optionally conditioned on ``attribute_not_exists(...)`` — checking every condition first and
then applying the Puts is all-or-nothing without a copy.  Anything else still goes to moto's own
implementation.  Both run under one lock, so concurrent transactions are serialised as DynamoDB
would isolate them.
"""
from __future__ import annotations

import re
import threading
from typing import Any

from moto.dynamodb.exceptions import MultipleTransactionsException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()
_NOT_EXISTS = re.compile(r"\s*attribute_not_exists\s*\(\s*[A-Za-z0-9_#]+\s*\)\s*")
_original = DynamoDBBackend.transact_write_items


def _simple_puts(items: list[dict[str, Any]]) -> bool:
    for item in items:
        if list(item) != ["Put"]:
            return False
        condition = item["Put"].get("ConditionExpression")
        if condition is not None and not _NOT_EXISTS.fullmatch(condition):
            return False
    return True


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    with _LOCK:
        if not _simple_puts(transact_items) or len(transact_items) > 100:
            return _original(self, transact_items)
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            op = item["Put"]
            table = self.get_table(op["TableName"])
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            marker = (op["TableName"], str(sorted(key.items())))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            exists = self.get_item(op["TableName"], key) is not None
            if op.get("ConditionExpression") and exists:
                errors.append(("ConditionalCheckFailed", "The conditional request failed", None))
            else:
                errors.append((None, None, None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for item in transact_items:
            self.put_item(item["Put"]["TableName"], item["Put"]["Item"])
        return None


def install() -> None:
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
