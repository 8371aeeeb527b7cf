"""Models loaded once per container and kept: a Lambda container (or the emulator) serves many
requests with the same few models, and loading one is an S3 read of tens of megabytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from picks.models.artifact import load_s3
from picks.serving.models import ServingModel, serving_model

CAPACITY = 4  # models per container; campaigns beyond that reload on use

_cache: OrderedDict[tuple[str, str], ServingModel] = OrderedDict()
_lock = threading.Lock()
_loading: dict[tuple[str, str], threading.Lock] = {}


def load_model(s3: Any, bucket: str, prefix: str) -> ServingModel:
    """The model published under ``s3://bucket/prefix``; loaded on first use, then cached (LRU)."""
    key = (bucket, prefix)
    with _lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
        gate = _loading.setdefault(key, threading.Lock())
    with gate:  # one loader per model; concurrent requests wait for it instead of loading again
        with _lock:
            if key in _cache:
                return _cache[key]
        model = serving_model(load_s3(s3, bucket, prefix))
        # Build the id lookups now, not inside the first request.
        _ = model.item_index, model.user_index, model.popular_order
        with _lock:
            _cache[key] = model
            while len(_cache) > CAPACITY:
                _cache.popitem(last=False)
            _loading.pop(key, None)
        return model


def clear() -> None:
    with _lock:
        _cache.clear()
