"""Lambda entry point for workflow steps: ``{"action": ..., "input": {...}}`` from Step Functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.observability import logger, tracer
from picks.services import get_services
from picks.workflows import (
    batch_inference,
    batch_segment,
    campaign,
    dataset_import,
    model_update,
    recommender,
    solution_version,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

ACTIONS = {
    **dataset_import.ACTIONS,
    **solution_version.ACTIONS,
    **model_update.ACTIONS,
    **campaign.ACTIONS,
    **batch_inference.ACTIONS,
    **batch_segment.ACTIONS,
    **recommender.ACTIONS,
}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = ACTIONS.get(event.get("action", ""))
    if action is None:
        raise ValueError(f"action: unknown workflow step '{event.get('action')}'")
    return action(get_services(), event.get("input") or {})
