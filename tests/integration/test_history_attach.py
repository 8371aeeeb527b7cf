"""training.history.attach (the interaction-filter arrays) and training.data.time_order, against
their definitions: np.lexsort over (user, event type, newest first), the later of tied rows first."""

from __future__ import annotations

import json

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest.columnar import in_user_time_order as in_user_time_order_table
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import ModelArtifact, deserialize, serialize
from picks.serving.rankers import PopularityModel

from demo.schemas import USER_ITEM_TIME, avro_schema
from training import history
from training.data import Interactions, in_user_time_order, time_order, to_newest_first

SCHEMA = parse_schema(avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", ["null", "string"])))


PLAIN_SCHEMA = parse_schema(avro_schema("Interactions", *USER_ITEM_TIME))


def _table(rng: np.random.Generator, rows: int, with_types: bool):
    lines = ["USER_ID,ITEM_ID,TIMESTAMP" + (",EVENT_TYPE" if with_types else "")]
    types = ["View", "view", "Purchase", "click", ""]  # "" is null; View and view are one type
    for _ in range(rows):
        line = f"u{rng.integers(0, 30)},i{rng.integers(0, 60)},{1_700_000_000 + int(rng.integers(0, 40))}"
        lines.append(line + (f",{types[rng.integers(0, len(types))]}" if with_types else ""))
    return read_csv("\n".join(lines).encode(), SCHEMA if with_types else PLAIN_SCHEMA, "INTERACTIONS")


def _reference(artifact: ModelArtifact, table, per_type: int) -> dict[str, np.ndarray]:
    """The lexsort formulation history.attach had before time_order."""
    index = {item: i for i, item in enumerate(artifact.item_ids.tolist())}
    item_column = table["ITEM_ID"]
    item_map = np.array([index.get(v, -1) for v in item_column.dictionary.tolist()], dtype=np.int64)
    items = item_map[item_column.data]
    users = table["USER_ID"].data.astype(np.int64)
    times = table["TIMESTAMP"].data.astype(np.int64)
    if "EVENT_TYPE" in table:
        column = table["EVENT_TYPE"]
        lowered = [str(v).lower() for v in column.dictionary.tolist()]
        type_names = sorted(set(lowered))
        remap = np.array([type_names.index(v) for v in lowered] + [-1], dtype=np.int64)
        types = remap[column.data]
    else:
        type_names, types = [""], np.zeros(len(users), dtype=np.int64)
    keep = (items >= 0) & (types >= 0)
    users, items, times, types = users[keep], items[keep], times[keep], types[keep]
    order = np.lexsort((-np.arange(len(users)), -times, types, users))  # tied rows: the later is newer
    users, items, types = users[order], items[order], types[order]
    group = users * np.int64(len(type_names) + 1) + types
    starts = np.searchsorted(group, group, side="left")
    recent = (np.arange(len(group)) - starts) < per_type
    users, items, types = users[recent], items[recent], types[recent]
    counts = np.bincount(users, minlength=len(table["USER_ID"].dictionary))
    return {
        "filter_indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "filter_items": items.astype(np.int32),
        "filter_types": types.astype(np.int16),
    }


@pytest.mark.parametrize("with_types", [True, False])
@pytest.mark.parametrize("per_type", [1, 3, 1000])
def test_attach_matches_the_lexsort_definition(with_types, per_type):
    rng = np.random.default_rng(per_type)
    table = _table(rng, 600, with_types)
    # Some items the model does not know (their rows are left out).
    known = np.array([f"i{i}" for i in range(0, 60, 1) if i % 7], dtype=object)
    artifact = ModelArtifact(recipe="r", recipe_type="USER_PERSONALIZATION", item_ids=known)
    history.attach(artifact, table, per_type)
    expected = _reference(artifact, table, per_type)
    if not with_types:  # one event type: its codes (all 0) are not stored
        assert "filter_types" not in artifact.arrays and not expected.pop("filter_types").any()
        assert artifact.strings["filter_event_types"].tolist() == [""]
    assert artifact.arrays["filter_items"].dtype == np.uint16  # item indices below 2**16
    expected["filter_items"] = expected["filter_items"].astype(np.uint16)
    for name, values in expected.items():
        assert artifact.arrays[name].dtype == values.dtype
        np.testing.assert_array_equal(artifact.arrays[name], values, err_msg=name)


def newest_first_lexsort(timestamps: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The definition of newest first: oldest first (lexsort) reversed within each group, so the
    later of two rows with one timestamp is the newer."""
    return np.lexsort((-np.arange(len(groups)), -np.asarray(timestamps), groups))


def lexsort_order(timestamps: np.ndarray, groups: np.ndarray, newest_first: bool) -> np.ndarray:
    return newest_first_lexsort(timestamps, groups) if newest_first else np.lexsort((timestamps, groups))


@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize("time_sorted", [False, True])
def test_time_order_is_lexsort(newest_first, time_sorted):
    rng = np.random.default_rng(int(newest_first) * 2 + int(time_sorted))
    for size, groups, span in ((1, 1, 1), (2, 1, 1), (500, 7, 5), (5000, 300, 10_000)):
        group = rng.integers(0, groups, size)
        timestamps = rng.integers(1_600_000_000, 1_600_000_000 + span, size)
        if time_sorted:
            timestamps = np.sort(timestamps)
        expected = lexsort_order(timestamps, group, newest_first)
        np.testing.assert_array_equal(time_order(group, timestamps, newest_first), expected)


def test_time_order_falls_back_to_lexsort_outside_64_bits():
    group = np.array([3, 1, 3, 1, 2])
    timestamps = np.array([0, -(2**62), 2**62, 5, 5], dtype=np.int64)  # a range past 63 bits with the rows
    for newest_first in (False, True):
        expected = lexsort_order(timestamps, group, newest_first)
        np.testing.assert_array_equal(time_order(group, timestamps, newest_first), expected)
    assert len(time_order(np.empty(0, np.int64), np.empty(0, np.int64))) == 0


def test_newest_first_from_the_oldest_first_order_is_lexsort():
    rng = np.random.default_rng(11)
    for size, groups, span in ((0, 1, 1), (1, 1, 1), (500, 7, 3), (5000, 300, 10_000)):
        group = rng.integers(0, groups, size)
        timestamps = rng.integers(0, span, size)  # few distinct times: many ties inside a group
        np.testing.assert_array_equal(
            to_newest_first(time_order(group, timestamps), group), newest_first_lexsort(timestamps, group)
        )
    # Rows already by group and time, without ties (the plain-reversal path) and with them.
    group = np.sort(rng.integers(0, 50, 3000))
    for timestamps in (np.arange(3000), np.repeat(np.arange(1500), 2)):
        np.testing.assert_array_equal(
            time_order(group, timestamps, newest_first=True), newest_first_lexsort(timestamps, group)
        )


def test_interactions_orders_are_computed_once_and_carried_into_subsets():
    rng = np.random.default_rng(12)
    size = 3000
    users, timestamps = rng.integers(0, 40, size), rng.integers(0, 50, size)
    data = Interactions(
        users,
        rng.integers(0, 30, size),
        timestamps,
        np.ones(size, np.float32),
        np.arange(40).astype(object),
        np.arange(30).astype(object),
    )
    np.testing.assert_array_equal(data.by_user_time, np.lexsort((timestamps, users)))
    assert data.by_user_time is data.by_user_time  # cached
    np.testing.assert_array_equal(data.by_user_newest, newest_first_lexsort(timestamps, users))
    mask = rng.random(size) < 0.6
    part = data.subset(mask)
    assert "by_user_time" in part.__dict__  # derived from the parent's, not sorted again
    np.testing.assert_array_equal(part.by_user_time, np.lexsort((timestamps[mask], users[mask])))
    np.testing.assert_array_equal(part.by_user_newest, newest_first_lexsort(timestamps[mask], users[mask]))


def test_rows_stored_by_user_and_time_need_no_sort_and_subsets_stay_so():
    rng = np.random.default_rng(13)
    size = 2000
    users, timestamps = rng.integers(0, 30, size), rng.integers(0, 20, size)
    data = in_user_time_order(
        Interactions(
            users,
            rng.integers(0, 25, size),
            timestamps,
            np.ones(size, np.float32),
            np.arange(30).astype(object),
            np.arange(25).astype(object),
        )
    )
    assert data.rows_by_user_time
    np.testing.assert_array_equal(data.users, users[np.lexsort((timestamps, users))])
    np.testing.assert_array_equal(data.by_user_time, np.arange(size))
    part = data.subset(rng.random(size) < 0.5)
    assert part.rows_by_user_time
    np.testing.assert_array_equal(part.by_user_newest, newest_first_lexsort(part.timestamps, part.users))
    assert in_user_time_order(data) is data


@pytest.mark.parametrize("with_types", [True, False])
def test_interaction_history_reads_what_attach_stores(with_types):
    # With one event type no codes are stored, and filter_users (the model's user_ids here) is
    # stored once: the runtime reads the same history per user as from the full arrays.
    rng = np.random.default_rng(21)
    table = _table(rng, 600, with_types)
    known = np.array([f"i{i}" for i in range(0, 60) if i % 5], dtype=object)
    artifact = ModelArtifact(
        recipe="r",
        recipe_type="POPULAR_ITEMS",
        item_ids=known,
        user_ids=table["USER_ID"].dictionary,
        arrays={"popularity": np.ones(len(known), np.float32)},
    )
    history.attach(artifact, table)
    manifest, data = serialize(artifact)
    assert json.loads(manifest)["aliases"] == {"filter_users": "user_ids"}
    model = PopularityModel(deserialize(manifest, data))
    reference = _reference(artifact, table, history.PER_TYPE)
    names = artifact.strings["filter_event_types"]
    indptr, items, types = reference["filter_indptr"], reference["filter_items"], reference["filter_types"]
    for row, user in enumerate(table["USER_ID"].dictionary.tolist()):
        own_items, own_types = items[indptr[row] : indptr[row + 1]], types[indptr[row] : indptr[row + 1]]
        expected = {str(names[t]): own_items[own_types == t] for t in np.unique(own_types).tolist()}
        found = model.interaction_history(user)
        assert found.keys() == expected.keys(), user
        for name, values in expected.items():
            np.testing.assert_array_equal(found[name], values, err_msg=f"{user} {name}")
    assert model.interaction_history("nobody") == {} and model.interaction_history(None) == {}


def test_filter_items_widen_past_65536_items():
    table = _table(np.random.default_rng(3), 200, with_types=False)
    many = np.array([f"i{i}" for i in range(60)] + [f"x{i}" for i in range((1 << 16) - 60 + 1)], dtype=object)
    artifact = ModelArtifact(recipe="r", recipe_type="USER_PERSONALIZATION", item_ids=many)
    history.attach(artifact, table)
    assert artifact.arrays["filter_items"].dtype == np.int32
    expected = _reference(artifact, table, history.PER_TYPE)["filter_items"]
    np.testing.assert_array_equal(artifact.arrays["filter_items"], expected)


@pytest.mark.parametrize("per_type", [1, 3, 1000])
@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
def test_rows_stored_by_user_and_time_are_read_without_a_sort(monkeypatch, per_type, chunk):
    # As the import stores interactions (one event type, every item known to the model): each
    # user's newest rows are its last ones reversed; the same arrays as the definition, in slices
    # of any size, and no sort.
    table = in_user_time_order_table(_table(np.random.default_rng(per_type + 40), 600, with_types=False))
    artifact = ModelArtifact(
        recipe="r", recipe_type="USER_PERSONALIZATION", item_ids=table["ITEM_ID"].dictionary
    )
    monkeypatch.setattr(history, "time_order", _no_sort)
    monkeypatch.setattr(history._newest_stored, "__defaults__", (chunk,))
    history.attach(artifact, table, per_type)
    expected = _reference(artifact, table, per_type)
    np.testing.assert_array_equal(artifact.arrays["filter_indptr"], expected["filter_indptr"])
    assert artifact.arrays["filter_items"].dtype == np.uint16
    np.testing.assert_array_equal(artifact.arrays["filter_items"], expected["filter_items"].astype(np.uint16))
    assert "filter_types" not in artifact.arrays
    assert artifact.strings["filter_event_types"].tolist() == [""]


def _no_sort(*args, **kwargs):
    raise AssertionError("rows stored by user and time need no sort")
