"""Re-interactions: the table training learns (training/repeats.py) and how serving uses it
(picks/serving/repeats.py, FactorModel)."""

from __future__ import annotations

import numpy as np
import pytest
from picks.serving.rankers import FactorModel
from picks.serving.repeats import RepeatTable, distinct_recent, lift_repeats

from training import repeats
from training.data import Interactions
from training.recipes import user_personalization
from training.recipes.common import resolved_hyperparameters

CLICK, PURCHASE = 0, 1


def shop(n_users: int = 300, n_items: int = 200, seed: int = 3) -> Interactions:
    """Users browse (click) items and buy the item they clicked last: click X, purchase X, click ..."""
    rng = np.random.default_rng(seed)
    users, items, times, types = [], [], [], []
    for user in range(n_users):
        t = 1_000
        for _ in range(int(rng.integers(6, 14))):  # varying lengths: the holdout cut falls anywhere
            for item in rng.choice(n_items, int(rng.integers(1, 4)), replace=False).tolist():
                users.append(user), items.append(item), times.append(t), types.append(CLICK)
                t += 1
            users.append(user), items.append(items[-1]), times.append(t), types.append(PURCHASE)
            t += 1
    return Interactions(
        users=np.array(users, np.int64),
        items=np.array(items, np.int64),
        timestamps=np.array(times, np.int64),
        weights=np.ones(len(users), np.float32),
        user_ids=np.array([f"u{i}" for i in range(n_users)], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(n_items)], dtype=object),
        event_types=np.array(types, np.int16),
        event_type_names=np.array(["click", "purchase"], dtype=object),
    )


def test_distinct_recent_keeps_the_newest_interaction_of_each_item():
    items, positions, types, counts = distinct_recent(
        np.array([5, 7, 5, 9, 5]), np.array([1, 0, 0, 0, 0]), window=4
    )
    assert items.tolist() == [5, 7, 9]
    assert positions.tolist() == [0, 1, 2]
    assert types.tolist() == [1, 0, 0]  # item 5's newest interaction is the type-1 one
    assert counts.tolist() == [1, 0, 0]  # 5 twice within the window of 4 (count bucket 2 -> index 1)


def test_table_learns_that_a_click_comes_back_as_a_purchase():
    probability = repeats.table(shop(), window=5)
    assert probability.shape == (5, 3, 3)  # click, purchase, unknown type
    # The newest item, clicked once: bought next in most histories whose cut falls there.
    assert probability[0, CLICK, 0] > 0.3
    # An item just bought is not bought again.
    assert probability[0, PURCHASE, 1] < probability[0, CLICK, 0] / 2


def test_table_without_event_types_has_one_bucket():
    data = shop()
    plain = Interactions(data.users, data.items, data.timestamps, data.weights, data.user_ids, data.item_ids)
    assert repeats.table(plain, window=4).shape == (4, 1, 3)
    assert repeats.recent_types(plain, 4).max() == 0


def test_recent_types_line_up_with_recent_items():
    data = shop(n_users=5)
    indptr, items = user_personalization.recent_items(data, 4)
    types = repeats.recent_types(data, 4)
    assert len(types) == len(items)
    last_rows = [np.flatnonzero(data.users == u)[-1] for u in range(5)]
    assert [int(items[indptr[u]]) for u in range(5)] == data.items[last_rows].tolist()
    assert types[indptr[:-1]].tolist() == [PURCHASE] * 5  # every history ends with a purchase


def test_candidates_are_above_the_threshold_most_likely_first():
    probability = np.zeros((3, 2, 3), np.float32)
    probability[0, 0, 0], probability[1, 0, 0], probability[2, 0, 0] = 0.2, 0.6, 0.01
    table = RepeatTable(probability, {"click": 0}, threshold=0.05)
    items, chance = table.candidates(np.array([4, 8, 2]), np.array([0, 0, 0]))
    assert items.tolist() == [8, 4]
    assert chance.tolist() == pytest.approx([0.6, 0.2])
    assert table.type_code("CLICK") == 0 and table.type_code("watch") == 1


def test_lift_puts_candidates_first_and_keeps_the_rest_in_order():
    score = np.array([0.5, -np.inf, 0.9, 0.1], np.float32)
    lifted = lift_repeats(score, (np.array([1, 3]), np.array([0.3, 0.7], np.float32)))
    assert np.argsort(-lifted, kind="stable").tolist() == [3, 1, 2, 0]


@pytest.fixture(scope="module")
def shop_model():
    params = resolved_hyperparameters(
        "aws-user-personalization",
        {"hidden_dimension": "4", "als_iterations": "3", "repeat_threshold": "0.2"},
    )
    return FactorModel(user_personalization.fit(shop(), params, seed=0))


def test_a_clicked_item_is_recommended_again_but_a_bought_one_is_not(shop_model):
    assert shop_model.exclude_history
    first = shop_model.recommend("newcomer", 5, recent=["i7"], recent_types=["click"]).indices
    assert shop_model.item_ids[first[0]] == "i7"
    bought = shop_model.recommend(
        "newcomer", 5, recent=["i7", "i7"], recent_types=["click", "purchase"]
    ).indices
    assert "i7" not in shop_model.item_ids[bought].tolist()


def test_an_explicit_exclude_turns_repeats_off():
    params = resolved_hyperparameters(
        "aws-user-personalization",
        {"hidden_dimension": "4", "als_iterations": "3", "exclude_interacted_items": "true"},
    )
    model = FactorModel(user_personalization.fit(shop(), params, seed=0))
    ranked = model.recommend("newcomer", 5, recent=["i7"], recent_types=["click"]).indices
    assert "i7" not in model.item_ids[ranked].tolist()


@pytest.mark.parametrize("stored_by_user", [False, True])
def test_examples_match_a_per_user_reading_of_the_definition(stored_by_user):
    from picks.serving.repeats import COUNT_BUCKETS

    from training.data import in_user_time_order

    rng = np.random.default_rng(21)
    size, n_users, n_items, window = 4000, 60, 15, 6
    names = np.array(["click", "watch"], dtype=object)
    data = Interactions(
        rng.integers(0, n_users, size),
        rng.integers(0, n_items, size),
        rng.integers(0, 40, size),
        np.ones(size, np.float32),  # few times: many ties
        np.arange(n_users).astype(object),
        np.arange(n_items).astype(object),
        rng.integers(0, 3, size).astype(np.int16),
        names,
    )  # code 2: no event type
    if stored_by_user:
        data = in_user_time_order(data)
    expected = []
    for user in range(n_users):
        rows = sorted(np.flatnonzero(data.users == user).tolist(), key=lambda r: (data.timestamps[r], r))
        n = len(rows)
        if n < 2:
            continue
        inputs = n - max(1, int(n * 0.1))
        truth = {int(data.items[r]) for r in rows[inputs:]}
        in_window = rows[max(0, inputs - window) : inputs][::-1]  # newest first
        seen: list[int] = []
        for r in in_window:
            item = int(data.items[r])
            if item in seen:
                continue
            seen.append(item)
            count = sum(int(data.items[q]) == item for q in in_window)
            cell = np.ravel_multi_index(
                (len(seen) - 1, min(int(data.event_types[r]), 2), min(count, COUNT_BUCKETS) - 1),
                (window, 3, COUNT_BUCKETS),
            )
            expected.append((user, int(cell), item in truth))
    found = repeats.examples(data, window)
    assert sorted(
        zip(found.users.tolist(), found.cells.tolist(), found.hits.tolist(), strict=True)
    ) == sorted(expected)
