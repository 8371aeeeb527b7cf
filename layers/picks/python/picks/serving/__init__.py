"""Serving: numpy-only models (``models``), their per-container cache (``store``) and the
request-level logic of GetRecommendations / GetPersonalizedRanking (``picks.runtime``)."""
