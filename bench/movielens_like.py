"""A fast synthetic interactions CSV shaped like MovieLens-25M (for ``bench/train_bench.py``).

MovieLens-25M: 25,000,095 ratings by 162,541 users of 59,047 movies, every (user, movie) pair at
most once, each user at least 20 ratings (median ~70, max ~32,000), a few blockbusters rated by
half the users and a long tail rated by a handful.  This generator reproduces that shape, not
the preferences:

* item popularity is Zipf–Mandelbrot, ``p(rank) ∝ (rank + 100) ** -1.3`` (the top item gets
  ~0.35% of the draws, like MovieLens' most rated movie; the top 10% of items ~83%), with ranks
  assigned to item ids at random;
* user activity is heavy-tailed: ``min + lognormal(σ = 1.3)``, scaled to the requested rows;
* each user's items are distinct: draws with replacement, duplicates dropped, in draw order
  (that is sampling without replacement), redrawn for users who came up short;
* each user is active during a window of the 1995–2019 span, rows uniform inside it; the file
  is sorted by timestamp (increasing).

``demo.synthetic.interactions_csv_chunks`` is not reused: it samples with replacement (a heavy
user repeats items, so the matrix has fewer non-zeros than rows), and formats rows in Python
(~1 µs a row).  Here a CSV line is fixed-width digits built with numpy: 25M rows take seconds.
IDs are zero-padded integers (``000123``), which are valid Personalize string ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from demo.schemas import USER_ITEM_TIME, avro_schema

if TYPE_CHECKING:
    from pathlib import Path

ML25M_USERS = 162_541
ML25M_ITEMS = 59_047
ML25M_ROWS = 25_000_095
ZIPF_EXPONENT = 1.3
ZIPF_OFFSET = 100.0
ACTIVITY_SIGMA = 1.3
MIN_PER_USER = 20
FIRST_TIMESTAMP = 789_652_009  # 1995-01-09, MovieLens-25M's first rating
LAST_TIMESTAMP = 1_574_327_703  # 2019-11-21, its last
HEADER = b"USER_ID,ITEM_ID,TIMESTAMP\n"
SCHEMA = avro_schema("Interactions", *USER_ITEM_TIME)


@dataclass(frozen=True)
class Shape:
    rows: int
    users: int
    items: int
    max_user_rows: int
    median_user_rows: float
    top_item_rows: int
    median_item_rows: float
    items_with_rows: int
    csv_bytes: int
    seconds: float


def user_counts(rng: np.random.Generator, rows: int, n_users: int, n_items: int) -> np.ndarray:
    """Rows per user: a floor (20 when the data allows) plus a log-normal share, summing to ``rows``."""
    floor = min(MIN_PER_USER, max(1, rows // n_users // 3))
    cap = max(floor, n_items // 2)
    activity = rng.lognormal(sigma=ACTIVITY_SIGMA, size=n_users)
    counts = np.full(n_users, floor, dtype=np.int64)
    remaining = rows - counts.sum()
    for _ in range(10):  # clip at the cap, hand the excess to the others
        if remaining <= 0:
            break
        open_ = counts < cap
        weights = np.where(open_, activity, 0.0)
        counts += rng.multinomial(remaining, weights / weights.sum())
        over = np.maximum(counts - cap, 0)
        counts -= over
        remaining = int(over.sum())
    return counts


def _distinct_items(
    rng: np.random.Generator, counts: np.ndarray, cdf: np.ndarray, n_items: int, first_user: int
) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) with ``counts[u]`` distinct popularity-drawn items per user (fewer if unreachable)."""
    n = len(counts)
    got_users: list[np.ndarray] = []
    got_items: list[np.ndarray] = []
    have = np.zeros(n, dtype=np.int64)
    taken: np.ndarray = np.empty(0, dtype=np.int64)  # keys already kept (user * n_items + item)
    factor = 1.3
    for _ in range(8):
        need = counts - have
        short = np.flatnonzero(need > 0)
        if len(short) == 0:
            break
        draws = np.ceil(need[short] * factor).astype(np.int64) + 4
        owners = np.repeat(short, draws)
        items = np.minimum(np.searchsorted(cdf, rng.random(len(owners)), side="right"), n_items - 1)
        keys = owners * n_items + items
        unique, first = np.unique(keys, return_index=True)
        order = np.argsort(first, kind="stable")  # draw order: sequential sampling without replacement
        unique = unique[order]
        if len(taken):
            unique = unique[~np.isin(unique, taken, assume_unique=True)]
        # Draws are laid out owner by owner, so after ordering by first draw owners stay grouped.
        kept_owner = unique // n_items
        by_owner = np.argsort(kept_owner, kind="stable")
        unique, kept_owner = unique[by_owner], kept_owner[by_owner]
        start = np.searchsorted(kept_owner, kept_owner, side="left")
        rank = np.arange(len(unique)) - start
        keep = rank < need[kept_owner]
        unique = unique[keep]
        np.add.at(have, unique // n_items, 1)
        got_users.append(unique // n_items)
        got_items.append(unique % n_items)
        taken = np.sort(np.concatenate([taken, unique]))
        factor *= 2.0
    users = np.concatenate(got_users) + first_user
    return users, np.concatenate(got_items)


def _digits(out: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    v = values.astype(np.int64, copy=True)
    for position in range(width - 1, -1, -1):
        out[:, column + position] = (v % 10) + 48
        v //= 10


def write_csv(
    path: Path,
    rows: int = ML25M_ROWS,
    n_users: int = ML25M_USERS,
    n_items: int = ML25M_ITEMS,
    seed: int = 25,
    block_users: int = 20_000,
    chunk_rows: int = 2_000_000,
    zipf_exponent: float = ZIPF_EXPONENT,
) -> Shape:
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    counts = user_counts(rng, rows, n_users, n_items)
    ranks = rng.permutation(n_items)  # item id -> popularity rank
    weight = (np.arange(n_items) + 1 + ZIPF_OFFSET) ** -zipf_exponent
    by_rank = np.cumsum(weight / weight.sum())
    # Draw ranks, then map them to item ids.
    users_parts, items_parts = [], []
    for start in range(0, n_users, block_users):
        u, r = _distinct_items(rng, counts[start : start + block_users], by_rank, n_items, start)
        users_parts.append(u.astype(np.int32))
        items_parts.append(r.astype(np.int32))
    users = np.concatenate(users_parts)
    rank_to_item = np.empty(n_items, dtype=np.int32)
    rank_to_item[ranks] = np.arange(n_items, dtype=np.int32)
    items = rank_to_item[np.concatenate(items_parts)]
    del users_parts, items_parts

    # Each user is active in a window: log-uniform length from a day to the whole span.
    span = LAST_TIMESTAMP - FIRST_TIMESTAMP
    length = np.exp(rng.uniform(np.log(86_400), np.log(span), size=n_users)).astype(np.int64)
    begin = FIRST_TIMESTAMP + (rng.random(n_users) * (span - length)).astype(np.int64)
    times = begin[users] + (rng.random(len(users)) * length[users]).astype(np.int64)
    order = np.argsort(times, kind="stable")
    users, items, times = users[order], items[order], times[order]
    del order

    user_width = len(str(n_users - 1))
    item_width = len(str(n_items - 1))
    # Rows are in time order, so timestamps of one digit count are contiguous: no zero padding.
    tens = 10 ** np.arange(1, 20, dtype=np.int64)
    breaks = np.searchsorted(times, tens[tens < times[-1]]) if len(times) else np.empty(0, np.int64)
    bounds = [0, *sorted({int(b) for b in breaks if 0 < b < len(times)}), len(times)]
    with path.open("wb") as handle:
        handle.write(HEADER)
        for seg_lo, seg_hi in zip(bounds[:-1], bounds[1:], strict=True):
            time_width = len(str(int(times[seg_lo])))
            line = user_width + 1 + item_width + 1 + time_width + 1
            for lo in range(seg_lo, seg_hi, chunk_rows):
                hi = min(lo + chunk_rows, seg_hi)
                block = np.empty((hi - lo, line), dtype=np.uint8)
                _digits(block, 0, users[lo:hi], user_width)
                block[:, user_width] = ord(",")
                _digits(block, user_width + 1, items[lo:hi], item_width)
                block[:, user_width + 1 + item_width] = ord(",")
                _digits(block, user_width + item_width + 2, times[lo:hi], time_width)
                block[:, -1] = ord("\n")
                handle.write(block.tobytes())
    per_user = np.bincount(users, minlength=n_users)
    per_item = np.bincount(items, minlength=n_items)
    return Shape(
        rows=len(users),
        users=int((per_user > 0).sum()),
        items=int((per_item > 0).sum()),
        max_user_rows=int(per_user.max()),
        median_user_rows=float(np.median(per_user[per_user > 0])),
        top_item_rows=int(per_item.max()),
        median_item_rows=float(np.median(per_item[per_item > 0])),
        items_with_rows=int((per_item > 0).sum()),
        csv_bytes=path.stat().st_size,
        seconds=time.perf_counter() - started,
    )
