"""picks.cache: TTL expiry, the LRU bound, invalidate/expire/reset, one load per key."""

from __future__ import annotations

import threading

import pytest
from picks import cache
from picks.cache import Policy, TTLCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    entries: TTLCache[str, int] = TTLCache("t", Policy(ttl_s=5.0, capacity=10), clock=clock)
    entries.put("a", 1)
    clock.now += 4.9
    assert entries.get("a") == 1
    clock.now += 0.2
    assert entries.get("a") is None
    assert entries.peek("a") == 1  # stale, still there to revalidate


def test_no_ttl_keeps_entries_until_evicted() -> None:
    clock = FakeClock()
    entries: TTLCache[str, int] = TTLCache("t", Policy(ttl_s=None, capacity=10), clock=clock)
    entries.put("a", 1)
    clock.now += 1e9
    assert entries.get("a") == 1


def test_capacity_evicts_the_least_recently_used() -> None:
    entries: TTLCache[str, int] = TTLCache("t", Policy(ttl_s=None, capacity=2))
    entries.put("a", 1)
    entries.put("b", 2)
    assert entries.get("a") == 1  # now "b" is the least recently used
    entries.put("c", 3)
    assert len(entries) == 2
    assert entries.get("b") is None
    assert (entries.get("a"), entries.get("c")) == (1, 3)


def test_get_or_load_loads_once_and_caches_none_unless_told_not_to() -> None:
    clock = FakeClock()
    entries: TTLCache[str, int | None] = TTLCache("t", Policy(ttl_s=1.0, capacity=10), clock=clock)
    calls: list[str] = []

    def load(value: int | None) -> int | None:
        calls.append("load")
        return value

    assert entries.get_or_load("a", lambda: load(None)) is None
    assert entries.get_or_load("a", lambda: load(7)) is None  # the cached None
    assert entries.get_or_load("b", lambda: load(None), cache_none=False) is None
    assert entries.get_or_load("b", lambda: load(2), cache_none=False) == 2
    assert len(calls) == 3
    clock.now += 1.0
    assert entries.get_or_load("a", lambda: load(3)) == 3  # expired: loaded again


def test_a_failed_load_stores_nothing() -> None:
    entries: TTLCache[str, int] = TTLCache("t", Policy(ttl_s=None, capacity=10))

    def fail() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        entries.get_or_load("a", fail)
    assert entries.get_or_load("a", lambda: 1) == 1


def test_concurrent_requests_for_a_key_share_one_load() -> None:
    entries: TTLCache[str, int] = TTLCache("t", Policy(ttl_s=None, capacity=10))
    started, release = threading.Event(), threading.Event()
    loads: list[int] = []

    def slow_load() -> int:
        loads.append(1)
        started.set()
        release.wait(10)
        return 42

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(entries.get_or_load("k", slow_load)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: results.append(entries.get_or_load("k", slow_load)))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert results == [42, 42]
    assert len(loads) == 1


def test_expire_makes_entries_read_before_it_stale() -> None:
    clock = FakeClock()
    entries: TTLCache[str, int] = TTLCache("t", Policy(ttl_s=60.0, capacity=10), clock=clock)
    read_at = clock.now
    entries.put("old", 1, now=read_at)
    clock.now += 1
    entries.expire()  # e.g. PutItems in this process
    assert entries.get("old") is None
    assert entries.peek("old") == 1
    entries.put("late", 2, now=read_at)  # read before the change, stored after it
    assert entries.get("late") is None
    clock.now += 1
    entries.put("new", 3)
    assert entries.get("new") == 3


def test_registry_invalidate_and_reset() -> None:
    campaigns = cache.named(cache.CAMPAIGNS)
    assert cache.named(cache.CAMPAIGNS) is campaigns
    assert campaigns.ttl_s == cache.POLICIES[cache.CAMPAIGNS].ttl_s
    campaigns.put("arn:a", "A")
    campaigns.put("arn:b", "B")
    cache.invalidate(cache.CAMPAIGNS, "arn:a")
    assert campaigns.get("arn:a") is None and campaigns.get("arn:b") == "B"
    cache.named(cache.FILTERS).put("arn:f", "F")
    cache.reset()
    assert len(campaigns) == 0 and len(cache.named(cache.FILTERS)) == 0


def test_undeclared_caches_are_refused() -> None:
    with pytest.raises(KeyError):
        cache.named("no-such-cache")
