"""Offline metrics with Amazon Personalize's holdout.

As the Personalize developer guide describes it: 10% of the users (of those with at least two
interactions) are held out and the model trains on the other 90% of users.  Each held-out user's
oldest 90% of interactions are then given to the model as input (fold-in, exactly as the runtime
treats a user it has not trained on), and its recommendations are compared with the newest 10%
(at least one interaction).  SIMS, an item-to-item model, is given that input as its recent
items (``SimsModel.related_to_history``).  Queries go through the serving classes (``picks.serving.models``), so
the metrics measure what the runtime serves, under Personalize's metric keys.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from picks.serving.models import FactorModel, PopularityModel, Ranked, ServingModel, SimsModel, TrendingModel
from training.data import Interactions, time_order

HOLDOUT_FRACTION = 0.1
TOP_K = 25
CUTOFFS = (5, 10, 25)
COVERAGE_SAMPLE_USERS = 5_000
# Past this many held-out users a random subset is scored: the mean is as precise, and scoring is
# a per-user solve.  (10% of users are still held out of training.)
MAX_EVALUATED_USERS = 5_000


@dataclass(frozen=True)
class Holdout:
    train_mask: np.ndarray  # interactions the split model trains on: every user but the held-out ones
    users: np.ndarray  # held-out user indices
    inputs: list[np.ndarray]  # per held-out user: input item indices, oldest first
    truths: list[np.ndarray]  # per held-out user: ground-truth item indices
    input_types: list[np.ndarray] | None = None  # per held-out user: the inputs' event type codes


def split(interactions: Interactions, seed: int, fraction: float = HOLDOUT_FRACTION) -> Holdout:
    counts = np.bincount(interactions.users, minlength=interactions.user_count)
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
    return Holdout(train_mask, held, inputs, truths, input_types if interactions.event_types is not None else None)


def _dcg(hits: np.ndarray) -> float:
    return float((hits / np.log2(np.arange(2, len(hits) + 2))).sum())


def ranking_metrics(recommended: list[np.ndarray], relevant: list[set[int]]) -> dict[str, float]:
    """precision@K, NDCG@K (K = 5, 10, 25) and MRR@25, averaged over requests."""
    totals = {f"precision_at_{k}": 0.0 for k in CUTOFFS}
    totals.update({f"normalized_discounted_cumulative_gain_at_{k}": 0.0 for k in CUTOFFS})
    totals["mean_reciprocal_rank_at_25"] = 0.0
    for items, truth in zip(recommended, relevant, strict=True):
        hits = np.fromiter((item in truth for item in items[:TOP_K].tolist()), dtype=float, count=min(len(items), TOP_K))
        for k in CUTOFFS:
            top = hits[:k]
            totals[f"precision_at_{k}"] += top.sum() / k
            ideal = _dcg(np.ones(min(len(truth), k)))
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += _dcg(top) / ideal if ideal else 0.0
        first = np.flatnonzero(hits)
        totals["mean_reciprocal_rank_at_25"] += 1.0 / (first[0] + 1) if len(first) else 0.0
    count = max(1, len(recommended))
    return {name: value / count for name, value in totals.items()}


def _query(model: ServingModel, user: int, inputs: np.ndarray) -> Ranked:
    if isinstance(model, FactorModel):
        return model.recommend(None, TOP_K, recent=model.item_ids[inputs].tolist())
    if isinstance(model, SimsModel):
        # The held-out user's input history is SIMS's input: related items of its latest items.
        return model.related_to_history(inputs, TOP_K)
    if isinstance(model, PopularityModel):
        return model.recommend(TOP_K)
    if isinstance(model, TrendingModel):
        return model.recommend(TOP_K, now=float(model.data_end))
    raise TypeError(f"cannot evaluate {type(model).__name__}")


def evaluate(model: ServingModel, interactions: Interactions, holdout: Holdout,
             with_coverage: bool = True) -> dict[str, float]:
    holdout = _scored_subset(holdout)
    recommended, relevant = [], []
    batched = None
    if isinstance(model, FactorModel):
        batched = model.recommend_sequences(holdout.inputs, TOP_K, holdout.input_types)
    for position, (user, inputs, truth) in enumerate(zip(holdout.users, holdout.inputs, holdout.truths, strict=True)):
        if batched is not None:
            row = batched[position]
            recommended.append(row[row >= 0])
        else:
            recommended.append(_query(model, int(user), inputs).indices)
        truth_set = set(truth.tolist())
        if isinstance(model, SimsModel):
            # Related items never include the items asked about; re-interactions do not count.
            truth_set -= set(inputs.tolist())
        relevant.append(truth_set)
    metrics = ranking_metrics(recommended, relevant)
    if with_coverage:
        metrics["coverage"] = coverage(model, interactions)
    return metrics


def _scored_subset(holdout: Holdout, limit: int = MAX_EVALUATED_USERS, seed: int = 0) -> Holdout:
    if len(holdout.users) <= limit:
        return holdout
    chosen = np.sort(np.random.default_rng(seed).choice(len(holdout.users), limit, replace=False))
    types = None if holdout.input_types is None else [holdout.input_types[i] for i in chosen]
    return Holdout(holdout.train_mask, holdout.users[chosen],
                   [holdout.inputs[i] for i in chosen], [holdout.truths[i] for i in chosen], types)


def coverage(model: ServingModel, interactions: Interactions, seed: int = 0) -> float:
    """Share of the catalog that appears in top-25 lists, over (a sample of) all users."""
    # The users with interactions, ascending (np.unique's answer; a bincount is O(n), no sort or hash).
    users = np.flatnonzero(np.bincount(interactions.users, minlength=interactions.user_count))
    if isinstance(model, FactorModel):  # users the model trained on (held-out ones have no vector)
        users = users[np.diff(model.history_indptr)[users] > 0]
    if len(users) > COVERAGE_SAMPLE_USERS:
        users = np.random.default_rng(seed).choice(users, COVERAGE_SAMPLE_USERS, replace=False)
    seen = np.zeros(model.item_count, dtype=bool)
    by_user: Callable[[int], Ranked]
    if isinstance(model, SimsModel):
        last = _last_items(interactions)
        by_user = lambda u: model.related(str(model.item_ids[last[u]]), TOP_K)  # noqa: E731
    elif isinstance(model, FactorModel):
        top = model.recommend_known_users(users, TOP_K)
        seen[top[top >= 0]] = True
        return float(seen.sum() / max(1, model.item_count))
    elif isinstance(model, TrendingModel):
        by_user = lambda u: model.recommend(TOP_K, now=float(model.data_end))  # noqa: E731
    else:
        by_user = lambda u: model.popular(TOP_K)  # noqa: E731
    for user in users.tolist():
        seen[by_user(user).indices] = True
    return float(seen.sum() / max(1, model.item_count))


def _last_items(interactions: Interactions) -> np.ndarray:
    order = time_order(interactions.users, interactions.timestamps)
    last = np.full(interactions.user_count, -1, dtype=np.int64)
    last[interactions.users[order]] = interactions.items[order]  # later rows overwrite earlier ones
    return last
