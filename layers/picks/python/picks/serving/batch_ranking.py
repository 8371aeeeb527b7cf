"""Offline batch ranking: what ``FactorModel.recommend`` answers, for many users at once.

The training job's evaluation ranks every holdout user through these (``training.evaluation``),
and batch inference will rank whole user files the same way; the runtime never calls them.
Numpy only, in the layer, beside the models whose answers they reproduce: every list here is the
list the request path (``picks.serving.rankers``) gives the same user, ties included
(tests/unit/test_batch_ranking.py, test_one_pass_ranking.py, test_factor_model.py).
Unqualified names in the docstrings (``recommend``, ``request_scores``, ``blended_scores``,
``popular``...) are ``FactorModel``'s; ``top_k`` is ``picks.serving.topk``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from picks.serving.exploration import explore
from picks.serving.repeats import COUNT_BUCKETS, lift_repeats
from picks.serving.topk import MAX_CANDIDATES, TOP_K_SAMPLE_STRIDE, Ranked, softmax, top_k

if TYPE_CHECKING:
    from collections.abc import Sequence

    from picks.serving.exploration import ExplorationConfig
    from picks.serving.rankers import FactorModel, SimsModel


# Called with a block's first row and its blended scores (rows × items), to change them in place
# before they are ranked (exploration).
BlockAdjustment = Callable[[int, np.ndarray], None]

# Users whose scores the batch paths finish together while they are in cache (normalised, blended
# with the recent items, thresholded).
BLOCK_ROWS = 4


def _argpartition_rows(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(part_scores, order, axis=1)), best, -1)


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``scores`` (users × items), ``top_k``'s answer: the ``k`` best item indices, best
    first, -1 where a score is not finite; exactly, ties included.

    ``top_k`` partitions the whole row.  Here every ``TOP_K_SAMPLE_STRIDE``-th item's score gives
    a threshold that at least ``k`` items reach, and only the few that do are sorted.  Where that
    sort finds two equal scores among the best ``k`` (or at the cut), which of them comes first is
    ``argpartition``'s choice, so such rows (and rows without ``k`` finite sampled scores) are
    ranked by ``top_k``'s own partition.
    """
    rows, n = scores.shape
    if rows == 0 or n < 8 * TOP_K_SAMPLE_STRIDE * k:
        return _argpartition_rows(scores, k)
    threshold = -np.partition(-scores[:, ::TOP_K_SAMPLE_STRIDE], k - 1, axis=1)[:, k - 1]
    exact = np.isfinite(threshold)
    found = np.flatnonzero(scores >= np.where(exact, threshold, np.inf)[:, None])
    row_of, item = np.divmod(found, n)
    value = scores.reshape(-1)[found]
    order = np.lexsort((-value, row_of))  # per row, best first
    item, value = item[order], value[order]
    counts = np.bincount(row_of, minlength=rows)
    starts = np.cumsum(counts) - counts
    out = np.full((rows, k), -1, dtype=np.int64)
    chosen = np.flatnonzero(exact)
    if len(chosen):
        positions = starts[chosen, None] + np.arange(k)
        best = value[positions]
        tied = (best[:, 1:] == best[:, :-1]).any(axis=1)
        cut = np.minimum(starts[chosen] + k, len(value) - 1)
        tied |= (counts[chosen] > k) & (value[cut] == best[:, -1])
        out[chosen] = item[positions]
        exact[chosen[tied]] = False
    redo = np.flatnonzero(~exact)
    if len(redo):
        out[redo] = _argpartition_rows(scores[redo], k)
    return out


def _marked(marks: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is one of ``keys`` (``marks``: all False, left so; covers both)."""
    if len(keys) == 0:
        return np.zeros(len(values), dtype=bool)
    marks[keys] = True
    found: np.ndarray = marks[values]
    marks[keys] = False
    return found


def _best_rows(
    items: np.ndarray,
    values: np.ndarray,
    rows_of: np.ndarray,
    rows: int,
    k: int,
    first_items: np.ndarray,
    first_values: np.ndarray,
    first_rows: np.ndarray,
    wanted: np.ndarray,
) -> np.ndarray:
    """Per row, its ``first_*`` items (best first) followed by its best other items (``items`` /
    ``values``, grouped by ascending row ``rows_of``), the first ``k`` of them — where the first
    ``k + 1`` values strictly decrease, so that the ``k`` best are unique (and ``top_k`` lists them
    in that order).  -1 for rows not ``wanted``, rows with fewer than ``k + 1`` other items or
    more than ``MAX_CANDIDATES``, at least ``k + 1`` first items, or equal values."""
    out = np.full((rows, k), -1, dtype=np.int64)
    counts = np.bincount(rows_of, minlength=rows)
    first_counts = np.bincount(first_rows, minlength=rows)
    wanted = wanted & (counts >= k + 1) & (counts <= MAX_CANDIDATES) & (first_counts < k + 1)
    chosen = np.flatnonzero(wanted)
    if len(chosen) == 0:
        return out
    starts = np.cumsum(counts) - counts
    keep = wanted[rows_of]
    slot = (np.cumsum(wanted) - 1)[rows_of[keep]]
    grid = np.full((len(chosen), int(counts[chosen].max())), -np.inf, dtype=np.float32)
    grid[slot, np.flatnonzero(keep) - starts[rows_of[keep]]] = values[keep]
    top = np.argpartition(-grid, k, axis=1)[:, : k + 1]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(grid, top, axis=1), axis=1), axis=1)
    best_items = items[starts[chosen, None] + top]
    best_values = np.take_along_axis(grid, top, axis=1)
    # The first items (few per row), best first, then the others.
    order = np.lexsort((-first_values, first_rows))
    first_items, first_values = first_items[order], first_values[order]
    first_starts = np.cumsum(first_counts) - first_counts
    lead = first_counts[chosen, None]
    column = np.arange(k + 1)
    from_first = column < lead
    at_first = np.minimum(first_starts[chosen, None] + column, max(len(first_items) - 1, 0))
    at_other = np.maximum(column - lead, 0)
    merged_items, merged_values = best_items, best_values
    if len(first_items):
        merged_items = np.where(
            from_first, first_items[at_first], np.take_along_axis(best_items, at_other, axis=1)
        )
        merged_values = np.where(
            from_first, first_values[at_first], np.take_along_axis(best_values, at_other, axis=1)
        )
    unique = (merged_values[:, 1:] < merged_values[:, :-1]).all(axis=1)
    unique &= np.isfinite(merged_values).all(axis=1)
    out[chosen[unique]] = merged_items[unique, :k]
    return out


def repeat_candidates_rows(
    model: FactorModel, lasts: list[np.ndarray], last_types: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``repeat_candidates`` for many users at once (the same items and chances, in the same order)."""
    empty = (np.empty(0, np.int64), np.empty(0, np.float32))
    if model.repeats is None or not lasts:
        return [empty] * len(lasts)
    table = model.repeats.probability
    window = table.shape[0]
    lengths = np.minimum([len(last) for last in lasts], window)
    width = int(lengths.max()) if len(lengths) else 0
    if width == 0:
        return [empty] * len(lasts)
    present = np.arange(width) < lengths[:, None]
    items = np.full((len(lasts), width), -1, dtype=np.int64)
    types = np.zeros((len(lasts), width), dtype=np.int64)
    items[present] = np.concatenate([np.asarray(last[:window], dtype=np.int64) for last in lasts])
    types[present] = np.concatenate([np.asarray(t[:window], dtype=np.int64) for t in last_types])
    same = (items[:, :, None] == items[:, None, :]) & present[:, :, None] & present[:, None, :]
    # An item's newest interaction (distinct_recent's first occurrence), its distinct position,
    # the number of its interactions in the window.
    newest = present & ~np.tril(same, k=-1).any(axis=2)
    position = np.cumsum(newest, axis=1) - 1
    count = np.minimum(same.sum(axis=2), COUNT_BUCKETS) - 1
    latest = np.minimum(types, table.shape[1] - 1)
    chance = table[np.minimum(position, window - 1), latest, np.maximum(count, 0)]
    keep = newest & (chance > model.repeats.threshold)
    row, column = np.nonzero(keep)  # row by row, newest first
    order = np.lexsort((column, -chance[row, column], row))  # per row: most likely first, then newest
    row, column = row[order], column[order]
    kept_items, kept_chances = items[row, column], chance[row, column]
    ends = np.cumsum(np.bincount(row, minlength=len(lasts))).tolist()
    out, start = [], 0
    for end in ends:
        out.append((kept_items[start:end], kept_chances[start:end]) if end > start else empty)
        start = end
    return out


def recommend_sequences(
    model: FactorModel,
    sequences: list[np.ndarray],
    k: int,
    types: list[np.ndarray] | None = None,
    batch: int = 512,
) -> np.ndarray:
    """Top-``k`` item indices (-1 pads) for users known only by chronological item sequences.

    What ``recommend(None, k, recent=...)`` returns for each, computed in bulk for offline work
    (``rank_sequences`` with the model's own exclusion setting).
    """
    return rank_sequences(model, sequences, k, types, (model.exclude_history,), batch)[0]


def rank_sequences(
    model: FactorModel,
    sequences: list[np.ndarray],
    k: int,
    types: list[np.ndarray] | None = None,
    excludes: Sequence[bool] = (True, False),
    batch: int = 512,
) -> list[np.ndarray]:
    """``recommend_sequences``' answer once per setting of ``excludes`` (True: the user's history
    left out), from one scoring pass: only the ranking depends on the setting.

    The user vectors are folded in one by one, the factor scores of a chunk of users come from
    one matrix product, and the rest of ``blended_scores`` is added for the chunk at once.
    """
    outs = [np.full((len(sequences), k), -1, dtype=np.int64) for _ in excludes]
    empty = np.empty(0, np.int64)
    buffers: list[np.ndarray] = []
    for start in range(0, len(sequences), batch):
        chunk = sequences[start : start + batch]
        vectors = np.zeros((len(chunk), model.factors), dtype=np.float32)
        seen: list[np.ndarray] = []
        for row, sequence in enumerate(chunk):
            items = empty
            if len(sequence):
                items, weights = model.sequence_confidence(
                    sequence, None if types is None else types[start + row]
                )
                vectors[row] = model.fold_in(items, weights)
            seen.append(items)
        has_vector = np.array([len(sequence) > 0 for sequence in chunk], dtype=bool)
        raw = _factor_scores(model, vectors, buffers)
        lasts = [sequence[::-1][: model.recent_window] for sequence in chunk]
        if types is None:
            last_types = [np.full(len(last), model._unknown_type, dtype=np.int64) for last in lasts]
        else:
            last_types = [np.asarray(t)[::-1][: model.recent_window] for t in types[start : start + batch]]
        repeats = repeat_candidates_rows(model, lasts, last_types)
        ranked = _rank_rows(model, raw, has_vector, lasts, seen, k, repeats, excludes, buffers)
        for out, rows in zip(outs, ranked, strict=True):
            out[start : start + len(chunk)] = rows
    return outs


def recommend_known_users(
    model: FactorModel, users: np.ndarray, k: int, batch: int = 512, exclude: bool | None = None
) -> np.ndarray:
    """Top-``k`` item indices (-1 pads) per known user index, as ``recommend`` orders them
    (``exclude``: with or without the user's history left out; None: as the model says)."""
    exclude = model.exclude_history if exclude is None else exclude
    return rank_known_users(model, users, k, (exclude,), batch)[0]


def rank_known_users(
    model: FactorModel,
    users: np.ndarray,
    k: int,
    excludes: Sequence[bool] = (True, False),
    batch: int = 512,
) -> list[np.ndarray]:
    """``recommend_known_users``' answer once per setting of ``excludes`` (True: the user's history
    left out), from one scoring pass: only the ranking depends on the setting."""
    outs = [np.full((len(users), k), -1, dtype=np.int64) for _ in excludes]
    buffers: list[np.ndarray] = []
    for start in range(0, len(users), batch):
        chunk = np.asarray(users[start : start + batch])
        raw = _factor_scores(model, model.user_factors[chunk], buffers)
        lasts = [model.stored_recent(user) for user in chunk.tolist()]
        seen = [model.history_items_of(user) for user in chunk.tolist()]
        last_types = [
            model.stored_recent_types(user, len(last))
            for user, last in zip(chunk.tolist(), lasts, strict=True)
        ]
        repeats = repeat_candidates_rows(model, lasts, last_types)
        ranked = _rank_rows(
            model, raw, np.ones(len(chunk), dtype=bool), lasts, seen, k, repeats, excludes, buffers
        )
        for out, rows in zip(outs, ranked, strict=True):
            out[start : start + len(chunk)] = rows
    return outs


def _factor_scores(model: FactorModel, vectors: np.ndarray, buffers: list[np.ndarray]) -> np.ndarray:
    """Raw factor scores for many user vectors at once (one row per vector), by one product.

    Written into ``buffers[0]`` (allocated on the first chunk, reused by the next ones: fresh
    memory for a chunk of users × items costs more than the product itself).
    """
    if not buffers or len(buffers[0]) < len(vectors):
        buffers[:] = [np.empty((len(vectors), model.item_count), dtype=np.float32)]
    return np.matmul(vectors, model.item_factors.T, out=buffers[0][: len(vectors)])


def _normalise_rows(raw: np.ndarray) -> None:
    """``blended_scores``' factor part, in place: each row divided by its largest |score| (if not 0)."""
    peak = np.maximum(raw.max(axis=1), -raw.min(axis=1))[:, None]  # max |raw|, without an |raw| copy
    if (peak > 0).all():
        np.divide(raw, peak, out=raw)
    else:
        np.divide(raw, peak, out=raw, where=peak > 0)


def _recent_entries(
    model: FactorModel, has_vector: np.ndarray, lasts: list[np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The recent-item part of ``blended_scores`` for a chunk's rows with a vector, unsummed:
    (keys ``row % BLOCK_ROWS * n + item`` into a block's scratch, float32 contributions, per-row
    bounds into both).

    Row by row, each of the last items' neighbours in position order, as ``_neighbor_scores``
    adds them, with the same float32 values; a missing neighbour (-1) adds 0 to some key of the
    block (which leaves any sum as it is).
    """
    lengths = np.array([len(last) for last in lasts], dtype=np.int64)
    rows = np.flatnonzero(has_vector & (lengths > 0)) if model.recent_weight else np.empty(0, np.int64)
    if len(rows) == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32), [0] * (len(lasts) + 1)
    items = np.concatenate([lasts[row] for row in rows.tolist()]).astype(np.int64, copy=False)
    row_of = np.repeat(rows, lengths[rows])
    position = np.arange(len(items)) - np.repeat(np.cumsum(lengths[rows]) - lengths[rows], lengths[rows])
    decay = model._recent_decays(int(lengths.max()))
    assert model.neighbors is not None and model.neighbor_scores is not None  # else recent_weight is 0
    neighbors = model.neighbors[items]  # recent items × neighbours
    keys = (row_of % BLOCK_ROWS)[:, None] * n + neighbors
    values = model.neighbor_scores[items] * decay[position][:, None]
    missing = neighbors < 0
    if missing.any():
        values[missing] = 0.0
    counts = np.zeros(len(lasts), dtype=np.int64)
    counts[rows] = lengths[rows] * neighbors.shape[1]
    return keys.reshape(-1), values.reshape(-1), [0, *np.cumsum(counts).tolist()]


def _add_recent(
    model: FactorModel, block: np.ndarray, keys: np.ndarray, values: np.ndarray, scratch: np.ndarray
) -> None:
    """Adds ``blended_scores``' recent-item part to a block of rows: the block's
    ``_recent_entries`` ``keys`` / ``values`` are summed into ``scratch`` (``BLOCK_ROWS`` × items,
    zero and left zero; small enough to stay in cache) — the same float32 operations as
    ``_neighbor_scores`` and ``blended_scores`` on every item, so the same values."""
    np.add.at(scratch, keys, values)  # per item in the order given: the positions' order
    near = scratch.reshape(BLOCK_ROWS, -1)[: len(block)]
    peak = near.max(axis=1)
    on = peak > 0  # blended_scores leaves the recent part out otherwise
    weight = np.float32(model.recent_weight)
    if on.all():
        if weight != 1:  # (× 1 changes nothing)
            np.multiply(near, weight, out=near)
        np.divide(near, peak[:, None], out=near)
        np.add(block, near, out=block)
    elif on.any():
        rows = np.flatnonzero(on)
        block[rows] += (weight * near[rows]) / peak[rows, None]
    near.fill(0.0)


@dataclass(frozen=True)
class _Chunk:
    """A chunk's rows, scored, with their candidates: what ranking it under each setting reads.

    Keys are flat positions ``row * n + item`` in ``raw``.
    """

    raw: np.ndarray  # the rows' blended scores (users × items)
    seen: list[np.ndarray]  # per row, the history left out where a setting says so
    repeats: list[tuple[np.ndarray, np.ndarray]]  # per row, the repeat candidates (items, chances)
    found: np.ndarray  # keys of the items at or above their row's threshold
    value: np.ndarray  # their scores
    found_rows: np.ndarray  # their rows
    in_seen: np.ndarray  # whether each found item is in its row's history
    in_lift: np.ndarray  # whether each found item is a repeat candidate of its row
    lift_rows: np.ndarray  # every repeat candidate's row, row by row
    lift_keys: np.ndarray  # its key
    lift_chances: np.ndarray  # its chance
    slow: np.ndarray  # rows ranked in full (their candidates may not suffice)
    popular_rows: list[int]  # rows with no score at all


def _rank_rows(
    model: FactorModel,
    raw: np.ndarray,
    has_vector: np.ndarray,
    lasts: list[np.ndarray],
    seen: list[np.ndarray],
    k: int,
    repeats: list[tuple[np.ndarray, np.ndarray]],
    excludes: Sequence[bool],
    buffers: list[np.ndarray],
    adjust: BlockAdjustment | None = None,
) -> list[np.ndarray]:
    """Per row of ``raw`` (raw factor scores, used where ``has_vector``) and per setting of
    ``excludes``: what ``recommend`` ranks for that user — the normalised factor scores plus the
    recent-item part of ``blended_scores``, ``seen`` left out where the setting says so, the
    repeat candidates lifted as ``request_scores`` lifts them, the top ``k`` as ``top_k`` orders
    them; a row with no score at all gets ``popular``.  -1 pads.

    Rows are scored a block at a time (``BLOCK_ROWS``, so that they stay in cache), once for
    every setting.  Where a list's top ``k`` is unique (no equal scores among them or at the
    cut) it is the ``k`` best sorted, found among the items at or above a threshold that at
    least ``k + 1`` items of the list reach (from every ``TOP_K_SAMPLE_STRIDE``-th item's
    score); otherwise the row's scores are written out in full and ranked by
    ``_argpartition_rows``, as ``top_k_rows`` ranks such rows.  So every path gives the same lists.
    """
    rows, n = raw.shape
    outs = [np.full((rows, k), -1, dtype=np.int64) for _ in excludes]
    kk = min(k, n)
    if rows == 0 or kk <= 0:
        return outs
    if len(buffers) < 3 or buffers[2].size != buffers[0].size:
        buffers[1:] = [np.zeros(BLOCK_ROWS * n, dtype=np.float32), np.zeros(buffers[0].size, dtype=bool)]
    scratch, marks, flat = buffers[1], buffers[2], raw.reshape(-1)
    lift_rows, lift_keys, lift_chances = _lift_keys(repeats, rows, n)
    seen_keys = _seen_keys(seen, rows, n) if any(excludes) else np.empty(0, np.int64)
    found, slow = _candidates(model, raw, has_vector, lasts, k, (seen_keys, lift_keys), scratch, adjust)
    popular_rows = _score_rows_without_vector(model, raw, has_vector, lasts)
    chunk = _Chunk(
        raw,
        seen,
        repeats,
        found,
        flat[found],
        found // n,
        _marked(marks, seen_keys, found),
        _marked(marks, lift_keys, found),
        lift_rows,
        lift_keys,
        lift_chances,
        slow,
        popular_rows,
    )
    for out, exclude in zip(outs, excludes, strict=True):
        _rank_setting(model, chunk, exclude, k, kk, out)
    return outs


def _lift_keys(
    repeats: list[tuple[np.ndarray, np.ndarray]], rows: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, key, chance) of every repeat candidate, row by row."""
    lift_counts = np.array([len(repeat[0]) for repeat in repeats], dtype=np.int64)
    lift_rows = np.repeat(np.arange(rows), lift_counts)
    lift_keys, lift_chances = lift_rows * n, np.empty(0, np.float32)
    if len(lift_rows):
        lift_keys = lift_keys + np.concatenate([repeat[0] for repeat in repeats])
        lift_chances = np.concatenate([repeat[1] for repeat in repeats])
    return lift_rows, lift_keys, lift_chances


def _seen_keys(seen: list[np.ndarray], rows: int, n: int) -> np.ndarray:
    """The keys of every row's history items, row by row."""
    seen_keys = np.repeat(np.arange(rows) * n, [len(items) for items in seen])
    if len(seen_keys):
        seen_keys = seen_keys + np.concatenate(seen)
    return seen_keys


def _candidates(
    model: FactorModel,
    raw: np.ndarray,
    has_vector: np.ndarray,
    lasts: list[np.ndarray],
    k: int,
    left_out: tuple[np.ndarray, np.ndarray],
    scratch: np.ndarray,
    adjust: BlockAdjustment | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``raw`` in place a block at a time (normalised, the recent items' part added) and
    finds each row's candidates: (the keys of its items at or above its threshold, whether a row
    is ranked in full instead).  ``left_out``: keys of items no threshold is sampled from."""
    rows, n = raw.shape
    kk = min(k, n)
    keys, values, bounds = _recent_entries(model, has_vector, lasts, n)
    # The threshold: the (k+1)-th best sampled score among items neither left out nor lifted, so
    # that at least k+1 of a list's other items are likely to reach it.  _best_rows checks that
    # they do: then every item below it ranks below all of them, and the candidates suffice.
    stride = TOP_K_SAMPLE_STRIDE if n >= 8 * TOP_K_SAMPLE_STRIDE * k else 1
    sampled = len(range(0, n, stride)) > kk
    slow = ~has_vector
    unsampled = np.zeros((rows, len(range(0, n, stride))), dtype=bool)
    for key in left_out:
        item = key % n
        on = item % stride == 0
        unsampled[key[on] // n, item[on] // stride] = True
    found_parts = []
    for first in range(0, rows, BLOCK_ROWS):
        end = min(rows, first + BLOCK_ROWS)
        block = raw[first:end]
        _normalise_rows(block)
        lo, hi = bounds[first], bounds[end]
        if hi > lo:
            _add_recent(model, block, keys[lo:hi], values[lo:hi], scratch)
        if adjust is not None:
            adjust(first, block)
        if sampled:
            sample = block[:, ::stride].copy()
            sample[unsampled[first:end]] = -np.inf
            threshold = -np.partition(-sample, kk, axis=1)[:, kk]
            block_slow = slow[first:end]
            block_slow |= ~np.isfinite(threshold)
            threshold[block_slow] = np.inf
            found_parts.append(np.flatnonzero(block >= threshold[:, None]) + first * n)
    if not sampled:
        slow[:] = True
    found = np.concatenate(found_parts) if found_parts else np.empty(0, np.int64)
    return found, slow


def _score_rows_without_vector(
    model: FactorModel, raw: np.ndarray, has_vector: np.ndarray, lasts: list[np.ndarray]
) -> list[int]:
    """Rows without a vector get the recent items' share alone, in ``raw``; the rows without
    even that (ranked by ``popular``) are returned."""
    popular_rows = []
    for row in np.flatnonzero(~has_vector).tolist():
        near = model.blended_scores(None, lasts[row])
        if near is None:
            popular_rows.append(row)
        else:
            raw[row] = near
    return popular_rows


def _full_row(chunk: _Chunk, row: int, exclude: bool) -> np.ndarray:
    """The row's scores written out in full: its history at -inf where ``exclude``, repeats lifted."""
    score = chunk.raw[row].copy()
    if exclude and len(chunk.seen[row]):
        score[chunk.seen[row]] = -np.inf
    repeats = chunk.repeats[row]
    return lift_repeats(score, repeats) if len(repeats[0]) else score


def _rank_setting(model: FactorModel, chunk: _Chunk, exclude: bool, k: int, kk: int, out: np.ndarray) -> None:
    """The chunk's lists with its history left out (``exclude``) or kept, into ``out``."""
    rows = len(out)
    n = chunk.raw.shape[1]
    counted = ~chunk.in_seen if exclude else np.ones(len(chunk.found), dtype=bool)
    # lift_repeats' ceiling: the best score left after the exclusion, lifted items included
    # (a candidate wherever the candidates suffice).
    ceiling = np.full(rows, -np.inf, dtype=np.float32)
    np.maximum.at(ceiling, chunk.found_rows[counted], chunk.value[counted])
    # lift_repeats' float(ceiling) + 1.0 + chance: a Python float, then float32 with the chances.
    lift_values = (ceiling[chunk.lift_rows].astype(np.float64) + 1.0).astype(np.float32) + chunk.lift_chances
    others = counted & ~chunk.in_lift
    ranked = _best_rows(
        chunk.found[others] % n,
        chunk.value[others],
        chunk.found_rows[others],
        rows,
        kk,
        chunk.lift_keys % n,
        lift_values,
        chunk.lift_rows,
        ~chunk.slow,
    )
    done = np.flatnonzero(ranked[:, 0] >= 0)
    out[done, :kk] = ranked[done]
    redo = np.ones(rows, dtype=bool)
    redo[done] = False
    redo[chunk.popular_rows] = False
    for row in np.flatnonzero(redo).tolist():
        out[row, :kk] = _argpartition_rows(_full_row(chunk, row, exclude)[None], kk)[0]
    for row in chunk.popular_rows:
        ranked_row = model.popular(k, chunk.seen[row] if exclude else None)
        out[row, : len(ranked_row.indices)] = ranked_row.indices


# --- batch inference: answers with their scores --------------------------------------------------

# Users a batch-inference block scores together: their rows of scores (users × items, float32) are
# the block's working memory, whatever the input's size.
INFERENCE_BLOCK_ROWS = 256


def user_factor_scores(model: FactorModel, users: np.ndarray, buffers: list[np.ndarray]) -> np.ndarray:
    """Raw factor scores of known users (indices), one row each, computed as ``blended_scores``
    computes them for one user: ``item_factors @ vector``, a matrix-vector product per user.

    Not one matrix-matrix product for the block: BLAS sums a GEMM's terms in another order than a
    GEMV's, so a block product differs from the request path's in the last bits of every score,
    and after the normalisation and the softmax, in the 8th decimal of every score a
    GetRecommendations answer shows.  Written into ``buffers[0]`` as ``_factor_scores`` writes.
    """
    if not buffers or len(buffers[0]) < len(users):
        buffers[:] = [np.empty((len(users), model.item_count), dtype=np.float32)]
    raw = buffers[0][: len(users)]
    factors, vectors = model.item_factors, model.user_factors
    for row, user in enumerate(users.tolist()):
        np.matmul(factors, vectors[user], out=raw[row])
    return raw


def recommend_users(
    model: FactorModel,
    users: Sequence[int | None],
    k: int,
    allowed: Sequence[np.ndarray | None] | None = None,
    batch: int = INFERENCE_BLOCK_ROWS,
    exploration: ExplorationConfig | None = None,
) -> list[Ranked]:
    """``recommend(user_id, k, allowed=...)``'s answer for each user — the items and their softmax
    scores, the same to the bit — without real-time events, as batch inference asks: ``users``
    are user indices (None: a user the model does not know, who gets ``popular``), ``allowed`` a
    filter's mask per user (None: no filter).

    Known users are scored ``batch`` at a time (``user_factor_scores``, then ``_rank_rows``'
    blending and thresholded ranking in place); a row whose list a filter or a repeat candidate
    shapes is ranked by ``recommend`` itself on the block's scores for it (``scored``), the others
    take ``_rank_rows``' list, and every row's scores are ``softmax`` over its own scores.
    ``exploration``: the job's itemExplorationConfig; where it changes the model's scores
    (``picks.serving.exploration``), every row is explored and ranked as a GetRecommendations
    request with that configuration is.
    """
    masks: Sequence[np.ndarray | None] = [None] * len(users) if allowed is None else allowed
    out: list[Ranked | None] = [None] * len(users)
    known: list[int] = []
    for row, user in enumerate(users):
        if user is None:
            out[row] = model.popular(k, np.empty(0, np.int64), masks[row])
        else:
            known.append(row)
    buffers: list[np.ndarray] = []
    for start in range(0, len(known), batch):
        rows = known[start : start + batch]
        block = np.array([users[row] for row in rows], dtype=np.int64)
        ranked = _recommend_block(model, block, k, [masks[row] for row in rows], buffers, exploration)
        for row, answer in zip(rows, ranked, strict=True):
            out[row] = answer
    return [answer for answer in out if answer is not None]


def _recommend_block(
    model: FactorModel,
    users: np.ndarray,
    k: int,
    masks: list[np.ndarray | None],
    buffers: list[np.ndarray],
    exploration: ExplorationConfig | None = None,
) -> list[Ranked]:
    raw = user_factor_scores(model, users, buffers)
    lasts = [model.stored_recent(user) for user in users.tolist()]
    seen = [model.history_items_of(user) for user in users.tolist()]
    last_types = [
        model.stored_recent_types(user, len(last)) for user, last in zip(users.tolist(), lasts, strict=True)
    ]
    repeats = repeat_candidates_rows(model, lasts, last_types)
    none = [(np.empty(0, np.int64), np.empty(0, np.float32))] * len(users)
    exclude = model.exclude_history
    plain = [mask is None and len(repeat[0]) == 0 for mask, repeat in zip(masks, repeats, strict=True)]
    explores = _explores(model, exploration)
    # Blends ``raw`` in place (each row is then ``blended_scores``' answer for its user, explored
    # where no filter or repeat shapes it) and ranks every row as if none did; the rows that are so
    # shaped are ranked again (explored after their repeats are lifted, as ``recommend_request``).
    adjust = _exploring_rows(model, exploration, users, plain) if explores and exploration else None
    lists = _rank_rows(
        model, raw, np.ones(len(users), dtype=bool), lasts, seen, k, none, (exclude,), buffers, adjust
    )[0]
    temperature, empty = model.temperature, np.empty(0, np.int64)
    answers = []
    for row, (score, mask, repeat) in enumerate(zip(raw, masks, repeats, strict=True)):
        if plain[row]:
            indices = lists[row][lists[row] >= 0]
            answers.append(Ranked(indices, softmax(score, temperature, indices)))
        else:
            scored = model._with_repeats(score, seen[row] if exclude else empty, repeat)
            if explores:
                scored = explore(model.evidence, exploration, str(model.user_ids[users[row]]), scored)
            answers.append(model.recommend(None, k, allowed=mask, scored=scored))
    return answers


def _exploring_rows(
    model: FactorModel, exploration: ExplorationConfig, users: np.ndarray, rows: list[bool]
) -> BlockAdjustment:
    """The block adjustment exploring the blended scores of the ``rows`` chosen (``users``: each
    row's user index), as ``explore`` explores one request's."""
    assert model.evidence is not None  # _explores checked
    explorer, ids = model.evidence.explorer(exploration), model.user_ids

    def adjust(first: int, block: np.ndarray) -> None:
        for offset in range(len(block)):
            if rows[first + offset]:
                explorer.apply(block[offset], str(ids[users[first + offset]]))

    return adjust


def _explores(model: FactorModel, exploration: ExplorationConfig | None) -> bool:
    """Whether ``exploration`` changes any of the model's scores."""
    if model.evidence is None or exploration is None:
        return False
    return not model.evidence.explorer(exploration).changes_nothing


def related_to_history(
    model: SimsModel, history: np.ndarray, k: int, window: int = 20, decay: float = 0.95
) -> Ranked:
    """Items related to a user's history (item indices, oldest first), the newest weighing most.

    Neighbour scores of the last ``window`` items summed with weights ``decay**age``; items in
    the history are left out.  Offline evaluation gives SIMS a user's history this way.
    """
    score = np.zeros(model.item_count, dtype=np.float32)
    for age, item in enumerate(history[::-1][:window].tolist()):
        row = model.neighbors[item]
        valid = row >= 0
        np.add.at(score, row[valid], model.neighbor_scores[item][valid] * decay**age)
    if not score.any():
        return model.popular(k, history)
    return top_k(score, k, history)
