"""Per-process caches: one declared policy each, one registry, one ``reset``.

A Lambda container (or the emulator) serves many requests with the same few campaigns, models,
filters and trackers; a request must not pay a table or S3 read for each.  Every cache is declared
in ``POLICIES`` (how long an entry stays fresh, how many entries it keeps), built on first use by
``named`` and bounded with least-recently-used eviction.  ``invalidate`` drops entries this process
knows changed (a deletion, a PutItems); ``reset`` empties every cache (tests call it around each test).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Clock = Callable[[], float]


class _Missing(Enum):
    MISSING = 0  # no fresh entry (a stored value may itself be None)


MISSING: Final = _Missing.MISSING


@dataclass(frozen=True)
class Policy:
    ttl_s: float | None  # None: the content never changes under its key; entries only get evicted
    capacity: int


CAMPAIGNS = "campaigns"
TRENDS = "trends"
MODELS = "models"
DATASETS = "datasets"
ITEM_CATALOGS = "item_catalogs"
ENTITY_TABLES = "entity_tables"
ROW_INDEXES = "row_indexes"
FILTERS = "filters"
TRACKING_IDS = "tracking_ids"

POLICIES: dict[str, Policy] = {
    # A campaign's serving version by ARN: a campaign update (or deletion elsewhere) takes effect within this.
    CAMPAIGNS: Policy(ttl_s=5.0, capacity=256),
    # A trending campaign's live events: the event stream is re-read at most this often.
    TRENDS: Policy(ttl_s=2.0, capacity=64),
    # Serving models by (bucket, prefix): published once, never rewritten; tens of MB each, so few.
    MODELS: Policy(ttl_s=None, capacity=4),
    # A group's dataset records and item catalogs (bulk table + PutItems records): metadata filters
    # see another process's PutItems within this (this process's at once: ``expire``).
    DATASETS: Policy(ttl_s=1.0, capacity=256),
    ITEM_CATALOGS: Policy(ttl_s=1.0, capacity=8),
    # Bulk Items/Users tables and their id -> row indexes, by S3 prefix: an import writes a new prefix.
    ENTITY_TABLES: Policy(ttl_s=None, capacity=8),
    ROW_INDEXES: Policy(ttl_s=None, capacity=8),
    # Filters by ARN: a deleted filter stops applying elsewhere within this.
    FILTERS: Policy(ttl_s=5.0, capacity=256),
    # Event trackers by trackingId: a tracker deleted by another process keeps accepting events this long.
    TRACKING_IDS: Policy(ttl_s=60.0, capacity=1024),
}


class TTLCache(Generic[K, V]):
    """At most ``capacity`` entries, each fresh for ``ttl_s`` seconds of ``clock`` after it was stored.

    ``now`` arguments stand in for the clock (tests, callers that timed a load themselves).  One lock
    guards the entries; ``get_or_load`` lets one thread load a key while others asking for it wait.
    """

    def __init__(self, name: str, policy: Policy, clock: Clock = time.monotonic) -> None:
        self.name = name
        self.ttl_s = policy.ttl_s
        self.capacity = policy.capacity
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._loading: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()
        self._stale_before = -math.inf  # entries stored at or before this are stale (``expire``)

    def now(self) -> float:
        return self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _fresh(self, stored: float, now: float) -> bool:
        return stored > self._stale_before and (self.ttl_s is None or now - stored < self.ttl_s)

    def _lookup(self, key: K, now: float) -> V | Literal[_Missing.MISSING]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not self._fresh(entry[0], now):
                return MISSING
            self._entries.move_to_end(key)
            return entry[1]

    def get(self, key: K, *, now: float | None = None) -> V | None:
        """The fresh value under ``key``, or None."""
        value = self._lookup(key, self._clock() if now is None else now)
        return None if value is MISSING else value

    def peek(self, key: K) -> V | None:
        """The value under ``key`` fresh or stale (to revalidate it), or None."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def put(self, key: K, value: V, *, now: float | None = None) -> None:
        """Store ``value``; ``now`` is when it was read (a load started before a change is stale)."""
        stored = self._clock() if now is None else now
        with self._lock:
            self._entries[key] = (stored, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def get_or_load(
        self, key: K, load: Callable[[], V], *, now: float | None = None, cache_none: bool = True
    ) -> V:
        """The fresh value under ``key``, else ``load()``'s, stored (unless None and not ``cache_none``).

        Errors from ``load`` propagate and store nothing.
        """
        moment = self._clock() if now is None else now
        value = self._lookup(key, moment)
        if value is not MISSING:
            return value
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            value = self._lookup(key, moment)  # loaded by the thread this one waited for
            if value is not MISSING:
                return value
            try:
                loaded = load()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            if loaded is not None or cache_none:
                self.put(key, loaded, now=moment)
            else:
                self.invalidate(key)
            return loaded

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def expire(self) -> None:
        """Make every entry stored until now stale; ``peek`` still returns them for revalidation."""
        moment = self._clock()
        with self._lock:
            self._stale_before = moment

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._stale_before = -math.inf


_registry: dict[str, TTLCache[Any, Any]] = {}
_registry_lock = threading.Lock()


def named(name: str) -> TTLCache[Any, Any]:
    """The process's cache ``name`` (declared in ``POLICIES``)."""
    with _registry_lock:
        cache = _registry.get(name)
        if cache is None:
            cache = _registry[name] = TTLCache(name, POLICIES[name])
        return cache


def invalidate(name: str, key: Hashable) -> None:
    """Drop ``key`` from cache ``name``: this process changed what it caches."""
    named(name).invalidate(key)


def expire(name: str) -> None:
    """Make every entry of cache ``name`` stale: this process changed what its entries were built from
    (its readers revalidate them, ``TTLCache.peek``)."""
    named(name).expire()


def reset() -> None:
    """Empty every cache (tests: no state leaks from one test into the next)."""
    with _registry_lock:
        caches = list(_registry.values())
    for cache in caches:
        cache.clear()
