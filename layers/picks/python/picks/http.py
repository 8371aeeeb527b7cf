"""The one place that maps picks errors and requests onto the HTTP wire.

Control plane: AWS JSON 1.1, ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>``.
Runtime and events: REST-JSON, one path per operation (from the botocore model).
Errors carry ``__type`` + ``message`` in the body and ``x-amzn-ErrorType`` in
the headers, with the status botocore's model declares.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from picks.errors import PicksError
from picks.observability import logger, metrics
from picks.wire.protocol import CONTENT_TYPES, error_body, error_headers, error_status
from picks.wire.serialize import serialize_output
from picks.wire.service_model import operation_model, protocol, service_model
from picks.wire.validation import validate_input


class SerializationException(PicksError):
    code = "SerializationException"
    status = 400


class MissingTarget(PicksError):
    code = "UnknownOperationException"
    status = 400


def _request_id(app: APIGatewayRestResolver) -> str | None:
    context = app.current_event.request_context
    return getattr(context, "request_id", None)


def error_response(service: str, error: PicksError, request_id: str | None = None) -> Response:
    metrics.add_metric(name="ClientErrors" if error.status < 500 else "ServerErrors", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=error_status(service, error),
        content_type=CONTENT_TYPES[protocol(service)],
        body=error_body(error),
        headers=error_headers(service, error, request_id),
    )


def json_response(service: str, payload: dict[str, Any]) -> Response:
    metrics.add_metric(name="Successes", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type=CONTENT_TYPES[protocol(service)], body=json.dumps(payload))


def request_body(app: APIGatewayRestResolver) -> dict[str, Any]:
    raw = app.current_event.decoded_body if app.current_event.body else ""
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise SerializationException(f"body: not valid JSON ({error.msg} at position {error.pos}).") from error
    if not isinstance(body, dict):
        raise SerializationException("body: the request must be a JSON object.")
    return body


def install_error_handlers(app: APIGatewayRestResolver, service: str) -> None:
    @app.exception_handler(PicksError)
    def handle_picks_error(error: PicksError) -> Response:
        if error.status >= 500:
            logger.exception("internal failure")
        return error_response(service, error, _request_id(app))

    @app.exception_handler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        failure = PicksError("An internal error occurred; the request was not applied.")
        return error_response(service, failure, _request_id(app))

    @app.not_found
    def handle_not_found(_: Exception) -> Response:
        failure = MissingTarget(f"{app.current_event.http_method} {app.current_event.path} is not a picks route.")
        return error_response(service, failure, _request_id(app))


def control_plane_app(dispatch: Callable[[str, dict[str, Any]], dict[str, Any]]) -> APIGatewayRestResolver:
    """A resolver serving the JSON 1.1 control plane on ``POST /``."""
    service = "personalize"
    prefix = service_model(service).metadata["targetPrefix"] + "."
    app = APIGatewayRestResolver()
    install_error_handlers(app, service)

    @app.post("/")
    def control_plane() -> Response:
        target = app.current_event.get_header_value("X-Amz-Target", case_sensitive=False) or ""
        if not target.startswith(prefix):
            raise MissingTarget(f"X-Amz-Target: expected '{prefix}<Operation>', got '{target}'.")
        return json_response(service, dispatch(target[len(prefix) :], request_body(app)))

    return app


RestOperation = Callable[[dict[str, Any]], dict[str, Any] | None]


def rest_json_app(service: str, implementations: dict[str, RestOperation]) -> APIGatewayRestResolver:
    """A resolver with one route per operation of a REST-JSON service, paths from the model."""
    app = APIGatewayRestResolver()
    install_error_handlers(app, service)
    for name in service_model(service).operation_names:
        http = operation_model(service, name).http
        implementation = implementations[name]

        def serve(name: str = name, implementation: RestOperation = implementation) -> Response:
            params = request_body(app)
            validate_input(service, name, params)
            return json_response(service, serialize_output(service, name, implementation(params)))

        app.route(http["requestUri"], http["method"])(serve)
    return app
