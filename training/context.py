"""Contextual metadata (interaction columns such as DEVICE or LOCATION) for user-personalization.

For every value of every categorical interaction metadata column, training measures how much
more (or less) likely each item is to be chosen in that context than overall — a smoothed log
lift ``log P(item | COLUMN=value) − log P(item)``.  At request time the runtime adds the lifts of
the request's ``context`` to the scores (``FactorModel.context_scores``), so the same user gets a
different ranking on mobile than on desktop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from picks.dataset_schema import metadata_fields

if TYPE_CHECKING:
    from picks.ingest.columnar import ColumnTable
    from picks.model_artifact import ModelArtifact

MAX_VALUES = 256  # context values kept (the most frequent), bounding the artifact's size
MIN_SUPPORT = 20  # interactions a value needs before its lift is trusted
SMOOTHING = 1.0


def attach(artifact: ModelArtifact, table: ColumnTable) -> None:
    fields = [
        f for f in metadata_fields(table.schema, "INTERACTIONS") if f.type == "string" and f.categorical
    ]
    if not fields:
        return
    index = {item: i for i, item in enumerate(artifact.item_ids.tolist())}
    item_column = table["ITEM_ID"]
    item_map = np.array([index.get(v, -1) for v in item_column.string_dictionary.tolist()], dtype=np.int64)
    items = item_map[item_column.data]
    known = items >= 0
    n_items = len(artifact.item_ids)
    overall = np.bincount(items[known], minlength=n_items).astype(np.float64)
    base = np.log((overall + SMOOTHING) / (overall.sum() + SMOOTHING * n_items))
    candidates: list[tuple[int, str, np.ndarray]] = []
    for f in fields:
        column = table[f.name]
        codes = column.data
        for code, value in enumerate(column.string_dictionary.tolist()):
            rows = known & (codes == code)
            support = int(rows.sum())
            if support >= MIN_SUPPORT:
                counts = np.bincount(items[rows], minlength=n_items).astype(np.float64)
                lift = np.log((counts + SMOOTHING) / (support + SMOOTHING * n_items)) - base
                candidates.append((support, f"{f.name.upper()}={value}", lift.astype(np.float32)))
    if not candidates:
        return
    candidates.sort(key=lambda c: -c[0])
    kept = candidates[:MAX_VALUES]
    artifact.strings["context_keys"] = np.array([key for _, key, _ in kept], dtype=object)
    artifact.arrays["context_lift"] = np.stack([lift for _, _, lift in kept])
