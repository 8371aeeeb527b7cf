"""Lambda entry point for Personalize runtime (REST-JSON): recommendations and ranking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from picks.http import RestOperation, rest_json_app
from picks.observability import logger, metrics, tracer
from picks.runtime import OPERATIONS
from picks.services import Services, get_services

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext


def _services() -> Services:
    # Resources belong to the region the request was signed for (the deployed region, on AWS).
    return get_services().for_request(app.current_event.get_header_value("Authorization"))


def _per_request(operation: Callable[[Services, dict[str, Any]], dict[str, Any] | None]) -> RestOperation:
    """The operation, called with the services of the request it serves."""

    def call(params: dict[str, Any]) -> dict[str, Any] | None:
        return operation(_services(), params)

    return call


app = rest_json_app("personalize-runtime", {name: _per_request(op) for name, op in OPERATIONS.items()})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
