"""Learning the re-interaction table (``picks.serving.repeats``) from the training users.

Each user with two or more interactions is split as the holdout splits a held-out user (oldest
90% in, newest 10% out; ``training.evaluation.split``'s arithmetic); each distinct item among the
last ``window`` input interactions is one example — keyed by its position, its latest event type
and its count — and a hit when the item is in the user's newest 10%.  Vectorised: a few sorts of
the window rows, so 25M interactions cost a couple of seconds.
"""
from __future__ import annotations

import numpy as np

from picks.serving.repeats import COUNT_BUCKETS, smoothed
from training.data import Interactions, position_in_run, time_order
from training.evaluation import HOLDOUT_FRACTION
DEFAULT_THRESHOLD = 0.05


def type_names(interactions: Interactions) -> list[str]:
    names = interactions.event_type_names
    return [] if names is None else [str(n) for n in names.tolist()]


def _type_codes(interactions: Interactions) -> np.ndarray:
    if interactions.event_types is None:
        return np.zeros(len(interactions), dtype=np.int64)  # one bucket: "no type" (code 0 of 0 names)
    return interactions.event_types.astype(np.int64)


def table(interactions: Interactions, window: int, fraction: float = HOLDOUT_FRACTION) -> np.ndarray:
    """Smoothed P(re-interaction | position, latest event type, count): window × (types + 1) × 3."""
    n_types = len(type_names(interactions)) + 1
    hits = np.zeros((window, n_types, COUNT_BUCKETS))
    totals = np.zeros_like(hits)
    if len(interactions):
        order = time_order(interactions.users, interactions.timestamps)
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
        w_key, w_user, w_type = key[rows], users[rows], _type_codes(interactions)[order][rows]
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
        cell = np.ravel_multi_index(
            (distinct_position, np.minimum(w_type[newest], n_types - 1), np.minimum(repeats, COUNT_BUCKETS) - 1),
            hits.shape)
        totals += np.bincount(cell, minlength=totals.size).reshape(totals.shape)
        hits += np.bincount(cell, weights=hit.astype(np.float64), minlength=hits.size).reshape(hits.shape)
    return smoothed(hits, totals)


def recent_types(interactions: Interactions, window: int) -> np.ndarray:
    """Event type codes of each user's last ``window`` interactions, newest first — aligned with
    ``training.recipes.user_personalization.recent_items`` (same order, same rows)."""
    order = time_order(interactions.users, interactions.timestamps, newest_first=True)
    keep = position_in_run(interactions.users[order]) < window
    return _type_codes(interactions)[order[keep]].astype(np.int16)
