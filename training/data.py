"""Training data: the columnar dataset tables of the ``train`` channel as index arrays.

Users and items get dense indices (0..n-1) once, for the whole job; every subset made later
(holdout splits) keeps those indices, so models trained on a subset line up with the full data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from picks import npz
from picks.ingest.columnar import ColumnTable, deserialize
from picks.model_artifact import ArtifactError, ModelArtifact, load_dir
from picks.ordering import (  # noqa: F401 - re-exported
    column_counts,
    grouped_in_time_order,
    position_in_run,
    time_order,
    to_newest_first,
)


class TrainingDataError(ValueError):
    """The data cannot train this recipe; the message is the solution version's failureReason."""


@dataclass(frozen=True)
class Interactions:
    # User / item index per interaction: int32 as the table's codes are (int64 also works), so
    # arithmetic that can pass 2³¹ (user · item_count + item) widens to int64 first.
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray  # int64 epoch seconds
    # float32 per interaction (event weights); without weights, a read-only broadcast 1 (no memory)
    weights: np.ndarray
    user_ids: np.ndarray  # object array: index -> USER_ID
    item_ids: np.ndarray  # object array: index -> ITEM_ID
    # int16 code per interaction into event_type_names (lower-cased, sorted); len(names) = no type
    event_types: np.ndarray | None = None
    event_type_names: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)

    @property
    def user_count(self) -> int:
        return len(self.user_ids)

    @property
    def item_count(self) -> int:
        return len(self.item_ids)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The rows where ``mask`` is set (a boolean mask, or row numbers); time orders already
        computed carry over.  With a boolean mask the columns are copied when first read."""
        mask = np.asarray(mask)
        if mask.dtype == bool:
            part: Interactions = _Subset.of(self, mask)
        else:
            part = replace(
                self,
                users=self.users[mask],
                items=self.items[mask],
                timestamps=self.timestamps[mask],
                weights=self.weights[mask],
                event_types=None if self.event_types is None else self.event_types[mask],
            )
            return part  # row numbers may reorder the rows: orders are computed afresh
        if self.__dict__.get("rows_by_user_time"):
            part.__dict__["rows_by_user_time"] = True  # kept rows keep their relative order
        elif "by_user_time" in self.__dict__:
            # Kept rows keep their relative order, so the parent's order restricted to them is the
            # subset's own (ties included), with row numbers renumbered: O(n), no sort.
            renumber = np.cumsum(mask, dtype=np.int64) - 1
            order = self.by_user_time
            part.__dict__["by_user_time"] = renumber[order[mask[order]]]
        return part

    @cached_property
    def by_user_time(self) -> np.ndarray:
        """Rows by user, then time, oldest first, ties in row order (``time_order``), computed once."""
        if self.rows_by_user_time:
            return np.arange(len(self.users), dtype=np.int64)
        return time_order(self.users, self.timestamps)

    @cached_property
    def rows_by_user_time(self) -> bool:
        """The rows themselves are in ``by_user_time`` order (as imported): per-user passes need no gather."""
        return grouped_in_time_order(self.users, self.timestamps)

    @cached_property
    def user_counts(self) -> np.ndarray:
        """Interactions per user index (read-only), counted once: every per-user pass needs them."""
        counts = column_counts(self.users, self.user_count)
        counts.flags.writeable = False
        return counts

    @cached_property
    def by_user_newest(self) -> np.ndarray:
        """Rows by user, newest first: ``by_user_time`` reversed within each user (so among equal
        timestamps the later row is the newer, ``time_order``), in O(n)."""
        return to_newest_first(self.by_user_time, self.users)

    @property
    def latest_timestamp(self) -> int:
        return int(self.timestamps.max()) if len(self.timestamps) else 0


_COLUMNS = ("users", "items", "timestamps", "weights")
ROW_CHUNK = 1 << 22  # rows per slice, where a pass over whole columns would allocate whole-column temporaries


class _Subset(Interactions):
    """``Interactions.subset`` by a boolean mask, its columns copied out of the parent when first
    read.  The holdout split's model, trained from arrays prepared on all interactions, reads only
    the ids, the row count and the latest timestamp: copying four columns of 22M rows would cost
    ~600 MB of fresh memory and over a second, for nothing."""

    @classmethod
    def of(cls, parent: Interactions, mask: np.ndarray) -> _Subset:
        part = object.__new__(cls)
        for name in ("user_ids", "item_ids", "event_type_names"):
            object.__setattr__(part, name, getattr(parent, name))
        # A field with a class-level default is found there, never reaching __getattr__: copied now
        # (int16, the smallest column).
        types = parent.event_types
        object.__setattr__(part, "event_types", None if types is None else types[mask])
        part.__dict__["_source"] = (parent, mask)
        return part

    def __getattr__(self, name: str) -> Any:  # only called for what is not set yet
        source = self.__dict__.get("_source")
        if name not in _COLUMNS or source is None:
            raise AttributeError(name)
        parent, mask = source
        column = getattr(parent, name)
        value = None if column is None else column[mask]
        object.__setattr__(self, name, value)
        return value

    def __len__(self) -> int:
        if "users" in self.__dict__ or "_source" not in self.__dict__:
            return len(self.users)
        return int(np.count_nonzero(self.__dict__["_source"][1]))

    @property
    def latest_timestamp(self) -> int:
        if "timestamps" in self.__dict__ or "_source" not in self.__dict__:
            return super().latest_timestamp
        parent, mask = self.__dict__["_source"]
        latest = None
        for start in range(0, len(mask), ROW_CHUNK):  # in slices: no copy of the column
            kept = parent.timestamps[start : start + ROW_CHUNK][mask[start : start + ROW_CHUNK]]
            if len(kept):
                latest = int(kept.max()) if latest is None else max(latest, int(kept.max()))
        return 0 if latest is None else latest


@dataclass
class TrainingJob:
    """Everything the channel holds: config, interactions, optional tables and previous model."""

    config: dict[str, Any]
    interactions: Interactions
    items: ColumnTable | None = None
    users: ColumnTable | None = None
    previous_model: ModelArtifact | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    interactions_table: ColumnTable | None = None  # every row, before eventType filtering

    @property
    def recipe(self) -> str:
        return str(self.config["recipe"])

    @property
    def training_mode(self) -> str:
        return str(self.config.get("trainingMode") or "FULL")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 42))


def read_table_folder(folder: Path) -> ColumnTable | None:
    """A staged columnar table (``manifest.json`` + its data file), or None where the folder has none."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    # Mapped, not read: the columns are views into the file's pages (no copy of a 25M-row table).
    return deserialize(npz.map_file(folder / manifest["data"]["key"]), manifest)


def listed_ids(table: ColumnTable | None, id_column: str) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct ids in an ITEMS / USERS table's ``id_column`` (``ITEM_ID``, ``USER_ID``), in
    first-row order, nulls left out; the row each is first on).  Empty without the table or the
    column.  A staged table holds one row per id (``picks.ingest.columnar.deduplicate``): the ids
    are then its rows' ids, in its order."""
    if table is None or id_column not in table:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    column = table[id_column]
    codes = np.asarray(column.data)
    _, first = np.unique(codes, return_index=True)  # a string column's codes: one per distinct id
    rows = np.sort(first[codes[first] >= 0]).astype(np.int64)
    return column.string_dictionary[codes[rows]], rows


def _event_filter(table: ColumnTable, config: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray]:
    """(row mask, None for every row; row weights) from the solution's eventType,
    eventValueThreshold and eventsConfig.  Without eventsConfig weights are a read-only broadcast 1."""
    rows = table.row_count
    mask: np.ndarray | None = None
    weights = np.broadcast_to(np.float32(1.0), (rows,))
    solution_config = config.get("solutionConfig") or {}
    event_type = config.get("eventType")
    # Compared as codes (one per lower-cased name; rows without a type match none): no strings per row.
    types, names = event_type_codes(table) if "EVENT_TYPE" in table else (None, [])

    def rows_of(name: str) -> np.ndarray | bool:
        assert types is not None
        lowered = name.lower()
        return types == names.index(lowered) if lowered in names else False

    def narrow(selected: np.ndarray | bool) -> np.ndarray:
        selected = np.broadcast_to(selected, (rows,))
        return selected.copy() if mask is None else mask & selected

    if event_type:
        if types is None:
            raise TrainingDataError(
                "eventType: the interactions dataset has no EVENT_TYPE column to select from."
            )
        mask = narrow(rows_of(event_type))
    threshold = solution_config.get("eventValueThreshold")
    if threshold not in (None, ""):
        if "EVENT_VALUE" not in table:
            raise TrainingDataError(
                "eventValueThreshold: the interactions dataset has no EVENT_VALUE column."
            )
        values = table["EVENT_VALUE"].data.astype(np.float64)
        mask = narrow(np.nan_to_num(values, nan=-np.inf) >= float(threshold))
    parameters = (solution_config.get("eventsConfig") or {}).get("eventParametersList") or []
    if parameters and types is not None:
        # Only the ratios of the weights matter; event types not listed keep weight 0 (not trained on).
        weights = np.zeros(rows, dtype=np.float32)
        for parameter in parameters:
            selected = np.zeros(rows, dtype=bool) | rows_of(str(parameter["eventType"]))
            if parameter.get("eventValueThreshold") is not None and "EVENT_VALUE" in table:
                values = np.nan_to_num(table["EVENT_VALUE"].data.astype(np.float64), nan=-np.inf)
                selected &= values >= float(parameter["eventValueThreshold"])
            weights[selected] = np.maximum(weights[selected], float(parameter.get("weight", 1.0)))
        mask = narrow(weights > 0)
    return mask, weights


def event_rule(table: ColumnTable, config: dict[str, Any]) -> dict[str, Any] | None:
    """``_event_filter``'s choices as a rule on one event (``picks.serving.rankers.EventRule``), for
    the model's ``info["eventRule"]``: the runtime applies it to real-time events before folding
    them in.  None when training keeps every row with weight 1."""
    solution_config = config.get("solutionConfig") or {}
    rule: dict[str, Any] = {}
    if config.get("eventType"):
        rule["eventType"] = str(config["eventType"]).lower()
    threshold = solution_config.get("eventValueThreshold")
    if threshold not in (None, ""):
        rule["minValue"] = float(threshold)
    parameters = (solution_config.get("eventsConfig") or {}).get("eventParametersList") or []
    if parameters and "EVENT_TYPE" in table:
        has_values = "EVENT_VALUE" in table  # without the column training ignores the thresholds
        rule["parameters"] = [
            [
                str(p["eventType"]).lower(),
                float(np.float32(p.get("weight", 1.0))),
                float(p["eventValueThreshold"])
                if has_values and p.get("eventValueThreshold") is not None
                else None,
            ]
            for p in parameters
        ]
    return rule or None


def dense(codes: np.ndarray, cardinality: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes in use, each row's index among them): np.unique(return_inverse) in O(n), no sort.
    The indices keep the codes' integer type (int32 for a table's), as the codes themselves where
    every code is in use: no copy of a 25M-row column."""
    used = np.flatnonzero(column_counts(codes, cardinality))
    if len(used) == cardinality:  # every code in use: the codes are the indices already
        return used, codes
    remap = np.full(cardinality, -1, dtype=codes.dtype)
    remap[used] = np.arange(len(used))
    return used, remap[codes]


def item_index_type(item_count: int) -> type[np.integer]:
    """The integer type artifacts store item indices in: uint16 while the catalog has at most
    65,536 items (the serving side widens a user's slice), int32 beyond."""
    return np.uint16 if item_count <= 1 << 16 else np.int32


def event_type_codes(table: ColumnTable) -> tuple[np.ndarray | None, list[str]]:
    """(code per row, lower-cased sorted event type names); rows without a type get ``len(names)``.
    (None, []) when the table has no EVENT_TYPE column."""
    if "EVENT_TYPE" not in table:
        return None, []
    column = table["EVENT_TYPE"]
    lowered = [str(v).lower() for v in column.string_dictionary.tolist()]
    names = sorted(set(lowered))
    remap = np.array([names.index(v) for v in lowered] + [len(names)], dtype=np.int16)
    return remap[column.data], names  # null codes (-1) index the appended len(names)


def interactions_from_table(table: ColumnTable, config: dict[str, Any]) -> Interactions:
    mask, weights = _event_filter(table, config)
    every_row = mask is None or bool(mask.all())

    def kept(column: np.ndarray) -> np.ndarray:
        # Every row kept: the table's own arrays (views into the mapped file), no copies.
        return column if every_row else column[mask]

    event_types, event_type_names = event_type_codes(table)
    user_codes_unique, users = dense(kept(table["USER_ID"].data), len(table["USER_ID"].string_dictionary))
    item_codes_unique, items = dense(kept(table["ITEM_ID"].data), len(table["ITEM_ID"].string_dictionary))
    return in_user_time_order(
        Interactions(
            users=users,
            items=items,
            timestamps=kept(table["TIMESTAMP"].data).astype(np.int64, copy=False),
            weights=kept(weights),
            user_ids=table["USER_ID"].string_dictionary[user_codes_unique],
            item_ids=table["ITEM_ID"].string_dictionary[item_codes_unique],
            event_types=None if event_types is None else kept(event_types),
            event_type_names=None if event_types is None else np.array(event_type_names, dtype=object),
        )
    )


def in_user_time_order(interactions: Interactions) -> Interactions:
    """The same interactions with their rows by user, then time (ties in their given order).

    Nothing depends on the row order but through ``by_user_time``, which this leaves unchanged
    (and makes the identity): every per-user pass afterwards reads memory in order instead of
    gathering from all over 25M-row arrays, and no later step sorts the whole data again."""
    if interactions.rows_by_user_time:
        return interactions
    order = interactions.by_user_time
    interactions = replace(
        interactions,
        users=interactions.users[order],
        items=interactions.items[order],
        timestamps=interactions.timestamps[order],
        weights=interactions.weights[order],
        event_types=None if interactions.event_types is None else interactions.event_types[order],
    )
    interactions.__dict__["rows_by_user_time"] = True
    return interactions


def load_channel(channel: str | Path, hyperparameters: dict[str, str] | None = None) -> TrainingJob:
    channel = Path(channel)
    config_path = channel / "config.json"
    if not config_path.is_file():
        raise TrainingDataError(f"the training channel has no config.json ({channel})")
    config = json.loads(config_path.read_text())
    table = read_table_folder(channel / "interactions")
    if table is None:
        raise TrainingDataError("the dataset group has no imported interactions to train on.")
    previous = None
    if (channel / "previous_model" / "manifest.json").is_file():
        try:
            previous = load_dir(channel / "previous_model")
        except ArtifactError as error:
            raise TrainingDataError(
                f"trainingMode UPDATE: the previous model cannot be read ({error})."
            ) from error
    return TrainingJob(
        config=config,
        interactions=interactions_from_table(table, config),
        items=read_table_folder(channel / "items"),
        users=read_table_folder(channel / "users"),
        previous_model=previous,
        hyperparameters=dict(hyperparameters or {}),
        interactions_table=table,
    )


def check_minimums(interactions: Interactions, minimum_interactions: int = 1000) -> None:
    """Personalize's training minimums, with the numbers found, so the failure says what to fix."""
    if len(interactions) < minimum_interactions:
        raise TrainingDataError(
            f"training needs at least {minimum_interactions} interactions after eventType / "
            f"eventValueThreshold filtering; found {len(interactions)}."
        )
    per_user = interactions.user_counts
    repeat_users = int((per_user >= 2).sum())
    if repeat_users < 25:
        raise TrainingDataError(
            f"training needs at least 25 users with 2 or more interactions; found {repeat_users}."
        )
