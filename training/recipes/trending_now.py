"""aws-trending-now: items whose interaction count grew most from one window to the next.

The window is ``trend_discovery_frequency`` (``30 minutes`` … ``1 day``; default 2 hours).  The
model keeps the interactions of its data's last two windows; the runtime adds the dataset
group's real-time events and recomputes the trend at request time (cached briefly), so trends
follow the event stream without retraining.  With no interactions in the last two windows it
falls back to popular items, as Personalize does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from picks.model_artifact import ModelArtifact
from picks.serving.rankers import TREND_WINDOWS, window_seconds

from training.data import Interactions, TrainingDataError
from training.recipes.common import unique_user_counts

if TYPE_CHECKING:
    from collections.abc import Mapping

RECIPE = "aws-trending-now"
RECIPE_TYPE = "POPULAR_ITEMS"


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    frequency = str(params.get("trend_discovery_frequency", "2 hours"))
    if frequency not in TREND_WINDOWS:
        raise TrainingDataError(
            f"featureTransformationParameters.trend_discovery_frequency: '{frequency}' is not one of "
            f"{', '.join(TREND_WINDOWS)}."
        )
    window = window_seconds(frequency)
    end = interactions.latest_timestamp
    recent = interactions.timestamps > end - 2 * window
    return ModelArtifact(
        recipe=RECIPE,
        recipe_type=RECIPE_TYPE,
        item_ids=interactions.item_ids,
        arrays={
            "popularity": unique_user_counts(interactions),
            "trend_items": interactions.items[recent].astype(np.int32),
            "trend_times": interactions.timestamps[recent].astype(np.int64),
        },
        info={"hyperParameters": dict(params), "trend_window_seconds": window, "latestInteraction": end},
    )
