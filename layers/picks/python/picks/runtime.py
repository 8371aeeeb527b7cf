"""Personalize runtime operations: GetRecommendations and GetPersonalizedRanking on campaigns.

A campaign resolves to the solution version it serves and that version's model, loaded once per
container (``picks.serving.store``).  Campaign lookups are cached for a few seconds: a request
must not pay a table read, and a campaign update takes effect within ``CAMPAIGN_TTL_S``.

Beyond Personalize: ``context={"PICKS_EXPLAIN": "true"}`` adds to each item a ``reason`` naming the
user's interactions that contributed most; ``reason`` is a modelled member of ``PredictedItem``, so
stock clients parse it.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from picks import arns, realtime
from picks.errors import InvalidInputException, ResourceNotFoundException
from picks.serving.models import FactorModel, PopularityModel, Ranked, ServingModel, SimsModel, TrendingModel
from picks.serving.store import load_model
from picks.services import Services

CAMPAIGN_TTL_S = 5.0
TREND_TTL_S = 2.0  # trending campaigns re-read the event stream at most this often
# Events received just before a training's export may be missing from the (eventually consistent)
# export index; fold-in keeps using them for this long past the cut-off.  Counting one twice in a
# user's vector is harmless; missing it would not be.
EVENTS_OVERLAP_MS = 60_000
DEFAULT_RESULTS = 25
MAX_RESULTS = 500
EXPLAIN_KEY = "PICKS_EXPLAIN"
ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class ServingCampaign:
    arn: str
    recipe_type: str
    model_prefix: str
    config: dict[str, Any]
    dataset_group_arn: str = ""
    events_since_ms: int = 0  # events received after this are newer than the model: fold them in


_campaigns: dict[str, tuple[float, ServingCampaign]] = {}
_campaigns_lock = threading.Lock()


def _resolve_campaign(services: Services, arn: str) -> ServingCampaign:
    now = time.monotonic()
    with _campaigns_lock:
        cached = _campaigns.get(arn)
    if cached is not None and now - cached[0] < CAMPAIGN_TTL_S:
        return cached[1]
    campaign = services.resources.get(arn, what="Campaign", kind="campaign")
    serving_arn = campaign.doc.get("_servingVersionArn")
    if campaign.doc.get("status") != ACTIVE or not serving_arn:
        raise InvalidInputException(
            f"campaignArn: {arn} is {campaign.doc.get('status')}; it serves recommendations once ACTIVE."
        )
    version = services.resources.get(serving_arn, what="Solution version")
    model = version.doc["_model"]
    resolved = ServingCampaign(
        arn, model["recipeType"], model["prefix"], campaign.doc.get("campaignConfig") or {},
        dataset_group_arn=version.doc.get("datasetGroupArn", ""), events_since_ms=int(model.get("eventsUntil", 0)),
    )
    with _campaigns_lock:
        _campaigns[arn] = (now, resolved)
    return resolved


def forget_campaigns() -> None:
    with _campaigns_lock:
        _campaigns.clear()


def _serving(services: Services, params: dict[str, Any]) -> tuple[ServingCampaign, ServingModel]:
    if params.get("recommenderArn") and not params.get("campaignArn"):
        services.resources.get(params["recommenderArn"], what="Recommender", kind="recommender")
    if not params.get("campaignArn"):
        raise InvalidInputException("campaignArn: either campaignArn or recommenderArn is required.")
    arns.parse(params["campaignArn"], "campaignArn")
    campaign = _resolve_campaign(services, params["campaignArn"])
    return campaign, load_model(services.s3, services.settings.bucket_name, campaign.model_prefix)


def _check_filters(services: Services, params: dict[str, Any]) -> None:
    # Filters are resources of their own; naming one that does not exist is the modelled error.
    for arn in [params.get("filterArn")] + [p.get("filterArn") for p in params.get("promotions") or []]:
        if arn:
            services.resources.get(arn, what="Filter", kind="filter")


def recent_interactions(services: Services, campaign: ServingCampaign, user_id: str | None) -> list[str]:
    """Items the user (or anonymous session) interacted with after the model's data, oldest first."""
    if not user_id or not campaign.dataset_group_arn:
        return []
    since = max(0, campaign.events_since_ms - EVENTS_OVERLAP_MS)
    return realtime.recent_items(services, campaign.dataset_group_arn, user_id, since)


_trends: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}


def live_trend_events(services: Services, campaign: ServingCampaign, model: TrendingModel,
                      now: float) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, receive times in seconds) of the group's events in the last two windows."""
    cached = _trends.get(campaign.arn)
    if cached is not None and time.monotonic() - cached[0] < TREND_TTL_S:
        return cached[1], cached[2]
    items, times = np.empty(0, np.int64), np.empty(0, np.int64)
    if services.events is not None and campaign.dataset_group_arn:
        since = max(int((now - 2 * model.window) * 1000), campaign.events_since_ms)
        index = model.item_index
        pairs = [(index[e.item_id], e.received_ms // 1000)
                 for e in services.events.export(campaign.dataset_group_arn, since_ms=since)
                 if e.item_id in index]
        if pairs:
            items, times = (np.array(column, dtype=np.int64) for column in zip(*pairs, strict=True))
    _trends[campaign.arn] = (time.monotonic(), items, times)
    return items, times


def _recommendation_id() -> str:
    return f"RID-{uuid.uuid4().hex}"  # 36 characters: fits PutEvents' recommendationId (1-40)


def _scoring_context(params: dict[str, Any]) -> dict[str, str]:
    """The request's context without picks' own switches."""
    return {k: v for k, v in (params.get("context") or {}).items() if k != EXPLAIN_KEY}


def _wants_explanation(params: dict[str, Any]) -> bool:
    return str((params.get("context") or {}).get(EXPLAIN_KEY, "")).lower() == "true"


def _items(model: ServingModel, ranked: Ranked) -> list[dict[str, Any]]:
    ids = model.item_ids
    return [{"itemId": ids[i], "score": round(float(s), 8)} for i, s in zip(ranked.indices.tolist(), ranked.scores.tolist(), strict=True)]


def _explain(model: ServingModel, items: list[dict[str, Any]], ranked: Ranked, user_id: str | None,
             recent: list[str]) -> None:
    if not isinstance(model, FactorModel):
        return
    for entry, item in zip(items, ranked.indices.tolist(), strict=True):
        reasons = [
            f"picks: interacted with item {model.item_ids[source]} ({share:.0%})"[:256]
            for source, share in model.explain(user_id, item, recent)
        ]
        if reasons:
            entry["reason"] = reasons


def get_recommendations(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    campaign, model = _serving(services, params)
    _check_filters(services, params)
    count = params.get("numResults", DEFAULT_RESULTS)
    if count > MAX_RESULTS:
        raise InvalidInputException(f"numResults: {count} is more than the maximum of {MAX_RESULTS}.")
    user_id, item_id = params.get("userId"), params.get("itemId")
    recent: list[str] = []
    if isinstance(model, FactorModel):
        if campaign.recipe_type == "PERSONALIZED_RANKING":
            raise InvalidInputException(
                f"campaignArn: {campaign.arn} serves PERSONALIZED_RANKING; call GetPersonalizedRanking."
            )
        if not user_id:
            raise InvalidInputException("userId: required for a USER_PERSONALIZATION campaign.")
        recent = recent_interactions(services, campaign, user_id)
        ranked = model.recommend(user_id, count, recent=recent, context=_scoring_context(params))
    elif isinstance(model, SimsModel):
        if not item_id:
            raise InvalidInputException("itemId: required for a RELATED_ITEMS campaign.")
        ranked = model.related(item_id, count)
    elif isinstance(model, PopularityModel):
        ranked = model.recommend(count)
    elif isinstance(model, TrendingModel):
        now = services.clock()
        ranked = model.recommend(count, now, *live_trend_events(services, campaign, model, now))
    else:  # pragma: no cover - every recipe type has a model class
        raise InvalidInputException(f"campaignArn: {campaign.arn} cannot serve GetRecommendations.")
    items = _items(model, ranked)
    if _wants_explanation(params):
        _explain(model, items, ranked, user_id, recent)
    return {"itemList": items, "recommendationId": _recommendation_id()}


def get_personalized_ranking(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    campaign, model = _serving(services, params)
    _check_filters(services, params)
    if not isinstance(model, FactorModel) or campaign.recipe_type != "PERSONALIZED_RANKING":
        raise InvalidInputException(
            f"campaignArn: {campaign.arn} serves {campaign.recipe_type}; GetPersonalizedRanking needs a "
            "PERSONALIZED_RANKING campaign."
        )
    input_list: list[str] = params["inputList"]
    if len(input_list) > MAX_RESULTS:
        raise InvalidInputException(f"inputList: {len(input_list)} items is more than the maximum of {MAX_RESULTS}.")
    # Duplicates are ranked once, at their first position, as a set of candidates.
    unique = list(dict.fromkeys(input_list))
    index = model.item_index
    known = np.array([index[item] for item in unique if item in index], dtype=np.int64)
    unknown = [item for item in unique if item not in index]
    recent = recent_interactions(services, campaign, params["userId"])
    ranked = model.rank(params["userId"], known, recent=recent, context=_scoring_context(params))
    items = _items(model, ranked)
    if _wants_explanation(params):
        _explain(model, items, ranked, params["userId"], recent)
    # Items the model has never seen go last, without a score, in the order given (as Personalize does).
    items.extend({"itemId": item} for item in unknown)
    return {"personalizedRanking": items, "recommendationId": _recommendation_id()}


def get_action_recommendations(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("campaignArn")
    if not arn:
        raise InvalidInputException("campaignArn: required.")
    campaign = services.resources.find(arn)
    if campaign is None:
        raise ResourceNotFoundException(f"Campaign {arn} does not exist.")
    raise InvalidInputException(
        f"campaignArn: {arn} does not serve PERSONALIZED_ACTIONS; picks cannot train aws-next-best-action yet."
    )


OPERATIONS = {
    "GetRecommendations": get_recommendations,
    "GetPersonalizedRanking": get_personalized_ranking,
    "GetActionRecommendations": get_action_recommendations,
}
