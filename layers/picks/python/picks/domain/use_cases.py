"""The ten domain use cases, as the control plane and the runtime see them (one declaration).

A use case is a recipe name (the last part of its recipe ARN, ``aws-vod-top-picks``); training
registers a module under the same name (``training/recipes``).  This table says what serving a
recommender of that use case means: the domain whose dataset groups may use it, the recipe type
of the model it serves, the GetRecommendations inputs it requires, the filter it applies on its
own (Personalize's "auto-filters": the items the user already watched or purchased), whether it
explores new items and is updated automatically every two hours.  Every use case is retrained in
full weekly.  The values come from the developer guide's use-case pages (the reference's §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from picks import recipe_catalog as catalog
from picks.arns import RECIPE_PREFIX
from picks.errors import InvalidInputException

if TYPE_CHECKING:
    from collections.abc import Mapping

USER_ID = "userId"
ITEM_ID = "itemId"
# Weekly full retraining of every recommender (picks.workflows.schedules).
RETRAIN_INTERVAL_S = 7 * 86400
# Automatic updates of the use cases that have them (Top picks for you, Recommended for you).
UPDATE_INTERVAL_S = 2 * 3600


def _exclude_interacted(event_type: str) -> str:
    return f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("{event_type}")'


@dataclass(frozen=True)
class UseCase:
    name: str  # the recipe name
    domain: str
    recipe_type: str
    required_inputs: tuple[str, ...]  # GetRecommendations members that must be given
    # The filter expression applied to every request besides the caller's filterArn; None: none.
    auto_filter: str | None = None
    exploration: bool = False  # itemExplorationConfig applies (User-Personalization based)
    automatic_updates: bool = False  # the model is updated with new data every UPDATE_INTERVAL_S

    @property
    def arn(self) -> str:
        return f"{RECIPE_PREFIX}{self.name}"


_VOD = catalog.VIDEO_ON_DEMAND
_ECOMM = catalog.ECOMMERCE
_WATCHED = _exclude_interacted("Watch")
_PURCHASED = _exclude_interacted("Purchase")

USE_CASES: Mapping[str, UseCase] = MappingProxyType(
    {
        use_case.name: use_case
        for use_case in (
            UseCase(
                "aws-vod-because-you-watched-x",
                _VOD,
                catalog.RELATED_ITEMS,
                (USER_ID, ITEM_ID),
                auto_filter=_WATCHED,
            ),
            UseCase(
                "aws-vod-more-like-x", _VOD, catalog.RELATED_ITEMS, (USER_ID, ITEM_ID), auto_filter=_WATCHED
            ),
            UseCase("aws-vod-most-popular", _VOD, catalog.POPULAR_ITEMS, (USER_ID,)),
            UseCase("aws-vod-trending-now", _VOD, catalog.POPULAR_ITEMS, ()),
            UseCase(
                "aws-vod-top-picks",
                _VOD,
                catalog.USER_PERSONALIZATION,
                (USER_ID,),
                auto_filter=_WATCHED,
                exploration=True,
                automatic_updates=True,
            ),
            UseCase("aws-ecomm-popular-items-by-views", _ECOMM, catalog.POPULAR_ITEMS, (USER_ID,)),
            UseCase("aws-ecomm-popular-items-by-purchases", _ECOMM, catalog.POPULAR_ITEMS, (USER_ID,)),
            UseCase("aws-ecomm-frequently-bought-together", _ECOMM, catalog.RELATED_ITEMS, (ITEM_ID,)),
            UseCase(
                "aws-ecomm-customers-who-viewed-x-also-viewed",
                _ECOMM,
                catalog.RELATED_ITEMS,
                (USER_ID, ITEM_ID),
                auto_filter=_PURCHASED,
            ),
            UseCase(
                "aws-ecomm-recommended-for-you",
                _ECOMM,
                catalog.USER_PERSONALIZATION,
                (USER_ID,),
                auto_filter=_PURCHASED,
                exploration=True,
                automatic_updates=True,
            ),
        )
    }
)


def use_case_for_arn(arn: str, field: str = "recipeArn") -> UseCase:
    """The use case a recommender's recipe ARN names; InvalidInputException naming ``field`` for a
    recipe that is not a use case (ResourceNotFoundException for one that does not exist)."""
    recipe = catalog.recipe_for_arn(arn, field=field)
    use_case = USE_CASES.get(recipe.name)
    if use_case is None:
        raise InvalidInputException(
            f"{field}: {recipe.name} is a custom recipe; a recommender uses a domain use case "
            f"({', '.join(USE_CASES)}). Train custom recipes with CreateSolution."
        )
    return use_case
