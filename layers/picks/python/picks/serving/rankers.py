"""Serving-side models: numpy arrays in, ranked item indices and scores out.

One class per recipe type, each built from a ``ModelArtifact``.  The training job evaluates
its holdout through these very classes, so offline metrics measure what the runtime serves.

Arrays every model has: ``popularity`` (float32 per item, the fallback for unknown users/items).
``FactorModel`` (USER_PERSONALIZATION, PERSONALIZED_RANKING): ``item_factors``, ``user_factors``,
``gram`` (YᵀY), and the users' training history as CSR (``history_indptr``, ``history_items``,
``history_confidence``).  ``SimsModel`` (RELATED_ITEMS): ``neighbors`` / ``neighbor_scores``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from picks.serving.repeats import COUNT_BUCKETS, RepeatTable, lift_repeats

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from picks.model_artifact import ModelArtifact


@dataclass(frozen=True)
class Ranked:
    indices: np.ndarray  # item indices, best first
    scores: np.ndarray  # float, aligned with indices


class _Scratch(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[tuple[str, np.dtype[Any]], np.ndarray] = {}


_scratch = _Scratch()


def _scratch_array(purpose: str, size: int, dtype: Any) -> np.ndarray:
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


def _zeroed_scratch_array(purpose: str, size: int, dtype: Any) -> np.ndarray:
    """``_scratch_array``, all zeros when handed out; the caller leaves it all zeros again (zeroing
    what it wrote is cheaper than filling the whole array each time)."""
    arrays = _scratch.arrays
    key = (purpose, np.dtype(dtype))
    array = arrays.get(key)
    if array is None or len(array) < size:
        array = arrays[key] = np.zeros(size, dtype=dtype)
    return array[:size]


# FactorModel.recommend's last (scored, temperature, softmax_normaliser) in this thread.
_last_normaliser = threading.local()
_INF_BITS = np.float32(np.inf).view(np.uint32)


def _set_inf_where_not(values: np.ndarray, allowed: np.ndarray) -> None:
    """``values[~allowed] = inf`` for float32 ``values``, on the bits without a branch per item
    (a boolean mask as random as a filter's costs a mispredicted branch per few items):
    all ones where left out, then those bits flipped to +inf's."""
    bits = values.view(np.uint32)
    mask = _scratch_array("top_k.mask", len(values), np.uint32)
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
    negated = _scratch_array("top_k", len(scores), np.float32 if marked else scores.dtype)
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
    every item (``top_k_rows``' way, for one row): every ``TOP_K_SAMPLE_STRIDE``-th value gives a
    threshold that at least ``k + 1`` items reach, and only those few are sorted.  None where that
    does not settle the answer — equal values among the first ``k + 1`` (which of them ``top_k``'s
    partition puts first is its own choice), no finite threshold, or too many candidates — and for
    catalogues too small to gain from it; ``top_k`` then partitions them all."""
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


TOP_K_SAMPLE_STRIDE = 16
# Users whose scores the batch paths finish together while they are in cache (normalised, blended
# with the recent items, thresholded).
BLOCK_ROWS = 4
# A batch-path row whose threshold lets more items through than this is ranked in full instead.
MAX_CANDIDATES = 4096


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


def softmax_normaliser(values: np.ndarray, temperature: float) -> tuple[Any, Any]:
    """(the largest of ``values``, the sum of every item's exponential): what ``softmax`` divides by.

    ``(values - max) / temperature`` and its float64 exponential are computed in reused arrays
    (``_scratch_array``): the same operations, so the same numbers, as with fresh ones."""
    top = values.max()
    if values.dtype not in (np.float32, np.float64):
        return top, np.exp((values - top) / temperature, dtype=np.float64).sum()
    shifted = _scratch_array("softmax.shifted", len(values), values.dtype)
    np.subtract(values, top, out=shifted)
    np.divide(shifted, temperature, out=shifted)
    exp = np.exp(shifted, out=_scratch_array("softmax.exp", len(values), np.float64), dtype=np.float64)
    return top, exp.sum()


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


@dataclass(frozen=True)
class EventRule:
    """Which interactions a model trained on, and their weights, as a rule on one event: the
    solution's ``eventType``, ``eventValueThreshold`` and ``eventsConfig`` exactly as
    ``training.data._event_filter`` applies them to the training rows (event types compared
    lower-cased, a missing value below every threshold; ``training.data.event_rule`` writes it into
    the model's ``info["eventRule"]``).  Fold-in applies it to real-time events, so an event counts
    in the user's vector, their seen items and recent items as the same row counts in training."""

    event_type: str | None = None  # lower-cased: only this type
    min_value: float | None = None  # eventValueThreshold: events below it are left out
    # eventsConfig: (lower-cased type, weight, value threshold or None); an event's weight is the
    # largest of the entries it meets, 0 (left out) when it meets none.
    parameters: tuple[tuple[str, float, float | None], ...] | None = None

    @classmethod
    def from_info(cls, rule: dict[str, Any] | None) -> EventRule | None:
        if not rule:
            return None
        parameters = rule.get("parameters")
        return cls(
            rule.get("eventType"),
            rule.get("minValue"),
            None
            if parameters is None
            else tuple((str(t), float(w), None if v is None else float(v)) for t, w, v in parameters),
        )

    def weight(self, event_type: str | None, value: float | None) -> float:
        """The event's weight in training (0: training leaves such an event out)."""
        kind = None if event_type is None else str(event_type).lower()
        number = -np.inf if value is None or not np.isfinite(value) else float(value)
        if self.event_type is not None and kind != self.event_type:
            return 0.0
        if self.min_value is not None and number < self.min_value:
            return 0.0
        if self.parameters is None:
            return 1.0
        return max(
            (w for t, w, v in self.parameters if t == kind and (v is None or number >= v)), default=0.0
        )

    def type_weight(self, event_type: str | None) -> float:
        """The weight of an event of this type that training keeps (its value already checked:
        fold-in sees types, not values).  Exact with one eventsConfig entry per type; with several
        entries of one type at different thresholds, the largest of their weights."""
        if self.parameters is None:
            return 1.0
        kind = None if event_type is None else str(event_type).lower()
        return max((w for t, w, _ in self.parameters if t == kind), default=0.0)


class ServingModel:
    """What every model answers: ids ↔ indices and the popularity fallback."""

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self.recipe = artifact.recipe
        self.recipe_type = artifact.recipe_type
        self.item_ids = artifact.item_ids
        self.user_ids = artifact.user_ids
        self.popularity = artifact.arrays["popularity"].astype(np.float32)
        self.info = artifact.info
        self.event_rule = EventRule.from_info(self.info.get("eventRule"))

    def trains_on(self, event_type: str | None, value: float | None) -> bool:
        """Whether training would keep this interaction (the solution's eventType / thresholds)."""
        return self.event_rule is None or self.event_rule.weight(event_type, value) > 0

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {item: index for index, item in enumerate(self.item_ids.tolist())}

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {user: index for index, user in enumerate(self.user_ids.tolist())}

    @cached_property
    def popular_order(self) -> np.ndarray:
        return np.argsort(-self.popularity, kind="stable")

    @property
    def item_count(self) -> int:
        return len(self.item_ids)

    @cached_property
    def _filter_users(self) -> dict[str, int]:
        users = self.artifact.strings.get("filter_users")
        return {} if users is None else {user: i for i, user in enumerate(users.tolist())}

    def interaction_history(self, user_id: str | None) -> dict[str, np.ndarray]:
        """The user's interactions in the training data, by lower-cased event type (item indices,
        newest first) — what interaction filters see before real-time events are added."""
        user = self._filter_users.get(user_id) if user_id is not None else None
        if user is None:
            return {}
        arrays = self.artifact.arrays
        lo, hi = arrays["filter_indptr"][user], arrays["filter_indptr"][user + 1]
        items = arrays["filter_items"][lo:hi].astype(np.int64)
        names = self.artifact.strings["filter_event_types"]
        if "filter_types" not in arrays:  # one event type (or none): training.history stores no codes
            return {str(names[0]): items} if len(items) else {}
        types = arrays["filter_types"][lo:hi]
        return {str(names[t]): items[types == t] for t in np.unique(types).tolist()}

    def indices_of(self, item_ids: Iterable[str]) -> np.ndarray:
        index = self.item_index
        return np.fromiter((index[i] for i in item_ids if i in index), dtype=np.int64)

    @cached_property
    def popularity_share(self) -> np.ndarray:
        """Popularity as a share of all interactions: scores on Personalize's 0..1 scale."""
        total = float(self.popularity.sum())
        return self.popularity / total if total > 0 else self.popularity

    def popular(
        self, k: int, excluded: np.ndarray | None = None, allowed: np.ndarray | None = None
    ) -> Ranked:
        """The ``k`` most popular items (ties: lower index first, on every path)."""
        order = self.popular_order
        if (excluded is not None and len(excluded)) or allowed is not None:
            keep = np.ones(self.item_count, dtype=bool) if allowed is None else allowed.copy()
            if excluded is not None and len(excluded):
                keep[excluded] = False
            order = order[keep[order]]
        order = order[:k]
        return Ranked(order, self.popularity_share[order])


class PopularityModel(ServingModel):
    """aws-popularity-count: one list for everyone, most popular first."""

    def recommend(
        self, k: int, excluded: np.ndarray | None = None, allowed: np.ndarray | None = None
    ) -> Ranked:
        return self.popular(k, excluded, allowed)


def recency_weights(count: int, ramp: float) -> np.ndarray:
    """Weights of a user's interactions in time order: 1 for the oldest up to ``1 + ramp`` for the newest."""
    return 1.0 + ramp * np.arange(count) / max(count - 1, 1)


def confidence(summed_weights: np.ndarray, alpha: float, out: np.ndarray | None = None) -> np.ndarray:
    """ALS confidence of a (user, item) pair from its summed event weights (training uses the same);
    ``out``: computed there, in place (it may be ``summed_weights`` itself), with the same values."""
    if out is None:
        return alpha * np.log2(1.0 + summed_weights)
    np.add(summed_weights, 1.0, out=out)
    np.log2(out, out=out)
    out *= alpha
    return out


class FactorModel(ServingModel):
    """Implicit-feedback matrix factorisation, blended with the neighbours of recent items.

    A user's vector solves the ALS least-squares problem for the item factors at hand
    (Hu, Koren & Volinsky 2008): ``(YᵀY + λI + Σ (c_i - 1) y_i y_iᵀ) x = Σ c_i y_i``, so
    events newer than the model move the user without retraining (fold-in).  The score of an
    item is the normalised factor score plus ``recent_item_weight`` times its normalised
    co-occurrence with the user's last ``recent_window`` items (newest weighing most): long-term
    taste from the factors, the current session from the neighbours.
    """

    def __init__(self, artifact: ModelArtifact) -> None:
        super().__init__(artifact)
        arrays = artifact.arrays
        # As stored (read-only views into the loaded file), widened per user where a solve needs it:
        # a float64 copy of every confidence would be 200 MB more per 25M interactions at load.
        self.item_factors = arrays["item_factors"].astype(np.float32, copy=False)
        self.user_factors = arrays["user_factors"].astype(np.float32, copy=False)
        self.gram = arrays["gram"].astype(np.float64)
        self.history_indptr = arrays["history_indptr"]
        self.history_items = arrays["history_items"]
        self.history_confidence = arrays["history_confidence"]
        self.recent_indptr = arrays.get("recent_indptr")
        self.recent_items = arrays.get("recent_items")
        self.neighbors = arrays.get("neighbors")
        self.neighbor_scores = arrays.get("neighbor_scores")
        info = self.info
        self.regularization = float(info["regularization"])
        self.alpha = float(info["alpha"])
        self.recency_ramp = float(info.get("recency_ramp", 0.0))
        self.temperature = float(info.get("score_temperature", 0.1))
        self.exclude_history = bool(info.get("exclude_interacted_items", True))
        self.recent_weight = float(info.get("recent_item_weight", 0.0)) if self.neighbors is not None else 0.0
        self.recent_window = int(info.get("recent_window", 10))
        self.recent_decay = float(info.get("recent_decay", 0.9))
        self._ridge = self.gram + self.regularization * np.eye(self.gram.shape[0])
        keys = artifact.strings.get("context_keys")
        self.context_index = {} if keys is None else {key: i for i, key in enumerate(keys.tolist())}
        self.context_lift = arrays.get("context_lift")
        self.context_weight = float(info.get("context_weight", 0.5))
        self.recent_types = arrays.get("recent_types")
        self.repeats = None
        if "repeat_probability" in arrays:
            names = artifact.strings.get("repeat_event_types")
            self.repeats = RepeatTable(
                arrays["repeat_probability"].astype(np.float32),
                {} if names is None else {str(name): i for i, name in enumerate(names.tolist())},
                float(info.get("repeat_threshold", 1.0)),
            )

    def context_scores(self, context: dict[str, str] | None) -> np.ndarray | None:
        """Summed lifts of the request's context values seen in training, scaled to [-1, 1]; None if none
        apply."""
        if not context or self.context_lift is None:
            return None
        rows = [
            self.context_index[f"{key.upper()}={value}"]
            for key, value in context.items()
            if f"{key.upper()}={value}" in self.context_index
        ]
        if not rows:
            return None
        lift = self.context_lift[rows].sum(axis=0)
        peak = float(np.abs(lift).max())
        return lift / peak if peak > 0 else None

    @property
    def factors(self) -> int:
        count: int = self.item_factors.shape[1]
        return count

    # --- user vectors -------------------------------------------------------------------------

    def history(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(the user's training items, their confidences as float64, as a fold-in solves with them)."""
        start, end = self.history_indptr[user], self.history_indptr[user + 1]
        return self.history_items[start:end].astype(np.int64), self.history_confidence[start:end].astype(
            np.float64
        )

    def history_items_of(self, user: int) -> np.ndarray:
        """``history(user)``'s items alone (what the exclusion needs), without the confidences."""
        return self.history_items[self.history_indptr[user] : self.history_indptr[user + 1]].astype(np.int64)

    def stored_recent(self, user: int | None) -> np.ndarray:
        """The user's last items in the training data, newest first."""
        if user is None or self.recent_indptr is None:
            return np.empty(0, np.int64)
        assert self.recent_items is not None  # stored with recent_indptr
        return self.recent_items[self.recent_indptr[user] : self.recent_indptr[user + 1]].astype(np.int64)

    def fold_in(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The user vector for these interactions (item indices, confidences), by one exact ALS solve."""
        if len(items) == 0:
            return np.zeros(self.factors, dtype=np.float32)
        factors = self.item_factors[items].astype(np.float64)
        system = self._ridge + (factors.T * (weights - 1.0)) @ factors
        return np.linalg.solve(system, factors.T @ weights).astype(np.float32)

    @cached_property
    def _type_weights(self) -> np.ndarray | None:
        """Event weight per type code (``repeats``' codes, the last one: types training never saw),
        from the solution's eventsConfig; None when every kept event weighs 1."""
        if self.event_rule is None or self.event_rule.parameters is None or self.repeats is None:
            return None
        names = sorted(self.repeats.event_types, key=self.repeats.event_types.__getitem__)
        # The last code stands for every type the training data did not have: the eventsConfig
        # entries of such types (events of other types never reach fold-in).
        unseen = max(
            (w for t, w, _ in self.event_rule.parameters if t not in self.repeats.event_types), default=0.0
        )
        weights = [self.event_rule.type_weight(name) for name in names] + [unseen]
        return np.array(weights, dtype=np.float32).astype(np.float64)  # float32, as training's weights

    def sequence_confidence(
        self, sequence: np.ndarray, types: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(unique items, confidences) for a chronological item sequence (with its event type
        codes, for the solution's event weights), as training computes them."""
        items, inverse = np.unique(sequence, return_inverse=True)
        weights = recency_weights(len(sequence), self.recency_ramp)
        if types is not None and self._type_weights is not None and len(sequence):
            weights = (
                self._type_weights[np.minimum(np.asarray(types, dtype=np.int64), len(self._type_weights) - 1)]
                * weights
            )
        summed = np.bincount(inverse, weights=weights)
        return items, confidence(summed, self.alpha)

    def interactions_for(
        self, user: int | None, recent: np.ndarray, recent_types: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training history merged with interactions newer than the model (``recent``, chronological)."""
        items, weights = self.history(user) if user is not None else (np.empty(0, np.int64), np.empty(0))
        if len(recent) == 0:
            return items, weights
        fresh_items, fresh_weights = self.sequence_confidence(recent, recent_types)
        if len(items) == 0:
            return fresh_items, fresh_weights
        merged = dict(zip(items.tolist(), weights.tolist(), strict=True))
        for item, weight in zip(fresh_items.tolist(), fresh_weights.tolist(), strict=True):
            merged[item] = merged.get(item, 0.0) + weight
        return (
            np.fromiter(merged.keys(), dtype=np.int64, count=len(merged)),
            np.fromiter(merged.values(), dtype=np.float64, count=len(merged)),
        )

    def stored_recent_types(self, user: int | None, count: int) -> np.ndarray:
        """Event type codes of ``stored_recent(user)`` (the unknown type where training kept none)."""
        if user is None or self.recent_types is None:
            return np.full(count, self._unknown_type, dtype=np.int64)
        assert self.recent_indptr is not None  # recent_types are stored with it
        return self.recent_types[self.recent_indptr[user] : self.recent_indptr[user + 1]].astype(np.int64)

    @property
    def _unknown_type(self) -> int:
        return len(self.repeats.event_types) if self.repeats is not None else 0

    def _fresh(self, recent: Sequence[str], recent_types: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, event type codes) of the request's recent events the model knows, oldest first."""
        index = self.item_index
        known = [position for position, item in enumerate(recent) if item in index]
        items = np.fromiter((index[recent[p]] for p in known), dtype=np.int64, count=len(known))
        if self.repeats is None or not recent_types:
            return items, np.full(len(items), self._unknown_type, dtype=np.int64)
        codes = np.fromiter(
            (self.repeats.type_code(recent_types[p]) for p in known), dtype=np.int64, count=len(known)
        )
        return items, codes

    def repeat_candidates(self, last: np.ndarray, last_types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(items, chances) of the user's recent items worth recommending again
        (``picks.serving.repeats``)."""
        if self.repeats is None:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        return self.repeats.candidates(last, last_types)

    def repeat_candidates_rows(
        self, lasts: list[np.ndarray], last_types: list[np.ndarray]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``repeat_candidates`` for many users at once (the same items and chances, in the same order)."""
        empty = (np.empty(0, np.int64), np.empty(0, np.float32))
        if self.repeats is None or not lasts:
            return [empty] * len(lasts)
        table = self.repeats.probability
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
        keep = newest & (chance > self.repeats.threshold)
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

    def _context(
        self, user_id: str | None, recent: Sequence[str], recent_types: Sequence[str] = ()
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
        """(user vector or None, items to exclude, last items newest first, their event type codes)."""
        user = self.user_index.get(user_id) if user_id is not None else None
        fresh, fresh_types = self._fresh(recent, recent_types)
        if user is not None and len(fresh) == 0:
            vector = self.user_factors[user]
            seen = self.history_items_of(user)
        else:
            items, weights = self.interactions_for(user, fresh, fresh_types)
            vector = self.fold_in(items, weights) if len(items) else None
            seen = items
        stored = self.stored_recent(user)
        last = np.concatenate([fresh[::-1], stored])[: self.recent_window]
        last_types = np.concatenate([fresh_types[::-1], self.stored_recent_types(user, len(stored))])[
            : self.recent_window
        ]
        return vector, seen, last, last_types

    # --- scoring ------------------------------------------------------------------------------

    def _recent_decays(self, count: int) -> np.ndarray:
        """The weight of a recent item's neighbours by its position (0 = newest), float32: the
        values both the single-request and the batch paths multiply by."""
        return np.array([self.recent_decay**position for position in range(count)], dtype=np.float32)

    def _neighbor_scores(self, last: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
        """The recent items' summed neighbour scores per item (in ``out``, zeroed first, if given)."""
        if not self.recent_weight or len(last) == 0:
            return None
        assert self.neighbors is not None and self.neighbor_scores is not None  # else recent_weight is 0
        if out is None:
            out = np.zeros(self.item_count, dtype=np.float32)
        else:
            out.fill(0.0)
        # All the last items' neighbours in one np.add.at, in the order (and with the float32
        # values) of a loop over the items, newest first: the sums are the same.
        decay = self._recent_decays(len(last))
        rows = self.neighbors[last]
        valid = rows >= 0
        np.add.at(out, rows[valid], (self.neighbor_scores[last] * decay[:, None])[valid])
        return out

    def blended_scores(self, vector: np.ndarray | None, last: np.ndarray) -> np.ndarray | None:
        """Normalised factor score + recent_item_weight × normalised recent-item co-occurrence."""
        if vector is not None:
            # In place on the product (fresh arrays each): the same operations as out-of-place.
            score: np.ndarray = self.item_factors @ vector
            top = float(max(score.max(), -score.min()))  # max |score|, without an |score| copy
            if top > 0:
                score /= top
            self._add_neighbor_scores(score, last)
            return score
        near = self._neighbor_scores(last)
        if near is None:
            return None
        peak = near.max()
        if not peak > 0:
            return None
        near *= self.recent_weight
        near /= peak
        return near

    def _add_neighbor_scores(self, score: np.ndarray, last: np.ndarray) -> None:
        """``score += recent_item_weight × near / near.max()`` for ``near = _neighbor_scores(last)``,
        when that peak is positive — the same float32 operations, but only the last items' neighbours
        are summed and scaled: in a per-thread array kept all zeros between calls, not a catalogue-long
        fill, product and quotient per request.  (Where no neighbour's sum is positive, the peak
        over every item is 0 or less as well: nothing is added either way.)"""
        if not self.recent_weight or len(last) == 0:
            return
        assert self.neighbors is not None and self.neighbor_scores is not None  # else recent_weight is 0
        rows = self.neighbors[last]
        valid = rows >= 0
        touched = rows[valid]
        if len(touched) == 0:
            return
        near = _zeroed_scratch_array("blended_scores.near", self.item_count, np.float32)
        try:
            # In the order of _neighbor_scores' np.add.at: the same sums.
            decay = self._recent_decays(len(last))
            np.add.at(near, touched, (self.neighbor_scores[last] * decay[:, None])[valid])
            scaled = near[touched]
            peak = scaled.max()
            if peak > 0:
                scaled *= self.recent_weight
                scaled /= peak
                near[touched] = scaled  # an item listed twice gets the same value twice
                score += near
        finally:
            near[touched] = 0.0

    def scores(self, vector: np.ndarray) -> np.ndarray:
        scores: np.ndarray = self.item_factors @ vector
        return scores

    def request_scores(
        self,
        user_id: str | None,
        recent: Sequence[str] = (),
        context: dict[str, str] | None = None,
        recent_types: Sequence[str] = (),
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """(score per item or None for "use popularity", items the user's history excludes).

        One pass over the item factors — the expensive part of a request — so callers ranking the
        same request twice (a promotion and the rest) compute it once.
        """
        vector, seen, last, last_types = self._context(user_id, recent, recent_types)
        skip = seen if self.exclude_history else np.empty(0, np.int64)
        score = self._with_context(self.blended_scores(vector, last), context)
        return self._with_repeats(score, skip, self.repeat_candidates(last, last_types))

    def _with_repeats(
        self, score: np.ndarray | None, skip: np.ndarray, candidates: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Repeat candidates lifted above the rest, and no longer excluded as history."""
        if score is None or len(candidates[0]) == 0:
            return score, skip
        return lift_repeats(score, candidates), skip[~np.isin(skip, candidates[0])]

    def recommend(
        self,
        user_id: str | None,
        k: int,
        recent: Sequence[str] = (),
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
        context: dict[str, str] | None = None,
        scored: tuple[np.ndarray | None, np.ndarray] | None = None,
        recent_types: Sequence[str] = (),
    ) -> Ranked:
        """The ``k`` best items for the user, with their softmax probabilities over every item.

        ``scored``: ``request_scores``' answer for this request, unchanged (it is not copied: its
        scores' softmax normaliser is computed once however many times it is passed)."""
        score, skip = (
            scored if scored is not None else self.request_scores(user_id, recent, context, recent_types)
        )
        if excluded is not None:
            skip = np.concatenate([skip, excluded])
        if score is None:
            return self.popular(k, skip, allowed)
        ranked = top_k(score, k, skip, allowed)
        normaliser = self._softmax_normaliser(score, scored)
        return Ranked(ranked.indices, softmax(score, self.temperature, ranked.indices, normaliser))

    def _softmax_normaliser(
        self, score: np.ndarray, scored: tuple[np.ndarray | None, np.ndarray] | None
    ) -> tuple[Any, Any]:
        """``softmax_normaliser`` of the request's scores: computed once for the same ``scored``
        (a promotion and the rest rank one request's scores twice), kept per thread until the next."""
        if scored is None:
            return softmax_normaliser(score, self.temperature)
        last = getattr(_last_normaliser, "value", None)
        if last is not None and last[0] is scored and last[1] == self.temperature:
            normaliser: tuple[Any, Any] = last[2]
            return normaliser
        normaliser = softmax_normaliser(score, self.temperature)
        # The tuple itself is kept: while it lives, no other request's scores can share its id.
        _last_normaliser.value = (scored, self.temperature, normaliser)
        return normaliser

    def recommend_sequences(
        self, sequences: list[np.ndarray], k: int, types: list[np.ndarray] | None = None, batch: int = 512
    ) -> np.ndarray:
        """Top-``k`` item indices (-1 pads) for users known only by chronological item sequences.

        What ``recommend(None, k, recent=...)`` returns for each, computed in bulk for offline work
        (``rank_sequences`` with the model's own exclusion setting).
        """
        return self.rank_sequences(sequences, k, types, (self.exclude_history,), batch)[0]

    def rank_sequences(
        self,
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
            vectors = np.zeros((len(chunk), self.factors), dtype=np.float32)
            seen: list[np.ndarray] = []
            for row, sequence in enumerate(chunk):
                items = empty
                if len(sequence):
                    items, weights = self.sequence_confidence(
                        sequence, None if types is None else types[start + row]
                    )
                    vectors[row] = self.fold_in(items, weights)
                seen.append(items)
            has_vector = np.array([len(sequence) > 0 for sequence in chunk], dtype=bool)
            raw = self._factor_scores(vectors, buffers)
            lasts = [sequence[::-1][: self.recent_window] for sequence in chunk]
            if types is None:
                last_types = [np.full(len(last), self._unknown_type, dtype=np.int64) for last in lasts]
            else:
                last_types = [np.asarray(t)[::-1][: self.recent_window] for t in types[start : start + batch]]
            repeats = self.repeat_candidates_rows(lasts, last_types)
            ranked = self._rank_rows(raw, has_vector, lasts, seen, k, repeats, excludes, buffers)
            for out, rows in zip(outs, ranked, strict=True):
                out[start : start + len(chunk)] = rows
        return outs

    def recommend_known_users(
        self, users: np.ndarray, k: int, batch: int = 512, exclude: bool | None = None
    ) -> np.ndarray:
        """Top-``k`` item indices (-1 pads) per known user index, as ``recommend`` orders them
        (``exclude``: with or without the user's history left out; None: as the model says)."""
        exclude = self.exclude_history if exclude is None else exclude
        out = np.full((len(users), k), -1, dtype=np.int64)
        buffers: list[np.ndarray] = []
        for start in range(0, len(users), batch):
            chunk = np.asarray(users[start : start + batch])
            raw = self._factor_scores(self.user_factors[chunk], buffers)
            lasts = [self.stored_recent(user) for user in chunk.tolist()]
            seen = [self.history_items_of(user) for user in chunk.tolist()]
            last_types = [
                self.stored_recent_types(user, len(last))
                for user, last in zip(chunk.tolist(), lasts, strict=True)
            ]
            repeats = self.repeat_candidates_rows(lasts, last_types)
            out[start : start + len(chunk)] = self._rank_rows(
                raw, np.ones(len(chunk), dtype=bool), lasts, seen, k, repeats, (exclude,), buffers
            )[0]
        return out

    def _factor_scores(self, vectors: np.ndarray, buffers: list[np.ndarray]) -> np.ndarray:
        """Raw factor scores for many user vectors at once (one row per vector), by one product.

        Written into ``buffers[0]`` (allocated on the first chunk, reused by the next ones: fresh
        memory for a chunk of users × items costs more than the product itself).
        """
        if not buffers or len(buffers[0]) < len(vectors):
            buffers[:] = [np.empty((len(vectors), self.item_count), dtype=np.float32)]
        return np.matmul(vectors, self.item_factors.T, out=buffers[0][: len(vectors)])

    @staticmethod
    def _normalise_rows(raw: np.ndarray) -> None:
        """``blended_scores``' factor part, in place: each row divided by its largest |score| (if not 0)."""
        peak = np.maximum(raw.max(axis=1), -raw.min(axis=1))[:, None]  # max |raw|, without an |raw| copy
        if (peak > 0).all():
            np.divide(raw, peak, out=raw)
        else:
            np.divide(raw, peak, out=raw, where=peak > 0)

    def _recent_entries(
        self, has_vector: np.ndarray, lasts: list[np.ndarray], n: int
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """The recent-item part of ``blended_scores`` for a chunk's rows with a vector, unsummed:
        (keys ``row % BLOCK_ROWS * n + item`` into a block's scratch, float32 contributions, per-row
        bounds into both).

        Row by row, each of the last items' neighbours in position order, as ``_neighbor_scores``
        adds them, with the same float32 values; a missing neighbour (-1) adds 0 to some key of the
        block (which leaves any sum as it is).
        """
        lengths = np.array([len(last) for last in lasts], dtype=np.int64)
        rows = np.flatnonzero(has_vector & (lengths > 0)) if self.recent_weight else np.empty(0, np.int64)
        if len(rows) == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32), [0] * (len(lasts) + 1)
        items = np.concatenate([lasts[row] for row in rows.tolist()]).astype(np.int64, copy=False)
        row_of = np.repeat(rows, lengths[rows])
        position = np.arange(len(items)) - np.repeat(np.cumsum(lengths[rows]) - lengths[rows], lengths[rows])
        decay = self._recent_decays(int(lengths.max()))
        assert self.neighbors is not None and self.neighbor_scores is not None  # else recent_weight is 0
        neighbors = self.neighbors[items]  # recent items × neighbours
        keys = (row_of % BLOCK_ROWS)[:, None] * n + neighbors
        values = self.neighbor_scores[items] * decay[position][:, None]
        missing = neighbors < 0
        if missing.any():
            values[missing] = 0.0
        counts = np.zeros(len(lasts), dtype=np.int64)
        counts[rows] = lengths[rows] * neighbors.shape[1]
        return keys.reshape(-1), values.reshape(-1), [0, *np.cumsum(counts).tolist()]

    def _add_recent(
        self, block: np.ndarray, keys: np.ndarray, values: np.ndarray, scratch: np.ndarray
    ) -> None:
        """Adds ``blended_scores``' recent-item part to a block of rows: the block's
        ``_recent_entries`` ``keys`` / ``values`` are summed into ``scratch`` (``BLOCK_ROWS`` × items,
        zero and left zero; small enough to stay in cache) — the same float32 operations as
        ``_neighbor_scores`` and ``blended_scores`` on every item, so the same values."""
        np.add.at(scratch, keys, values)  # per item in the order given: the positions' order
        near = scratch.reshape(BLOCK_ROWS, -1)[: len(block)]
        peak = near.max(axis=1)
        on = peak > 0  # blended_scores leaves the recent part out otherwise
        weight = np.float32(self.recent_weight)
        if on.all():
            if weight != 1:  # (× 1 changes nothing)
                np.multiply(near, weight, out=near)
            np.divide(near, peak[:, None], out=near)
            np.add(block, near, out=block)
        elif on.any():
            rows = np.flatnonzero(on)
            block[rows] += (weight * near[rows]) / peak[rows, None]
        near.fill(0.0)

    def _rank_rows(
        self,
        raw: np.ndarray,
        has_vector: np.ndarray,
        lasts: list[np.ndarray],
        seen: list[np.ndarray],
        k: int,
        repeats: list[tuple[np.ndarray, np.ndarray]],
        excludes: Sequence[bool],
        buffers: list[np.ndarray],
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
        keys, values, bounds = self._recent_entries(has_vector, lasts, n)
        lift_counts = np.array([len(repeat[0]) for repeat in repeats], dtype=np.int64)
        lift_rows = np.repeat(np.arange(rows), lift_counts)
        lift_keys, lift_chances = lift_rows * n, np.empty(0, np.float32)
        if len(lift_rows):
            lift_keys = lift_keys + np.concatenate([repeat[0] for repeat in repeats])
            lift_chances = np.concatenate([repeat[1] for repeat in repeats])
        seen_keys = np.empty(0, np.int64)
        if any(excludes):
            seen_keys = np.repeat(np.arange(rows) * n, [len(items) for items in seen])
            if len(seen_keys):
                seen_keys = seen_keys + np.concatenate(seen)
        # The threshold: the (k+1)-th best sampled score among items neither left out nor lifted, so
        # that at least k+1 of a list's other items are likely to reach it.  _best_rows checks that
        # they do: then every item below it ranks below all of them, and the candidates suffice.
        stride = TOP_K_SAMPLE_STRIDE if n >= 8 * TOP_K_SAMPLE_STRIDE * k else 1
        sampled = len(range(0, n, stride)) > kk
        slow = ~has_vector
        unsampled = np.zeros((rows, len(range(0, n, stride))), dtype=bool)
        for key in (seen_keys, lift_keys):
            item = key % n
            on = item % stride == 0
            unsampled[key[on] // n, item[on] // stride] = True
        found_parts = []
        for first in range(0, rows, BLOCK_ROWS):
            end = min(rows, first + BLOCK_ROWS)
            block = raw[first:end]
            self._normalise_rows(block)
            lo, hi = bounds[first], bounds[end]
            if hi > lo:
                self._add_recent(block, keys[lo:hi], values[lo:hi], scratch)
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
        popular_rows = []
        for row in np.flatnonzero(~has_vector).tolist():  # no vector: the recent items' share alone
            near = self.blended_scores(None, lasts[row])
            if near is None:
                popular_rows.append(row)
            else:
                raw[row] = near
        found = np.concatenate(found_parts) if found_parts else np.empty(0, np.int64)
        value, found_rows = flat[found], found // n
        in_seen, in_lift = _marked(marks, seen_keys, found), _marked(marks, lift_keys, found)

        def full_row(row: int, exclude: bool) -> np.ndarray:
            score = raw[row].copy()
            if exclude and len(seen[row]):
                score[seen[row]] = -np.inf
            return lift_repeats(score, repeats[row]) if len(repeats[row][0]) else score

        for out, exclude in zip(outs, excludes, strict=True):
            counted = ~in_seen if exclude else np.ones(len(found), dtype=bool)
            # lift_repeats' ceiling: the best score left after the exclusion, lifted items included
            # (a candidate wherever the candidates suffice).
            ceiling = np.full(rows, -np.inf, dtype=np.float32)
            np.maximum.at(ceiling, found_rows[counted], value[counted])
            # lift_repeats' float(ceiling) + 1.0 + chance: a Python float, then float32 with the chances.
            lift_values = (ceiling[lift_rows].astype(np.float64) + 1.0).astype(np.float32) + lift_chances
            others = counted & ~in_lift
            ranked = _best_rows(
                found[others] % n,
                value[others],
                found_rows[others],
                rows,
                kk,
                lift_keys % n,
                lift_values,
                lift_rows,
                ~slow,
            )
            done = np.flatnonzero(ranked[:, 0] >= 0)
            out[done, :kk] = ranked[done]
            redo = np.ones(rows, dtype=bool)
            redo[done] = False
            redo[popular_rows] = False
            for row in np.flatnonzero(redo).tolist():
                out[row, :kk] = _argpartition_rows(full_row(row, exclude)[None], kk)[0]
            for row in popular_rows:
                ranked_row = self.popular(k, seen[row] if exclude else None)
                out[row, : len(ranked_row.indices)] = ranked_row.indices
        return outs

    def _with_context(self, score: np.ndarray | None, context: dict[str, str] | None) -> np.ndarray | None:
        shift = self.context_scores(context)
        if shift is None:
            return score
        shift = self.context_weight * shift
        return shift if score is None else score + shift

    def rank(
        self,
        user_id: str | None,
        candidates: np.ndarray,
        recent: Sequence[str] = (),
        context: dict[str, str] | None = None,
        recent_types: Sequence[str] = (),
    ) -> Ranked:
        """Order known ``candidates`` for the user; scores are a softmax over the candidates only."""
        vector, _, last, last_types = self._context(user_id, recent, recent_types)
        score = self._with_context(self.blended_scores(vector, last), context)
        score, _ = self._with_repeats(score, np.empty(0, np.int64), self.repeat_candidates(last, last_types))
        raw = self.popularity[candidates] if score is None else score[candidates]
        order = np.argsort(-raw, kind="stable")
        return Ranked(candidates[order], softmax(raw, self.temperature)[order] if len(raw) else raw)

    def explain(
        self, user_id: str | None, item: int, recent: Sequence[str] = (), top: int = 3
    ) -> list[tuple[int, float]]:
        """The user's interactions that contributed most to ``item``'s factor score, with their share.

        With ``W = (YᵀC_uY + λI)⁻¹`` the factor score is ``Σ_i c_i · y_itemᵀ W y_i``: each history
        item's term is its contribution.
        """
        user = self.user_index.get(user_id) if user_id is not None else None
        items, weights = self.interactions_for(user, self.indices_of(recent))
        if len(items) == 0:
            return []
        factors = self.item_factors[items].astype(np.float64)
        system = self._ridge + (factors.T * (weights - 1.0)) @ factors
        solved = np.linalg.solve(system, self.item_factors[item].astype(np.float64))
        contributions = weights * (factors @ solved)
        total = np.abs(contributions).sum() or 1.0
        best = np.argsort(-contributions)[:top]
        return [(int(items[i]), float(contributions[i] / total)) for i in best if contributions[i] > 0]


class SimsModel(ServingModel):
    """aws-sims: precomputed item-to-item neighbours; popular items for an unknown item."""

    def __init__(self, artifact: ModelArtifact) -> None:
        super().__init__(artifact)
        self.neighbors = artifact.arrays["neighbors"]
        self.neighbor_scores = artifact.arrays["neighbor_scores"].astype(np.float32, copy=False)

    def related(
        self,
        item_id: str | None,
        k: int,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        item = self.item_index.get(item_id) if item_id is not None else None
        skip = np.array([item], dtype=np.int64) if item is not None else np.empty(0, np.int64)
        if excluded is not None:
            skip = np.concatenate([skip, excluded])
        if item is None:
            return self.popular(k, skip, allowed)
        row = self.neighbors[item]
        valid = row >= 0
        neighbors, scores = row[valid].astype(np.int64), self.neighbor_scores[item][valid]
        keep = ~np.isin(neighbors, skip)
        if allowed is not None:
            keep &= allowed[neighbors]
        neighbors, scores = neighbors[keep][:k], scores[keep][:k]
        if len(neighbors) >= k:
            return Ranked(neighbors, scores)
        # Too few co-occurring items: fill with popular ones, scored below every neighbour.
        fill = self.popular(k - len(neighbors), np.concatenate([skip, neighbors]), allowed)
        return Ranked(
            np.concatenate([neighbors, fill.indices]), np.concatenate([scores, np.zeros(len(fill.indices))])
        )

    def related_to_history(
        self, history: np.ndarray, k: int, window: int = 20, decay: float = 0.95
    ) -> Ranked:
        """Items related to a user's history (item indices, oldest first), the newest weighing most.

        Neighbour scores of the last ``window`` items summed with weights ``decay**age``; items in
        the history are left out.  Offline evaluation gives SIMS a user's history this way.
        """
        score = np.zeros(self.item_count, dtype=np.float32)
        for age, item in enumerate(history[::-1][:window].tolist()):
            row = self.neighbors[item]
            valid = row >= 0
            np.add.at(score, row[valid], self.neighbor_scores[item][valid] * decay**age)
        if not score.any():
            return self.popular(k, history)
        return top_k(score, k, history)


TREND_WINDOWS = {"30 minutes": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "1 day": 86400}


def window_seconds(frequency: str) -> int:
    return TREND_WINDOWS[frequency]


class TrendingModel(ServingModel):
    """aws-trending-now: growth of interactions from the previous window to the current one.

    ``trend_items`` / ``trend_times`` are the training data's last two windows; live events are
    passed in at request time.  Windows end at ``now`` — or, when nothing happened in the last two
    windows before ``now``, at the training data's end, so a model trained on historic data still
    shows the trend it saw; with no interactions at all in those windows, popular items.
    """

    def __init__(self, artifact: ModelArtifact) -> None:
        super().__init__(artifact)
        self.window = int(self.info["trend_window_seconds"])
        self.trend_items = artifact.arrays["trend_items"].astype(np.int64)
        self.trend_times = artifact.arrays["trend_times"]
        self.data_end = int(self.info.get("latestInteraction", 0))

    def growth(self, now: float, live_items: np.ndarray, live_times: np.ndarray) -> np.ndarray | None:
        items = np.concatenate([self.trend_items, live_items])
        times = np.concatenate([self.trend_times, live_times])
        for end in (now, self.data_end):
            current = (times > end - self.window) & (times <= end)
            previous = (times > end - 2 * self.window) & (times <= end - self.window)
            if current.any() or previous.any():
                now_counts = np.bincount(items[current], minlength=self.item_count).astype(np.float32)
                before = np.bincount(items[previous], minlength=self.item_count).astype(np.float32)
                # Growth first; among equal growth, the busier item now.
                growth: np.ndarray = (now_counts - before) + now_counts / (now_counts.max() + 1.0)
                return growth
        return None

    def recommend(
        self,
        k: int,
        now: float,
        live_items: np.ndarray | None = None,
        live_times: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        empty_items, empty_times = np.empty(0, np.int64), np.empty(0, np.int64)
        score = self.growth(
            now,
            live_items if live_items is not None else empty_items,
            live_times if live_times is not None else empty_times,
        )
        if score is None:
            return self.popular(k, excluded, allowed)
        return top_k(score, k, excluded, allowed)


MODEL_CLASSES: dict[str, type[ServingModel]] = {
    "POPULAR_ITEMS": PopularityModel,
    "USER_PERSONALIZATION": FactorModel,
    "PERSONALIZED_RANKING": FactorModel,
    "RELATED_ITEMS": SimsModel,
}


def serving_model(artifact: ModelArtifact) -> ServingModel:
    if artifact.recipe == "aws-trending-now":
        return TrendingModel(artifact)
    try:
        cls = MODEL_CLASSES[artifact.recipe_type]
    except KeyError as error:
        raise ValueError(f"no serving model for recipe type {artifact.recipe_type}") from error
    return cls(artifact)
