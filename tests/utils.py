"""Sample Lambda events from events/, loaded and overridden field by field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


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
