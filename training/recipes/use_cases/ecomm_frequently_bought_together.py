"""aws-ecomm-frequently-bought-together (Frequently bought together): the items bought together
with a given one.

**Baskets.**  Only ``Purchase`` events count (at least 1000 are required, ``use_cases.common``).
A user's purchases with the same ``SESSION_ID`` (where the interactions dataset has that column
and the row a value) are one basket; the user's other purchases are cut into time windows: a
basket opens at a purchase and holds the user's purchases up to ``BASKET_WINDOW_SECONDS`` (24 h)
after it; the next purchase after that opens the next basket.

**Neighbours.**  Item ``j``'s score for item ``i`` is the number of baskets holding both, divided
by ``popularity(j) ** popularity_discount_factor`` (baskets holding ``j``, clipped to SIMS's
percentiles), as SIMS damps its co-occurrences (``training.recipes.sims.cooccurrence`` computes
it, with the baskets as its "users", every basket counting 1 and no sequence term); pairs bought
together in fewer than ``min_cointeraction_count`` (2) baskets are not neighbours.  Each item
keeps its best ``sims.NEIGHBORS``, scaled so the best has 1: a RELATED_ITEMS artifact that
``picks.serving.rankers.SimsModel`` serves, best sellers filling a short list and answering an
item never bought.

Training treats the baskets as its users, so the holdout holds out 10% of the baskets (of two or
more purchases) and asks, from a basket's earlier purchases, for its later ones: the question the
use case answers.  The model's ``info["counts"]["users"]`` therefore counts baskets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from training.data import Interactions, TrainingJob, dense, event_type_codes, in_user_time_order
from training.recipes import sims
from training.recipes.use_cases.common import UseCase, rows_of_event_type

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.ingest.columnar import ColumnTable
    from picks.model_artifact import ModelArtifact

PURCHASE = "Purchase"
SESSION_COLUMN = "SESSION_ID"
BASKET_WINDOW_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Purchases:
    users: np.ndarray  # code per purchase into user_ids
    user_ids: np.ndarray
    items: np.ndarray  # code per purchase into item_ids
    item_ids: np.ndarray
    timestamps: np.ndarray  # int64 epoch seconds
    sessions: np.ndarray | None  # int64 session code per purchase, -1 where it has none


def purchases_of(interactions: Interactions) -> Purchases:
    """The purchases of already loaded interactions (no session ids: time windows only)."""
    rows = rows_of_event_type(interactions, PURCHASE)
    return Purchases(
        interactions.users[rows],
        interactions.user_ids,
        interactions.items[rows],
        interactions.item_ids,
        interactions.timestamps[rows].astype(np.int64),
        None,
    )


def purchases_of_table(table: ColumnTable) -> Purchases:
    """The purchases of the interactions table, with their ``SESSION_ID`` where it has the column."""
    types, names = event_type_codes(table)
    if types is None or PURCHASE.lower() not in names:
        rows = np.empty(0, dtype=np.int64)
    else:
        rows = np.flatnonzero(types == names.index(PURCHASE.lower()))
    sessions = None
    if SESSION_COLUMN in table:
        column = table[SESSION_COLUMN]
        _, codes = np.unique(column.data[rows], return_inverse=True)
        sessions = np.where(column.null_mask()[rows], -1, codes.reshape(-1)).astype(np.int64)
    return Purchases(
        table["USER_ID"].data[rows],
        table["USER_ID"].string_dictionary,
        table["ITEM_ID"].data[rows],
        table["ITEM_ID"].string_dictionary,
        np.asarray(table["TIMESTAMP"].data[rows], dtype=np.int64),
        sessions,
    )


def time_windows(users: np.ndarray, timestamps: np.ndarray, window: int) -> np.ndarray:
    """Basket number per purchase: each user's purchases, in time order, in windows that open at a
    purchase and close ``window`` seconds later (numbered from 0 across all users)."""
    count = len(users)
    if count == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((timestamps, users))
    users, times = users[order].astype(np.int64), timestamps[order] - timestamps.min()
    # (user, time) as one sortable number; a user's window ends before the next user's rows.
    key = users * np.int64(int(times.max()) + window + 1) + times
    after = np.searchsorted(key, key + window, side="right")  # first purchase past each window
    opens = np.zeros(count, dtype=bool)
    frontier = np.flatnonzero(np.concatenate([[True], users[1:] != users[:-1]]))  # each user's first
    while len(frontier):  # one step per basket of the user with the most: O(baskets) work in all
        opens[frontier] = True
        following = after[frontier]
        same_user = following < count
        same_user[same_user] = users[following[same_user]] == users[frontier[same_user]]
        frontier = following[same_user]
    numbers = np.empty(count, dtype=np.int64)
    numbers[order] = np.cumsum(opens) - 1
    return numbers


def basket_numbers(purchases: Purchases, window: int = BASKET_WINDOW_SECONDS) -> np.ndarray:
    """Basket number per purchase: by (user, session) where it has a session, else by time window."""
    numbers = np.empty(len(purchases.users), dtype=np.int64)
    in_session = (
        purchases.sessions >= 0
        if purchases.sessions is not None
        else np.zeros(len(purchases.users), dtype=bool)
    )
    taken = 0
    if in_session.any():
        assert purchases.sessions is not None
        stride = np.int64(int(purchases.sessions.max()) + 1)
        keys = purchases.users[in_session].astype(np.int64) * stride + purchases.sessions[in_session]
        _, inverse = np.unique(keys, return_inverse=True)
        numbers[in_session] = inverse.reshape(-1)
        taken = int(inverse.max()) + 1
    rest = np.flatnonzero(~in_session)
    numbers[rest] = taken + time_windows(purchases.users[rest], purchases.timestamps[rest], window)
    return numbers


def baskets(purchases: Purchases, window: int = BASKET_WINDOW_SECONDS) -> Interactions:
    """The purchases as interactions whose "users" are baskets (labelled ``USER_ID@first time``)."""
    numbers = basket_numbers(purchases, window)
    count = int(numbers.max()) + 1 if len(numbers) else 0
    used_items, items = dense(purchases.items, len(purchases.item_ids))
    first = np.full(count, len(numbers), dtype=np.int64)
    np.minimum.at(first, numbers, np.arange(len(numbers)))
    labels = [
        f"{user}@{time}"
        for user, time in zip(
            purchases.user_ids[purchases.users[first]].tolist(),
            purchases.timestamps[first].tolist(),
            strict=True,
        )
    ]
    return in_user_time_order(
        Interactions(
            users=numbers,
            items=items,
            timestamps=purchases.timestamps,
            weights=np.broadcast_to(np.float32(1.0), (len(numbers),)),
            user_ids=np.array(labels, dtype=object),
            item_ids=purchases.item_ids[used_items],
            event_types=np.zeros(len(numbers), dtype=np.int16),
            event_type_names=np.array([PURCHASE.lower()], dtype=object),
        )
    )


@dataclass(frozen=True, eq=False)
class FrequentlyBoughtTogether(UseCase):
    """The use case whose "users" are baskets: its training job turns the purchases into them."""

    def training_job(self, job: TrainingJob) -> TrainingJob:
        self.check(job)
        source = (
            purchases_of_table(job.interactions_table)
            if job.interactions_table is not None
            else purchases_of(job.interactions)
        )
        return replace(job, config={**job.config, "eventType": PURCHASE}, interactions=baskets(source))

    def fit(
        self, interactions: Interactions, params: Mapping[str, str], *, seed: int = 0, **inputs: Any
    ) -> ModelArtifact:
        """Co-purchase neighbours of ``interactions``, whose users are baskets (``baskets``): SIMS'
        model of them, labelled with the use case (the artifact keeps the base recipe's name)."""
        artifact = sims.fit(interactions, params, seed=seed, **inputs)
        artifact.info["basketWindowSeconds"] = BASKET_WINDOW_SECONDS
        return self.labelled(artifact)


USE_CASE = FrequentlyBoughtTogether(
    "aws-ecomm-frequently-bought-together",
    "Frequently bought together",
    sims,
    event_type=PURCHASE,
    fixed={
        # A pair bought together once may be chance; twice, in different baskets, is a habit.
        "min_cointeraction_count": "2",
        # Every basket counts 1 and the order inside a basket means nothing.
        "user_history_length_discount": "0",
        "sequence_weight": "0",
    },
)
