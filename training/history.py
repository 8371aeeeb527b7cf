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

from training.data import event_type_codes, item_index_type, position_in_run, time_order

if TYPE_CHECKING:
    from picks.ingest.columnar import ColumnTable
    from picks.model_artifact import ModelArtifact

PER_TYPE = 1000


def attach(artifact: ModelArtifact, table: ColumnTable, per_type: int = PER_TYPE) -> None:
    """Add ``filter_users`` / ``filter_event_types`` strings and ``filter_indptr`` / ``filter_items`` /
    ``filter_types`` arrays (items as the artifact's item indices, newest first per user;
    ``filter_types`` only with two or more event types; see the module doc)."""
    index = {item: i for i, item in enumerate(artifact.item_ids.tolist())}
    item_column = table["ITEM_ID"]
    item_map = np.array([index.get(v, -1) for v in item_column.string_dictionary.tolist()], dtype=np.int64)
    items = item_map[item_column.data]
    times = np.asarray(table["TIMESTAMP"].data, dtype=np.int64)
    types, type_names = event_type_codes(table)
    if types is None:
        type_names = [""]
    else:
        types = types.astype(np.int64)
    # (user, type) as one key; users and types are read back from it at the end.
    stride = np.int64(len(type_names) + 1)
    group = table["USER_ID"].data.astype(np.int64) * stride
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
    n_users = len(table["USER_ID"].string_dictionary)
    counts = np.bincount(users, minlength=n_users)
    artifact.strings["filter_users"] = table["USER_ID"].string_dictionary
    artifact.strings["filter_event_types"] = np.array(type_names, dtype=object)
    artifact.arrays["filter_indptr"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    artifact.arrays["filter_items"] = items.astype(item_index_type(len(artifact.item_ids)))
    if len(type_names) > 1:
        artifact.arrays["filter_types"] = types.astype(np.int16)
