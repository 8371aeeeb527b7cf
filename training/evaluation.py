"""Offline metrics with Amazon Personalize's holdout.

As the Personalize developer guide describes it: 10% of the users (of those with at least two
interactions) are held out and the model trains on the other 90% of users.  Each held-out user's
oldest 90% of interactions are then given to the model as input (fold-in, exactly as the runtime
treats a user it has not trained on), and its recommendations are compared with the newest 10%
(at least one interaction).  SIMS, an item-to-item model, is given that input as its recent
items (``picks.serving.batch_ranking.related_to_history``).  Queries go through the serving classes
(``picks.serving.rankers``; many users at once through ``picks.serving.batch_ranking``), so the
metrics measure what the runtime serves, under Personalize's metric keys.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from picks.serving import batch_ranking
from picks.serving.rankers import FactorModel, PopularityModel, ServingModel, SimsModel, TrendingModel

from training.data import Interactions, time_order

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.serving.topk import Ranked

Function = TypeVar("Function", bound="Callable[..., Any]")

HOLDOUT_FRACTION = 0.1
TOP_K = 25
CUTOFFS = (5, 10, 25)
COVERAGE_SAMPLE_USERS = 5_000
# Past this many held-out users a random subset is scored: the mean is as precise, and scoring is
# a per-user solve.  (10% of users are still held out of training.)
MAX_EVALUATED_USERS = 5_000


class _OneBlasThread:
    """BLAS on one thread while any thread is inside (``threadpoolctl``'s limit is process-wide:
    set by the first to enter, restored by the last to leave, whatever order they leave in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limit: Any = None

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        with self._lock:
            if self._inside == 0:
                self._limit = threadpool_limits(1, "blas")
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._limit.restore_original_limits()
                self._limit = None


_blas_limit = _OneBlasThread()


def _one_blas_thread(function: Function) -> Function:
    """``function`` run with BLAS on one thread.  Scoring folds each user in by small products
    (factors × the user's history): OpenBLAS splitting those over threads costs more than the
    products, several times over when the other core is busy (measured: 5,000 held-out users of
    25M interactions, 4-13 s on two threads, 1.1-1.8 s on one), while the one large product per
    block of users gains little from a second thread.  The same bits either way: OpenBLAS splits
    a product by blocks of its output, each element summed by the same kernel."""

    @functools.wraps(function)
    def limited(*args: Any, **kwargs: Any) -> Any:
        with _blas_limit:
            return function(*args, **kwargs)

    return limited  # type: ignore[return-value]


@dataclass(frozen=True)
class Holdout:
    train_mask: np.ndarray  # interactions the split model trains on: every user but the held-out ones
    users: np.ndarray  # held-out user indices
    inputs: list[np.ndarray]  # per held-out user: input item indices, oldest first
    truths: list[np.ndarray]  # per held-out user: ground-truth item indices
    input_types: list[np.ndarray] | None = None  # per held-out user: the inputs' event type codes


def split(interactions: Interactions, seed: int, fraction: float = HOLDOUT_FRACTION) -> Holdout:
    counts = interactions.user_counts
    eligible = np.flatnonzero(counts >= 2)
    rng = np.random.default_rng(seed)
    size = max(1, int(round(len(eligible) * fraction))) if len(eligible) else 0
    held = np.sort(rng.choice(eligible, size=size, replace=False)) if size else eligible[:0]
    is_held = np.zeros(interactions.user_count, dtype=bool)
    is_held[held] = True

    rows = np.flatnonzero(is_held[interactions.users])
    # Sort the held-out users' rows by (user, time) so each user's slice is chronological.
    order = rows[time_order(interactions.users[rows], interactions.timestamps[rows])]  # np.lexsort's order
    bounds = np.searchsorted(interactions.users[order], held, side="left")
    ends = np.searchsorted(interactions.users[order], held, side="right")
    train_mask = ~is_held[interactions.users]
    inputs, truths, input_types = [], [], []
    for start, end in zip(bounds, ends, strict=True):
        n = end - start
        n_truth = max(1, int(n * fraction))
        user_rows = order[start:end]
        inputs.append(interactions.items[user_rows[: n - n_truth]])
        truths.append(interactions.items[user_rows[n - n_truth :]])
        if interactions.event_types is not None:
            input_types.append(interactions.event_types[user_rows[: n - n_truth]].astype(np.int64))
    return Holdout(
        train_mask, held, inputs, truths, input_types if interactions.event_types is not None else None
    )


def _dcg(hits: np.ndarray) -> float:
    return float((hits / np.log2(np.arange(2, len(hits) + 2))).sum())


def ranking_metrics(recommended: list[np.ndarray], relevant: list[set[int]]) -> dict[str, float]:
    """precision@K, NDCG@K (K = 5, 10, 25) and MRR@25, averaged over requests.

    Per request: hits = which of its first 25 items are relevant; precision@K = hits in the top K
    / K; NDCG@K = ``_dcg`` of the top K hits / ``_dcg`` of min(relevant, K) hits; MRR = 1 / rank
    of the first hit.  Computed for all requests at once: the same float operations, each DCG
    summed over a list of its own length, the requests' values added up in order.
    """
    names = [f"precision_at_{k}" for k in CUTOFFS]
    names += [f"normalized_discounted_cumulative_gain_at_{k}" for k in CUTOFFS]
    names.append("mean_reciprocal_rank_at_25")
    if not recommended:
        return {name: 0.0 for name in names}
    hits, lengths = _hit_matrix(recommended, relevant)
    truths = np.array([len(truth) for truth in relevant], dtype=np.int64)
    discount = np.log2(np.arange(2, TOP_K + 2))
    values: dict[str, np.ndarray] = {}
    for k in CUTOFFS:
        top = np.minimum(lengths, k)
        values[f"precision_at_{k}"] = hits[:, :k].sum(axis=1) / k  # whole hits: exact in any order
        dcg = np.zeros(len(hits))
        for length in np.unique(top).tolist():  # np.sum's pairwise order depends on the length
            rows = np.flatnonzero(top == length)
            if length:
                dcg[rows] = (hits[rows, :length] / discount[:length]).sum(axis=1)
        ideal_of = {m: _dcg(np.ones(m)) for m in np.unique(np.minimum(truths, k)).tolist()}
        ideal = np.array([ideal_of[m] for m in np.minimum(truths, k).tolist()])
        values[f"normalized_discounted_cumulative_gain_at_{k}"] = np.divide(
            dcg, ideal, out=np.zeros(len(hits)), where=ideal != 0
        )
    any_hit = hits.any(axis=1)
    values["mean_reciprocal_rank_at_25"] = np.where(any_hit, 1.0 / (hits.argmax(axis=1) + 1), 0.0)
    count = max(1, len(recommended))
    # np.cumsum adds one value at a time, in order: the per-request running total.
    return {name: float(np.cumsum(values[name])[-1]) / count for name in names}


def _hit_matrix(recommended: list[np.ndarray], relevant: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(requests × 25 floats: 1 where the i-th recommended item is relevant, lengths of the lists
    cut to 25)."""
    lengths = np.array([min(len(items), TOP_K) for items in recommended], dtype=np.int64)
    rows = np.repeat(np.arange(len(recommended)), lengths)
    items = (
        np.concatenate([np.asarray(items[:TOP_K], dtype=np.int64) for items in recommended])
        if lengths.any()
        else np.empty(0, np.int64)
    )
    truth_counts = np.array([len(truth) for truth in relevant], dtype=np.int64)
    truth_items = np.fromiter(
        (item for truth in relevant for item in truth), dtype=np.int64, count=int(truth_counts.sum())
    )
    # (request, item) pairs as one sortable key each.
    low = min(int(items.min(initial=0)), int(truth_items.min(initial=0)))
    span = max(int(items.max(initial=0)), int(truth_items.max(initial=0))) - low + 1
    truth_keys = np.sort(np.repeat(np.arange(len(relevant)), truth_counts) * span + (truth_items - low))
    keys = rows * span + (items - low)
    at = np.minimum(np.searchsorted(truth_keys, keys), max(len(truth_keys) - 1, 0))
    found = truth_keys[at] == keys if len(truth_keys) else np.zeros(len(keys), dtype=bool)
    hits = np.zeros((len(recommended), TOP_K))
    hits[rows, np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = found
    return hits, lengths


def _query(model: ServingModel, user: int, inputs: np.ndarray) -> Ranked:
    if isinstance(model, FactorModel):
        return model.recommend(None, TOP_K, recent=model.item_ids[inputs].tolist())
    if isinstance(model, SimsModel):
        # The held-out user's input history is SIMS's input: related items of its latest items.
        return batch_ranking.related_to_history(model, inputs, TOP_K)
    if isinstance(model, PopularityModel):
        return model.recommend(TOP_K)
    if isinstance(model, TrendingModel):
        return model.recommend(TOP_K, now=float(model.data_end))
    raise TypeError(f"cannot evaluate {type(model).__name__}")


def _relevant(model: ServingModel, holdout: Holdout) -> list[set[int]]:
    relevant = []
    for inputs, truth in zip(holdout.inputs, holdout.truths, strict=True):
        truth_set = set(truth.tolist())
        if isinstance(model, SimsModel):
            # Related items never include the items asked about; re-interactions do not count.
            truth_set -= set(inputs.tolist())
        relevant.append(truth_set)
    return relevant


def _lists(rows: np.ndarray) -> list[np.ndarray]:
    return [row[row >= 0] for row in rows]


@_one_blas_thread
def evaluate(
    model: ServingModel, interactions: Interactions, holdout: Holdout, with_coverage: bool = True
) -> dict[str, float]:
    holdout = _scored_subset(holdout)
    if isinstance(model, FactorModel):
        recommended = _lists(
            batch_ranking.recommend_sequences(model, holdout.inputs, TOP_K, holdout.input_types)
        )
    else:
        recommended = [
            _query(model, int(user), inputs).indices
            for user, inputs in zip(holdout.users, holdout.inputs, strict=True)
        ]
    metrics = ranking_metrics(recommended, _relevant(model, holdout))
    if with_coverage:
        metrics["coverage"] = coverage(model, interactions)
    return metrics


@_one_blas_thread
def evaluate_exclusion(
    model: ServingModel, interactions: Interactions, holdout: Holdout
) -> tuple[dict[str, float], dict[str, float]]:
    """``evaluate``'s holdout metrics (no coverage) of the model served with the user's history
    excluded and without: what ``exclude_interacted_items=auto`` chooses between.  A factor model
    scores the held-out users once and ranks them both ways."""
    if not isinstance(model, FactorModel):  # nothing to exclude: the same lists either way
        metrics = evaluate(model, interactions, holdout, with_coverage=False)
        return metrics, dict(metrics)
    holdout = _scored_subset(holdout)
    relevant = _relevant(model, holdout)
    excluding, keeping = batch_ranking.rank_sequences(
        model, holdout.inputs, TOP_K, holdout.input_types, (True, False)
    )
    return ranking_metrics(_lists(excluding), relevant), ranking_metrics(_lists(keeping), relevant)


def _scored_subset(holdout: Holdout, limit: int = MAX_EVALUATED_USERS, seed: int = 0) -> Holdout:
    if len(holdout.users) <= limit:
        return holdout
    chosen = np.sort(np.random.default_rng(seed).choice(len(holdout.users), limit, replace=False))
    types = None if holdout.input_types is None else [holdout.input_types[i] for i in chosen]
    return Holdout(
        holdout.train_mask,
        holdout.users[chosen],
        [holdout.inputs[i] for i in chosen],
        [holdout.truths[i] for i in chosen],
        types,
    )


@_one_blas_thread
def coverage(
    model: ServingModel, interactions: Interactions, seed: int = 0, exclude_history: bool | None = None
) -> float:
    """Share of the catalog that appears in top-25 lists, over (a sample of) all users
    (``exclude_history``: a factor model served with or without the user's history left out, if
    not as its own setting says)."""
    users = _coverage_users(model, interactions, seed)
    by_user: Callable[[int], Ranked]
    if isinstance(model, SimsModel):
        last = _last_items(interactions)
        by_user = lambda u: model.related(str(model.item_ids[last[u]]), TOP_K)  # noqa: E731
    elif isinstance(model, FactorModel):
        return _catalog_share(
            model, batch_ranking.recommend_known_users(model, users, TOP_K, exclude=exclude_history)
        )
    elif isinstance(model, TrendingModel):
        by_user = lambda u: model.recommend(TOP_K, now=float(model.data_end))  # noqa: E731
    else:
        by_user = lambda u: model.popular(TOP_K)  # noqa: E731
    seen = np.zeros(model.item_count, dtype=bool)
    for user in users.tolist():
        seen[by_user(user).indices] = True
    return float(seen.sum() / max(1, model.item_count))


@_one_blas_thread
def coverage_both_ways(model: ServingModel, interactions: Interactions, seed: int = 0) -> tuple[float, float]:
    """``coverage`` of the model served with the user's history left out and without (what
    ``exclude_interacted_items=auto`` chooses between): a factor model scores the users once and
    ranks them both ways."""
    if not isinstance(model, FactorModel):  # nothing to exclude: the same lists either way
        value = coverage(model, interactions, seed)
        return value, value
    users = _coverage_users(model, interactions, seed)
    excluding, keeping = batch_ranking.rank_known_users(model, users, TOP_K, (True, False))
    return _catalog_share(model, excluding), _catalog_share(model, keeping)


def _coverage_users(model: ServingModel, interactions: Interactions, seed: int) -> np.ndarray:
    """The users ``coverage`` ranks: those with interactions, ascending (those the model trained
    on for a factor model: held-out ones have no vector), or a sample of them."""
    users = np.flatnonzero(interactions.user_counts > 0)
    if isinstance(model, FactorModel):
        users = users[np.diff(model.history_indptr)[users] > 0]
    if len(users) > COVERAGE_SAMPLE_USERS:
        users = np.random.default_rng(seed).choice(users, COVERAGE_SAMPLE_USERS, replace=False)
    return users


def _catalog_share(model: ServingModel, top: np.ndarray) -> float:
    """Share of the model's items in the ranked lists ``top`` (-1 pads)."""
    seen = np.zeros(model.item_count, dtype=bool)
    seen[top[top >= 0]] = True
    return float(seen.sum() / max(1, model.item_count))


def _last_items(interactions: Interactions) -> np.ndarray:
    order = time_order(interactions.users, interactions.timestamps)
    last = np.full(interactions.user_count, -1, dtype=np.int64)
    last[interactions.users[order]] = interactions.items[order]  # later rows overwrite earlier ones
    return last
