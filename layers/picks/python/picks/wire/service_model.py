"""Access to botocore's own Personalize service models (shipped with boto3 in every Lambda runtime)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import botocore.session

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel

SERVICES = ("personalize", "personalize-runtime", "personalize-events")


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(service: str) -> ServiceModel:
    return _session().get_service_model(service)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def protocol(service: str) -> str:
    """``json`` for the control plane (AWS JSON 1.1), ``rest-json`` for runtime and events."""
    name: str = service_model(service).metadata["protocol"]
    return name
