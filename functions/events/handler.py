"""Lambda entry point for Personalize events (REST-JSON): PutEvents, PutItems, PutUsers, ..."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.events_api import OPERATIONS
from picks.http import rest_json_app
from picks.observability import api_handler
from picks.services import get_services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = rest_json_app("personalize-events", OPERATIONS, get_services)


@api_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
