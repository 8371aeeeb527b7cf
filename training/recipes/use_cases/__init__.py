"""The ten domain use cases (CreateRecommender's recipes), each declared once below: the recipe
picks trains for it, the event type its model learns from, the hyperparameters it fixes and the
datasets it requires (``use_cases.common`` explains what they share).  A declaration is a
``UseCase``, which has the recipe interface (``RECIPE``, ``RECIPE_TYPE``, ``fit``, ``TABLES``,
``prepare`` / ``refresh`` where the base recipe has them) plus ``DEFAULTS`` (its hyperparameters:
the base recipe's with the fixed ones, recommenders take none) and ``training_job(job)``, which
checks the use case's data requirements and keeps the events its model learns from;
``training.train`` calls it in place of the generic minimums.  Only Frequently bought together
trains differently enough (on baskets) to have a module of its own."""

from __future__ import annotations

from training.recipes import popularity_count, similar_items, sims, trending_now
from training.recipes.use_cases.common import PreparingUseCase, UseCase
from training.recipes.use_cases.ecomm_frequently_bought_together import (
    USE_CASE as FREQUENTLY_BOUGHT_TOGETHER,
)
from training.recipes.use_cases.personalized import personalized

USE_CASE_RECIPES: tuple[UseCase, ...] = (
    # The videos most watched by the users who watched a given one: SIMS (item-to-item
    # co-occurrence damped by popularity) over the Watch events alone, so neighbours are co-watches.
    UseCase("aws-vod-because-you-watched-x", "Because you watched X", sims, event_type="Watch"),
    # Videos similar to a given one by co-watching and metadata: aws-similar-items over every event
    # type (Watch and Click are the recommended ones) blended with the ITEMS dataset's similarity,
    # so videos with few interactions get neighbours too.
    PreparingUseCase("aws-vod-more-like-x", "More like X", similar_items, needs_items=True),
    # The videos watched by the most users: popularity count over the Watch events alone.
    UseCase("aws-vod-most-popular", "Most popular", popularity_count, event_type="Watch"),
    # The videos whose popularity grows fastest: aws-trending-now with its default 2-hour window over
    # every event type.  The model keeps its data's last two windows and the runtime recomputes the
    # trend from the live events at request time, so trends move every window without retraining.
    UseCase("aws-vod-trending-now", "Trending now", trending_now),
    # Personalized video recommendations (``use_cases.personalized``; Click and Watch are the
    # recommended event types; watched videos are filtered out at request time).
    personalized("aws-vod-top-picks", "Top picks for you", needs_items=True),
    # The items viewed / bought by the most users: popularity count over the View / Purchase events.
    UseCase("aws-ecomm-popular-items-by-views", "Most viewed", popularity_count, event_type="View"),
    UseCase("aws-ecomm-popular-items-by-purchases", "Best sellers", popularity_count, event_type="Purchase"),
    # The items bought together with a given one: SIMS over baskets of purchases (its own module).
    FREQUENTLY_BOUGHT_TOGETHER,
    # The items most viewed by the customers who viewed a given one: SIMS over the View events alone.
    UseCase(
        "aws-ecomm-customers-who-viewed-x-also-viewed",
        "Customers who viewed X also viewed",
        sims,
        event_type="View",
    ),
    # Personalized item recommendations (``use_cases.personalized``; View and Purchase are the
    # recommended event types; purchased items are filtered out at request time).
    personalized("aws-ecomm-recommended-for-you", "Recommended for you", needs_items=False),
)
