"""aws-similar-items (training/recipes/similar_items.py) on planted data with an ITEMS table:
cold items get metadata neighbours, warm items keep their co-occurrence neighbours, and the
training entry point trains it with the items table and SIMS's metrics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest.columnar import table_from_records
from picks.serving.rankers import SimsModel

from demo.schemas import avro_schema
from tests.unit.planted import planted
from training import train
from training.data import TrainingJob
from training.evaluation import split
from training.features import featurize
from training.recipes import similar_items, sims
from training.recipes.common import resolved_hyperparameters

SCHEMA = parse_schema(
    avro_schema(
        "Items",
        ("ITEM_ID", "string"),
        ("GENRES", "string", "categorical"),
        ("DESCRIPTION", "string", "textual"),
    )
)
WORDS = ({0: "quiet garden rose", 1: "loud engine truck"}, {0: "tulip soil", 1: "diesel wheel"})
COLD = {"new-a": 0, "new-b": 1}  # cold item -> its group


@pytest.fixture(scope="module")
def data():
    return planted(seed=5)


def items_table(data, cold: dict[str, int] = COLD):
    rows = [
        (str(item_id), {"GENRES": f"group{group}|all", "DESCRIPTION": f"{WORDS[0][group]} {WORDS[1][group]}"})
        for item_id, group in zip(data.interactions.item_ids.tolist(), data.item_group.tolist(), strict=True)
    ]
    rows += [
        (item_id, {"GENRES": f"group{group}", "DESCRIPTION": WORDS[0][group]})
        for item_id, group in cold.items()
    ]
    return table_from_records(SCHEMA, "ITEMS", rows)


@pytest.fixture(scope="module")
def model(data):
    params = resolved_hyperparameters("aws-similar-items", {})
    return SimsModel(similar_items.fit(data.interactions, params, items=items_table(data)))


def group_of(data, model, index: int) -> int:
    item_id = str(model.item_ids[index])
    return COLD[item_id] if item_id in COLD else int(data.item_group[index])


def test_cold_items_are_in_the_catalogue_and_get_neighbours_of_their_metadata(data, model):
    assert model.item_ids.tolist() == [*data.interactions.item_ids.tolist(), "new-a", "new-b"]
    assert model.popularity[-2:].tolist() == [0, 0]
    for cold, group in COLD.items():
        related = model.related(cold, 10)
        assert len(related.indices) == 10 and model.item_index[cold] not in related.indices.tolist()
        assert {group_of(data, model, i) for i in related.indices.tolist()} == {group}
        assert related.scores[0] == pytest.approx(1.0) and np.all(related.scores > 0)


def test_warm_items_keep_their_cooccurrence_neighbours(data, model):
    sims_model = SimsModel(sims.fit(data.interactions, resolved_hyperparameters("aws-sims", {})))
    same_group = []
    for item in range(data.interactions.item_count):
        item_id = str(model.item_ids[item])
        related = model.related(item_id, 5)
        # The strongest co-occurrence stays first; metadata only reorders and extends the tail.
        assert related.indices[0] == sims_model.related(item_id, 1).indices[0]
        same_group += [group_of(data, model, i) == data.item_group[item] for i in related.indices.tolist()]
    assert np.mean(same_group) >= 0.95
    # A cold item is among the top 15 of items of its group only (by metadata and by the
    # co-occurrence of the items it resembles).
    cold = model.item_index["new-a"]
    holders = [
        i for i in range(data.interactions.item_count) if cold in model.related(model.item_ids[i], 15).indices
    ]
    assert len(holders) >= 5 and {group_of(data, model, i) for i in holders} == {0}


def test_unknown_item_gets_popular_items(model):
    unknown = model.related("no-such-item", 5)
    assert unknown.indices.tolist() == model.popular(5).indices.tolist()


def test_without_an_items_dataset_it_is_sims(data):
    params = resolved_hyperparameters("aws-similar-items", {})
    alone = similar_items.fit(data.interactions, params, items=None)
    reference = sims.fit(data.interactions, params)
    assert np.array_equal(alone.item_ids, data.interactions.item_ids)
    assert np.array_equal(alone.arrays["neighbors"], reference.arrays["neighbors"])


def test_training_entry_point_passes_the_items_table_and_reports_sims_metrics(data):
    config = {"recipe": "aws-similar-items", "seed": 3}
    artifact = train.run(TrainingJob(config=config, interactions=data.interactions, items=items_table(data)))
    reference = train.run(
        TrainingJob(config={**config, "recipe": "aws-sims"}, interactions=data.interactions)
    )
    assert artifact.recipe == "aws-similar-items" and artifact.recipe_type == "RELATED_ITEMS"
    assert "new-a" in artifact.item_ids.tolist()
    assert set(artifact.info["metrics"]) == set(reference.info["metrics"])
    assert artifact.info["metrics"]["precision_at_10"] > 0
    assert artifact.info["metadataFeatures"]["GENRES"] == 3  # group0, group1, all


def test_fit_with_the_prepared_catalogue_equals_building_it(data):
    params = resolved_hyperparameters("aws-similar-items", {})
    table = items_table(data)
    holdout = split(data.interactions, 4)
    part = data.interactions.subset(holdout.train_mask)
    prepared = similar_items.prepare(data.interactions, params, items=table)
    # Nothing in it depends on users: the split's is the same, and its catalogue is the split's own.
    assert prepared.without(holdout.users) is prepared and prepared.fits(part, params)
    built = similar_items.fit(part, params, seed=2, items=table)
    given = similar_items.fit(part, params, seed=2, prepared=prepared)
    assert given.item_ids.tolist() == built.item_ids.tolist()
    assert given.info == built.info
    for name, array in built.arrays.items():
        np.testing.assert_array_equal(given.arrays[name], array, strict=True)


def test_prepared_for_other_items_is_not_used(data):
    params = resolved_hyperparameters("aws-similar-items", {})
    fewer = data.interactions.subset(data.interactions.items != 0)
    fewer = replace(fewer, item_ids=fewer.item_ids[1:], items=fewer.items - 1)
    prepared = similar_items.prepare(data.interactions, params, items=items_table(data))
    assert not prepared.fits(fewer, params)
    model = similar_items.fit(fewer, params, items=None, prepared=prepared)
    assert model.item_ids.tolist() == fewer.item_ids.tolist()  # built from its own items, no metadata


def _count_featurize(monkeypatch):
    """The item-id arrays similar_items featurizes, one entry per call, from now on."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0])
        return featurize(*args, **kwargs)

    monkeypatch.setattr(similar_items, "featurize", counted)
    return calls


def test_a_training_job_featurizes_the_items_once(data, monkeypatch):
    calls = _count_featurize(monkeypatch)
    hpo = {
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
        "algorithmHyperParameterRanges": {
            "continuousHyperParameterRanges": [{"name": "metadata_weight", "minValue": 0.0, "maxValue": 1.0}]
        },
    }
    config = {
        "recipe": "aws-similar-items",
        "seed": 3,
        "performHPO": True,
        "solutionConfig": {"hpoConfig": hpo},
    }
    artifact = train.run(TrainingJob(config=config, interactions=data.interactions, items=items_table(data)))
    assert len(artifact.info["hpoTrials"]) == 3
    assert len(calls) == 1  # not once per trial, holdout model and final model
    assert calls[0].tolist() == artifact.item_ids.tolist()


def test_more_like_x_featurizes_the_items_once(data, monkeypatch):
    """The use case over similar-items shares its once-per-job item features (holdout and final fit)."""
    calls = _count_featurize(monkeypatch)
    config = {"recipe": "aws-vod-more-like-x", "seed": 3}
    artifact = train.run(TrainingJob(config=config, interactions=data.interactions, items=items_table(data)))
    assert len(calls) == 1
    assert calls[0].tolist() == artifact.item_ids.tolist()
