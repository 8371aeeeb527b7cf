"""aws-item-attribute-affinity (USER_SEGMENTATION): for an attribute query (``ITEMS.GENRES =
"Comedy" AND ...``), the users most likely to interact with the items it matches.

The factor model of ``segmentation`` plus the item metadata queries may name, taken from the
Items table when the version trains (the guide: "the item attribute must have been present when
you created the solution version"): every non-textual, non-reserved metadata column (strings as
codes + distinct raw values, numbers as float64; booleans are not queryable), aligned to the
model's items (``picks.serving.segments`` reads them).  A query's vector is the mean of the
factors of the items it matches.

Metrics: hits and recall at the top 1% of users (``segmentation``), per single-condition query
``ITEMS.<field> = "<value>"`` over the string fields' values (numbers only where no string field
exists), against the users who interacted with matching items in the held-out rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from picks.dataset_schema import metadata_fields
from picks.filters.catalog import NUMERIC, ItemCatalog, split_values
from picks.serving.segments import (
    CODES_PREFIX,
    NUMBERS_PREFIX,
    VALUES_PREFIX,
    AttributeQuery,
    Condition,
    SegmentModel,
    matching_items,
    query_vector,
)

from training.data import TrainingDataError
from training.recipes import segmentation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.ingest.columnar import ColumnTable
    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob

RECIPE = "aws-item-attribute-affinity"
RECIPE_TYPE = segmentation.RECIPE_TYPE
NEEDS = (
    "the Item-Attribute-Affinity recipe needs an Items dataset with at least one non-textual metadata "
    "column (other than ITEM_ID and CREATION_TIMESTAMP)"
)


def attach_attributes(artifact: ModelArtifact, items: ColumnTable | None) -> None:
    """Add the queryable item metadata of ``items`` to ``artifact``, aligned to its items."""
    if items is None:
        raise TrainingDataError(f"{NEEDS}; import items into the dataset group's ITEMS dataset.")
    eligible = [f for f in metadata_fields(items.schema, "ITEMS") if not f.textual and f.type != "boolean"]
    if not eligible:
        raise TrainingDataError(f"{NEEDS}; the Items schema has none.")
    catalog = ItemCatalog.build(artifact.item_ids, items)
    kinds: dict[str, str] = {}
    present = False
    for declared in eligible:
        name = declared.name.upper()
        values = catalog.field(name)
        if values is None:
            continue
        kinds[name] = values.kind
        if values.kind == NUMERIC:
            assert values.numbers is not None
            artifact.arrays[NUMBERS_PREFIX + name] = values.numbers.astype(np.float64)
            present = present or bool((~np.isnan(values.numbers)).any())
        else:
            assert values.codes is not None
            artifact.arrays[CODES_PREFIX + name] = values.codes.astype(np.int32)
            artifact.strings[VALUES_PREFIX + name] = np.array(values.dictionary, dtype=object)
            present = present or bool((values.codes >= 0).any())
    if not present:
        raise TrainingDataError(
            f"{NEEDS}; no item with interactions has a value in {', '.join(f.name for f in eligible)}."
        )
    artifact.info["itemAttributes"] = kinds


def fit(
    interactions: Interactions,
    params: Mapping[str, str],
    *,
    seed: int = 0,
    items: ColumnTable | None = None,
) -> ModelArtifact:
    artifact = segmentation.fit(RECIPE, interactions, params, seed)[0]
    attach_attributes(artifact, items)
    return artifact


def single_conditions(model: SegmentModel) -> list[AttributeQuery]:
    """``ITEMS.<field> = "<value>"`` for every value of the model's string fields (of its numeric
    fields where it has no string field)."""
    fields = model.attributes
    strings = [name for name, values in fields.items() if values.kind != NUMERIC]
    queries: list[AttributeQuery] = []
    for name in strings or list(fields):
        values = fields[name]
        if values.kind == NUMERIC:
            assert values.numbers is not None
            numbers = values.numbers[~np.isnan(values.numbers)]
            distinct: list[str | float] = [float(v) for v in np.unique(numbers)]
        else:
            distinct = sorted({part for raw in values.dictionary for part in split_values(raw, values.kind)})
        for value in distinct:
            shown = f'"{value}"' if isinstance(value, str) else repr(value)
            queries.append(AttributeQuery(f"ITEMS.{name} = {shown}", (Condition(name, value),)))
    return queries


def evaluate(
    model: ModelArtifact, interactions: Interactions, held_out: np.ndarray, seed: int
) -> dict[str, float]:
    """Metrics of ``model`` (trained without the ``held_out`` rows) over single-condition queries."""
    segments = SegmentModel(model)
    truth = segmentation.held_out_users_by_item(interactions, held_out)
    queries = single_conditions(segments)
    # Drawn first (twice the limit), so a catalog of many values is not matched value by value.
    drawn = segmentation.sample(len(queries), seed, 2 * segmentation.EVALUATED_SEGMENTS)
    vectors, actual = [], []
    for index in drawn.tolist():
        matched = np.flatnonzero(matching_items(segments, queries[index]))
        users = np.unique(truth[matched].indices) if len(matched) else np.empty(0, np.int32)
        if len(users) == 0:
            continue
        vectors.append(query_vector(segments, queries[index]))
        actual.append(users)
        if len(actual) == segmentation.EVALUATED_SEGMENTS:
            break
    stacked = np.stack(vectors) if vectors else np.empty((0, segments.item_factors.shape[1]), np.float32)
    return segmentation.segment_metrics(segments, stacked, actual)


def fit_and_measure(job: TrainingJob, params: Mapping[str, str]) -> tuple[ModelArtifact, dict[str, float]]:
    """(the model on all interactions, its holdout metrics)."""
    interactions = job.interactions
    held_out = segmentation.held_out_rows(interactions)
    split_model = fit(interactions.subset(~held_out), params, seed=job.seed, items=job.items)
    metrics = evaluate(split_model, interactions, held_out, job.seed)
    return fit(interactions, params, seed=job.seed, items=job.items), metrics
