"""The ten domain use cases (CreateRecommender's recipes), one module each, built on the recipes
picks trains (``use_cases.common`` explains what they share).  A use-case module has the recipe
interface (``RECIPE``, ``RECIPE_TYPE``, ``fit``, ``refresh`` / ``prepare`` / ``TABLES`` where the
base recipe has them) plus ``DEFAULTS`` (its hyperparameters: the base recipe's, recommenders
take none) and ``training_job(job)``, which checks the use case's data requirements and keeps the
events its model learns from; ``training.train`` calls it in place of the generic minimums."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes.use_cases import (
    ecomm_customers_who_viewed_x_also_viewed,
    ecomm_frequently_bought_together,
    ecomm_popular_items_by_purchases,
    ecomm_popular_items_by_views,
    ecomm_recommended_for_you,
    vod_because_you_watched_x,
    vod_more_like_x,
    vod_most_popular,
    vod_top_picks,
    vod_trending_now,
)

if TYPE_CHECKING:
    from types import ModuleType

USE_CASE_MODULES: tuple[ModuleType, ...] = (
    vod_because_you_watched_x,
    vod_more_like_x,
    vod_most_popular,
    vod_trending_now,
    vod_top_picks,
    ecomm_popular_items_by_views,
    ecomm_popular_items_by_purchases,
    ecomm_frequently_bought_together,
    ecomm_customers_who_viewed_x_also_viewed,
    ecomm_recommended_for_you,
)
