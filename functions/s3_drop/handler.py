"""EventBridge "Object Created" under drop/ → INCREMENTAL import for the matching dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from picks.drop import import_dropped_object
from picks.observability import logger, tracer
from picks.services import get_services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    detail = event.detail
    written = detail["object"]
    # The write's identity names the import job, so a redelivered event does not import again.
    return import_dropped_object(
        get_services(),
        detail["bucket"]["name"],
        written["key"],
        etag=written.get("etag"),
        version_id=written.get("version-id"),
        sequencer=written.get("sequencer"),
    )
