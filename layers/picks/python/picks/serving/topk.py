"""The request path's ranking utilities: the ``k`` best of a score per item, softmax scores, and the
reused arrays (per thread) they work in.

``Ranked`` is what every serving model answers (``picks.serving.rankers.ServingModel``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Ranked:
    indices: np.ndarray  # item indices, best first
    scores: np.ndarray  # float, aligned with indices


class _Scratch(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[tuple[str, np.dtype[Any]], np.ndarray] = {}


_scratch = _Scratch()


def scratch_array(purpose: str, size: int, dtype: Any) -> np.ndarray:
    """A reused array of ``size`` ``dtype`` entries (its contents undefined), one per purpose and
    thread, grown to the largest size asked for.

    The request path works on arrays as long as the catalogue; allocated afresh each time, they
    come from fresh memory (page faults), which is slow where the host takes freed memory back.
    Only the caller may use it, and only until it returns: never hand one out.
    """
    arrays = _scratch.arrays
    key = (purpose, np.dtype(dtype))
    array = arrays.get(key)
    if array is None or len(array) < size:
        array = arrays[key] = np.empty(size, dtype=dtype)
    return array[:size]


_INF_BITS = np.float32(np.inf).view(np.uint32)
# The best k of a row are looked for among the items that reach a threshold taken from every
# TOP_K_SAMPLE_STRIDE-th score (top_k, batch_ranking.top_k_rows)...
TOP_K_SAMPLE_STRIDE = 16
# ... unless more items than this reach it: then the row is ranked in full instead.
MAX_CANDIDATES = 4096


def zeroed_scratch_array(purpose: str, size: int, dtype: Any) -> np.ndarray:
    """``scratch_array``, all zeros when handed out; the caller leaves it all zeros again (zeroing
    what it wrote is cheaper than filling the whole array each time)."""
    arrays = _scratch.arrays
    key = (purpose, np.dtype(dtype))
    array = arrays.get(key)
    if array is None or len(array) < size:
        array = arrays[key] = np.zeros(size, dtype=dtype)
    return array[:size]


def _set_inf_where_not(values: np.ndarray, allowed: np.ndarray) -> None:
    """``values[~allowed] = inf`` for float32 ``values``, on the bits without a branch per item
    (a boolean mask as random as a filter's costs a mispredicted branch per few items):
    all ones where left out, then those bits flipped to +inf's."""
    bits = values.view(np.uint32)
    mask = scratch_array("top_k.mask", len(values), np.uint32)
    np.subtract(allowed, 1, out=mask, dtype=np.uint32)  # allowed: 0, left out: all ones
    np.bitwise_or(bits, mask, out=bits)
    np.bitwise_and(mask, ~_INF_BITS, out=mask)
    np.bitwise_xor(bits, mask, out=bits)


def top_k(
    scores: np.ndarray, k: int, excluded: np.ndarray | None = None, allowed: np.ndarray | None = None
) -> Ranked:
    """The ``k`` best-scoring items, skipping ``excluded`` indices and items not ``allowed``.

    Ranks ``-scores`` (as float32 when items are left out) with left-out items at +inf, in a reused
    array: ``scores`` is left as it is, and no catalogue-long array is allocated but the partition's.
    """
    marked = excluded is not None and len(excluded) > 0 or allowed is not None
    k = min(k, len(scores))
    if k <= 0:
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32))
    negated = scratch_array("top_k", len(scores), np.float32 if marked else scores.dtype)
    np.negative(scores, out=negated, dtype=negated.dtype)
    if excluded is not None and len(excluded):
        negated[excluded] = np.inf
    if allowed is not None:
        _set_inf_where_not(negated, allowed)
    order = _smallest_sampled(negated, k)
    if order is None:
        if k < len(scores):
            part = np.argpartition(negated, k - 1)[:k]
        else:
            part = np.arange(len(scores))
        order = part[np.argsort(negated[part], kind="stable")]
    best = order[np.isfinite(negated[order])]
    return Ranked(best, np.negative(negated[best]))


def _smallest_sampled(values: np.ndarray, k: int) -> np.ndarray | None:
    """The indices of the ``k`` smallest ``values``, smallest first, found without partitioning
    every item (``batch_ranking.top_k_rows``' way, for one row): every ``TOP_K_SAMPLE_STRIDE``-th
    value gives a threshold that at least ``k + 1`` items reach, and only those few are sorted.  None
    where that does not settle the answer — equal values among the first ``k + 1`` (which of them
    ``top_k``'s partition puts first is its own choice), no finite threshold, or too many
    candidates — and for catalogues too small to gain from it; ``top_k`` then partitions them all."""
    if len(values) < 8 * TOP_K_SAMPLE_STRIDE * (k + 1):
        return None
    sample = values[::TOP_K_SAMPLE_STRIDE]
    threshold = np.partition(sample, k)[k]
    if not np.isfinite(threshold):
        return None
    candidates = np.flatnonzero(values <= threshold)
    if len(candidates) < k + 1 or len(candidates) > MAX_CANDIDATES:
        return None
    chosen = values[candidates]
    first = np.argsort(chosen, kind="stable")[: k + 1]
    ordered = chosen[first]
    if not (ordered[1:] > ordered[:-1]).all():
        return None
    found: np.ndarray = candidates[first[:k]]
    return found


def softmax_normaliser(values: np.ndarray, temperature: float) -> tuple[Any, Any]:
    """(the largest of ``values``, the sum of every item's exponential): what ``softmax`` divides by.

    For float32 scores the exponentials are float32 and summed in float64: within 4e-8 of the
    float64 sum (measured on a 100k-item model; 17 of 7,500 top-25 scores moved in the 8th decimal
    they are rounded to), at under half the cost of float64 exponentials over the catalogue, which
    were the largest single step of a request after the matrix product.  ``(values - max) /
    temperature`` is computed in a reused array (``scratch_array``), exactly as ``softmax`` computes
    it for the items it answers."""
    top = values.max()
    if values.dtype not in (np.float32, np.float64):
        return top, np.exp((values - top) / temperature, dtype=np.float64).sum()
    shifted = scratch_array("softmax.shifted", len(values), values.dtype)
    np.subtract(values, top, out=shifted)
    np.divide(shifted, temperature, out=shifted)
    np.exp(shifted, out=shifted)
    return top, np.add.reduce(shifted, dtype=np.float64)


def softmax(
    values: np.ndarray,
    temperature: float,
    at: np.ndarray | None = None,
    normaliser: tuple[Any, Any] | None = None,
) -> np.ndarray:
    """Softmax of ``values`` at temperature ``temperature``; with ``at``, only those entries (the
    same numbers, without dividing every item's exponential by the sum), and with ``normaliser``
    (``softmax_normaliser(values, temperature)``, known already) without the exponentials of the others."""
    if at is None:
        exp = np.exp((values - values.max()) / temperature, dtype=np.float64)
        whole: np.ndarray = exp / exp.sum()
        return whole
    top, total = softmax_normaliser(values, temperature) if normaliser is None else normaliser
    probabilities: np.ndarray = np.exp((values[at] - top) / temperature, dtype=np.float64) / total
    return probabilities
