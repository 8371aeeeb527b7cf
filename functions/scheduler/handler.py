"""Lambda entry point for the declared schedules (``picks.workflows.declaration.SCHEDULES``):
``{"action": "schedules.tick", "input": {}}`` from EventBridge Scheduler, or the emulator's ticker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.observability import logger, tracer
from picks.services import get_services
from picks.workflows import schedules

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = schedules.ACTIONS.get(event.get("action", ""))
    if action is None:
        raise ValueError(f"action: unknown scheduled action '{event.get('action')}'")
    return action(get_services(), event.get("input") or {})
