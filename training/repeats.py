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

from training.data import Interactions, position_in_run, time_order
from training.evaluation import HOLDOUT_FRACTION

DEFAULT_THRESHOLD = 0.05


def type_names(interactions: Interactions) -> list[str]:
    names = interactions.event_type_names
    return [] if names is None else [str(n) for n in names.tolist()]


def type_codes_at(interactions: Interactions, rows: np.ndarray) -> np.ndarray:
    """The event type codes of these rows (int64), read at the rows only, not for the whole column."""
    if interactions.event_types is None:
        return np.zeros(len(rows), dtype=np.int64)  # one bucket: "no type" (code 0 of 0 names)
    return interactions.event_types[rows].astype(np.int64)


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
        hits = np.bincount(self.cells, weights=self.hits.astype(np.float64), minlength=size).reshape(
            self.shape
        )
        return smoothed(hits, totals)


def examples(interactions: Interactions, window: int, fraction: float = HOLDOUT_FRACTION) -> Examples:
    """Each training user split as the holdout splits a held-out user; each distinct item among the
    last ``window`` inputs is an example, a hit when it comes back in the user's newest 10%."""
    n_types = len(type_names(interactions)) + 1
    shape = (window, n_types, COUNT_BUCKETS)
    if not len(interactions):
        return Examples(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool), shape)
    # Per user, in by_user_time positions: its rows start at `starts`; the first `inputs` are input,
    # the rest truth.  Only the window's and the truth's rows are visited (not all 25M).
    # Rows stored in that order (as imported) are their own positions: no 25M-row identity order.
    order = None if interactions.rows_by_user_time else interactions.by_user_time
    counts = interactions.user_counts
    starts = np.cumsum(counts) - counts
    inputs = counts - np.maximum(1, (counts * fraction).astype(np.int64))
    eligible = counts >= 2
    item_count = np.int64(interactions.item_count)

    def ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(user, position) for every position in [lo, hi) of every user, in position order."""
        lengths = np.where(eligible, hi - lo, 0)
        user = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        offsets = np.cumsum(lengths) - lengths
        return user, np.arange(int(lengths.sum()), dtype=np.int64) - offsets[user] + lo[user]

    t_user, t_position = ranges(starts + inputs, starts + counts)
    t_rows = t_position if order is None else order[t_position]
    truth_keys = np.sort(t_user * item_count + interactions.items[t_rows])
    w_user, w_position = ranges(starts + np.maximum(inputs - window, 0), starts + inputs)
    w_rows = w_position if order is None else order[w_position]
    age = starts[w_user] + inputs[w_user] - 1 - w_position  # 0 = the newest input interaction
    w_key = w_user * item_count + interactions.items[w_rows]
    w_type = type_codes_at(interactions, w_rows)
    del t_user, t_position, t_rows, w_position, w_rows
    by_item = time_order(w_key, age)  # each (user, item)'s rows, newest first
    k_sorted = w_key[by_item]
    first = np.concatenate([[True], k_sorted[1:] != k_sorted[:-1]])
    starts = np.flatnonzero(first)
    repeats = np.diff(np.append(starts, len(k_sorted)))
    newest = by_item[starts]  # one row per distinct (user, item): its newest interaction
    by_age = time_order(w_user[newest], age[newest])
    newest, repeats = newest[by_age], repeats[by_age]
    distinct_position = position_in_run(w_user[newest])
    found = np.searchsorted(truth_keys, w_key[newest])
    hit = (found < len(truth_keys)) & (truth_keys[np.minimum(found, len(truth_keys) - 1)] == w_key[newest])
    cells = np.ravel_multi_index(
        (distinct_position, np.minimum(w_type[newest], n_types - 1), np.minimum(repeats, COUNT_BUCKETS) - 1),
        shape,
    )
    return Examples(w_user[newest], cells, hit, shape)


def table(interactions: Interactions, window: int, fraction: float = HOLDOUT_FRACTION) -> np.ndarray:
    """Smoothed P(re-interaction | position, latest event type, count): window × (types + 1) × 3."""
    return examples(interactions, window, fraction).table()


def recent_types(interactions: Interactions, window: int) -> np.ndarray:
    """Event type codes of each user's last ``window`` interactions, newest first — aligned with
    ``training.recipes.user_personalization.recent_items`` (same order, same rows)."""
    order = interactions.by_user_newest
    keep = position_in_run(interactions.users[order]) < window
    return type_codes_at(interactions, order[keep]).astype(np.int16)
