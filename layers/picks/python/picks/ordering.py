"""Row orders by group and time, for per-user passes over millions of interactions.

``time_order`` is ``np.lexsort((±timestamps, groups))`` several times faster; the import stores
interactions in (user, time) order (``picks.ingest.columnar.in_user_time_order``) so that training,
which reads them user by user, finds them sorted.
"""

from __future__ import annotations

import numpy as np

# Rows per block where a pass is written block by block (a few MB of temporaries each).
_BLOCK = 1 << 20


def _bits(value: int) -> int:
    return max(int(value).bit_length(), 1)


def time_order(groups: np.ndarray, timestamps: np.ndarray, newest_first: bool = False) -> np.ndarray:
    """Row order by group, then time: oldest first with ties in row order, or newest first — the
    exact reverse within each group, so among equal timestamps the later row counts as the newer.

    Oldest first is exactly ``np.lexsort((timestamps, groups))``; newest first is
    ``np.lexsort((-rows, -timestamps, groups))``.  One rule for "newest" everywhere: a user's rows
    come in the order they happened (a file written in time order, events in the order they
    arrived), so the last of a same-second run — the ``watch`` after the ``click`` of the same
    item — is the user's latest interaction, in training (recent items, repeat features, filter
    history, the holdout's cut) as at request time, where PutEvents events are newest last.

    For non-negative integer groups, several times faster than lexsort on millions of rows: a
    (key, row) pair packed into one int64 sorts as one number (numpy's SIMD sort), where lexsort
    and argsort are comparison sorts of indices.  First the rows' rank in time order, then (group,
    that rank); for oldest first one sort when the rows are already in time order (data exported
    or imported in time order), none when they are already by group and time.
    """
    n = len(groups)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    timestamps = np.asarray(timestamps, dtype=np.int64)
    row_bits = _bits(n - 1)
    low, high = int(timestamps.min()), int(timestamps.max())
    if int(groups.min()) < 0 or _bits(int(groups.max())) + row_bits > 63 or _bits(high - low) + row_bits > 63:
        order = np.lexsort((timestamps, groups))
        return to_newest_first(order, groups) if newest_first else order
    mask = np.int64((1 << row_bits) - 1)
    if grouped_in_time_order(groups, timestamps):
        rows = np.arange(n, dtype=np.int64)
        return to_newest_first(rows, groups) if newest_first else rows
    by_time: np.ndarray | None = None  # None: the rows are in (time, row) order already
    if newest_first or not bool(np.all(timestamps[1:] >= timestamps[:-1])):
        # Newest first: (time, row) both descending — the reverse of oldest first, ties included.
        key = (high - timestamps) if newest_first else (timestamps - low)
        key <<= row_bits
        _or_rows(key, reverse=newest_first)
        key.sort()
        by_time = key & mask  # rows in (time, row) order, or its reverse
        del key
        if newest_first:
            np.subtract(n - 1, by_time, out=by_time)
    key = _group_keys(groups, by_time, row_bits)
    key.sort()
    key &= mask
    return key if by_time is None else by_time[key]


def _group_keys(groups: np.ndarray, by_time: np.ndarray | None, row_bits: int) -> np.ndarray:
    """``(group << row_bits) | rank``, each row's rank in time order in the low bits (its own index
    when ``by_time`` is None).  Written block by block into the one result array: on millions of
    rows, catalogue-long temporaries (the widened groups, the shifted copy, the row numbers) cost
    more in fresh memory than the arithmetic itself."""
    n = len(groups)
    key = np.empty(n, dtype=np.int64)
    if by_time is None:
        key[:] = groups  # widened in place, without a copy
        key <<= row_bits
        _or_rows(key, reverse=False)
        return key
    key[by_time] = np.arange(n, dtype=np.int64)  # the rank of each row in time order
    for start in range(0, n, _BLOCK):
        block = key[start : start + _BLOCK]
        block |= groups[start : start + _BLOCK].astype(np.int64) << row_bits
    return key


def _or_rows(key: np.ndarray, *, reverse: bool) -> None:
    """``key |= row`` (``n - 1 - row`` with ``reverse``), block by block without an n-long arange."""
    n = len(key)
    for start in range(0, n, _BLOCK):
        block = key[start : start + _BLOCK]
        rows = np.arange(start, start + len(block), dtype=np.int64)
        if reverse:
            np.subtract(n - 1, rows, out=rows)
        block |= rows


def column_counts(indices: np.ndarray, length: int, chunk: int = _BLOCK) -> np.ndarray:
    """``np.bincount(indices, minlength=length)`` in slices: bincount copies int32 input to int64
    first, ~200 MB of fresh memory for 25M indices, where slices reuse a few MB."""
    counts = np.zeros(length, dtype=np.int64)
    for start in range(0, len(indices), chunk):
        counts += np.bincount(indices[start : start + chunk], minlength=length)
    return counts


def grouped_in_time_order(groups: np.ndarray, timestamps: np.ndarray) -> bool:
    """Rows already by group, then time (a table written in that order): no sort needed."""
    if len(groups) < 2:
        return True
    ascending = groups[1:] >= groups[:-1]
    if not bool(ascending.all()):  # the cheap test first: most data fails it
        return False
    np.greater(groups[1:], groups[:-1], out=ascending)  # a new group may start at any time
    ascending |= timestamps[1:] >= timestamps[:-1]
    return bool(ascending.all())


def to_newest_first(order: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``time_order(groups, timestamps, newest_first=True)`` from ``time_order(groups, timestamps)``
    (``order``): each group's rows reversed, in O(n) — the row at sorted position p of the group
    [g0, g1) moves to g0 + g1 - 1 - p."""
    n = len(order)
    if n == 0:
        return order.copy()
    identity = order[0] == 0 and order[-1] == n - 1 and bool(np.all(order[1:] > order[:-1]))
    g = groups if identity else groups[order]
    group_bounds = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1], [True]]))
    del g
    target = np.repeat(group_bounds[:-1] + group_bounds[1:] - 1, np.diff(group_bounds))
    target -= np.arange(n, dtype=target.dtype)
    if identity:
        return target  # a reversal within groups is its own inverse
    out = np.empty_like(order)
    out[target] = order
    return out


def position_in_run(values: np.ndarray) -> np.ndarray:
    """Each element's distance from the start of its run of equal values (grouped input): O(n)."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    return np.arange(len(values)) - np.repeat(starts, np.diff(np.append(starts, len(values))))
