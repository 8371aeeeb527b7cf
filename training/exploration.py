"""What item exploration needs at serving time (``picks.serving.exploration``), for a
user-personalization model, computed at every training (FULL and UPDATE).

* The catalogue: items of the ITEMS dataset (bulk rows and PutItems records) that no interaction
  names are appended to the model's items, with a zero factor row, no neighbours and no
  popularity, so exploration can recommend them at all.  Appended at the end: every index the
  model already holds (histories, recent items, neighbours) stays valid, and so do the interaction
  filters' arrays built beside training (``training.train`` attaches them, and the context lifts,
  after this).
* Per item: ``item_created`` (CREATION_TIMESTAMP, else the item's first interaction, else NaN),
  ``item_interactions`` (rows naming it, every event type) and ``item_impressions`` (how often it
  was listed in an interaction's IMPRESSION, ``|``-separated, from bulk data and from PutEvents'
  ``impression``, which ``picks.realtime.events_table`` exports as that column); ``info
  ["explorationReference"]``: the latest interaction, from which ages are counted.

An event that names the recommendation it follows (``recommendationId``) without ``impression``
counts the explored items that recommendation showed, which its id names
(``picks.serving.exploration.recommendation_id``; docs/exploration.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from picks.serving.exploration import CREATED, IMPRESSIONS, INTERACTIONS, REFERENCE, TOKEN_PREFIX, item_token

from training.data import column_counts, item_index_type, listed_ids

if TYPE_CHECKING:
    from picks.ingest.columnar import Column, ColumnTable
    from picks.model_artifact import ModelArtifact

    from training.data import TrainingJob

# Per-item arrays of a user-personalization artifact and the value an appended item gets:
# rows (first axis) and columns (second axis).
ITEM_ROWS = {"popularity": 0, "item_factors": 0, "neighbors": -1, "neighbor_scores": 0}
ITEM_COLUMNS = {"context_lift": 0}
# Arrays of item indices, as small as the catalogue allows (training.data.item_index_type).
ITEM_INDEX_ARRAYS = ("history_items", "filter_items")
IMPRESSION_SEPARATOR = "|"


def attach(artifact: ModelArtifact, job: TrainingJob) -> None:
    """The catalogue's cold items and the per-item arrays above, into ``artifact`` (in place)."""
    if "item_factors" not in artifact.arrays:
        return
    catalogue, created_at = _catalogue(job.items)
    known = set(artifact.item_ids.tolist())
    extend(artifact, [item for item in catalogue.tolist() if item not in known])
    index = {item: i for i, item in enumerate(artifact.item_ids.tolist())}
    n = len(artifact.item_ids)
    table = job.interactions_table
    interactions = np.zeros(n, dtype=np.float64)
    first = np.full(n, np.inf)
    impressions = np.zeros(n, dtype=np.float64)
    reference = 0
    if table is not None and table.row_count:
        times = np.asarray(table["TIMESTAMP"].data, dtype=np.int64)
        _count_rows_and_first_times(table["ITEM_ID"], times, index, interactions, first)
        reference = int(times.max())
        if "IMPRESSION" in table:
            impressions = impression_counts(table["IMPRESSION"], index, n)
    created = np.where(np.isfinite(first), first, np.nan)
    if len(catalogue):
        rows = np.array([index[item] for item in catalogue.tolist()], dtype=np.int64)
        given = ~np.isnan(created_at)
        created[rows[given]] = created_at[given]
    artifact.arrays[CREATED] = created
    artifact.arrays[INTERACTIONS] = interactions.astype(np.float32)
    artifact.arrays[IMPRESSIONS] = impressions.astype(np.float32)
    artifact.info[REFERENCE] = reference


def _catalogue(items: ColumnTable | None) -> tuple[np.ndarray, np.ndarray]:
    """(the ITEMS dataset's item ids (``listed_ids``), their CREATION_TIMESTAMP in epoch seconds,
    NaN where none)."""
    ids, rows = listed_ids(items, "ITEM_ID")
    created = np.full(len(ids), np.nan)
    if items is not None and "CREATION_TIMESTAMP" in items:
        stamps = items["CREATION_TIMESTAMP"]
        values = np.asarray(stamps.data, dtype=np.float64)[rows]
        created = np.where(stamps.null_mask()[rows], np.nan, values)
    return ids, created


def _count_rows_and_first_times(
    column: Column, times: np.ndarray, index: dict[str, int], counts: np.ndarray, first: np.ndarray
) -> None:
    """Per item of ``index``, the rows naming it into ``counts`` and its earliest of ``times``
    into ``first`` (float64; left as they are for items no row names).

    Counted per code of the column's dictionary, then added to the items' indices: no per-row
    index column, and the earliest time is taken in int64 (its float64 is the earliest of the
    float64 times: the conversion keeps the order)."""
    codes = np.asarray(column.data)
    if len(codes) and int(codes.min()) < 0:  # rows without an item name none
        named_rows = codes >= 0
        codes, times = codes[named_rows], times[named_rows]
    size = len(column.string_dictionary)
    per_code = column_counts(codes, size)
    earliest = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(earliest, codes, times)
    mapping = np.array([index.get(v, -1) for v in column.string_dictionary.tolist()], dtype=np.int64)
    named = (mapping >= 0) & (per_code > 0)
    np.add.at(counts, mapping[named], per_code[named])
    np.minimum.at(first, mapping[named], earliest[named].astype(np.float64))


def impression_counts(column: Column, index: dict[str, int], n: int) -> np.ndarray:
    """How often each item is listed in an IMPRESSION value (``|``-separated ids, or the
    ``exploration.item_token`` of an item a recommendationId named), over every row."""
    codes = np.asarray(column.data)
    dictionary = column.string_dictionary
    rows_per_value = np.bincount(codes[codes >= 0], minlength=len(dictionary))
    counts = np.zeros(n, dtype=np.float64)
    tokens: dict[str, int] | None = None  # item_token -> index, built when a token is met
    for value, times in zip(dictionary.tolist(), rows_per_value.tolist(), strict=True):
        if not times:
            continue
        for item in str(value).split(IMPRESSION_SEPARATOR):
            name = item.strip()
            position = index.get(name)
            if position is None and name.startswith(TOKEN_PREFIX):
                if tokens is None:
                    tokens = {item_token(item_id): at for item_id, at in index.items()}
                position = tokens.get(name)
            if position is not None:
                counts[position] += times
    return counts


def extend(artifact: ModelArtifact, new_items: list[str]) -> None:
    """``new_items`` appended to the artifact's items, with the per-item arrays grown to match."""
    if not new_items:
        return
    old = len(artifact.item_ids)
    added = len(new_items)
    artifact.item_ids = np.concatenate([artifact.item_ids, np.array(new_items, dtype=object)])
    arrays = artifact.arrays
    for name, fill in ITEM_ROWS.items():
        if name in arrays and len(arrays[name]) == old:
            array = arrays[name]
            pad = np.full((added, *array.shape[1:]), fill, dtype=array.dtype)
            arrays[name] = np.concatenate([array, pad])
    for name, fill in ITEM_COLUMNS.items():
        if name in arrays and arrays[name].ndim == 2 and arrays[name].shape[1] == old:
            array = arrays[name]
            pad = np.full((array.shape[0], added), fill, dtype=array.dtype)
            arrays[name] = np.concatenate([array, pad], axis=1)
    widen_item_indices(artifact)


def widen_item_indices(artifact: ModelArtifact) -> None:
    """The artifact's arrays of item indices in a type that holds its (grown) catalogue's."""
    wide = item_index_type(len(artifact.item_ids))
    for name in ITEM_INDEX_ARRAYS:
        array = artifact.arrays.get(name)
        if array is not None and np.iinfo(array.dtype).max < np.iinfo(wide).max:
            artifact.arrays[name] = array.astype(wide)


def same_leading_items(items: np.ndarray, catalogue: np.ndarray) -> bool:
    """Whether ``catalogue`` is ``items`` with (possibly) items appended: indices into ``items``
    are then indices into ``catalogue``."""
    if items is catalogue:
        return True
    return len(items) <= len(catalogue) and np.array_equal(items, catalogue[: len(items)])
