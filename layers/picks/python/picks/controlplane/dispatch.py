"""Control-plane dispatch: validate against the model, run the registered operation, shape the output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Importing the operation modules registers their operations (``registry.operation``).
from picks.controlplane import (  # noqa: F401
    batch_inference_jobs,
    batch_segment_jobs,
    campaigns,
    dataset_groups,
    datasets,
    event_trackers,
    filters,
    import_jobs,
    recipes,
    recommenders,
    schemas,
    solution_versions,
    solutions,
    tags,
)
from picks.controlplane.registry import OPERATIONS, SERVICE
from picks.errors import InvalidInputException, UnknownOperationException, excerpt
from picks.wire.serialize import serialize_output
from picks.wire.service_model import service_model
from picks.wire.validation import validate_input

if TYPE_CHECKING:
    from picks.services import Services


def dispatch(services: Services, name: str, params: dict[str, Any]) -> dict[str, Any]:
    if name not in service_model(SERVICE).operation_names:
        raise UnknownOperationException(f"{excerpt(name)} is not an operation of Amazon Personalize.")
    validate_input(SERVICE, name, params)
    func = OPERATIONS.get(name)
    if func is None:
        # A modelled exception, so SDK callers can catch it by type (client.exceptions.InvalidInputException).
        raise InvalidInputException(f"{name} is not supported by picks yet.")
    return serialize_output(SERVICE, name, func(services, params))
