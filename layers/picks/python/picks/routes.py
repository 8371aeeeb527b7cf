"""The one declaration of picks' HTTP surface and Lambda functions.

Both the CDK stack (API Gateway resources, Lambda functions) and the local
emulator's dispatcher are derived from this module, so a route cannot exist in
one and not the other.  Runtime and events paths come from botocore's own
service models (``http.requestUri``), not from a hand copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from picks.wire.service_model import service_model


@dataclass(frozen=True)
class Function:
    """A Lambda function: code lives in ``functions/<name>/handler.py``."""

    name: str
    description: str
    memory_mb: int = 512
    timeout_s: int = 30

    @property
    def module(self) -> str:
        return f"functions.{self.name}.handler"

    @property
    def handler(self) -> str:
        return "handler.lambda_handler"


@dataclass(frozen=True)
class Route:
    service: str  # botocore service name
    method: str
    path: str
    function: str  # Function.name
    operation: str | None = None  # None: dispatched inside the function (X-Amz-Target)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("control_plane", "Personalize control plane (AWS JSON 1.1)", memory_mb=512, timeout_s=29),
        Function("runtime", "Personalize runtime: recommendations and ranking", memory_mb=1024, timeout_s=29),
        Function(
            "events", "Personalize events: PutEvents, PutItems, PutUsers, ...", memory_mb=512, timeout_s=29
        ),
        Function("workflow_steps", "Steps of the Step Functions workflows", memory_mb=3008, timeout_s=900),
        Function("s3_drop", "Starts an INCREMENTAL import for a CSV dropped under drop/", timeout_s=60),
        Function("scheduler", "Starts automatic trainings and model updates when due", timeout_s=120),
    )
}

# Functions invoked through API Gateway, keyed by the botocore service they serve.
API_FUNCTIONS: dict[str, str] = {
    "personalize": "control_plane",
    "personalize-runtime": "runtime",
    "personalize-events": "events",
}


@cache
def routes() -> tuple[Route, ...]:
    """Every HTTP route: the control plane's single ``POST /`` plus one per REST-JSON operation."""
    declared = [Route("personalize", "POST", "/", API_FUNCTIONS["personalize"])]
    for service in ("personalize-runtime", "personalize-events"):
        model = service_model(service)
        for name in model.operation_names:
            http = model.operation_model(name).http
            declared.append(Route(service, http["method"], http["requestUri"], API_FUNCTIONS[service], name))
    return tuple(declared)


def route_for(method: str, path: str) -> Route | None:
    """The route serving ``method path`` (path without the API Gateway stage)."""
    normalized = "/" + path.strip("/")
    for route in routes():
        if route.method == method.upper() and route.path == normalized:
            return route
    return None
