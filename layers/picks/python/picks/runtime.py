"""Personalize runtime operations: GetRecommendations and GetPersonalizedRanking on campaigns, and
GetRecommendations on domain recommenders.

A campaign resolves to the solution version it serves and that version's model, loaded once per
container (``picks.serving.store``).  Campaign lookups are cached for a few seconds: a request
must not pay a table read, and a campaign update takes effect within the ``campaigns`` cache's TTL
(``picks.cache.POLICIES``).

A recommender is served the same way from the model its training published
(``picks.domain.resources.RecommenderState``), with its use case's required inputs and built-in
filter (``picks.domain.use_cases``) on top of the request's own filter.

The campaign's ``campaignConfig.itemExplorationConfig`` (Personalize's defaults when absent) sets
how much young items with little evidence are explored (``picks.serving.exploration``).

Beyond Personalize: ``context={"PICKS_EXPLAIN": "true"}`` adds to each item a ``reason`` naming the
user's interactions that contributed most; ``reason`` is a modelled member of ``PredictedItem``, so
stock clients parse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from picks import arns, cache
from picks.domain.resources import RECOMMENDER_KIND
from picks.domain.states import ACTIVE, INACTIVE
from picks.domain.use_cases import USE_CASES
from picks.errors import InvalidInputException, ResourceNotFoundException
from picks.serving import exploration
from picks.serving.business_rules import RequestRules, combine, items_schema, promote, promoted_count
from picks.serving.exploration import ExplorationConfig
from picks.serving.rankers import RankingRequest, ServingModel
from picks.serving.store import load_model
from picks.serving.topk import Ranked

if TYPE_CHECKING:
    from picks.services import Services

# Events received just before a training's export may be missing from the (eventually consistent)
# export index; fold-in keeps using them for this long past the cut-off.  Counting one twice in a
# user's vector is harmless; missing it would not be.
EVENTS_OVERLAP_MS = 60_000
DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_RESULTS_WITH_METADATA = 50
MAX_METADATA_COLUMNS = 10
EXPLAIN_KEY = "PICKS_EXPLAIN"


@dataclass(frozen=True)
class ServingCampaign:
    arn: str
    recipe_type: str
    model_prefix: str
    config: dict[str, Any]
    dataset_group_arn: str = ""
    events_since_ms: int = 0  # events received after this are newer than the model: fold them in
    # What the request named it by: campaignArn, or recommenderArn for a domain recommender.
    field: str = "campaignArn"
    config_member: str = "campaignConfig"
    # A recommender's use case (picks.domain.use_cases): its required inputs and built-in filter.
    use_case: str = ""
    required_inputs: tuple[str, ...] = ()
    auto_filter: str | None = None

    @cached_property
    def exploration(self) -> ExplorationConfig:
        """Its ``itemExplorationConfig``, read once per cached campaign rather than per request."""
        return ExplorationConfig.from_wire(self.config.get("itemExplorationConfig"))


_campaigns: cache.TTLCache[str, ServingCampaign] = cache.named(cache.CAMPAIGNS)
_trends: cache.TTLCache[str, tuple[np.ndarray, np.ndarray]] = cache.named(cache.TRENDS)


def _resolve_campaign(services: Services, arn: str) -> ServingCampaign:
    if not services.resources.visible(arn):  # another region's: not found, cached or not
        raise ResourceNotFoundException(f"Campaign {arn} does not exist.")
    return _campaigns.get_or_load(arn, lambda: _read_campaign(services, arn))


def _read_campaign(services: Services, arn: str) -> ServingCampaign:
    campaign = services.resources.get(arn, what="Campaign", kind="campaign")
    serving_arn = campaign.campaign_state.serving_version_arn
    if campaign.doc.get("status") != ACTIVE or not serving_arn:
        raise InvalidInputException(
            f"campaignArn: {arn} is {campaign.doc.get('status')}; it serves recommendations once ACTIVE."
        )
    version = services.resources.get(serving_arn, what="Solution version")
    model = version.version_state.model
    if model is None:
        raise InvalidInputException(f"campaignArn: {arn} serves {serving_arn}, which has no trained model.")
    return ServingCampaign(
        arn,
        model.recipe_type,
        model.prefix,
        campaign.doc.get("campaignConfig") or {},
        dataset_group_arn=version.doc.get("datasetGroupArn", ""),
        events_since_ms=model.events_until,
    )


def _resolve_recommender(services: Services, arn: str) -> ServingCampaign:
    if not services.resources.visible(arn):  # another region's: not found, cached or not
        raise ResourceNotFoundException(f"Recommender {arn} does not exist.")
    return _campaigns.get_or_load(arn, lambda: _read_recommender(services, arn))


def _read_recommender(services: Services, arn: str) -> ServingCampaign:
    recommender = services.resources.get(arn, what="Recommender", kind=RECOMMENDER_KIND)
    status = recommender.doc.get("status")
    model = recommender.recommender_state.model
    if status != ACTIVE or model is None:
        hint = " (StartRecommender starts it again)" if status == INACTIVE else ""
        raise InvalidInputException(
            f"recommenderArn: {arn} is {status}; it serves recommendations only when ACTIVE{hint}."
        )
    use_case = USE_CASES.get(arns.parse(recommender.doc["recipeArn"]).path)
    return ServingCampaign(
        arn,
        model.recipe_type,
        model.prefix,
        recommender.doc.get("recommenderConfig") or {},
        dataset_group_arn=recommender.doc["datasetGroupArn"],
        events_since_ms=model.events_until,
        field="recommenderArn",
        config_member="recommenderConfig",
        use_case=use_case.name if use_case else "",
        required_inputs=use_case.required_inputs if use_case else (),
        auto_filter=use_case.auto_filter if use_case else None,
    )


def _serving(services: Services, params: dict[str, Any]) -> tuple[ServingCampaign, ServingModel]:
    if params.get("recommenderArn") and not params.get("campaignArn"):
        arns.parse(params["recommenderArn"], "recommenderArn")
        campaign = _resolve_recommender(services, params["recommenderArn"])
    elif params.get("campaignArn"):
        arns.parse(params["campaignArn"], "campaignArn")
        campaign = _resolve_campaign(services, params["campaignArn"])
    else:
        raise InvalidInputException("campaignArn: either campaignArn or recommenderArn is required.")
    return campaign, load_model(services.s3, services.settings.bucket_name, campaign.model_prefix)


def recent_interactions(
    services: Services, campaign: ServingCampaign, user_id: str | None, rules: RequestRules
) -> tuple[list[str], list[str]]:
    """(items, their event types) the user (or anonymous session) interacted with after the model's
    data, oldest first.

    Read through the request's ``rules``, so fold-in and filters share one event read.
    """
    if not user_id or not campaign.dataset_group_arn:
        return [], []
    return rules.recent_items(), rules.recent_event_types()


def live_trend_events(
    services: Services, campaign: ServingCampaign, model: ServingModel, window: int, now: float
) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, receive times in seconds) of the group's events in the last two ``window``s
    (re-read at most every ``trends`` TTL)."""
    return _trends.get_or_load(
        campaign.arn, lambda: _read_trend_events(services, campaign, model, window, now)
    )


def _read_trend_events(
    services: Services, campaign: ServingCampaign, model: ServingModel, window: int, now: float
) -> tuple[np.ndarray, np.ndarray]:
    items, times = np.empty(0, np.int64), np.empty(0, np.int64)
    if services.events is not None and campaign.dataset_group_arn:
        since = max(int((now - 2 * window) * 1000), campaign.events_since_ms)
        index = model.item_index
        pairs = [
            (index[e.item_id], e.received_ms // 1000)
            for e in services.events.export(campaign.dataset_group_arn, since_ms=since)
            if e.item_id in index
        ]
        if pairs:
            items, times = (np.array(column, dtype=np.int64) for column in zip(*pairs, strict=True))
    return items, times


def _recommendation_id() -> str:
    """An id naming no item: 36 characters, which fits PutEvents' recommendationId (1-40)."""
    return exploration.recommendation_id([])


def _scoring_context(params: dict[str, Any]) -> dict[str, str]:
    """The request's context without picks' own switches."""
    return {k: v for k, v in (params.get("context") or {}).items() if k != EXPLAIN_KEY}


def _wants_explanation(params: dict[str, Any]) -> bool:
    return str((params.get("context") or {}).get(EXPLAIN_KEY, "")).lower() == "true"


def _items(model: ServingModel, ranked: Ranked) -> list[dict[str, Any]]:
    # The ids and the scores (as Python floats) taken out in one call each, not item by item.
    ids = model.item_ids[ranked.indices].tolist()
    scores = ranked.scores.astype(np.float64, copy=False).tolist()
    return [{"itemId": item, "score": round(score, 8)} for item, score in zip(ids, scores, strict=True)]


def _explain(
    model: ServingModel, items: list[dict[str, Any]], ranked: Ranked, request: RankingRequest
) -> None:
    for entry, sources in zip(items, model.explanations(request, ranked.indices), strict=True):
        reasons = [
            f"picks: interacted with item {model.item_ids[source]} ({share:.0%})"[:256]
            for source, share in sources
        ]
        if reasons:
            entry["reason"] = reasons


def _rules(
    services: Services, campaign: ServingCampaign, model: ServingModel, params: dict[str, Any]
) -> RequestRules:
    return RequestRules(
        services,
        campaign.dataset_group_arn,
        model,
        campaign.model_prefix,
        params.get("userId"),
        params.get("itemId"),
        max(0, campaign.events_since_ms - EVENTS_OVERLAP_MS),
    )


def _result_limit(campaign: ServingCampaign, params: dict[str, Any], requested: int, field: str) -> list[str]:
    """The metadata columns asked for (checked against the campaign), and the cap they impose."""
    columns = (params.get("metadataColumns") or {}).get("ITEMS") or []
    extra = set(params.get("metadataColumns") or {}) - {"ITEMS"}
    if extra:
        raise InvalidInputException(
            f"metadataColumns: only ITEMS columns can be returned, not {sorted(extra)}."
        )
    if columns:
        if not campaign.config.get("enableMetadataWithRecommendations"):
            raise InvalidInputException(
                f"metadataColumns: {campaign.arn} was not created with "
                f"{campaign.config_member}.enableMetadataWithRecommendations=true."
            )
        if len(columns) > MAX_METADATA_COLUMNS:
            raise InvalidInputException(
                f"metadataColumns: at most {MAX_METADATA_COLUMNS} columns, not {len(columns)}."
            )
        if requested > MAX_RESULTS_WITH_METADATA:
            raise InvalidInputException(
                f"{field}: at most {MAX_RESULTS_WITH_METADATA} when metadataColumns are requested, "
                f"not {requested}."
            )
    return columns


def _check_recommendations(campaign: ServingCampaign, model: ServingModel, params: dict[str, Any]) -> None:
    """The errors of a GetRecommendations this campaign's model cannot answer."""
    serves = model.capabilities
    if not serves.recommends:
        raise InvalidInputException(
            f"{campaign.field}: {campaign.arn} serves {campaign.recipe_type}; call GetPersonalizedRanking."
        )
    for name in campaign.required_inputs:
        if not params.get(name):
            raise InvalidInputException(
                f"{name}: required by the {campaign.use_case} use case of recommender {campaign.arn}."
            )
    if serves.requires and not params.get(serves.requires):
        raise InvalidInputException(f"{serves.requires}: required for a {campaign.recipe_type} campaign.")


def _recent(
    services: Services,
    campaign: ServingCampaign,
    model: ServingModel,
    user_id: str | None,
    rules: RequestRules,
) -> tuple[list[str], list[str]]:
    """``recent_interactions`` where the model folds them in."""
    if not model.capabilities.folds_in:
        return [], []
    return recent_interactions(services, campaign, user_id, rules=rules)


def _ranking_request(
    services: Services,
    campaign: ServingCampaign,
    model: ServingModel,
    params: dict[str, Any],
    recent: tuple[list[str], list[str]],
) -> RankingRequest:
    """The request as the model reads it, with the live events it needs."""
    now, live_items, live_times = 0.0, None, None
    window = model.capabilities.live_window
    if window is not None:
        now = services.clock()
        live_items, live_times = live_trend_events(services, campaign, model, window, now)
    return RankingRequest(
        params.get("userId"),
        params.get("itemId"),
        _scoring_context(params),
        recent=recent[0],
        recent_types=recent[1],
        now=now,
        live_items=live_items,
        live_times=live_times,
        exploration=campaign.exploration,
    )


def _promotion(params: dict[str, Any]) -> dict[str, Any] | None:
    """The request's promotion, if any. Every member of ``Promotion`` is optional in the model, but a share
    to promote has no documented default, so it must be given; a promotion without a name tags nothing, and
    one without a filter promotes from every item (the request's filter still applies to the rest)."""
    promotions = params.get("promotions") or []
    if not promotions:
        return None
    promotion: dict[str, Any] = promotions[0]
    if promotion.get("percentPromotedItems") is None:
        raise InvalidInputException(
            "promotions.1.percentPromotedItems: required with a promotion "
            "(the percentage of recommended items to promote, 1-100)."
        )
    return promotion


def get_recommendations(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    promotion = _promotion(params)
    campaign, model = _serving(services, params)
    count = params.get("numResults", DEFAULT_RESULTS)
    if count > MAX_RESULTS:
        raise InvalidInputException(f"numResults: {count} is more than the maximum of {MAX_RESULTS}.")
    columns = _result_limit(campaign, params, count, "numResults")
    _check_recommendations(campaign, model, params)
    rules = _rules(services, campaign, model, params)
    recent = _recent(services, campaign, model, params.get("userId"), rules)
    # A use case's built-in filter (the items the user watched or purchased) holds for every item.
    automatic = rules.allowed_by_expression(campaign.auto_filter) if campaign.auto_filter else None
    allowed = combine(
        rules.allowed(params.get("filterArn"), params.get("filterValues")), automatic, np.logical_and
    )
    if promotion is None:
        request = _ranking_request(services, campaign, model, params, recent)
        ranked = model.recommend_request(request, count, allowed=allowed)
        items = _items(model, ranked)
        # Names the explored items it shows, whose impressions training counts from PutEvents.
        recommendation_id = exploration.recommendation_id(
            model.item_ids[model.explored(request, ranked.indices)].tolist()
        )
    else:
        recommendation_id = _recommendation_id()
        # The promotion's own filter applies to the promoted share, the request's filter to the rest.
        promoted_allowed = combine(
            rules.allowed(
                promotion.get("filterArn"), promotion.get("filterValues"), field="promotions.1.filterArn"
            ),
            automatic,
            np.logical_and,
        )
        request = _ranking_request(services, campaign, model, params, recent)
        ranked, items = _promoted(
            model, request, count, allowed, promotion, promoted_allowed, recommendation_id
        )
    if _wants_explanation(params):
        _explain(model, items, ranked, request)
    _add_metadata(services, campaign, rules, columns, items)
    return {"itemList": items, "recommendationId": recommendation_id}


def _promoted(
    model: ServingModel,
    request: RankingRequest,
    count: int,
    allowed: np.ndarray | None,
    promotion: dict[str, Any],
    promoted_allowed: np.ndarray | None,
    recommendation_id: str,
) -> tuple[Ranked, list[dict[str, Any]]]:
    """The ranking with the promotion's share promoted, and its items (the promoted ones named)."""
    wanted = promoted_count(count, int(promotion["percentPromotedItems"]))
    promoted = model.recommend_request(request, wanted, allowed=promoted_allowed)
    rest = model.recommend_request(request, count, excluded=promoted.indices, allowed=allowed)
    indices, scores, promoted_slots = promote(rest, promoted, count, recommendation_id)
    ranked = Ranked(np.array(indices, dtype=np.int64), np.array(scores))
    items = _items(model, ranked)
    promotion_name = promotion.get("name")
    if promotion_name:
        for position in promoted_slots:
            items[position]["promotionName"] = promotion_name
    return ranked, items


def _add_metadata(
    services: Services,
    campaign: ServingCampaign,
    rules: RequestRules,
    columns: list[str],
    items: list[dict[str, Any]],
) -> None:
    """The requested metadata columns of each item, in place."""
    if not columns:
        return
    schema = items_schema(services, campaign.dataset_group_arn)
    for entry, metadata in zip(
        items, rules.metadata(columns, [i["itemId"] for i in items], schema), strict=True
    ):
        entry["metadata"] = metadata


def get_personalized_ranking(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    campaign, model = _serving(services, params)
    if not model.capabilities.ranks:
        raise InvalidInputException(
            f"campaignArn: {campaign.arn} serves {campaign.recipe_type}; GetPersonalizedRanking needs a "
            "PERSONALIZED_RANKING campaign."
        )
    input_list: list[str] = params["inputList"]
    if len(input_list) > MAX_RESULTS:
        raise InvalidInputException(
            f"inputList: {len(input_list)} items is more than the maximum of {MAX_RESULTS}."
        )
    columns = _result_limit(campaign, params, len(input_list), "inputList")
    # Duplicates are ranked once, at their first position, as a set of candidates.
    unique = list(dict.fromkeys(input_list))
    index = model.item_index
    known = np.array([index[item] for item in unique if item in index], dtype=np.int64)
    unknown = [item for item in unique if item not in index]
    rules = _rules(services, campaign, model, params)
    allowed = rules.allowed(params.get("filterArn"), params.get("filterValues"))
    if allowed is not None:
        known = known[allowed[known]]  # filtered-out candidates are left out of the ranking
    recent = _recent(services, campaign, model, params["userId"], rules)
    request = _ranking_request(services, campaign, model, params, recent)
    ranked = model.rank_request(request, known)
    items = _items(model, ranked)
    if _wants_explanation(params):
        _explain(model, items, ranked, request)
    # Items the model has never seen go last, without a score, in the order given (as Personalize does).
    items.extend({"itemId": item} for item in unknown)
    _add_metadata(services, campaign, rules, columns, items)
    return {"personalizedRanking": items, "recommendationId": _recommendation_id()}


def get_action_recommendations(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("campaignArn")
    if not arn:
        raise InvalidInputException("campaignArn: required.")
    campaign = services.resources.find(arn)
    if campaign is None:
        raise ResourceNotFoundException(f"Campaign {arn} does not exist.")
    raise InvalidInputException(
        f"campaignArn: {arn} does not serve PERSONALIZED_ACTIONS; "
        "picks cannot train aws-next-best-action yet."
    )


OPERATIONS = {
    "GetRecommendations": get_recommendations,
    "GetPersonalizedRanking": get_personalized_ranking,
    "GetActionRecommendations": get_action_recommendations,
}
