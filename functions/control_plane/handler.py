"""Lambda entry point for the Personalize control plane (AWS JSON 1.1 behind API Gateway)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from picks.controlplane.dispatch import dispatch
from picks.http import control_plane_app
from picks.observability import logger, metrics, tracer
from picks.services import get_services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


app = control_plane_app(dispatch, get_services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
