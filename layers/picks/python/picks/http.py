"""The one place that maps picks errors and requests onto the HTTP wire.

Control plane: AWS JSON 1.1, ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>``.
Runtime and events: REST-JSON, one path per operation (from the botocore model).
Errors carry ``__type`` + ``message`` in the body and ``x-amzn-ErrorType`` in
the headers, with the status botocore's model declares.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from picks.errors import InvalidInputException, PicksError, excerpt
from picks.observability import count, logger
from picks.wire.protocol import CONTENT_TYPES, error_body, error_headers, error_status
from picks.wire.serialize import serialize_output
from picks.wire.service_model import operation_model, protocol, service_model
from picks.wire.validation import validate_input

if TYPE_CHECKING:
    from picks.services import Services

# The handler's services (``picks.services.get_services``), asked for on every request.
ServicesProvider = Callable[[], "Services"]


class MissingTarget(PicksError):
    code = "UnknownOperationException"
    status = 400


# API Gateway's payload limit; a compressed body may not inflate past it either.
MAX_BODY_BYTES = 10 * 1024 * 1024
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _request_id(app: APIGatewayRestResolver) -> str | None:
    context = app.current_event.request_context
    return getattr(context, "request_id", None)


def error_response(service: str, error: PicksError, request_id: str | None = None) -> Response[str]:
    count("ClientErrors" if error.status < 500 else "ServerErrors")
    return Response(
        status_code=error_status(service, error),
        content_type=CONTENT_TYPES[protocol(service)],
        body=error_body(error),
        headers=error_headers(service, error, request_id),
    )


def json_response(service: str, payload: dict[str, Any]) -> Response[str]:
    count("Successes")
    return Response(status_code=200, content_type=CONTENT_TYPES[protocol(service)], body=json.dumps(payload))


def request_header(app: APIGatewayRestResolver, name: str) -> str | None:
    """The request's header ``name``, matched case-insensitively (of headers differing only in case,
    the last) — ``current_event.headers.get(name)``'s answer, without building a case-insensitive copy
    of every header per lookup (Powertools' ``get_header_value`` also warns on each call)."""
    headers = app.current_event.get("headers") or {}
    wanted = name.lower()
    found = None
    for key, value in headers.items():
        if key.lower() == wanted:
            found = value
    return found


def _raw_body(app: APIGatewayRestResolver) -> bytes:
    event = app.current_event
    if not event.body:
        return b""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(event.body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidInputException("Request body: marked base64-encoded but is not base64.") from error
    try:
        return event.body.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInputException("Request body: not valid UTF-8.") from error


def _decoded_content(app: APIGatewayRestResolver, raw: bytes) -> bytes:
    header = request_header(app, "Content-Encoding")
    encoding = (header or "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise InvalidInputException(
            f"Content-Encoding: '{excerpt(encoding)}' is not supported; use gzip or none."
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(raw, MAX_BODY_BYTES + 1)
        if not inflater.eof:
            raise InvalidInputException(
                f"Request body: larger than {MAX_BODY_BYTES} bytes once decompressed, "
                "or a truncated gzip stream."
            )
    except zlib.error as error:
        raise InvalidInputException(
            "Request body: Content-Encoding is gzip but the body is not gzip data."
        ) from error
    return content


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {excerpt(text)} is out of range")
    return number


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def request_body(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The request's JSON object; anything else is an InvalidInputException (modelled by all three APIs)."""
    content = _decoded_content(app, _raw_body(app))
    if not content:
        return {}
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputException(
            f"Request body: not valid UTF-8 (byte {error.start}); send UTF-8 JSON."
        ) from error
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise InvalidInputException(
            f"Request body: not valid JSON ({error.msg} at position {error.pos})."
        ) from error
    except RecursionError as error:
        raise InvalidInputException("Request body: JSON nested too deeply.") from error
    except ValueError as error:  # Python's int-string limit (4,300 digits), NaN/Infinity, float overflow
        raise InvalidInputException(
            f"Request body: not acceptable JSON ({excerpt(str(error), 120)})."
        ) from error
    if not isinstance(body, dict):
        raise InvalidInputException("Request body: the request must be a JSON object.")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(body):
        raise InvalidInputException("Request body: a string holds an unpaired UTF-16 surrogate escape.")
    return body


def install_error_handlers(app: APIGatewayRestResolver, service: str) -> None:
    def handle_picks_error(error: PicksError) -> Response[str]:
        if error.status >= 500:
            logger.exception("internal failure")
        return error_response(service, error, _request_id(app))

    def handle_unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        failure = PicksError("An internal error occurred; the request was not applied.")
        return error_response(service, failure, _request_id(app))

    # Registered by call, not as decorators: Powertools' exception_handler is untyped, and a decorator
    # would make the handlers untyped too.
    app.exception_handler(PicksError)(handle_picks_error)
    app.exception_handler(Exception)(handle_unexpected)

    @app.not_found
    def handle_not_found(_: Exception) -> Response[str]:
        event = app.current_event
        failure = MissingTarget(f"{excerpt(event.http_method)} {excerpt(event.path)} is not a picks route.")
        return error_response(service, failure, _request_id(app))


def request_services(app: APIGatewayRestResolver, services: ServicesProvider) -> Services:
    """The services of the request ``app`` serves: resources belong to the region the request was
    signed for (its SigV4 scope; on AWS always the deployed region)."""
    return services().for_request(request_header(app, "Authorization"))


def control_plane_app(
    dispatch: Callable[[Services, str, dict[str, Any]], dict[str, Any]], services: ServicesProvider
) -> APIGatewayRestResolver:
    """A resolver serving the JSON 1.1 control plane on ``POST /``."""
    service = "personalize"
    prefix = service_model(service).metadata["targetPrefix"] + "."
    app = APIGatewayRestResolver()
    install_error_handlers(app, service)

    @app.post("/")
    def control_plane() -> Response[str]:
        target = request_header(app, "X-Amz-Target") or ""
        if not target.startswith(prefix):
            raise MissingTarget(f"X-Amz-Target: expected '{prefix}<Operation>', got '{excerpt(target)}'.")
        operation = target[len(prefix) :]
        return json_response(service, dispatch(request_services(app, services), operation, request_body(app)))

    return app


RestOperation = Callable[["Services", dict[str, Any]], dict[str, Any] | None]


def rest_json_app(
    service: str, implementations: Mapping[str, RestOperation], services: ServicesProvider
) -> APIGatewayRestResolver:
    """A resolver with one route per operation of a REST-JSON service, paths from the model."""
    app = APIGatewayRestResolver()
    install_error_handlers(app, service)
    for name in service_model(service).operation_names:
        http = operation_model(service, name).http
        implementation = implementations[name]

        def serve(name: str = name, implementation: RestOperation = implementation) -> Response[str]:
            params = request_body(app)
            validate_input(service, name, params)
            answer = implementation(request_services(app, services), params)
            return json_response(service, serialize_output(service, name, answer))

        app.route(http["requestUri"], http["method"])(serve)
    return app
