"""Item and user metadata in aws-user-personalization (training/metadata.py), through the training
entry point on planted data where an item's GENRE decides who likes it and a user's SEGMENT names
the genre they like: items with no interactions are recommended by relevance to the users of their
genre (exploration weight 0: relevance alone), users with no history get their segment's items, and
an UPDATE gives items added since their metadata vectors too."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest import columnar
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import save_dir
from picks.serving.exploration import ExplorationConfig
from picks.serving.rankers import FactorModel, RankingRequest

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.unit.planted import csv_rows, planted
from training import train
from training.data import load_channel
from training.metadata import ITEM_SHARE, USER_SHARE

if TYPE_CHECKING:
    from pathlib import Path

INTERACTIONS_SCHEMA = parse_schema(avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string")))
ITEMS_SCHEMA = parse_schema(
    avro_schema(
        "Items",
        ("ITEM_ID", "string"),
        ("GENRE", "string", "categorical"),
        {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
    )
)
USERS_SCHEMA = parse_schema(avro_schema("Users", ("USER_ID", "string"), ("SEGMENT", "string", "categorical")))
PARAMS = {"hidden_dimension": "8", "als_iterations": "10", "exclude_interacted_items": "true"}
GENRES = ("action", "drama")
COLD_ITEMS = {genre: [f"new-{genre}-{n}" for n in range(3)] for genre in GENRES}
NEW_USERS = {genre: [f"fan-{genre}-{n}" for n in range(5)] for genre in GENRES}
TOP = 10
# Each fan has about 57 items left to recommend (21 of their genre, 3 new ones, 33 others).
REACH = 20
DATA = planted(users_per_cluster=60, items_per_group=30, per_user=10, seed=8)


def _write_table(folder: Path, csv_text: str, schema, dataset_type: str) -> None:
    folder.mkdir(parents=True)
    data, manifest = columnar.serialize(read_csv(csv_text.encode(), schema, dataset_type))
    (folder / manifest["data"]["key"]).write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _items_csv(extra: dict[str, list[str]] | None = None) -> str:
    rows = [
        f"{DATA.interactions.item_ids[i]},{GENRES[DATA.item_group[i]]}," for i in range(len(DATA.item_group))
    ]
    for genre, items in {**COLD_ITEMS, **(extra or {})}.items():
        rows += [f"{item},{genre.split('-')[0]},1700100000" for item in items]
    return "ITEM_ID,GENRE,CREATION_TIMESTAMP\n" + "\n".join(rows) + "\n"


def _users_csv() -> str:
    rows = [
        f"{DATA.interactions.user_ids[u]},{GENRES[DATA.user_cluster[u]]}"
        for u in range(len(DATA.user_cluster))
    ]
    rows += [f"{user},{genre}" for genre, users in NEW_USERS.items() for user in users]
    return "USER_ID,SEGMENT\n" + "\n".join(rows) + "\n"


def _channel(
    root: Path,
    name: str,
    *,
    mode: str = "FULL",
    extra_rows: str = "",
    extra_items: dict[str, list[str]] | None = None,
    params: dict[str, str] | None = None,
    users: bool = True,
    previous=None,
) -> Path:
    channel = root / name / "train"
    channel.mkdir(parents=True)
    config = {
        "recipe": "aws-user-personalization",
        "trainingMode": mode,
        "solutionConfig": {"algorithmHyperParameters": {**PARAMS, **(params or {})}},
    }
    (channel / "config.json").write_text(json.dumps(config))
    interactions = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + csv_rows(DATA.interactions) + extra_rows
    _write_table(channel / "interactions", interactions, INTERACTIONS_SCHEMA, "INTERACTIONS")
    _write_table(channel / "items", _items_csv(extra_items), ITEMS_SCHEMA, "ITEMS")
    if users:
        _write_table(channel / "users", _users_csv(), USERS_SCHEMA, "USERS")
    if previous is not None:
        save_dir(previous, channel / "previous_model")
    return channel


def _top(model: FactorModel, user: str, k: int = TOP) -> list[str]:
    request = RankingRequest(user, exploration=ExplorationConfig(0.0, 30.0))
    return model.item_ids[model.recommend_request(request, k).indices].tolist()


def _users_of(genre: str) -> list[str]:
    return DATA.interactions.user_ids[DATA.users_of(GENRES.index(genre))].tolist()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("metadata")


@pytest.fixture(scope="module")
def full(root):
    return train.run(load_channel(_channel(root, "full")))


def test_cold_items_reach_the_users_of_their_genre_by_relevance_alone(full):
    model = FactorModel(full)
    for genre in GENRES:
        other = GENRES[1 - GENRES.index(genre)]
        fans = _users_of(genre)
        reached = sum(bool(set(COLD_ITEMS[genre]) & set(_top(model, user, REACH))) for user in fans)
        strayed = sum(bool(set(COLD_ITEMS[other]) & set(_top(model, user, REACH))) for user in fans)
        assert reached >= 0.9 * len(fans), (genre, reached)
        assert strayed == 0, (genre, strayed)
    shares = full.arrays[ITEM_SHARE][model.indices_of([*COLD_ITEMS["action"], *COLD_ITEMS["drama"]])]
    assert (shares == 1.0).all()


def test_a_cold_item_sits_among_its_genre_in_the_factor_space(full):
    model = FactorModel(full)
    factors = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    for genre in GENRES:
        warm = model.indices_of(DATA.interactions.item_ids[DATA.items_of(GENRES.index(genre))].tolist())
        others = model.indices_of(DATA.interactions.item_ids[DATA.items_of(1 - GENRES.index(genre))].tolist())
        for cold in model.indices_of(COLD_ITEMS[genre]).tolist():
            assert (factors[warm] @ factors[cold]).mean() > 0.3
            assert (factors[others] @ factors[cold]).mean() < 0.0


def test_users_with_no_history_get_their_segments_items(root, full):
    model = FactorModel(full)
    genre_of = {
        str(DATA.interactions.item_ids[i]): GENRES[DATA.item_group[i]] for i in range(len(DATA.item_group))
    }
    for genre, users in NEW_USERS.items():
        for user in users:
            assert user in model.user_index  # appended with its metadata's vector
            top = [genre_of[item] if item in genre_of else item.split("-")[1] for item in _top(model, user)]
            assert top.count(genre) >= TOP - 1, (user, top)
    assert (full.arrays[USER_SHARE][-10:] == 1.0).all()
    # Without the USERS dataset the same users are unknown: popular items, from both genres.
    plain = FactorModel(train.run(load_channel(_channel(root, "no-users", users=False))))
    assert NEW_USERS["action"][0] not in plain.user_index
    answers = {genre_of[item] for item in _top(plain, NEW_USERS["action"][0])}
    assert answers == set(GENRES)


def test_metadata_can_be_turned_off(root, full):
    off = train.run(load_channel(_channel(root, "off", params={"use_metadata": "false"})))
    model = FactorModel(off)
    cold = model.indices_of([*COLD_ITEMS["action"], *COLD_ITEMS["drama"]])
    assert not model.item_factors[cold].any()
    assert ITEM_SHARE not in off.arrays and USER_SHARE not in off.arrays
    assert NEW_USERS["action"][0] not in model.user_index
    # Warm items keep the vectors ALS gave them either way.
    warm = model.indices_of(DATA.interactions.item_ids[:10].tolist())
    np.testing.assert_array_equal(FactorModel(full).item_factors[warm], model.item_factors[warm])


def test_an_update_describes_items_added_since_and_refits_cold_items_that_got_interactions(root, full):
    added = {"action-late": ["late-action-0", "late-action-1"]}
    fans = _users_of("action")
    picked = COLD_ITEMS["action"][0]
    extra = "".join(f"{user},{picked},{1_700_200_000 + n},View\n" for n, user in enumerate(fans[:12]))
    updated = train.run(
        load_channel(
            _channel(root, "update", mode="UPDATE", extra_rows=extra, extra_items=added, previous=full)
        )
    )
    model = FactorModel(updated)
    late = model.indices_of(added["action-late"])
    assert (updated.arrays[ITEM_SHARE][late] == 1.0).all()
    later_fans = fans[12:]
    reached = sum(bool(set(added["action-late"]) & set(_top(model, user, REACH))) for user in later_fans)
    assert reached >= 0.9 * len(later_fans)
    # 12 users now: past cold_item_interactions, its vector is its interactions' alone.
    index = model.item_index[picked]
    assert updated.arrays[ITEM_SHARE][index] == 0.0
    before = FactorModel(full)
    assert not np.allclose(model.item_factors[index], before.item_factors[before.item_index[picked]])
    action, drama = (model.indices_of(DATA.interactions.item_ids[DATA.items_of(g)].tolist()) for g in (0, 1))
    unit = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    assert (unit[action] @ unit[index]).mean() > 0.2 > 0 > (unit[drama] @ unit[index]).mean()  # action fans'
    assert NEW_USERS["drama"][0] in model.user_index


def test_without_metadata_training_is_unchanged_bit_for_bit(root):
    """An ITEMS dataset with no metadata field (ids and creation times only) and no USERS dataset:
    the same model as with use_metadata false, array for array."""

    def trained(name: str, use: str):
        channel = _channel(root, name, users=False, params={"use_metadata": use})
        bare = "ITEM_ID,CREATION_TIMESTAMP\n" + "".join(
            f"{item},1700100000\n" for item in COLD_ITEMS["action"]
        )
        schema = parse_schema(
            avro_schema(
                "Items", ("ITEM_ID", "string"), {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]}
            )
        )
        for path in (channel / "items").iterdir():
            path.unlink()
        (channel / "items").rmdir()
        _write_table(channel / "items", bare, schema, "ITEMS")
        return train.run(load_channel(channel))

    on, off = trained("bare-on", "true"), trained("bare-off", "false")
    assert on.item_ids.tolist() == off.item_ids.tolist() and on.user_ids.tolist() == off.user_ids.tolist()
    assert set(on.arrays) == set(off.arrays)
    for name, array in off.arrays.items():
        np.testing.assert_array_equal(on.arrays[name], array, err_msg=name)
