"""Powertools logger, tracer and metrics, instantiated once and shared by every handler.

``api_handler`` applies Powertools' three handler decorators where they do something: on Lambda
all three (structured logs with the Lambda context and the request id, an X-Ray subsegment, the
request's metrics flushed as EMF).  Where Powertools itself turns tracing or metrics off
(``POWERTOOLS_TRACE_DISABLED``, outside Lambda; ``POWERTOOLS_METRICS_DISABLED``: the emulator, the
tests, the benchmarks) their decorators and ``count``'s metrics are left out instead of paying for
a subsegment nobody records and a metric set nobody flushes (Powertools does not clear a disabled
metric set: it printed every 100th request's metrics anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

if TYPE_CHECKING:
    from collections.abc import Callable

    # (API Gateway event, Lambda context: Powertools' LambdaContext, or the emulator's stand-in).
    ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

logger = Logger(service="picks")
tracer = Tracer(service="picks")
metrics = Metrics(namespace="picks", service="picks")

# Read once, as Powertools reads its own switches when the objects above are created.
TRACING = not tracer.disabled
METRICS = not is_metrics_disabled()


def count(name: str) -> None:
    """One more ``name`` (a count metric) for this request, where metrics are on."""
    if METRICS:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def api_handler(handler: ApiHandler) -> ApiHandler:
    """An API Gateway (REST) handler with Powertools' logging, tracing and metrics decorators,
    the last two only where they are on."""
    if METRICS:
        handler = metrics.log_metrics(handler)
    if TRACING:
        handler = tracer.capture_lambda_handler(handler)
    decorated: ApiHandler = logger.inject_lambda_context(_with_correlation_id(handler))
    return decorated


def _with_correlation_id(handler: ApiHandler) -> ApiHandler:
    """Logs of the request carry its API Gateway request id as ``correlation_id``: what
    ``inject_lambda_context(correlation_id_path=API_GATEWAY_REST)`` sets, read directly instead of
    compiling and evaluating a JMESPath expression per request."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_context = event.get("requestContext")
        logger.set_correlation_id(
            request_context.get("requestId") if isinstance(request_context, dict) else None
        )
        return handler(event, context)

    return handle
