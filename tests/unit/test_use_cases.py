"""The use-case table (picks.domain.use_cases) agrees with the recipe catalog, and the maintenance
decision (picks.workflows.schedules.recommender_due) follows it."""

from __future__ import annotations

import pytest
from picks import recipe_catalog as catalog
from picks.domain.resources import RECOMMENDER_KIND, ModelRef, ModelUpdate, Resource
from picks.domain.use_cases import RETRAIN_INTERVAL_S, UPDATE_INTERVAL_S, USE_CASES, use_case_for_arn
from picks.errors import InvalidInputException, ResourceNotFoundException
from picks.filters import parse
from picks.workflows.schedules import recommender_due


def test_every_domain_recipe_is_a_use_case_with_its_domain_and_type() -> None:
    domain_recipes = {name: recipe for name, recipe in catalog.RECIPES.items() if recipe.domain is not None}
    assert set(USE_CASES) == set(domain_recipes)
    assert len(USE_CASES) == 10
    for name, use_case in USE_CASES.items():
        assert use_case.domain == domain_recipes[name].domain, name
        assert use_case.recipe_type == domain_recipes[name].recipe_type, name
        assert use_case.arn == domain_recipes[name].arn


def test_required_inputs_follow_the_recipe_type() -> None:
    for use_case in USE_CASES.values():
        if use_case.recipe_type == catalog.RELATED_ITEMS:
            assert "itemId" in use_case.required_inputs, use_case.name
        if use_case.recipe_type == catalog.USER_PERSONALIZATION:
            assert use_case.required_inputs == ("userId",), use_case.name
    assert USE_CASES["aws-ecomm-frequently-bought-together"].required_inputs == ("itemId",)
    assert USE_CASES["aws-vod-trending-now"].required_inputs == ()


def test_auto_filters_parse_and_exclude_what_the_guide_says() -> None:
    excluded = {
        name: parse(use_case.auto_filter).interaction_event_types
        for name, use_case in USE_CASES.items()
        if use_case.auto_filter is not None
    }
    assert excluded == {
        "aws-vod-because-you-watched-x": {"watch"},
        "aws-vod-more-like-x": {"watch"},
        "aws-vod-top-picks": {"watch"},
        "aws-ecomm-customers-who-viewed-x-also-viewed": {"purchase"},
        "aws-ecomm-recommended-for-you": {"purchase"},
    }


def test_exploration_and_automatic_updates_only_for_the_personalized_use_cases() -> None:
    personalized = {"aws-vod-top-picks", "aws-ecomm-recommended-for-you"}
    assert {name for name, u in USE_CASES.items() if u.exploration} == personalized
    assert {name for name, u in USE_CASES.items() if u.automatic_updates} == personalized


def test_use_case_for_arn_refuses_custom_and_unknown_recipes() -> None:
    assert use_case_for_arn(catalog.RECIPE_PREFIX + "aws-vod-top-picks").name == "aws-vod-top-picks"
    with pytest.raises(InvalidInputException, match="^recipeArn: aws-sims is a custom recipe"):
        use_case_for_arn(catalog.RECIPE_PREFIX + "aws-sims")
    with pytest.raises(ResourceNotFoundException, match="^recipeArn:"):
        use_case_for_arn(catalog.RECIPE_PREFIX + "aws-nothing")


def _recommender(use_case: str, status: str = "ACTIVE", retrained: float = 1000.0) -> Resource:
    resource = Resource(
        arn="arn:aws:personalize:us-east-1:000000000000:recommender/r",
        kind=RECOMMENDER_KIND,
        doc={"name": "r", "status": status, "recipeArn": catalog.RECIPE_PREFIX + use_case},
    )
    resource.recommender_state.model = ModelRef(prefix="models/x/", recipe=use_case, recipe_type="X")
    resource.recommender_state.retrained = retrained
    return resource


def test_maintenance_due_updates_every_two_hours_and_retrains_weekly() -> None:
    top_picks = _recommender("aws-vod-top-picks")
    assert recommender_due(top_picks, 1000.0 + UPDATE_INTERVAL_S - 1) is None
    assert recommender_due(top_picks, 1000.0 + UPDATE_INTERVAL_S) == "UPDATE"
    assert recommender_due(top_picks, 1000.0 + RETRAIN_INTERVAL_S) == "FULL"
    popular = _recommender("aws-vod-most-popular")
    assert recommender_due(popular, 1000.0 + UPDATE_INTERVAL_S * 10) is None  # no automatic updates
    assert recommender_due(popular, 1000.0 + RETRAIN_INTERVAL_S) == "FULL"
    # The next update counts from the last one started; one still running blocks the next.
    top_picks.recommender_state.maintenance = [
        ModelUpdate(started=1000.0 + UPDATE_INTERVAL_S, job_name="j", status="ACTIVE")
    ]
    assert recommender_due(top_picks, 1000.0 + UPDATE_INTERVAL_S * 2 - 1) is None
    assert recommender_due(top_picks, 1000.0 + UPDATE_INTERVAL_S * 2) == "UPDATE"
    top_picks.recommender_state.maintenance = [
        ModelUpdate(started=1000.0 + UPDATE_INTERVAL_S, job_name="j", status="CREATE IN_PROGRESS")
    ]
    assert recommender_due(top_picks, 1000.0 + UPDATE_INTERVAL_S * 3) is None
    # ... unless its workflow was lost (running longer than any workflow may).
    assert recommender_due(top_picks, 1000.0 + RETRAIN_INTERVAL_S) == "FULL"


@pytest.mark.parametrize("status", ["INACTIVE", "STOP PENDING", "CREATE IN_PROGRESS", "DELETE PENDING"])
def test_a_recommender_that_is_not_active_is_not_maintained(status: str) -> None:
    assert (
        recommender_due(_recommender("aws-vod-top-picks", status=status), 1000.0 + RETRAIN_INTERVAL_S) is None
    )


def test_a_pending_update_goes_first() -> None:
    recommender = _recommender("aws-vod-top-picks")
    recommender.doc["latestRecommenderUpdate"] = {"status": "CREATE IN_PROGRESS"}
    assert recommender_due(recommender, 1000.0 + RETRAIN_INTERVAL_S) is None
