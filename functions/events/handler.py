"""Lambda entry point for Personalize events (REST-JSON): PutEvents, PutItems, PutUsers, ..."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from picks.events_api import OPERATIONS
from picks.http import rest_json_app
from picks.observability import logger, metrics, tracer
from picks.services import get_services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = rest_json_app("personalize-events", OPERATIONS, get_services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
