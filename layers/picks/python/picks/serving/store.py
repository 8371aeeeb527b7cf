"""Models loaded once per container and kept: a Lambda container (or the emulator) serves many
requests with the same few models, and loading one is an S3 read of tens of megabytes.  The
``models`` cache (``picks.cache.POLICIES``) bounds how many stay; campaigns beyond that reload on use."""

from __future__ import annotations

from typing import Any

from picks import cache
from picks.model_artifact import load_s3
from picks.serving.rankers import ServingModel, serving_model

_models: cache.TTLCache[tuple[str, str], ServingModel] = cache.named(cache.MODELS)


def load_model(s3: Any, bucket: str, prefix: str) -> ServingModel:
    """The model published under ``s3://bucket/prefix``; loaded on first use, then cached (LRU).

    Concurrent requests for a model being loaded wait for that load instead of loading it again.
    """
    return _models.get_or_load((bucket, prefix), lambda: _load(s3, bucket, prefix))


def _load(s3: Any, bucket: str, prefix: str) -> ServingModel:
    model = serving_model(load_s3(s3, bucket, prefix))
    # Build the id lookups now, not inside the first request.
    _ = model.item_index, model.user_index, model.popular_order
    return model
