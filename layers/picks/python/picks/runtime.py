"""Personalize runtime operations.  Campaigns and recommenders arrive with training;
until one exists every lookup answers the modelled ResourceNotFoundException."""
from __future__ import annotations

from typing import Any

from picks.errors import InvalidInputException
from picks.services import Services


def _serving_resource(services: Services, params: dict[str, Any]) -> None:
    arn = params.get("campaignArn") or params.get("recommenderArn")
    if not arn:
        raise InvalidInputException("campaignArn: either campaignArn or recommenderArn is required.")
    field = "campaignArn" if params.get("campaignArn") else "recommenderArn"
    kind = "campaign" if field == "campaignArn" else "recommender"
    services.resources.get(arn, what=kind.capitalize(), kind=kind)
    raise InvalidInputException(f"{field}: {arn} is not ready to serve.")


def get_recommendations(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    _serving_resource(services, params)
    return {}


def get_personalized_ranking(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    _serving_resource(services, params)
    return {}


def get_action_recommendations(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    _serving_resource(services, params)
    return {}


OPERATIONS = {
    "GetRecommendations": get_recommendations,
    "GetPersonalizedRanking": get_personalized_ranking,
    "GetActionRecommendations": get_action_recommendations,
}
