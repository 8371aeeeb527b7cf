"""Pieces several recipes share: hyperparameter parsing and item popularity."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np
import scipy.sparse as sp

from training.data import Interactions, TrainingDataError, column_counts

if TYPE_CHECKING:
    from collections.abc import Mapping


def resolved_hyperparameters(recipe: str, given: Mapping[str, str] | None) -> dict[str, str]:
    """The recipe's defaults (picks.recipe_catalog, which DescribeAlgorithm serves) overlaid by ``given``."""
    from picks.recipe_catalog import RECIPES

    return {**dict(RECIPES[recipe].default_hyperparameters), **{k: str(v) for k, v in (given or {}).items()}}


Number = TypeVar("Number", int, float)


def number(
    params: Mapping[str, str],
    name: str,
    kind: type[Number],
    low: float | None = None,
    high: float | None = None,
) -> Number:
    raw = params[name]
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except (TypeError, ValueError) as error:
        raise TrainingDataError(f"algorithmHyperParameters.{name}: '{raw}' is not a number.") from error
    if (low is not None and value < low) or (high is not None and value > high):
        raise TrainingDataError(f"algorithmHyperParameters.{name}: {value} is outside [{low}, {high}].")
    return value


def flag(params: Mapping[str, str], name: str) -> bool:
    raw = str(params.get(name, "false")).strip().lower()
    if raw not in ("true", "false"):
        raise TrainingDataError(
            f"algorithmHyperParameters.{name}: '{params.get(name)}' is not true or false."
        )
    return raw == "true"


def unique_user_counts(interactions: Interactions, pairs: sp.csr_matrix | None = None) -> np.ndarray:
    """Per item, how many distinct users interacted with it (Personalize's popularity).

    ``pairs``: a users × items matrix of the same interactions with duplicates summed, when the
    caller has one already (its column counts are the answer, in O(non-zeros)).
    """
    if pairs is None:
        pairs = sp.csr_matrix(
            (np.ones(len(interactions), dtype=np.float32), (interactions.users, interactions.items)),
            shape=(interactions.user_count, interactions.item_count),
        )
        pairs.sum_duplicates()
    return column_counts(pairs.indices, interactions.item_count).astype(np.float32)
