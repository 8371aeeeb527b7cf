"""The one serving interface (``picks.serving.rankers.ServingModel``): every model says what it serves
(``capabilities``) and answers a ``RankingRequest``; the runtime reads only that, and a request a model
cannot serve gets the same wire error as before the interface (the messages are pinned here)."""

from __future__ import annotations

import numpy as np
import pytest
from picks import runtime
from picks.errors import InvalidInputException
from picks.model_artifact import ModelArtifact
from picks.serving.rankers import (
    Capabilities,
    FactorModel,
    PopularityModel,
    RankingRequest,
    ServingModel,
    SimsModel,
    TrendingModel,
)

ITEMS = np.array([f"i{i}" for i in range(8)], dtype=object)
USERS = np.array(["u0", "u1"], dtype=object)
POPULARITY = np.arange(8, 0, -1).astype(np.float32)  # i0 most popular
ARN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"


def _factor(recipe_type: str) -> FactorModel:
    rng = np.random.default_rng(3)
    item_factors = rng.normal(size=(8, 3)).astype(np.float32)
    arrays = {
        "popularity": POPULARITY,
        "item_factors": item_factors,
        "user_factors": rng.normal(size=(2, 3)).astype(np.float32),
        "gram": (item_factors.T @ item_factors).astype(np.float64),
        "history_indptr": np.array([0, 2, 3]),
        "history_items": np.array([1, 2, 5], dtype=np.int32),
        "history_confidence": np.ones(3, dtype=np.float32),
    }
    info = {"regularization": 0.1, "alpha": 1.0}
    return FactorModel(ModelArtifact("aws-user-personalization", recipe_type, ITEMS, USERS, arrays, info))


def _sims() -> SimsModel:
    neighbors = np.full((8, 2), -1, dtype=np.int32)
    neighbors[3] = [6, 4]
    scores = np.zeros((8, 2), dtype=np.float32)
    scores[3] = [0.9, 0.5]
    arrays = {"popularity": POPULARITY, "neighbors": neighbors, "neighbor_scores": scores}
    return SimsModel(ModelArtifact("aws-sims", "RELATED_ITEMS", ITEMS, USERS, arrays))


def _popularity() -> PopularityModel:
    return PopularityModel(
        ModelArtifact("aws-popularity-count", "POPULAR_ITEMS", ITEMS, USERS, {"popularity": POPULARITY})
    )


def _trending() -> TrendingModel:
    arrays = {
        "popularity": POPULARITY,
        "trend_items": np.array([7, 7, 7, 2], dtype=np.int64),
        "trend_times": np.array([950, 960, 970, 500], dtype=np.int64),
    }
    info = {"trend_window_seconds": 100, "latestInteraction": 1000}
    return TrendingModel(ModelArtifact("aws-trending-now", "POPULAR_ITEMS", ITEMS, USERS, arrays, info))


def test_each_model_says_what_it_serves_and_reads():
    assert _factor("USER_PERSONALIZATION").capabilities == Capabilities(requires="userId", folds_in=True)
    assert _factor("PERSONALIZED_RANKING").capabilities == Capabilities(
        recommends=False, ranks=True, requires="userId", folds_in=True
    )
    assert _sims().capabilities == Capabilities(requires="itemId")
    assert _popularity().capabilities == Capabilities()
    assert _trending().capabilities == Capabilities(live_window=100)


def test_the_interface_answers_what_each_model_answers_itself():
    factor = _factor("USER_PERSONALIZATION")
    request = RankingRequest(user_id="u0", recent=["i4"], recent_types=["click"])
    via_interface = factor.recommend_request(request, 3, allowed=np.arange(8) != 6)
    direct = factor.recommend("u0", 3, recent=["i4"], recent_types=["click"], allowed=np.arange(8) != 6)
    np.testing.assert_array_equal(via_interface.indices, direct.indices)
    np.testing.assert_array_equal(via_interface.scores, direct.scores)
    assert "scores" in request.memo  # a second ranking of the request (a promotion's rest) reuses them

    sims = _sims().recommend_request(RankingRequest(item_id="i3"), 3)
    assert sims.indices.tolist() == [6, 4, 0]  # the neighbours, then the most popular

    popular = _popularity().recommend_request(RankingRequest(), 2, excluded=np.array([0]))
    assert popular.indices.tolist() == [1, 2]

    trending = _trending().recommend_request(
        RankingRequest(now=1000.0, live_items=np.empty(0, np.int64), live_times=np.empty(0, np.int64)), 1
    )
    assert trending.indices.tolist() == [7]

    ranking = _factor("PERSONALIZED_RANKING")
    candidates = np.array([4, 0, 6])
    ranked = ranking.rank_request(RankingRequest(user_id="u1"), candidates)
    assert ranked.indices.tolist() == ranking.rank("u1", candidates).indices.tolist()


def test_only_factor_models_explain():
    ranked = np.array([0, 3])
    request = RankingRequest(user_id="u0")
    assert _popularity().explanations(request, ranked) == [[], []]
    factor = _factor("USER_PERSONALIZATION")
    assert factor.explanations(request, ranked) == [factor.explain("u0", 0), factor.explain("u0", 3)]


def test_the_base_serves_nothing_by_itself():
    assert ServingModel.__abstractmethods__ == frozenset({"recommend_request"})
    with pytest.raises(NotImplementedError):
        _sims().rank_request(RankingRequest(), np.array([1]))


@pytest.fixture
def serving(monkeypatch):
    """Has the runtime serve ``model`` on a campaign of its recipe type, without storage."""

    def serve(model: ServingModel) -> None:
        campaign = runtime.ServingCampaign(ARN, model.recipe_type, "models/x/", {})
        monkeypatch.setattr(runtime, "_serving", lambda services, params: (campaign, model))

    return serve


@pytest.mark.parametrize(
    ("model", "params", "message"),
    [
        (
            lambda: _factor("PERSONALIZED_RANKING"),
            {"userId": "u0"},
            f"campaignArn: {ARN} serves PERSONALIZED_RANKING; call GetPersonalizedRanking.",
        ),
        (
            lambda: _factor("USER_PERSONALIZATION"),
            {},
            "userId: required for a USER_PERSONALIZATION campaign.",
        ),
        (lambda: _sims(), {"userId": "u0"}, "itemId: required for a RELATED_ITEMS campaign."),
    ],
)
def test_get_recommendations_errors_a_model_cannot_serve(serving, model, params, message):
    serving(model())
    with pytest.raises(InvalidInputException) as raised:
        runtime.get_recommendations(None, {"campaignArn": ARN, **params})  # type: ignore[arg-type]
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("model", "recipe_type"),
    [
        (lambda: _factor("USER_PERSONALIZATION"), "USER_PERSONALIZATION"),
        (_sims, "RELATED_ITEMS"),
        (_popularity, "POPULAR_ITEMS"),
        (_trending, "POPULAR_ITEMS"),
    ],
)
def test_get_personalized_ranking_only_on_a_ranking_campaign(serving, model, recipe_type):
    serving(model())
    with pytest.raises(InvalidInputException) as raised:
        runtime.get_personalized_ranking(None, {"campaignArn": ARN, "userId": "u0", "inputList": ["i1"]})  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"campaignArn: {ARN} serves {recipe_type}; GetPersonalizedRanking needs a "
        "PERSONALIZED_RANKING campaign."
    )
