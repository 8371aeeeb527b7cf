"""Personalize events operations.

Event trackers and real-time ingestion arrive later; until then requests are
validated and answered with the modelled error a client can act on, never
with a 200 that would silently drop the data.
"""
from __future__ import annotations

from typing import Any

from picks.errors import InvalidInputException
from picks.services import Services


def _tracker(services: Services, tracking_id: str) -> None:
    raise InvalidInputException(f"trackingId: no event tracker has tracking ID '{tracking_id}'.")


def _dataset(services: Services, dataset_arn: str, operation: str) -> None:
    services.resources.get(dataset_arn, what="Dataset", kind="dataset")
    raise InvalidInputException(f"datasetArn: {operation} is not supported by this picks version yet.")


def put_events(services: Services, params: dict[str, Any]) -> None:
    _tracker(services, params["trackingId"])


def put_action_interactions(services: Services, params: dict[str, Any]) -> None:
    _tracker(services, params["trackingId"])


def put_items(services: Services, params: dict[str, Any]) -> None:
    _dataset(services, params["datasetArn"], "PutItems")


def put_users(services: Services, params: dict[str, Any]) -> None:
    _dataset(services, params["datasetArn"], "PutUsers")


def put_actions(services: Services, params: dict[str, Any]) -> None:
    _dataset(services, params["datasetArn"], "PutActions")


OPERATIONS = {
    "PutEvents": put_events,
    "PutActionInteractions": put_action_interactions,
    "PutItems": put_items,
    "PutUsers": put_users,
    "PutActions": put_actions,
}
