"""Sample Lambda events from events/, loaded and overridden field by field; names tests share."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"
# The offline metrics a trained solution version reports (GetSolutionMetrics).
METRIC_KEYS = {
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
}


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event = copy.deepcopy(event)
    event.update(overrides)
    return event


def response_header(response: dict[str, Any], name: str) -> str | None:
    """A header from a proxy response, whether Powertools put it in headers or multiValueHeaders."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return values[-1]
    return None
