"""Item and user metadata in aws-user-personalization's factor space (training only: scipy).

ALS learns a vector per item and per user from interactions alone, so an item added with PutItems
and not interacted with yet (appended to the catalogue by ``training.exploration`` with a zero row),
or a user known only from the USERS dataset, has no representation, and one with a handful of
interactions a noisy one.  This module learns, at every training (FULL and UPDATE), a map from
metadata to the factor space and gives such items and users the vector their metadata predicts:

* **features**: ``training.features.featurize`` over the ITEMS (USERS) dataset: categorical values
  weighted by rarity, TF-IDF of textual fields, numbers binned; one unit-length row per entity,
  plus a constant column (the average well-observed vector);
* **the map**: a ridge regression, in closed form, from the feature rows of the well-observed
  entities that have metadata (``cold_item_interactions`` distinct users or more for an item,
  ``cold_user_interactions`` distinct items or more for a user) to their ALS vectors:
  ``W = argmin ‖X W − Y‖² + λ‖W‖²`` with ``λ = metadata_regularization``;
* **the blend**: every entity with metadata the map understands (a feature some well-observed
  entity has) gets ``y ← (1 − c) · y + c · x W`` where ``c = max(0, 1 − n / cold)`` (``n``: its
  distinct users, or items): an entity with no interactions is its metadata's prediction, one
  with ``cold`` or more keeps its ALS vector untouched.
* **users of the USERS dataset without interactions** are appended to the model's users with
  their predicted vector and an empty history, so GetRecommendations answers them from their
  metadata instead of popular items (the runtime reads them like any user: no change there).

The model's ``gram`` (``YᵀY`` of the interaction-based item vectors) is left as ALS computed it: a
user's fold-in at request time solves the same system training did.  ``item_metadata_share`` /
``user_metadata_share`` (``c`` per row) are stored so an UPDATE (``user_personalization.refresh``)
re-solves the blended rows from their interactions before this runs again on the new counts.

Off (the artifact untouched, bit for bit): ``use_metadata`` ``false``, no ITEMS (USERS) dataset
or no metadata field in it, or fewer than ``MIN_DESCRIBED`` well-observed entities with metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from training.data import column_counts, listed_ids
from training.features import featurize
from training.recipes.common import flag, number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.model_artifact import ModelArtifact

    from training.data import TrainingJob

ITEM_SHARE = "item_metadata_share"
USER_SHARE = "user_metadata_share"
# A map learned from fewer well-observed entities than this says little; the model is left as it is.
MIN_DESCRIBED = 20
# Past this many columns (features + 1) and rows the normal equations are solved iteratively.
DENSE_LIMIT = 4096
CG_ITERATIONS = 300
CG_TOLERANCE = 1e-9


def attach(artifact: ModelArtifact, job: TrainingJob, params: Mapping[str, str]) -> None:
    """Metadata vectors for the artifact's cold items and users, and the USERS dataset's users
    without interactions appended (in place; see the module docstring)."""
    if "item_factors" not in artifact.arrays or not flag(params, "use_metadata"):
        return
    regularization = number(params, "metadata_regularization", float, 0)
    cold_items = number(params, "cold_item_interactions", int, 0)
    cold_users = number(params, "cold_user_interactions", int, 0)
    indptr = artifact.arrays["history_indptr"]
    items = featurize(artifact.item_ids, job.items).matrix
    if items.shape[1]:  # without item metadata no item is blended: the counts are not needed
        # In slices: bincount would first copy the whole uint16 column to int64.
        item_users = column_counts(artifact.arrays["history_items"], len(artifact.item_ids))
        blended = blend(artifact.arrays["item_factors"], items, item_users, cold_items, regularization)
        if blended is not None:
            artifact.arrays["item_factors"], artifact.arrays[ITEM_SHARE] = blended
    if job.users is None:
        return
    known = set(artifact.user_ids.tolist())
    listed, _ = listed_ids(job.users, "USER_ID")
    new_users = np.array([user for user in listed.tolist() if user not in known], dtype=object)
    user_ids = np.concatenate([artifact.user_ids, new_users]) if len(new_users) else artifact.user_ids
    features = featurize(user_ids, job.users).matrix
    factors = artifact.arrays["user_factors"]
    padded = np.concatenate([factors, np.zeros((len(new_users), factors.shape[1]), factors.dtype)])
    evidence = np.concatenate([np.diff(indptr), np.zeros(len(new_users), dtype=np.int64)])
    blended = blend(padded, features, evidence, cold_users, regularization)
    if blended is None:
        return
    vectors, share = blended
    described = share[len(factors) :] > 0
    artifact.arrays["user_factors"] = np.concatenate(
        [vectors[: len(factors)], vectors[len(factors) :][described]]
    )
    artifact.arrays[USER_SHARE] = np.concatenate([share[: len(factors)], share[len(factors) :][described]])
    append_users(artifact, new_users[described])


def blend(
    factors: np.ndarray,
    features: sp.csr_matrix,
    evidence: np.ndarray,
    cold: int,
    regularization: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(factors with rows blended towards their metadata's prediction, ``c`` per row), or None when
    no map can be learned (no features, or fewer than ``MIN_DESCRIBED`` well-observed rows with
    metadata)."""
    if features.shape[1] == 0:
        return None
    described = np.diff(features.indptr) > 0
    warm = described & (evidence >= max(cold, 1)) & factors.any(axis=1)
    if int(warm.sum()) < MIN_DESCRIBED:
        return None
    design = with_constant(features)
    weights = ridge(design[warm], factors[warm].astype(np.float64), regularization)
    # A row whose features no well-observed row has would get the constant alone: not a description.
    seen_columns = np.flatnonzero(np.asarray(features[warm].sum(axis=0)).ravel() != 0)
    understood = described & (np.diff(features[:, seen_columns].tocsr().indptr) > 0)
    share = np.where(evidence <= 0, 1.0, 1.0 - evidence / cold if cold > 0 else 0.0)
    share = np.where(understood, np.clip(share, 0.0, 1.0), 0.0)
    rows = np.flatnonzero(share > 0)
    out = factors.copy()
    if len(rows):
        predicted = _calibrated(np.asarray(design[rows] @ weights), factors[warm])
        mix = share[rows, None]
        out[rows] = ((1.0 - mix) * factors[rows] + mix * predicted).astype(factors.dtype)
    return out, share.astype(np.float32)


def _calibrated(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``predicted`` rows scaled to the median length of the well-observed rows: the regression's
    prediction is an average of the vectors of items alike, shorter than any of them the more they
    differ, while its direction is what the metadata says."""
    typical = float(np.median(np.linalg.norm(observed, axis=1)))
    lengths = np.linalg.norm(predicted, axis=1, keepdims=True)
    scale = np.divide(typical, lengths, out=np.zeros_like(lengths), where=lengths > 0)
    return predicted * scale


def with_constant(features: sp.csr_matrix) -> sp.csr_matrix:
    """``features`` with a column of ones appended to the rows that have any feature."""
    described = (np.diff(features.indptr) > 0).astype(np.float64)
    return sp.hstack([features.astype(np.float64), sp.csr_matrix(described[:, None])], format="csr")


def ridge(design: sp.csr_matrix, targets: np.ndarray, regularization: float) -> np.ndarray:
    """``W`` minimising ``‖design · W − targets‖² + regularization · ‖W‖²`` (float64, columns × k):
    the normal equations when the columns are few, their dual when the rows are, else conjugate
    gradients on the normal equations, all k targets at once."""
    rows, columns = design.shape
    if columns <= DENSE_LIMIT:
        system = (design.T @ design).toarray() + regularization * np.eye(columns)
        return np.asarray(np.linalg.solve(system, design.T @ targets))
    if rows <= DENSE_LIMIT:
        kernel = (design @ design.T).toarray() + regularization * np.eye(rows)
        return np.asarray(design.T @ np.linalg.solve(kernel, targets))
    return _conjugate_gradients(design, targets, regularization)


def _conjugate_gradients(design: sp.csr_matrix, targets: np.ndarray, regularization: float) -> np.ndarray:
    """Conjugate gradients on ``(XᵀX + λI) W = XᵀY``, one independent run per column of ``Y``,
    vectorised (the operator applied to all columns in one sparse product)."""
    right = np.asarray(design.T @ targets)
    solution = np.zeros_like(right)
    residual = right.copy()
    direction = residual.copy()
    norms = (residual * residual).sum(axis=0)
    stop = (CG_TOLERANCE**2) * np.maximum(norms, np.finfo(np.float64).tiny)
    for _ in range(CG_ITERATIONS):
        if (norms <= stop).all():
            break
        applied = np.asarray(design.T @ (design @ direction)) + regularization * direction
        curvature = (direction * applied).sum(axis=0)
        step = np.divide(norms, curvature, out=np.zeros_like(norms), where=curvature > 0)
        solution += direction * step
        residual -= applied * step
        new_norms = (residual * residual).sum(axis=0)
        direction = residual + direction * np.divide(
            new_norms, norms, out=np.zeros_like(norms), where=norms > 0
        )
        norms = new_norms
    return solution


def append_users(artifact: ModelArtifact, new_users: np.ndarray) -> None:
    """``new_users`` (their vectors already in ``user_factors``) appended with empty histories."""
    if len(new_users) == 0:
        return
    artifact.user_ids = np.concatenate([artifact.user_ids, np.asarray(new_users, dtype=object)])
    for name in ("history_indptr", "recent_indptr"):
        indptr = artifact.arrays.get(name)
        if indptr is not None:
            artifact.arrays[name] = np.concatenate(
                [indptr, np.full(len(new_users), indptr[-1], indptr.dtype)]
            )
