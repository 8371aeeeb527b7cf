"""aws-user-personalization: implicit-feedback matrix factorisation (ALS, the ``implicit`` library).

Each (user, item) pair's confidence is ``als_alpha * log2(1 + Σ event weights)``; with
``recency_mask`` a user's later interactions weigh up to twice their first ones, so the model
leans towards what users do now.  The artifact also carries item-to-item co-occurrence
neighbours and each user's last ``recent_window`` items: at request time the factor score is
blended with the neighbours of the user's latest items (``recent_item_weight``), which is what
makes the next interaction predictable from the current session.  Users whose history length is above
``max_user_history_length_percentile`` (or below the min) do not shape the item factors, but
still get a vector by fold-in.  ``hidden_dimension`` is the number of factors.

The artifact keeps the users' histories and ``YᵀY`` so the runtime can recompute a user's vector
from interactions newer than the model (``picks.serving.rankers.FactorModel.fold_in``).
``refresh`` (trainingMode UPDATE, and finishing a holdout model) keeps the item factors, folds
in items the model has not seen from the users who interacted with them (and those whose vector came
from their metadata, ``training/metadata.py``, which runs again after it), then refreshes users.

Re-interactions (``training/repeats.py``, ``picks.serving.repeats``): the artifact carries how
often the training users came back to one of their recent items, by position, event type and
count, and the event types of each user's recent items; recent items whose chance is above
``repeat_threshold`` are recommended again ahead of the rest (a click followed by a purchase of the
same item), unless ``exclude_interacted_items`` is explicitly ``true``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import scipy.sparse as sp
from picks.model_artifact import ModelArtifact
from picks.serving.rankers import confidence

from training import metadata, repeats
from training.data import ROW_CHUNK, Interactions, item_index_type, position_in_run, time_order
from training.recipes.common import flag, number, unique_user_counts
from training.recipes.sims import neighbor_lists

if TYPE_CHECKING:
    from collections.abc import Mapping

RECIPE = "aws-user-personalization"
RECIPE_TYPE = "USER_PERSONALIZATION"
SCORE_TEMPERATURE = 0.1
RECENT_WINDOW = 20
RECENT_DECAY = 0.95
# Co-occurrence for the session signal counts each user's newest interactions only: what users did
# together lately predicts the next item better than whole histories (measured on MovieLens), and
# the cost grows with the square of history length.
NEIGHBOR_HISTORY = 50
# The pairs counted (Σ min(n_u, cap)²) are bounded: past this the cap shrinks.  The neighbours are
# computed beside ALS on the same cores, so this work lengthens training one for one; 150M pairs
# (MovieLens-25M-sized data: each user's 25 newest items) take a few CPU-seconds, still ample
# evidence for 200 neighbours per item.  Smaller data (under ~5M interactions) keeps all 50.
NEIGHBOR_PAIR_BUDGET = 150_000_000


def _user_time_order(interactions: Interactions, newest_first: bool = False) -> np.ndarray:
    """Rows by user, then time (``time_order``: oldest first with ties in row order, or its reverse
    within each user), computed once per ``Interactions``."""
    return interactions.by_user_newest if newest_first else interactions.by_user_time


def _positions(users_sorted: np.ndarray, user_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(each sorted row's position within its user's rows, that user's row count): O(n), no search."""
    counts = np.bincount(users_sorted, minlength=user_count)
    first = np.cumsum(counts) - counts
    return np.arange(len(users_sorted)) - first[users_sorted], counts[users_sorted]


def confidence_matrix(interactions: Interactions, params: Mapping[str, str]) -> sp.csr_matrix:
    """users × items, value = alpha · log2(1 + summed (recency-scaled) event weights)."""
    weights = interactions.weights.astype(np.float64)
    ramp = _recency_ramp(params)
    shape = (interactions.user_count, interactions.item_count)
    if interactions.rows_by_user_time and len(interactions):
        # Rows already by user (as imported): the CSR arrays are the columns themselves, in the
        # order scipy's COO conversion would put them (so duplicates sum in the same order).
        counts = interactions.user_counts
        indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        if ramp:
            # In slices, the same operations per row: whole-column temporaries would be ~1 GB.
            starts, spans = indptr[:-1], np.maximum(counts - 1, 1)
            for lo in range(0, len(interactions), ROW_CHUNK):
                users = interactions.users[lo : lo + ROW_CHUNK]
                within = np.arange(lo, lo + len(users)) - starts[users]
                weights[lo : lo + len(users)] *= 1.0 + ramp * (within / spans[users])
        index_type = np.int32 if max(shape) < 2**31 and len(interactions) < 2**31 else np.int64
        # The items are copied: sum_duplicates sorts each row's entries in place.
        matrix = sp.csr_matrix(
            (weights, interactions.items.astype(index_type), indptr.astype(index_type)), shape=shape
        )
    else:
        if ramp and len(interactions):
            # Same weights as picks.serving.rankers.recency_weights, per user, vectorised.
            order = _user_time_order(interactions)
            within, count = _positions(interactions.users[order], interactions.user_count)
            position = within / np.maximum(count - 1, 1)
            recency = np.empty(len(order))
            recency[order] = 1.0 + ramp * position
            weights = weights * recency
        matrix = sp.csr_matrix((weights, (interactions.users, interactions.items)), shape=shape)
    matrix.sum_duplicates()
    # In place on the float64 sums: no second matrix-sized temporary.
    matrix.data = confidence(matrix.data, number(params, "als_alpha", float, 0), out=matrix.data).astype(
        np.float32
    )
    return matrix


def _recency_ramp(params: Mapping[str, str]) -> float:
    return 1.0 if flag(params, "recency_mask") else 0.0


@overload
def recent_items(
    interactions: Interactions, window: int = ..., *, with_types: Literal[False] = ...
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def recent_items(
    interactions: Interactions, window: int = ..., *, with_types: Literal[True]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def recent_items(
    interactions: Interactions, window: int = RECENT_WINDOW, *, with_types: bool = False
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR (indptr, items) of each user's last ``window`` interactions, newest first; with
    ``with_types`` also their event type codes, as ``repeats.recent_types`` gives them (same rows)."""
    indptr, rows = _newest_rows(interactions, window)
    items = interactions.items[rows].astype(np.int32)
    if not with_types:
        return indptr, items
    return indptr, items, repeats.type_codes_at(interactions, rows).astype(np.int16)


def _newest_rows(interactions: Interactions, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, rows): each user's last ``window`` interaction rows, newest first."""
    if interactions.rows_by_user_time:
        return _newest_stored_rows(interactions, window)
    order = _user_time_order(interactions, newest_first=True)
    users = interactions.users[order]
    keep = position_in_run(users) < window
    counts = np.bincount(users[keep], minlength=interactions.user_count)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return indptr, order[keep]


def _newest_stored_rows(interactions: Interactions, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``_newest_rows`` for rows stored by user, then time: each user's last ``window`` rows,
    reversed (newest first is the reverse of the stored order, ties included: ``time_order``)."""
    counts = interactions.user_counts
    ends = np.cumsum(counts)
    kept = np.minimum(counts, window)
    offsets = np.cumsum(kept) - kept
    # The k-th kept row of a user (0 = newest) is row ends - 1 - k.
    rows = np.repeat(ends - 1 + offsets, kept) - np.arange(int(kept.sum()), dtype=np.int64)
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(kept, out=indptr[1:])
    return indptr, rows


def recent_matrix(interactions: Interactions, window: int) -> sp.csr_matrix:
    """users × items, 1 for each of the user's ``window`` newest distinct items (found among the
    user's newest ``2 · window`` interactions, so a sort of those rows only)."""
    indptr, rows = _newest_rows(interactions, 2 * window)
    users = np.repeat(np.arange(interactions.user_count, dtype=np.int64), np.diff(indptr))
    items = interactions.items[rows].astype(np.int64)
    # A user's rows are newest first, so the first of each (user, item) in row order is its newest.
    pairs = users * np.int64(interactions.item_count) + items
    by_pair = time_order(pairs, np.arange(len(rows)))
    pairs = pairs[by_pair]
    newest = np.zeros(len(rows), dtype=bool)
    newest[by_pair[np.concatenate([[True], pairs[1:] != pairs[:-1]])]] = True
    users, items = users[newest], items[newest]
    keep = position_in_run(users) < window
    users, items = users[keep], items[keep]
    counts = np.bincount(users, minlength=interactions.user_count)
    matrix = sp.csr_matrix(
        (
            np.ones(len(items), dtype=np.float32),
            items.astype(np.int32),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        ),
        shape=(interactions.user_count, interactions.item_count),
    )
    matrix.sort_indices()
    return matrix


@dataclass(frozen=True)
class Prepared:
    """What ``fit`` and ``refresh`` derive from the interactions alone: the confidence matrix, the
    users' recent items, the co-occurrence input and the repeat table's examples.  Built once per
    job on all interactions (``prepare``); the holdout split's are the same with the held-out users'
    rows left out (``without``), bit for bit what building them on the split's interactions gives,
    since every user's rows depend on that user's interactions only (the co-occurrence window is
    the whole data's ``history_cap``, which only differs from the split's where the pair budget
    binds)."""

    key: tuple[float, float]  # (recency ramp, alpha): the hyperparameters the matrix depends on
    matrix: sp.csr_matrix
    recent: tuple[np.ndarray, np.ndarray, np.ndarray]  # recent_items(with_types=True): indptr, items, types
    neighbor_input: sp.csr_matrix  # recent_matrix(history_cap): what the co-occurrence neighbours count
    repeat_examples: repeats.Examples

    def without(self, users: np.ndarray) -> Prepared:
        """The same with these users' rows emptied."""
        keep = np.ones(self.matrix.shape[0], dtype=bool)
        keep[np.asarray(users, dtype=np.int64)] = False
        indptr, items = _keep_csr_rows(self.recent[0], self.recent[1], keep)
        _, types = _keep_csr_rows(self.recent[0], self.recent[2], keep)
        return Prepared(
            self.key,
            _keep_rows(self.matrix, keep),
            (indptr, items, types),
            _keep_rows(self.neighbor_input, keep),
            self.repeat_examples.without(users),
        )

    def fits(self, interactions: Interactions, params: Mapping[str, str]) -> bool:
        return self.key == _matrix_key(params) and self.matrix.shape == (
            interactions.user_count,
            interactions.item_count,
        )


def _matrix_key(params: Mapping[str, str]) -> tuple[float, float]:
    return _recency_ramp(params), number(params, "als_alpha", float, 0)


def _keep_csr_rows(indptr: np.ndarray, values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.diff(indptr)
    kept = np.where(keep, lengths, 0)
    out = np.zeros(len(indptr), dtype=indptr.dtype)
    np.cumsum(kept, out=out[1:])
    return out, values[np.repeat(keep, lengths)]


def _keep_rows(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    indptr, data = _keep_csr_rows(matrix.indptr, matrix.data, keep)
    indices = matrix.indices[np.repeat(keep, np.diff(matrix.indptr))]
    out = sp.csr_matrix((data, indices, indptr), shape=matrix.shape)
    out.has_canonical_format = matrix.has_canonical_format  # rows kept as they were, so still canonical
    return out


def prepare(interactions: Interactions, params: Mapping[str, str]) -> Prepared:
    """The confidence matrix, recent items, co-occurrence input and repeat examples of
    ``interactions``, for ``fit`` / ``refresh(prepared=)``: the co-occurrence input and the repeat
    examples on a second thread, the rest on this one (single-threaded numpy work each, about as
    long: two at a time keep two cores busy)."""
    interactions.user_counts  # noqa: B018 - counted once, here, before both threads need them
    if not interactions.rows_by_user_time:
        _user_time_order(interactions)  # sorted once, here, rather than by both threads at once
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="picks-prepare") as pool:
        beside = pool.submit(_cooccurrence_input_and_examples, interactions)
        matrix = confidence_matrix(interactions, params)
        recent = recent_items(interactions, with_types=True)
        neighbor_input, examples = beside.result()
        return Prepared(_matrix_key(params), matrix, recent, neighbor_input, examples)


def _cooccurrence_input_and_examples(interactions: Interactions) -> tuple[sp.csr_matrix, repeats.Examples]:
    """(co-occurrence input, repeat examples): each user's newest interactions, and its repeats."""
    return recent_matrix(interactions, history_cap(interactions)), repeats.examples(
        interactions, RECENT_WINDOW
    )


def _prepared(
    interactions: Interactions, params: Mapping[str, str], prepared: Prepared | None
) -> tuple[sp.csr_matrix, Prepared | None]:
    """(confidence matrix, ``prepared`` where it fits these interactions and parameters, else None)."""
    if prepared is not None and prepared.fits(interactions, params):
        return prepared.matrix, prepared
    return confidence_matrix(interactions, params), None


def history_cap(interactions: Interactions, budget: int = NEIGHBOR_PAIR_BUDGET) -> int:
    """Largest per-user history length whose co-occurrence pairs (Σ min(n_u, cap)²) fit ``budget``."""
    lengths = interactions.user_counts.astype(np.float64)
    cap = min(NEIGHBOR_HISTORY, int(lengths.max())) if len(lengths) else 1
    while cap > 10 and float((np.minimum(lengths, cap) ** 2).sum()) > budget:
        cap = int(cap * 0.8)
    return max(cap, 10)


def cooccurrence_neighbors(
    interactions: Interactions, neighbor_input: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine-normalised co-occurrence neighbours (``cooc / sqrt(count_i · count_j)`` ranks like this)
    over each user's newest ``history_cap`` interactions (``neighbor_input``, when given)."""
    matrix = (
        neighbor_input
        if neighbor_input is not None
        else recent_matrix(interactions, history_cap(interactions))
    )
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    return neighbor_lists(matrix, np.sqrt(counts + 1.0).astype(np.float32), min_together=1)


def _history_bounds(matrix: sp.csr_matrix, params: Mapping[str, str]) -> np.ndarray:
    """Users whose history length is inside the configured percentiles (they train the item factors)."""
    lengths = np.diff(matrix.indptr)
    active = lengths[lengths > 0]
    if len(active) == 0:
        return lengths > 0
    low = np.quantile(active, number(params, "min_user_history_length_percentile", float, 0, 1))
    high = np.quantile(active, number(params, "max_user_history_length_percentile", float, 0, 1))
    return (lengths >= low) & (lengths <= high) & (lengths > 0)


def _als(params: Mapping[str, str], seed: int):  # noqa: ANN202 - implicit's model classes
    from implicit.als import AlternatingLeastSquares
    from implicit.gpu import HAS_CUDA

    return AlternatingLeastSquares(
        factors=number(params, "hidden_dimension", int, 1, 1024),
        regularization=number(params, "als_regularization", float, 0),
        alpha=1.0,  # confidence is already scaled in confidence_matrix
        iterations=number(params, "als_iterations", int, 1, 200),
        random_state=seed,
        calculate_training_loss=False,
        use_gpu=HAS_CUDA and os.environ.get("PICKS_USE_GPU", "true") == "true",
    )


def _fit_factors(model, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - implicit's class
    """(item factors, user factors) of ``model`` (``_als``) fitted to ``matrix`` (CSR, float32).

    On the CPU, ``implicit``'s own fit loop, run here: the same initialisation and the same
    conjugate-gradient solver per half-iteration, so the factors are bit for bit ``model.fit``'s
    (tested).  ``model.fit`` hands the solver ``matrix.data.astype("float32")``, a fresh copy of
    the data on each of its 2 × iterations calls (3 GB of short-lived memory for 25M
    interactions, first touched each time); this passes the float32 arrays as they are.
    On a GPU ``model.fit`` itself runs.
    """
    from implicit.cpu import _als
    from implicit.cpu.als import AlternatingLeastSquares as CpuALS
    from implicit.utils import check_random_state

    if not isinstance(model, CpuALS) or model.alpha != 1.0 or model.dtype != np.float32 or not model.use_cg:
        model.fit(matrix, show_progress=False)
        return _to_numpy(model.item_factors), _to_numpy(model.user_factors)
    matrix = matrix if matrix.data.dtype == np.float32 else matrix.astype(np.float32)
    random_state = check_random_state(model.random_state)
    users, items = matrix.shape
    model.user_factors = random_state.random((users, model.factors), dtype=model.dtype) * 0.01
    model.item_factors = random_state.random((items, model.factors), dtype=model.dtype) * 0.01
    transposed = matrix.T.tocsr()
    for _ in range(model.iterations):
        _als._least_squares_cg(
            matrix.indptr,
            matrix.indices,
            matrix.data,
            model.user_factors,
            model.item_factors,
            model.regularization,
            model.num_threads,
            model.cg_steps,
        )
        _als._least_squares_cg(
            transposed.indptr,
            transposed.indices,
            transposed.data,
            model.item_factors,
            model.user_factors,
            model.regularization,
            model.num_threads,
            model.cg_steps,
        )
    model._check_fit_errors()  # noqa: SLF001 - implicit's own NaN check, as model.fit ends with
    return model.item_factors, model.user_factors


def _to_numpy(factors: object) -> np.ndarray:
    return np.asarray(factors.to_numpy() if hasattr(factors, "to_numpy") else factors, dtype=np.float32)


def _solve_rows(
    targets: sp.csr_matrix, rows: np.ndarray, factors: np.ndarray, regularization: float
) -> np.ndarray:
    """One exact ALS least-squares solve per row of ``targets`` against fixed ``factors``:
    (FᵀF + λI + Σ (c - 1) f fᵀ) x = Σ c f over the row's entries (0 for an empty row).

    ``implicit``'s own exact solver (Cholesky per row, on every core; float32 like its fit), on
    just these rows: a Python loop of per-row numpy solves took seconds for the held-out users of
    25M interactions.
    """
    from implicit.cpu import _als

    factors32 = np.ascontiguousarray(factors, dtype=np.float32)
    out = np.zeros((len(rows), factors.shape[1]), dtype=np.float32)
    if len(rows) == 0:
        return out
    chosen = targets[np.asarray(rows, dtype=np.int64)]
    index_type = np.int32 if max(chosen.shape) < 2**31 and chosen.nnz < 2**31 else np.int64
    _als._least_squares(
        factors32.T @ factors32,
        chosen.indptr.astype(index_type, copy=False),
        chosen.indices.astype(index_type, copy=False),
        chosen.data.astype(np.float32),
        out,
        factors32,
        float(regularization),
        num_threads=0,
    )
    return out


def _metadata_rows(artifact: ModelArtifact, name: str, mapping: np.ndarray) -> np.ndarray:
    """Per mapped row (-1: none), whether the artifact's vector for it came (partly) from metadata."""
    share = artifact.arrays.get(name)
    if share is None:
        return np.zeros(len(mapping), dtype=bool)
    return (mapping >= 0) & (share[np.maximum(mapping, 0)] > 0)


def _excludes_explicitly(params: Mapping[str, str]) -> bool:
    return str(params.get("exclude_interacted_items", "")).lower() == "true"


def _artifact(
    interactions: Interactions,
    matrix: sp.csr_matrix,
    item_factors: np.ndarray,
    user_factors: np.ndarray,
    params: Mapping[str, str],
    neighbors: tuple[np.ndarray, np.ndarray] | None = None,
    recent: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    repeat_table: np.ndarray | None = None,
) -> ModelArtifact:
    item64 = item_factors.astype(np.float64)
    if recent is None:
        recent = (*recent_items(interactions), repeats.recent_types(interactions, RECENT_WINDOW))
    recent_indptr, last_items, recent_types = recent
    neighbors = neighbors if neighbors is not None else cooccurrence_neighbors(interactions)
    if repeat_table is None:
        repeat_table = repeats.table(interactions, RECENT_WINDOW)
    return ModelArtifact(
        recipe=RECIPE,
        recipe_type=RECIPE_TYPE,
        item_ids=interactions.item_ids,
        user_ids=interactions.user_ids,
        arrays={
            "popularity": unique_user_counts(interactions, matrix),
            "item_factors": item_factors.astype(np.float32),
            "user_factors": user_factors.astype(np.float32),
            "gram": item64.T @ item64,
            # Shared with the matrix, which nothing changes later.
            "history_indptr": matrix.indptr.astype(np.int64, copy=False),
            # As small as the catalog allows: 50 MB less to save, upload and load for 25M interactions.
            "history_items": matrix.indices.astype(item_index_type(interactions.item_count), copy=False),
            "history_confidence": matrix.data.astype(np.float32, copy=False),
            "recent_indptr": recent_indptr,
            "recent_items": last_items,
            "neighbors": neighbors[0],
            "neighbor_scores": neighbors[1],
            "recent_types": recent_types,
            "repeat_probability": repeat_table,
        },
        strings={"repeat_event_types": np.array(repeats.type_names(interactions), dtype=object)},
        info={
            "hyperParameters": dict(params),
            "regularization": number(params, "als_regularization", float, 0),
            "alpha": number(params, "als_alpha", float, 0),
            "score_temperature": SCORE_TEMPERATURE,
            "recency_ramp": _recency_ramp(params),
            "recent_item_weight": number(params, "recent_item_weight", float, 0),
            "context_weight": number(params, "context_weight", float, 0),
            "recent_window": RECENT_WINDOW,
            "recent_decay": RECENT_DECAY,
            # An explicit exclude_interacted_items=true means no item the user touched comes back.
            "repeat_threshold": 1.0
            if _excludes_explicitly(params)
            else number(params, "repeat_threshold", float, 0, 1),
            # "auto" is settled by training/train.py on the holdout before the model is saved.
            "exclude_interacted_items": str(params.get("exclude_interacted_items", "true")).lower()
            != "false",
            "latestInteraction": interactions.latest_timestamp,
        },
    )


def fit(
    interactions: Interactions, params: Mapping[str, str], *, seed: int = 0, prepared: Prepared | None = None
) -> ModelArtifact:
    """ALS on ``interactions``; ``prepared``: their ``prepare`` output when the caller has it already."""
    from threadpoolctl import threadpool_limits

    matrix, prepared = _prepared(interactions, params, prepared)
    trains = _history_bounds(matrix, params)
    fit_matrix = sp.diags(trains.astype(np.float32)) @ matrix  # rows of excluded users become empty
    fit_matrix.eliminate_zeros()
    model = _als(params, seed)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="picks-fit") as pool:
        # The neighbours and the repeat table depend on the interactions alone: computed beside ALS.
        # They run single-threaded, so on their own they leave cores idle that ALS would use (and
        # with ALS on a GPU the CPU is idle meanwhile); the results are the same either way.
        beside = pool.submit(_interaction_arrays, interactions, prepared)
        with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads would oversubscribe
            item_factors, user_factors = _fit_factors(model, fit_matrix.tocsr())
        others = np.flatnonzero(~trains & (np.diff(matrix.indptr) > 0))
        if len(others):
            user_factors[others] = _solve_rows(
                matrix, others, item_factors, number(params, "als_regularization", float)
            )
        neighbors, repeat_table = beside.result()
    recent = prepared.recent if prepared is not None else None
    return _artifact(
        interactions, matrix, item_factors, user_factors, params, neighbors, recent, repeat_table
    )


def _interaction_arrays(
    interactions: Interactions, prepared: Prepared | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """(co-occurrence neighbours, repeat table): the artifact's parts that need no factors."""
    if prepared is None:
        return cooccurrence_neighbors(interactions), repeats.table(interactions, RECENT_WINDOW)
    return cooccurrence_neighbors(interactions, prepared.neighbor_input), prepared.repeat_examples.table()


def refresh(
    artifact: ModelArtifact,
    interactions: Interactions,
    params: Mapping[str, str],
    users: np.ndarray | None = None,
    *,
    prepared: Prepared | None = None,
) -> ModelArtifact:
    """``artifact``'s item factors applied to ``interactions`` without refitting.

    Items the artifact has never seen are folded in from the users who interacted with them; then
    the vectors of ``users`` (all users when None) are recomputed from their full histories.
    ``prepared``: the interactions' ``prepare`` output when the caller has it already.
    """
    regularization = number(params, "als_regularization", float, 0)
    matrix, prepared = _prepared(interactions, params, prepared)
    previous_items = {item: index for index, item in enumerate(artifact.item_ids.tolist())}
    previous_users = {user: index for index, user in enumerate(artifact.user_ids.tolist())}
    old_item_factors = artifact.arrays["item_factors"]
    old_user_factors = artifact.arrays["user_factors"]
    k = old_item_factors.shape[1]

    item_factors = np.zeros((interactions.item_count, k), dtype=np.float32)
    item_map = np.array([previous_items.get(i, -1) for i in interactions.item_ids.tolist()], dtype=np.int64)
    # An item the previous model held without a vector (a catalogue item no one had interacted
    # with, training/exploration.py) is folded in like an unseen one.
    known_items = item_map >= 0
    known_items[known_items] = old_item_factors[item_map[known_items]].any(axis=1)
    # So is one whose vector came (partly) from its metadata (training/metadata.py): its
    # interactions decide it again, and the metadata blend is redone on the new counts.
    known_items &= ~_metadata_rows(artifact, metadata.ITEM_SHARE, item_map)
    item_factors[known_items] = old_item_factors[item_map[known_items]]

    user_map = np.array([previous_users.get(u, -1) for u in interactions.user_ids.tolist()], dtype=np.int64)
    user_factors = np.zeros((interactions.user_count, k), dtype=np.float32)
    known_users = user_map >= 0
    known_users &= ~_metadata_rows(artifact, metadata.USER_SHARE, user_map)
    user_factors[known_users] = old_user_factors[user_map[known_users]]

    new_items = np.flatnonzero(~known_items)
    if len(new_items):
        item_users = matrix.T.tocsr()
        # Only users the old model knows carry information about a new item.
        mask = sp.diags(known_users.astype(np.float32))
        item_users = (item_users @ mask).tocsr()
        item_users.eliminate_zeros()
        item_factors[new_items] = _solve_rows(item_users, new_items, user_factors, regularization)

    targets = np.arange(interactions.user_count) if users is None else np.asarray(users)
    user_factors[targets] = _solve_rows(matrix, targets, item_factors, regularization)
    same_items = len(item_map) == len(artifact.item_ids) and np.array_equal(
        item_map, np.arange(len(item_map))
    )
    neighbors = (artifact.arrays["neighbors"], artifact.arrays["neighbor_scores"]) if same_items else None
    if neighbors is None and prepared is not None:
        neighbors = cooccurrence_neighbors(interactions, prepared.neighbor_input)
    recent, repeat_table = (
        (None, None) if prepared is None else (prepared.recent, prepared.repeat_examples.table())
    )
    return _artifact(
        interactions, matrix, item_factors, user_factors, params, neighbors, recent, repeat_table
    )
