"""The USER_SEGMENTATION recipes (training/recipes/item_affinity.py, item_attribute_affinity.py)
through the training entry point, and the segments they give (picks.serving.segments) measured
against random segments on data with planted structure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest import columnar
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import load_dir
from picks.serving.segments import SegmentModel, users_for_attributes, users_for_items

from demo.schemas import avro_schema
from demo.synthetic import generate
from tests.integration.test_training_entry import run_in_process, write_channel
from tests.unit.planted import csv_rows, planted
from training.data import TrainingDataError, TrainingJob, interactions_from_table
from training.recipes import item_affinity, item_attribute_affinity, segmentation
from training.recipes.common import resolved_hyperparameters

if TYPE_CHECKING:
    from pathlib import Path

SEGMENT_METRICS = {"hits_at_1_percent", "recall_at_1_percent", "coverage"}
ITEMS_SCHEMA = parse_schema(
    avro_schema(
        "Items",
        ("ITEM_ID", "string"),
        ("GENRES", "string", "categorical"),
        ("PRICE", "float"),
        ("BLURB", "string", "textual"),
    )
)


@pytest.fixture(scope="module")
def data():
    # Two user clusters, each interacting mostly with its own item group (and once with the other).
    return planted(users_per_cluster=150, items_per_group=30, per_user=12, seed=9)


def items_csv(data) -> bytes:
    genres = {0: "Comedy|Drama", 1: "Action"}
    rows = [
        f"{item},{genres[int(data.item_group[i])]},{i % 4},some words"
        for i, item in enumerate(data.interactions.item_ids.tolist())
    ]
    return ("ITEM_ID,GENRES,PRICE,BLURB\n" + "\n".join(rows) + "\n").encode()


def add_items(channel: Path, data) -> None:
    table = read_csv(items_csv(data), ITEMS_SCHEMA, "ITEMS")
    body, manifest = columnar.serialize(table)
    (channel / "items").mkdir()
    (channel / "items" / manifest["data"]["key"]).write_bytes(body)
    (channel / "items" / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def attribute_model(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("attribute-affinity")
    config = {"recipe": "aws-item-attribute-affinity", "trainingMode": "FULL", "seed": 3}
    channel = write_channel(root, config, csv_rows(data.interactions))
    add_items(channel, data)
    with pytest.MonkeyPatch.context() as patch:
        assert run_in_process(root, channel, patch) == 0
    return root / "model"


def test_entry_point_writes_a_segment_artifact_with_its_metrics(attribute_model, data):
    metrics = json.loads((attribute_model / "metrics.json").read_text())
    assert set(metrics) == SEGMENT_METRICS
    artifact = load_dir(attribute_model)
    assert artifact.recipe == "aws-item-attribute-affinity"
    assert artifact.recipe_type == "USER_SEGMENTATION"
    assert artifact.info["metrics"] == metrics
    assert artifact.info["hyperParameters"]["hidden_dimension"] == "149"  # the documented default
    assert artifact.arrays["user_factors"].shape == (data.interactions.user_count, 149)
    # The queryable attributes: categorical and numeric metadata; not the textual BLURB.
    assert artifact.info["itemAttributes"] == {"GENRES": "categorical", "PRICE": "numeric"}
    # K = 1% of 300 users = 3: the planted clusters make every top user a real one.
    assert metrics["recall_at_1_percent"] >= 0.9
    assert 0 < metrics["coverage"] <= 1


def cluster_share(data, users: list[str], cluster: int) -> float:
    index = {u: i for i, u in enumerate(data.interactions.user_ids.tolist())}
    return float(np.mean([data.user_cluster[index[u]] == cluster for u in users]))


def test_attribute_segments_select_the_users_of_matching_items(attribute_model, data):
    model = SegmentModel(load_dir(attribute_model))
    size = 100  # two thirds of a cluster
    action, comedy, both = users_for_attributes(
        model,
        ['ITEMS.GENRES = "Action"', 'ITEMS.genres = "Comedy"', 'ITEMS.GENRES = "Drama" AND ITEMS.PRICE = 1'],
        size,
    )
    random_segment = np.random.default_rng(0).choice(data.interactions.user_ids, size, replace=False)
    assert cluster_share(data, random_segment.tolist(), 1) < 0.65
    # Measured: 1.0 for each; a random segment of the same size has about half.
    assert cluster_share(data, action.users, 1) >= 0.95
    assert cluster_share(data, comedy.users, 0) >= 0.95
    assert cluster_share(data, both.users, 0) >= 0.95
    assert len(set(action.users)) == size


def test_item_affinity_beats_random_segments_on_latent_preference_data():
    """Demo data (drawn from latent tastes, with repeats): the held-out users of an item are found
    in its top 1% many times more often than in a random 1%."""
    demo = generate(n_users=2000, n_items=400, n_interactions=60000, seed=7)
    table = read_csv(
        demo.interactions_csv.encode(), parse_schema(demo.schemas["INTERACTIONS"]), "INTERACTIONS"
    )
    interactions = interactions_from_table(table, {})
    job = TrainingJob(config={"recipe": item_affinity.RECIPE, "seed": 1}, interactions=interactions)
    params = resolved_hyperparameters(item_affinity.RECIPE, {})
    model, metrics = item_affinity.fit_and_measure(job, params)
    held_out = segmentation.held_out_rows(interactions)
    truth = segmentation.held_out_users_by_item(interactions, held_out)
    per_item = np.diff(truth.indptr)
    k = segmentation.segment_size(interactions.user_count)
    random_hits = float(per_item[per_item > 0].mean()) * k / interactions.user_count
    # Measured: 2.3 hits at 1% (20 users) against 0.24 for a random segment.
    assert metrics["hits_at_1_percent"] > 5 * random_hits
    assert 0 < metrics["recall_at_1_percent"] <= 1
    answers = users_for_items(SegmentModel(model), [interactions.item_ids[0], "unknown"], 20)
    assert len(answers[0].users) == 20 and answers[1].error


def test_held_out_rows_are_each_users_newest_fifth(data):
    interactions = data.interactions
    held_out = segmentation.held_out_rows(interactions)
    for user in (0, 7, 299):
        rows = np.flatnonzero(interactions.users == user)
        newest = rows[np.argsort(interactions.timestamps[rows])][-3:]  # ceil(0.2 * 12)
        assert set(np.flatnonzero(held_out & (interactions.users == user)).tolist()) == set(newest.tolist())


def test_attribute_affinity_needs_a_queryable_items_column(data):
    params = resolved_hyperparameters(item_attribute_affinity.RECIPE, {"hidden_dimension": "32"})
    with pytest.raises(TrainingDataError, match="needs an Items dataset"):
        item_attribute_affinity.fit(data.interactions, params, items=None)
    textual_only = parse_schema(avro_schema("Items", ("ITEM_ID", "string"), ("BLURB", "string", "textual")))
    rows = "ITEM_ID,BLURB\n" + "".join(f"{i},words\n" for i in data.interactions.item_ids.tolist())
    with pytest.raises(TrainingDataError, match="the Items schema has none"):
        item_attribute_affinity.fit(
            data.interactions, params, items=read_csv(rows.encode(), textual_only, "ITEMS")
        )


def test_hidden_dimension_outside_the_documented_range_fails(data):
    params = resolved_hyperparameters(item_affinity.RECIPE, {"hidden_dimension": "16"})
    with pytest.raises(TrainingDataError, match=r"hidden_dimension: 16 is outside \[32, 256\]"):
        item_affinity.fit(data.interactions, params)
