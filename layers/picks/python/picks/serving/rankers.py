"""Serving-side models: a request in, ranked item indices and scores out.

One class per recipe type, each built from a ``ModelArtifact``, each answering the one serving
interface ``ServingModel`` (``recommend_request`` / ``rank_request`` / ``explanations``, and the
``capabilities`` saying which of them it serves and which of a ``RankingRequest``'s inputs it
reads): the runtime never asks which model it holds.  The training job evaluates its holdout
through these very classes (many users at once: ``picks.serving.batch_ranking``), so offline
metrics measure what the runtime serves.

Arrays every model has: ``popularity`` (float32 per item, the fallback for unknown users/items).
``FactorModel`` (USER_PERSONALIZATION, PERSONALIZED_RANKING): ``item_factors``, ``user_factors``,
``gram`` (YᵀY), and the users' training history as CSR (``history_indptr``, ``history_items``,
``history_confidence``).  ``SimsModel`` (RELATED_ITEMS): ``neighbors`` / ``neighbor_scores``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from picks.serving.exploration import ExplorationConfig, ItemEvidence, explore
from picks.serving.repeats import RepeatTable, lift_repeats
from picks.serving.topk import Ranked, softmax, softmax_normaliser, top_k, zeroed_scratch_array

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from picks.model_artifact import ModelArtifact


# FactorModel.recommend's last (scored, temperature, softmax_normaliser) in this thread.
_last_normaliser = threading.local()


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


@dataclass(frozen=True)
class RankingRequest:
    """One runtime request as every model reads it; each reads what its ``Capabilities`` name."""

    user_id: str | None = None
    item_id: str | None = None
    context: dict[str, str] = field(default_factory=dict)  # without picks' own switches
    # ``folds_in``: the user's interactions after the model's data (item ids, event types), oldest first.
    recent: Sequence[str] = ()
    recent_types: Sequence[str] = ()
    # ``live_window``: the request's clock (seconds) and the group's events of the last two windows
    # (item indices, receive times in seconds).
    now: float = 0.0
    live_items: np.ndarray | None = None
    live_times: np.ndarray | None = None
    # What a model computed for this request, kept between its rankings (a promotion and the rest).
    memo: dict[str, Any] = field(default_factory=dict)
    # The campaign's or job's itemExplorationConfig (picks.serving.exploration); None: no exploration.
    exploration: ExplorationConfig | None = None


@dataclass(frozen=True)
class Capabilities:
    """Which runtime operations a model serves and which request inputs it needs: what the
    runtime reads instead of the model's type."""

    recommends: bool = True  # answers GetRecommendations (``recommend_request``)
    ranks: bool = False  # answers GetPersonalizedRanking (``rank_request``)
    requires: str | None = None  # the request member GetRecommendations cannot do without
    folds_in: bool = False  # reads ``recent`` / ``recent_types``
    live_window: int | None = None  # reads ``now`` / ``live_*``: events of two windows this long (s)


class ServingModel(ABC):
    """The serving interface every model implements, and what they share: ids ↔ indices and the
    popularity fallback."""

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self.recipe = artifact.recipe
        self.recipe_type = artifact.recipe_type
        self.item_ids = artifact.item_ids
        self.user_ids = artifact.user_ids
        self.popularity = artifact.arrays["popularity"].astype(np.float32)
        self.info = artifact.info
        self.event_rule = EventRule.from_info(self.info.get("eventRule"))

    # --- the serving interface ----------------------------------------------------------------

    @cached_property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    @abstractmethod
    def recommend_request(
        self,
        request: RankingRequest,
        k: int,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        """GetRecommendations: the ``k`` best items for ``request``, skipping ``excluded`` indices
        and items not ``allowed``."""

    def rank_request(self, request: RankingRequest, candidates: np.ndarray) -> Ranked:
        """GetPersonalizedRanking: the known ``candidates`` (item indices) ordered for ``request``;
        only where ``capabilities.ranks``."""
        raise NotImplementedError(f"{type(self).__name__} ranks no candidates")

    def explanations(self, request: RankingRequest, items: np.ndarray) -> list[list[tuple[int, float]]]:
        """Per ranked item, the request's interactions that contributed most to it (item index,
        share); none where the model has no such reasons."""
        return [[] for _ in range(len(items))]

    def explored(self, request: RankingRequest, items: np.ndarray) -> np.ndarray:
        """Which of the ranked ``items`` (indices) the request's exploration bonus applied to; none
        where the model does not explore."""
        return np.empty(0, np.int64)

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

    def recommend_request(
        self,
        request: RankingRequest,
        k: int,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        return self.recommend(k, excluded=excluded, allowed=allowed)


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
        self.evidence = ItemEvidence.from_artifact(artifact, self.item_factors)

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

    # --- the serving interface ----------------------------------------------------------------

    @cached_property
    def capabilities(self) -> Capabilities:
        ranking = self.recipe_type == "PERSONALIZED_RANKING"
        return Capabilities(recommends=not ranking, ranks=ranking, requires="userId", folds_in=True)

    def recommend_request(
        self,
        request: RankingRequest,
        k: int,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        """``recommend``, on the request's scores computed once however often it is ranked."""
        if "scores" not in request.memo:
            request.memo["scores"] = explore(
                self.evidence,
                request.exploration,
                request.user_id,
                self.request_scores(
                    request.user_id, request.recent, request.context, recent_types=request.recent_types
                ),
            )
        return self.recommend(
            request.user_id, k, excluded=excluded, allowed=allowed, scored=request.memo["scores"]
        )

    def explored(self, request: RankingRequest, items: np.ndarray) -> np.ndarray:
        if self.evidence is None or request.exploration is None:
            return np.empty(0, np.int64)
        found: np.ndarray = items[self.evidence.explorer(request.exploration).is_candidate[items]]
        return found

    def rank_request(self, request: RankingRequest, candidates: np.ndarray) -> Ranked:
        return self.rank(
            request.user_id,
            candidates,
            recent=request.recent,
            context=request.context,
            recent_types=request.recent_types,
        )

    def explanations(self, request: RankingRequest, items: np.ndarray) -> list[list[tuple[int, float]]]:
        return [self.explain(request.user_id, item, request.recent) for item in items.tolist()]

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

    def _neighbor_scores(self, last: np.ndarray) -> np.ndarray | None:
        """The recent items' summed neighbour scores per item."""
        if not self.recent_weight or len(last) == 0:
            return None
        assert self.neighbors is not None and self.neighbor_scores is not None  # else recent_weight is 0
        out = np.zeros(self.item_count, dtype=np.float32)
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
        are summed, scaled and added: in a per-thread array kept all zeros between calls, not a
        catalogue-long fill, product, quotient and sum per request.  (Where no neighbour's sum is
        positive, the peak over every item is 0 or less as well: nothing is added either way.  Adding
        0.0 to the other items' scores would not change a bit of them: a factor score is never -0.0,
        as its sums start at +0.0.)"""
        if not self.recent_weight or len(last) == 0:
            return
        assert self.neighbors is not None and self.neighbor_scores is not None  # else recent_weight is 0
        rows = self.neighbors[last]
        valid = rows >= 0
        touched = rows[valid]
        if len(touched) == 0:
            return
        near = zeroed_scratch_array("blended_scores.near", self.item_count, np.float32)
        try:
            # In the order of _neighbor_scores' np.add.at: the same sums.
            decay = self._recent_decays(len(last))
            np.add.at(near, touched, (self.neighbor_scores[last] * decay[:, None])[valid])
            scaled = near[touched]
            peak = scaled.max()
            if peak > 0:
                scaled *= self.recent_weight
                scaled /= peak
                # An item listed twice gets the same sum twice: the last write is the one sum.
                score[touched] = score[touched] + scaled
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
        # An item the user already has (a repeat) is not its own reason: the other interactions are.
        contributions[items == item] = 0.0
        total = np.abs(contributions).sum() or 1.0
        best = np.argsort(-contributions)[:top]
        return [(int(items[i]), float(contributions[i] / total)) for i in best if contributions[i] > 0]


class SimsModel(ServingModel):
    """aws-sims: precomputed item-to-item neighbours; popular items for an unknown item."""

    def __init__(self, artifact: ModelArtifact) -> None:
        super().__init__(artifact)
        self.neighbors = artifact.arrays["neighbors"]
        self.neighbor_scores = artifact.arrays["neighbor_scores"].astype(np.float32, copy=False)

    @cached_property
    def capabilities(self) -> Capabilities:
        return Capabilities(requires="itemId")

    def recommend_request(
        self,
        request: RankingRequest,
        k: int,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        return self.related(request.item_id, k, excluded=excluded, allowed=allowed)

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

    @cached_property
    def capabilities(self) -> Capabilities:
        return Capabilities(live_window=self.window)

    def recommend_request(
        self,
        request: RankingRequest,
        k: int,
        excluded: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> Ranked:
        return self.recommend(
            k, request.now, request.live_items, request.live_times, excluded=excluded, allowed=allowed
        )

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
