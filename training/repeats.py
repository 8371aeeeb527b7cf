"""Learning the re-interaction table (``picks.serving.repeats``) from the training users.

Each user with two or more interactions is split as the holdout splits a held-out user (oldest
90% in, newest 10% out; ``training.evaluation.split``'s arithmetic); each distinct item among the
last ``window`` input interactions is one example — keyed by its position, its latest event type
and its count — and a hit when the item is in the user's newest 10%.  Vectorised: a few sorts of
the window rows, so 25M interactions cost a couple of seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picks.serving.repeats import COUNT_BUCKETS, smoothed
from training.data import Interactions, position_in_run
from training.evaluation import HOLDOUT_FRACTION

DEFAULT_THRESHOLD = 0.05


def type_names(interactions: Interactions) -> list[str]:
    names = interactions.event_type_names
    return [] if names is None else [str(n) for n in names.tolist()]


def _type_codes(interactions: Interactions) -> np.ndarray:
    if interactions.event_types is None:
        return np.zeros(len(interactions), dtype=np.int64)  # one bucket: "no type" (code 0 of 0 names)
    return interactions.event_types.astype(np.int64)


@dataclass(frozen=True)
class Examples:
    """The table's examples before counting: one per distinct recent item of a training user.

    Each user's examples depend on that user's interactions alone, so the examples of a subset of
    users (``without``) count to the table those users' interactions give."""

    users: np.ndarray  # the user index of each example
    cells: np.ndarray  # its flat index into the table: (position, latest event type, count bucket)
    hits: np.ndarray  # bool: the item is in the user's newest 10%
    shape: tuple[int, int, int]  # window × (types + 1) × COUNT_BUCKETS

    def without(self, users: np.ndarray) -> Examples:
        keep = ~np.isin(self.users, users)
        return Examples(self.users[keep], self.cells[keep], self.hits[keep], self.shape)

    def table(self) -> np.ndarray:
        size = int(np.prod(self.shape))
        totals = np.bincount(self.cells, minlength=size).reshape(self.shape).astype(np.float64)
        hits = np.bincount(self.cells, weights=self.hits.astype(np.float64), minlength=size).reshape(self.shape)
        return smoothed(hits, totals)


def examples(interactions: Interactions, window: int, fraction: float = HOLDOUT_FRACTION) -> Examples:
    """Each training user split as the holdout splits a held-out user; each distinct item among the
    last ``window`` inputs is an example, a hit when it comes back in the user's newest 10%."""
    n_types = len(type_names(interactions)) + 1
    shape = (window, n_types, COUNT_BUCKETS)
    if not len(interactions):
        return Examples(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool), shape)
    order = interactions.by_user_time
    users = interactions.users[order]
    counts = np.bincount(users, minlength=interactions.user_count)
    position = position_in_run(users)
    n = counts[users]
    inputs = n - np.maximum(1, (n * fraction).astype(np.int64))
    eligible = n >= 2
    key = users * np.int64(interactions.item_count) + interactions.items[order]
    truth_keys = np.sort(key[eligible & (position >= inputs)])
    in_window = eligible & (position < inputs) & (position >= inputs - window)
    rows = np.flatnonzero(in_window)
    age = (inputs - 1 - position)[rows]  # 0 = the newest input interaction
    w_key, w_user, w_type = key[rows], users[rows], _type_codes(interactions)[order[rows]]
    del key, position, n, inputs, eligible, in_window
    by_item = np.lexsort((age, w_key))  # each (user, item)'s rows, newest first
    k_sorted = w_key[by_item]
    first = np.concatenate([[True], k_sorted[1:] != k_sorted[:-1]])
    starts = np.flatnonzero(first)
    repeats = np.diff(np.append(starts, len(k_sorted)))
    newest = by_item[starts]  # one row per distinct (user, item): its newest interaction
    by_age = np.lexsort((age[newest], w_user[newest]))
    newest, repeats = newest[by_age], repeats[by_age]
    distinct_position = position_in_run(w_user[newest])
    found = np.searchsorted(truth_keys, w_key[newest])
    hit = (found < len(truth_keys)) & (truth_keys[np.minimum(found, len(truth_keys) - 1)] == w_key[newest])
    cells = np.ravel_multi_index(
        (distinct_position, np.minimum(w_type[newest], n_types - 1), np.minimum(repeats, COUNT_BUCKETS) - 1),
        shape)
    return Examples(w_user[newest], cells, hit, shape)


def table(interactions: Interactions, window: int, fraction: float = HOLDOUT_FRACTION) -> np.ndarray:
    """Smoothed P(re-interaction | position, latest event type, count): window × (types + 1) × 3."""
    return examples(interactions, window, fraction).table()


def recent_types(interactions: Interactions, window: int) -> np.ndarray:
    """Event type codes of each user's last ``window`` interactions, newest first — aligned with
    ``training.recipes.user_personalization.recent_items`` (same order, same rows)."""
    order = interactions.by_user_newest
    keep = position_in_run(interactions.users[order]) < window
    return _type_codes(interactions)[order[keep]].astype(np.int16)
