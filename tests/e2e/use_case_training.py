"""The training entry point of the recommender e2e tests: ``training.train`` as it is, except that a
use case whose training module is not registered (``training.recipes.RECIPE_MODULES``) trains as
the existing recipe it stands for here, so the lifecycle can be tested before every use case has
its own module.  A registered use case trains as itself.  Only the tests use this module."""

from __future__ import annotations

import json
import os
from pathlib import Path

from training.recipes import RECIPE_MODULES
from training.train import run_and_exit

QUICK_FACTORS = {"hidden_dimension": "8", "als_iterations": "5", "exclude_interacted_items": "false"}
# use case -> (the recipe it trains as in these tests, the one event type it trains on)
PLACEHOLDERS: dict[str, tuple[str, str | None, dict[str, str]]] = {
    "aws-ecomm-recommended-for-you": ("aws-user-personalization", None, QUICK_FACTORS),
    "aws-vod-top-picks": ("aws-user-personalization", None, QUICK_FACTORS),
    "aws-ecomm-frequently-bought-together": ("aws-sims", "Purchase", {}),
    "aws-ecomm-popular-items-by-purchases": ("aws-popularity-count", "Purchase", {}),
}


def stand_in(channel: Path) -> None:
    path = channel / "config.json"
    config = json.loads(path.read_text())
    if config["recipe"] in RECIPE_MODULES or config["recipe"] not in PLACEHOLDERS:
        return
    recipe, event_type, params = PLACEHOLDERS[config["recipe"]]
    config.update(recipe=recipe, eventType=event_type, solutionConfig={"algorithmHyperParameters": params})
    path.write_text(json.dumps(config))


if __name__ == "__main__":
    stand_in(Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")))
    run_and_exit()
