"""The training recipes (training/recipes) on small data with planted structure, and the channel's
event filtering and minimums (training/data.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest.csv_reader import read_csv
from picks.serving.rankers import FactorModel, PopularityModel, SimsModel

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.unit.planted import planted
from training.data import Interactions, TrainingDataError, check_minimums, interactions_from_table
from training.recipes import popularity_count, sims, user_personalization
from training.recipes.common import resolved_hyperparameters

UP_PARAMS = resolved_hyperparameters(
    "aws-user-personalization",
    {"hidden_dimension": "8", "als_iterations": "10", "exclude_interacted_items": "true"},
)


@pytest.fixture(scope="module")
def data():
    return planted(seed=5)


@pytest.fixture(scope="module")
def personalization(data):
    return user_personalization.fit(data.interactions, UP_PARAMS, seed=1)


def interactions(rows: list[tuple[int, int, int]], n_users: int, n_items: int) -> Interactions:
    users, items, times = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    return Interactions(
        users=users,
        items=items,
        timestamps=times,
        weights=np.ones(len(rows), np.float32),
        user_ids=np.array([f"u{i}" for i in range(n_users)], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(n_items)], dtype=object),
    )


# --- aws-user-personalization -------------------------------------------------------------------


def test_user_personalization_recommends_in_cluster_items(data, personalization):
    model = FactorModel(personalization)
    assert personalization.recipe_type == "USER_PERSONALIZATION"
    assert model.item_factors.shape == (data.interactions.item_count, 8)
    assert model.user_factors.shape == (data.interactions.user_count, 8)
    in_cluster = []
    for user in range(data.interactions.user_count):
        ranked = model.recommend(model.user_ids[user], 5)
        in_cluster.extend((data.item_group[ranked.indices] == data.user_cluster[user]).tolist())
        seen = set(data.interactions.items[data.interactions.users == user].tolist())
        assert not seen & set(ranked.indices.tolist())  # exclude_interacted_items
    assert np.mean(in_cluster) >= 0.95
    # A newcomer known only by a few items of group B gets group B items.
    recent = [model.item_ids[i] for i in data.items_of(1)[:3]]
    assert (data.item_group[model.recommend("newcomer", 5, recent=recent).indices] == 1).all()


def test_user_personalization_is_deterministic_per_seed(data, personalization):
    again = user_personalization.fit(data.interactions, UP_PARAMS, seed=1)
    np.testing.assert_array_equal(again.arrays["item_factors"], personalization.arrays["item_factors"])


def test_refresh_folds_in_a_new_item(data, personalization):
    """trainingMode UPDATE: the item factors stay, a brand-new item gets one from its users."""
    d = data.interactions
    rng = np.random.default_rng(0)
    fans = rng.choice(data.users_of(0), 30, replace=False)
    new = d.item_count
    later = d.latest_timestamp + np.arange(1, 31)
    grown = replace(
        d,
        users=np.concatenate([d.users, fans]),
        items=np.concatenate([d.items, np.full(30, new)]),
        timestamps=np.concatenate([d.timestamps, later]),
        weights=np.ones(len(d) + 30, np.float32),
        item_ids=np.concatenate([d.item_ids, np.array(["new-A"], dtype=object)]),
    )
    refreshed = user_personalization.refresh(personalization, grown, UP_PARAMS)
    assert refreshed.item_ids.tolist() == d.item_ids.tolist() + ["new-A"]
    factors = refreshed.arrays["item_factors"]
    assert np.linalg.norm(factors[new]) > 0.1
    np.testing.assert_array_equal(factors[:new], personalization.arrays["item_factors"])
    model = FactorModel(refreshed)
    others = [u for u in data.users_of(0) if u not in set(fans.tolist())]
    share_a = np.mean([new in model.recommend(model.user_ids[u], 5).indices for u in others])
    share_b = np.mean([new in model.recommend(model.user_ids[u], 5).indices for u in data.users_of(1)])
    assert share_a >= 0.8 and share_b <= 0.1
    assert refreshed.info["latestInteraction"] == int(later[-1])
    # The fans' vectors now include the new item: it is excluded from their recommendations.
    assert all(new not in model.recommend(model.user_ids[u], 10).indices for u in fans)


def test_refresh_of_selected_users_only_changes_them(data, personalization):
    users = np.array([0, 70])
    refreshed = user_personalization.refresh(personalization, data.interactions, UP_PARAMS, users=users)
    before, after = personalization.arrays["user_factors"], refreshed.arrays["user_factors"]
    untouched = np.setdiff1d(np.arange(len(before)), users)
    np.testing.assert_array_equal(after[untouched], before[untouched])
    # The refreshed users' vectors are the exact solve for their history.
    model = FactorModel(refreshed)
    for user in users.tolist():
        np.testing.assert_allclose(after[user], model.fold_in(*model.history(user)), atol=1e-4)


# --- aws-sims -----------------------------------------------------------------------------------


def test_sims_neighbours_come_from_the_items_group(data):
    params = resolved_hyperparameters("aws-sims", {})
    artifact = sims.fit(data.interactions, params)
    model = SimsModel(artifact)
    assert artifact.recipe_type == "RELATED_ITEMS"
    same = []
    for item in range(data.interactions.item_count):
        related = model.related(model.item_ids[item], 5)
        assert item not in related.indices.tolist()
        same.extend((data.item_group[related.indices] == data.item_group[item]).tolist())
        assert np.all(np.diff(related.scores) <= 0)
    assert np.mean(same) >= 0.95
    # The best neighbour's score is scaled to 1.
    assert model.related(model.item_ids[0], 1).scores[0] == pytest.approx(1.0)


def test_sims_min_cointeraction_count_drops_rare_pairs():
    # Items 0 and 1 share two users, items 0 and 2 share three; users 7-9 add unrelated items.
    rows = [(u, 0, 10 * u) for u in range(5)]
    rows += [(u, 1, 10 * u + 1) for u in (0, 1)]
    rows += [(u, 2, 10 * u + 2) for u in (2, 3, 4)]
    rows += [(u, 3 + u % 3, 10 * u) for u in range(7, 10)] + [(u, 6, 10 * u + 1) for u in range(7, 10)]
    data = interactions(rows, 10, 7)
    base = {
        "min_user_history_length_percentile": "0",
        "max_user_history_length_percentile": "1",
        "min_item_interaction_count_percentile": "0",
        "max_item_interaction_count_percentile": "1",
    }

    def neighbours(minimum: int, item: int = 0) -> list[int]:
        params = resolved_hyperparameters("aws-sims", {**base, "min_cointeraction_count": str(minimum)})
        row = sims.fit(data, params).arrays["neighbors"][item]
        return row[row >= 0].tolist()

    assert sorted(neighbours(2)) == [1, 2]
    assert neighbours(3) == [2]
    assert neighbours(4) == []
    # Without enough neighbours, related items are filled with popular ones scored 0.
    params = resolved_hyperparameters("aws-sims", {**base, "min_cointeraction_count": "3"})
    related = SimsModel(sims.fit(data, params)).related("i0", 3)
    assert related.indices[0] == 2 and related.scores[0] == pytest.approx(1.0)
    assert related.scores[1:].tolist() == [0.0, 0.0] and 0 not in related.indices.tolist()


SIMS_ALL_USERS = {
    "min_user_history_length_percentile": "0",
    "max_user_history_length_percentile": "1",
    "min_item_interaction_count_percentile": "0",
    "max_item_interaction_count_percentile": "1",
}


def test_sims_scores_match_their_definition(monkeypatch):
    # Brute force of the score in training/recipes/sims.py, on random histories, with blocks and
    # position chunks small enough that several of each are used.
    monkeypatch.setattr(sims, "BLOCK", 7)
    monkeypatch.setattr(sims, "POSITIONS_CHUNK", 13)
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 30
    rows = [
        (u, int(i), int(t))
        for u in range(n_users)
        for t, i in enumerate(rng.choice(n_items, rng.integers(2, 15), replace=False))
    ]
    data = interactions(rows, n_users, n_items)
    params = resolved_hyperparameters(
        "aws-sims",
        {**SIMS_ALL_USERS, "min_cointeraction_count": "2", "sequence_window": "3", "sequence_decay": "0.5"},
    )
    artifact = sims.fit(data, params)
    lengths = np.bincount(data.users, minlength=n_users)
    together, weighted = np.zeros((n_items, n_items)), np.zeros((n_items, n_items))
    for user in range(n_users):
        sequence = data.items[data.users == user]
        for p, i in enumerate(sequence):
            for q, j in enumerate(sequence):
                if p != q:
                    together[i, j] += 1
                    weighted[i, j] += lengths[user] ** -0.3 + (0.5 ** abs(p - q) if abs(p - q) <= 3 else 0)
    counts = np.bincount(data.items, minlength=n_items)
    for item in range(n_items):
        value = np.where(together[item] >= 2, weighted[item] / np.sqrt(counts), 0)
        expected = [j for j in np.lexsort((np.arange(n_items), -value)) if value[j] > 0]
        row = artifact.arrays["neighbors"][item]
        assert row[row >= 0].tolist() == expected
        np.testing.assert_allclose(
            artifact.arrays["neighbor_scores"][item][: len(expected)],
            value[expected] / value[expected[0]] if expected else [],
            rtol=1e-5,
        )


def test_sims_prefers_items_interacted_with_close_together():
    # Items 1 and 2 each share users 0-3 with item 0; item 2 comes right after item 0, item 1 six
    # positions later (after four one-off items).
    rows = []
    for u in range(4):
        sequence = [0, 2] + [10 + 4 * u + k for k in range(4)] + [1]
        rows += [(u, item, t) for t, item in enumerate(sequence)]
    data = interactions(rows, 4, 26)

    def related(**given: str) -> tuple[list[int], list[float]]:
        params = resolved_hyperparameters("aws-sims", {**SIMS_ALL_USERS, **given})
        artifact = sims.fit(data, params)
        row = artifact.arrays["neighbors"][0]
        return row[row >= 0].tolist(), artifact.arrays["neighbor_scores"][0][row >= 0].tolist()

    assert related(sequence_weight="0") == ([1, 2], [1.0, 1.0])
    neighbours, scores = related()
    assert neighbours == [2, 1] and scores[1] < 1.0

    # Beyond sequence_window positions, no closeness bonus.
    def second_score(window: str) -> float:
        return related(sequence_window=window, sequence_decay="0.9")[1][1]

    assert second_score("5") < second_score("6")


def test_sims_long_histories_count_less():
    # Item 1 shares item 0 with users 0-2 (3 items each), item 2 with users 3-5 (24 items each).
    rows = [(u, item, t) for u in range(3) for t, item in enumerate([0, 1, 30 + u])]
    rows += [
        (u, item, t)
        for u in range(3, 6)
        for t, item in enumerate([0, 2] + [40 + 22 * u + k for k in range(22)])
    ]
    data = interactions(rows, 6, 200)

    def related(discount: str) -> tuple[list[int], list[float]]:
        params = resolved_hyperparameters(
            "aws-sims", {**SIMS_ALL_USERS, "sequence_weight": "0", "user_history_length_discount": discount}
        )
        artifact = sims.fit(data, params)
        row = artifact.arrays["neighbors"][0]
        return row[row >= 0].tolist(), artifact.arrays["neighbor_scores"][0][row >= 0].tolist()

    assert related("0") == ([1, 2], [1.0, 1.0])
    neighbours, scores = related("0.5")
    assert neighbours == [1, 2] and scores[1] == pytest.approx((24 / 3) ** -0.5, rel=1e-5)


def test_sims_picks_hyperparameters_default_and_are_checked(data):
    personalize_only = {
        name: value
        for name, value in resolved_hyperparameters("aws-sims", {}).items()
        if name not in sims.EXTRA_DEFAULTS
    }
    with_defaults = sims.fit(data.interactions, resolved_hyperparameters("aws-sims", {}))
    without = sims.fit(data.interactions, personalize_only)
    np.testing.assert_array_equal(with_defaults.arrays["neighbors"], without.arrays["neighbors"])
    assert sims.EXTRA_DEFAULTS.items() <= resolved_hyperparameters("aws-sims", {}).items()
    with pytest.raises(TrainingDataError, match="sequence_decay"):
        sims.fit(data.interactions, resolved_hyperparameters("aws-sims", {"sequence_decay": "1.5"}))


# --- aws-popularity-count -----------------------------------------------------------------------


def test_popularity_counts_distinct_users():
    # u0 interacts five times with i0; u1 and u2 once each with i1; u3 once with i2.
    rows = [(0, 0, t) for t in range(5)] + [(1, 1, 10), (2, 1, 11), (3, 2, 12)]
    artifact = popularity_count.fit(interactions(rows, 4, 3), {})
    assert artifact.recipe_type == "POPULAR_ITEMS"
    assert artifact.arrays["popularity"].tolist() == [1.0, 2.0, 1.0]
    assert PopularityModel(artifact).recommend(3).indices.tolist()[0] == 1


# --- event filtering in the channel -------------------------------------------------------------

SCHEMA = parse_schema(
    avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string"), ("EVENT_VALUE", "float"))
)
CSV = (
    "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
    "u1,i1,100,View,1.0\n"
    "u1,i2,101,Purchase,5.0\n"
    "u2,i2,102,Purchase,2.0\n"
    "u3,i3,103,View,4.0\n"
    "u4,i4,104,Click,3.0\n"
)


def rows_of(data: Interactions) -> set[tuple[str, str, int]]:
    return {
        (data.user_ids[u], data.item_ids[i], t)
        for u, i, t in zip(data.users.tolist(), data.items.tolist(), data.timestamps.tolist(), strict=True)
    }


@pytest.fixture(scope="module")
def table():
    return read_csv(CSV.encode(), SCHEMA, "INTERACTIONS")


def test_no_filter_keeps_every_row(table):
    data = interactions_from_table(table, {})
    assert len(data) == 5 and data.user_count == 4 and data.item_count == 4
    assert data.weights.tolist() == [1.0] * 5


def test_event_type_selects_rows_and_reindexes(table):
    data = interactions_from_table(table, {"eventType": "Purchase"})
    assert rows_of(data) == {("u1", "i2", 101), ("u2", "i2", 102)}
    # Only users and items that remain get indices, densely.
    assert sorted(data.user_ids.tolist()) == ["u1", "u2"] and data.item_ids.tolist() == ["i2"]
    assert data.users.max() == data.user_count - 1 and data.items.max() == data.item_count - 1


def test_event_value_threshold_keeps_values_at_or_above(table):
    data = interactions_from_table(table, {"solutionConfig": {"eventValueThreshold": "3"}})
    assert rows_of(data) == {("u1", "i2", 101), ("u3", "i3", 103), ("u4", "i4", 104)}
    both = interactions_from_table(
        table, {"eventType": "Purchase", "solutionConfig": {"eventValueThreshold": "3"}}
    )
    assert rows_of(both) == {("u1", "i2", 101)}


def test_events_config_weights_event_types(table):
    config = {
        "solutionConfig": {
            "eventsConfig": {
                "eventParametersList": [
                    {"eventType": "Purchase", "weight": 1.0},
                    {"eventType": "View", "weight": 0.25, "eventValueThreshold": 2.0},
                ]
            }
        }
    }
    data = interactions_from_table(table, config)
    weights = {
        (data.user_ids[u], data.item_ids[i]): w
        for u, i, w in zip(data.users.tolist(), data.items.tolist(), data.weights.tolist(), strict=True)
    }
    # Click is not listed (not trained on); the View below the threshold is dropped.
    assert weights == {("u1", "i2"): 1.0, ("u2", "i2"): 1.0, ("u3", "i3"): 0.25}


def test_filters_on_missing_columns_name_the_field():
    schema = parse_schema(avro_schema("Interactions", *USER_ITEM_TIME))
    bare = read_csv(b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\n", schema, "INTERACTIONS")
    with pytest.raises(TrainingDataError, match="eventType"):
        interactions_from_table(bare, {"eventType": "Purchase"})
    with pytest.raises(TrainingDataError, match="eventValueThreshold"):
        interactions_from_table(bare, {"solutionConfig": {"eventValueThreshold": "1"}})


def test_an_event_type_nobody_has_leaves_nothing(table):
    data = interactions_from_table(table, {"eventType": "Return"})
    assert len(data) == 0 and data.user_count == 0
    with pytest.raises(TrainingDataError, match=r"1000 interactions.*found 0"):
        check_minimums(data)


# --- minimums -----------------------------------------------------------------------------------


def test_check_minimums_names_the_numbers():
    too_few = interactions([(u % 100, u % 7, u) for u in range(999)], 100, 7)
    with pytest.raises(TrainingDataError) as caught:
        check_minimums(too_few)
    assert "1000" in str(caught.value) and "999" in str(caught.value)
    # 1000 interactions, but only 24 users with two or more.
    rows = [(u, 0, u) for u in range(24)] + [(u, 1, 100 + u) for u in range(24)]
    rows += [(24 + n, n % 5, 1000 + n) for n in range(1000 - len(rows))]
    single = interactions(rows, 24 + 1000, 5)
    with pytest.raises(TrainingDataError) as caught:
        check_minimums(single)
    assert "25 users" in str(caught.value) and "found 24" in str(caught.value)
    # 25 such users pass.
    rows = [(u, 0, u) for u in range(25)] + [(u, 1, 100 + u) for u in range(25)]
    rows += [(25 + n, n % 5, 1000 + n) for n in range(1000 - len(rows))]
    check_minimums(interactions(rows, 25 + 1000, 5))


def test_refresh_keeps_each_items_neighbours_when_the_item_order_changes(data, personalization):
    d = data.interactions
    order = np.arange(d.item_count)[::-1]  # the same items, listed in reverse
    new_index = np.argsort(order)
    reordered = replace(d, items=new_index[d.items], item_ids=d.item_ids[order])
    refreshed = user_personalization.refresh(personalization, reordered, UP_PARAMS)

    def neighbours(artifact, item_id: str) -> dict[str, float]:
        # Neighbour -> score: equal scores may be listed in either order once indices change.
        position = artifact.item_ids.tolist().index(item_id)
        row, scores = artifact.arrays["neighbors"][position], artifact.arrays["neighbor_scores"][position]
        return {artifact.item_ids[j]: round(float(v), 5) for j, v in zip(row, scores, strict=True) if j >= 0}

    for item_id in ("i0", "i7", "i30"):
        assert neighbours(refreshed, item_id) == neighbours(personalization, item_id)
