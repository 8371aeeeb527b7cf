"""Lambda entry point for the Personalize control plane (AWS JSON 1.1 behind API Gateway)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane.dispatch import dispatch
from picks.http import control_plane_app
from picks.observability import api_handler
from picks.services import get_services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


app = control_plane_app(dispatch, get_services)


@api_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
