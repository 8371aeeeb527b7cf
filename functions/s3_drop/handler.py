"""EventBridge "Object Created" under drop/ → INCREMENTAL import for the matching dataset."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from picks.drop import import_dropped_object
from picks.observability import logger, tracer
from picks.services import get_services


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    detail = event.detail
    return import_dropped_object(get_services(), detail["bucket"]["name"], detail["object"]["key"])
