"""Re-interactions: how likely a user comes back to an item they interacted with lately.

Much of what users do next is about an item they just touched: a click followed by a purchase or a
watch of the same item, a product viewed twice before it is bought.  Excluding everything a user has
seen throws that away; keeping everything floods lists with old history.  So training measures, on
its own users' histories and with the holdout's own protocol (the oldest 90% of a user's
interactions in, the newest 10% out), how often an item comes back, by

* its position among the user's distinct recent items (0 = the newest),
* the event type of the user's latest interaction with it (``click``, ``purchase`` ...), and
* how many of the user's recent interactions were with it (1, 2, 3 or more),

and stores that table of probabilities in the model (``repeat_probability``: window × (event types
+ 1 for types training never saw) × 3).  At request time each of the user's distinct recent items
gets its probability from the table; those above ``repeat_threshold`` are recommended again, most
likely first, ahead of the rest (whose chance of being right is about the model's precision, a few
percent).  Everything here is numpy, shared by the runtime and the offline evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

COUNT_BUCKETS = 3  # 1, 2, 3+ interactions with the item among the recent ones
# Smoothing of the table towards the position's overall rate: cells with few examples are not trusted.
PRIOR_WEIGHT = 20.0


def distinct_recent(items: np.ndarray, types: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """(items, positions, latest event type codes, count buckets) of a newest-first interaction window.

    ``items`` / ``types`` are one user's interactions, newest first; only the first ``window`` count.
    Each distinct item appears once, at the position of its newest interaction among distinct items.
    """
    items, types = np.asarray(items[:window], dtype=np.int64), np.asarray(types[:window], dtype=np.int64)
    if len(items) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, empty
    unique, first, counts = np.unique(items, return_index=True, return_counts=True)
    newest = np.argsort(first, kind="stable")
    return (
        unique[newest],
        np.arange(len(unique)),
        types[first[newest]],
        np.minimum(counts[newest], COUNT_BUCKETS) - 1,
    )


def smoothed(hits: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Hit rates per (position, type, count) shrunk towards each position's overall rate."""
    position_rate = hits.sum(axis=(1, 2)) / np.maximum(totals.sum(axis=(1, 2)), 1.0)
    prior = position_rate[:, None, None]
    rates: np.ndarray = ((hits + PRIOR_WEIGHT * prior) / (totals + PRIOR_WEIGHT)).astype(np.float32)
    return rates


@dataclass(frozen=True)
class RepeatTable:
    probability: np.ndarray  # window × (event types + 1) × COUNT_BUCKETS
    event_types: dict[str, int]  # lower-cased event type -> code; unknown types get len(event_types)
    threshold: float

    @property
    def window(self) -> int:
        positions: int = self.probability.shape[0]
        return positions

    def type_code(self, event_type: str | None) -> int:
        return self.event_types.get(str(event_type or "").lower(), len(self.event_types))

    @cached_property
    def never(self) -> bool:
        """Whether no entry of the table exceeds the threshold: then no item is ever a candidate."""
        return bool(self.probability.max(initial=-np.inf) <= self.threshold)

    def candidates(self, items: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(items, probabilities) worth recommending again, most likely first.

        ``items`` / ``types``: the user's latest interactions, newest first (type codes).
        """
        if self.never:  # what the lookups below would find, without them (a request's 50 µs)
            return np.empty(0, np.int64), np.empty(0, self.probability.dtype)
        distinct, positions, latest, counts = distinct_recent(items, types, self.window)
        if len(distinct) == 0:
            return distinct, np.empty(0, np.float32)
        latest = np.minimum(latest, self.probability.shape[1] - 1)
        chance = self.probability[positions, latest, counts]
        keep = chance > self.threshold
        order = np.argsort(-chance[keep], kind="stable")
        return distinct[keep][order], chance[keep][order]


def lift_repeats(score: np.ndarray, candidates: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``score`` with the repeat candidates placed above every other item, in their own order."""
    items, chance = candidates
    if len(items) == 0:
        return score
    finite = score[np.isfinite(score)]
    ceiling = float(finite.max()) if len(finite) else 0.0
    lifted = score.astype(np.float32, copy=True)
    lifted[items] = ceiling + 1.0 + chance
    return lifted
