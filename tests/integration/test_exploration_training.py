"""What training stores for item exploration (training/exploration.py), FULL and UPDATE: the ITEMS
dataset's items without interactions in the catalogue, and per item its creation time, interactions
and impressions (IMPRESSION column)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest import columnar
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import save_dir
from picks.serving.exploration import CREATED, IMPRESSIONS, INTERACTIONS, REFERENCE, ExplorationConfig
from picks.serving.rankers import FactorModel, RankingRequest

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.unit.planted import planted
from training import train
from training.data import load_channel

if TYPE_CHECKING:
    from pathlib import Path

INTERACTIONS_SCHEMA = parse_schema(
    avro_schema(
        "Interactions",
        *USER_ITEM_TIME,
        ("EVENT_TYPE", "string"),
        {"name": "IMPRESSION", "type": ["null", "string"]},
    )
)
ITEMS_SCHEMA = parse_schema(
    avro_schema(
        "Items",
        ("ITEM_ID", "string"),
        ("GENRE", "string", "categorical"),
        {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
    )
)
SMALL = {"hidden_dimension": "8", "als_iterations": "3"}
COLD = ["cold-0", "cold-1", "cold-2"]
CREATED_AT = 1_900_000_000


def _write_table(folder: Path, csv_text: str, schema, dataset_type: str) -> None:
    folder.mkdir(parents=True)
    data, manifest = columnar.serialize(read_csv(csv_text.encode(), schema, dataset_type))
    (folder / manifest["data"]["key"]).write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _interaction_rows(extra: str = "") -> tuple[str, int]:
    """(CSV, latest timestamp): the planted data, every 7th row listing i0 and cold-1 as shown."""
    data = planted(seed=21).interactions
    rows = []
    for row, (u, i, t) in enumerate(
        zip(data.users.tolist(), data.items.tolist(), data.timestamps.tolist(), strict=True)
    ):
        shown = "i0|cold-1" if row % 7 == 0 else ""
        rows.append(f"{data.user_ids[u]},{data.item_ids[i]},{t},View,{shown}\n")
    return "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,IMPRESSION\n" + "".join(rows) + extra, int(
        data.timestamps.max()
    )


def _channel(root: Path, mode: str, interactions: str, previous=None) -> Path:
    channel = root / mode / "train"
    channel.mkdir(parents=True)
    config = {
        "recipe": "aws-user-personalization",
        "trainingMode": mode,
        "solutionConfig": {"algorithmHyperParameters": SMALL},
    }
    (channel / "config.json").write_text(json.dumps(config))
    _write_table(channel / "interactions", interactions, INTERACTIONS_SCHEMA, "INTERACTIONS")
    items = "ITEM_ID,GENRE,CREATION_TIMESTAMP\n" + "i0,a,\ni1,a,1600000000\n"
    items += "".join(f"{item},b,{CREATED_AT}\n" for item in COLD[:2]) + f"{COLD[2]},b,\n"
    _write_table(channel / "items", items, ITEMS_SCHEMA, "ITEMS")
    if previous is not None:
        save_dir(previous, channel / "previous_model")
    return channel


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    csv_text, latest = _interaction_rows()
    return root, train.run(load_channel(_channel(root, "FULL", csv_text))), csv_text, latest


def test_catalogue_items_without_interactions_are_in_the_model(full):
    _, artifact, _, _ = full
    ids = artifact.item_ids.tolist()
    assert ids[-len(COLD) :] == COLD  # appended: every earlier index unchanged
    factors = artifact.arrays["item_factors"]
    assert len(factors) == len(ids) == len(artifact.arrays["popularity"]) == len(artifact.arrays["neighbors"])
    assert not factors[-len(COLD) :].any()
    assert factors[: -len(COLD)].any(axis=1).all()
    # The interaction filters' arrays (built beside training, on the interactions' items) still
    # name each user's own items.
    model = FactorModel(artifact)
    data = planted(seed=21).interactions
    for user in range(0, data.user_count, 17):
        history = model.interaction_history(str(data.user_ids[user]))["view"]
        own = data.item_ids[data.items[data.users == user]]
        assert set(model.item_ids[history].tolist()) == set(own.tolist())


def test_per_item_creation_interactions_and_impressions(full):
    _, artifact, csv_text, latest = full
    index = {item: i for i, item in enumerate(artifact.item_ids.tolist())}
    created = artifact.arrays[CREATED]
    lines = csv_text.splitlines()[1:]
    i0_times = [int(line.split(",")[2]) for line in lines if line.split(",")[1] == "i0"]
    assert created[index["i0"]] == min(i0_times)  # no CREATION_TIMESTAMP: first interaction
    assert created[index["i1"]] == 1_600_000_000
    assert created[index["cold-0"]] == CREATED_AT
    assert np.isnan(created[index["cold-2"]])  # neither: unknown (explored as new)
    assert artifact.arrays[INTERACTIONS][index["i0"]] == len(i0_times)
    assert artifact.arrays[INTERACTIONS][index["cold-0"]] == 0
    shown = sum(1 for row in range(len(lines)) if row % 7 == 0)
    assert artifact.arrays[IMPRESSIONS][index["cold-1"]] == shown
    assert artifact.arrays[IMPRESSIONS][index["i0"]] == shown
    assert artifact.arrays[IMPRESSIONS][index["cold-0"]] == 0
    assert artifact.info[REFERENCE] == latest


def test_cold_items_are_recommended_through_exploration_only(full):
    _, artifact, _, _ = full
    model = FactorModel(artifact)
    cold = set(model.indices_of(COLD).tolist())
    users = model.user_ids.tolist()

    def reached(weight: float) -> int:
        config = ExplorationConfig(weight, 30.0)
        return sum(
            bool(
                cold
                & set(model.recommend_request(RankingRequest(u, exploration=config), 10).indices.tolist())
            )
            for u in users
        )

    assert reached(0.0) == 0
    assert reached(0.9) > 0


def test_an_update_folds_in_a_cold_item_that_got_interactions(full):
    root, previous, _, _ = full
    users = previous.user_ids.tolist()[:12]
    extra = "".join(f"{user},cold-0,{CREATED_AT + n},View,\n" for n, user in enumerate(users))
    csv_text, _ = _interaction_rows(extra)
    updated = train.run(load_channel(_channel(root, "UPDATE", csv_text, previous)))
    index = {item: i for i, item in enumerate(updated.item_ids.tolist())}
    assert set(COLD) <= set(index)
    factors = updated.arrays["item_factors"]
    assert factors[index["cold-0"]].any()  # folded in from its new interactions
    assert not factors[index["cold-2"]].any()
    assert updated.arrays[INTERACTIONS][index["cold-0"]] == len(users)
    assert updated.info[REFERENCE] == CREATED_AT + len(users) - 1
