"""Each user's recent interactions by event type, kept in the model for interaction filters.

Filters such as ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")`` need what a user
did, per event type — including event types the solution did not train on.  The artifact keeps
each user's newest ``PER_TYPE`` interactions of every event type (Personalize keeps 100) as CSR
arrays; the runtime adds the user's real-time events on top.

The arrays are as small as their contents allow: ``filter_items`` is uint16 while the model has
at most 65,536 items (int32 beyond), and ``filter_types`` is left out when the data has at most
one event type (every entry would be 0, the one name in ``filter_event_types``).
(``filter_users`` is usually the model's ``user_ids``; the artifact then stores it once, see
``picks.model_artifact``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from training.data import (
    ROW_CHUNK,
    column_counts,
    event_type_codes,
    grouped_in_time_order,
    item_index_type,
    position_in_run,
    time_order,
)

if TYPE_CHECKING:
    from picks.ingest.columnar import ColumnTable
    from picks.model_artifact import ModelArtifact

PER_TYPE = 1000


def attach(artifact: ModelArtifact, table: ColumnTable, per_type: int = PER_TYPE) -> None:
    """Add ``filter_users`` / ``filter_event_types`` strings and ``filter_indptr`` / ``filter_items`` /
    ``filter_types`` arrays (items as the artifact's item indices, newest first per user;
    ``filter_types`` only with two or more event types; see the module doc)."""
    index = {item: i for i, item in enumerate(artifact.item_ids.tolist())}
    item_column, user_column = table["ITEM_ID"], table["USER_ID"]
    item_map = np.array([index.get(v, -1) for v in item_column.string_dictionary.tolist()], dtype=np.int64)
    item_type = item_index_type(len(artifact.item_ids))
    n_users = len(user_column.string_dictionary)
    types, type_names = event_type_codes(table)
    if types is None:
        type_names = [""]
    artifact.strings["filter_users"] = user_column.string_dictionary
    artifact.strings["filter_event_types"] = np.array(type_names, dtype=object)
    if (
        types is None
        and bool((item_map >= 0).all())
        and _by_user_time(user_column.data, table["TIMESTAMP"].data)
    ):
        # One event type, every item known, rows as the import stores them: no sort, no key columns.
        artifact.arrays["filter_indptr"], artifact.arrays["filter_items"] = _newest_stored(
            user_column.data, n_users, item_column.data, item_map.astype(item_type), per_type
        )
        return
    items = item_map[item_column.data]
    times = np.asarray(table["TIMESTAMP"].data, dtype=np.int64)
    if types is not None:
        types = types.astype(np.int64)
    # (user, type) as one key; users and types are read back from it at the end.
    stride = np.int64(len(type_names) + 1)
    group = user_column.data.astype(np.int64) * stride
    keep = items >= 0
    if types is not None:
        group += types
        keep &= types < len(type_names)  # rows without an event type are left out
    if not keep.all():
        group, items, times = group[keep], items[keep], times[keep]
    # Newest first within (user, type) — np.lexsort((-times, types, users)) — and the first
    # per_type of each group kept.
    order = time_order(group, times, newest_first=True)
    group, items = group[order], items[order]
    recent = position_in_run(group) < per_type
    users, types = np.divmod(group[recent], stride)
    items = items[recent]
    counts = np.bincount(users, minlength=n_users)
    artifact.arrays["filter_indptr"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    artifact.arrays["filter_items"] = items.astype(item_type)
    if len(type_names) > 1:
        artifact.arrays["filter_types"] = types.astype(np.int16)


def _by_user_time(users: np.ndarray, times: np.ndarray) -> bool:
    """The rows are by user code (none null), then time: as the import stores event data."""
    return len(users) == 0 or (int(users[0]) >= 0 and grouped_in_time_order(users, times))


def _newest_stored(
    users: np.ndarray,
    n_users: int,
    item_codes: np.ndarray,
    item_map: np.ndarray,
    per_type: int,
    chunk: int = ROW_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, items): each user's last ``per_type`` items (``item_map[item_codes]``) reversed,
    for rows stored by user, then time (newest first is the reverse of the stored order, ties
    included: ``time_order``).  The row numbers are made for about ``chunk`` kept rows at a time,
    not as whole-column int64 temporaries (fresh memory costs more here than the arithmetic)."""
    counts = column_counts(users, n_users)
    kept = np.minimum(counts, per_type)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(kept, out=indptr[1:])
    # The k-th kept row of a user (0 = newest), written at indptr + k, is its last row - k.
    last_plus_start = np.cumsum(counts) - 1 + indptr[:-1]
    out = np.empty(int(indptr[-1]), dtype=item_map.dtype)
    cuts = np.searchsorted(indptr, np.arange(chunk, len(out), chunk), side="right") - 1
    bounds = np.unique(np.concatenate([[0], cuts, [n_users]])).tolist()
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        lo, hi = int(indptr[first]), int(indptr[end])
        rows = np.repeat(last_plus_start[first:end], kept[first:end])
        rows -= np.arange(lo, hi, dtype=np.int64)
        np.take(item_map, item_codes[rows], out=out[lo:hi])
    return indptr, out
