"""Small synthetic interaction data with planted structure, shared by the model and recipe tests.

Two user clusters (A and B) and two item groups (A and B): users interact mostly with items of
their own group, with a popularity skew inside each group and one off-group interaction each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from training.data import Interactions
from training.recipes import user_personalization
from training.recipes.common import resolved_hyperparameters

if TYPE_CHECKING:
    from picks.model_artifact import ModelArtifact

START = 1_700_000_000


@dataclass(frozen=True)
class Planted:
    interactions: Interactions
    user_cluster: np.ndarray  # 0 (A) or 1 (B) per user index
    item_group: np.ndarray  # 0 (A) or 1 (B) per item index

    def users_of(self, cluster: int) -> np.ndarray:
        return np.flatnonzero(self.user_cluster == cluster)

    def items_of(self, group: int) -> np.ndarray:
        return np.flatnonzero(self.item_group == group)


def planted(
    users_per_cluster: int = 60,
    items_per_group: int = 20,
    per_user: int = 10,
    seed: int = 5,
    user_prefix: str = "u",
    item_prefix: str = "i",
) -> Planted:
    rng = np.random.default_rng(seed)
    n_users, n_items = 2 * users_per_cluster, 2 * items_per_group
    user_cluster = np.repeat([0, 1], users_per_cluster)
    item_group = np.repeat([0, 1], items_per_group)
    weights = 1.0 / np.arange(1, items_per_group + 1) ** 0.5
    weights /= weights.sum()
    users, items, times = [], [], []
    for user in range(n_users):
        own = user_cluster[user] * items_per_group
        other = (1 - user_cluster[user]) * items_per_group
        picks = own + rng.choice(items_per_group, size=per_user - 1, replace=False, p=weights)
        noise = other + rng.integers(items_per_group)
        sequence = np.concatenate([picks, [noise]])
        rng.shuffle(sequence)
        users.extend([user] * per_user)
        items.extend(sequence.tolist())
        times.extend((START + user * 1000 + np.arange(per_user) * 10).tolist())
    count = len(users)
    data = Interactions(
        users=np.asarray(users, dtype=np.int64),
        items=np.asarray(items, dtype=np.int64),
        timestamps=np.asarray(times, dtype=np.int64),
        weights=np.ones(count, dtype=np.float32),
        user_ids=np.array([f"{user_prefix}{i}" for i in range(n_users)], dtype=object),
        item_ids=np.array([f"{item_prefix}{i}" for i in range(n_items)], dtype=object),
    )
    return Planted(data, user_cluster, item_group)


def csv_rows(data: Interactions, event_type: str = "View") -> str:
    """The interactions as Personalize CSV rows (USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE), no header."""
    return "".join(
        f"{data.user_ids[u]},{data.item_ids[i]},{t},{event_type}\n"
        for u, i, t in zip(data.users.tolist(), data.items.tolist(), data.timestamps.tolist(), strict=True)
    )


def fitted_ranking_model(data: Planted, iterations: int, seed: int) -> ModelArtifact:
    """A small aws-user-personalization model of ``data`` (8 factors, history excluded): what the
    ranking tests compare their batch and single-request paths on."""
    params = resolved_hyperparameters(
        "aws-user-personalization",
        {"hidden_dimension": "8", "als_iterations": str(iterations), "exclude_interacted_items": "true"},
    )
    return user_personalization.fit(data.interactions, params, seed=seed)
