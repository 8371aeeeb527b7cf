"""Operation registry and dispatch: validate against the model, run, shape the output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from picks.errors import InvalidInputException, UnknownOperationException, excerpt
from picks.services import Services
from picks.wire.serialize import serialize_output
from picks.wire.service_model import service_model
from picks.wire.validation import validate_input

SERVICE = "personalize"
Operation = Callable[[Services, dict[str, Any]], dict[str, Any] | None]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(func: Operation) -> Operation:
        OPERATIONS[name] = func
        return func

    return register


def load_operation_modules() -> None:
    # Importing the modules registers their operations. Always import them all: another module
    # (the S3 drop, say) may have imported one of them first, so a non-empty registry proves nothing.
    from picks.controlplane import (  # noqa: F401
        campaigns,
        dataset_groups,
        datasets,
        event_trackers,
        filters,
        import_jobs,
        recipes,
        schemas,
        solution_versions,
        solutions,
        tags,
    )


def dispatch(services: Services, name: str, params: dict[str, Any]) -> dict[str, Any]:
    load_operation_modules()
    if name not in service_model(SERVICE).operation_names:
        raise UnknownOperationException(f"{excerpt(name)} is not an operation of Amazon Personalize.")
    validate_input(SERVICE, name, params)
    func = OPERATIONS.get(name)
    if func is None:
        # A modelled exception, so SDK callers can catch it by type (client.exceptions.InvalidInputException).
        raise InvalidInputException(f"{name} is not supported by picks yet.")
    return serialize_output(SERVICE, name, func(services, params))
