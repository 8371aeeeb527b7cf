"""The synthetic demo data: deterministic, well-formed, and carrying a real personalisation signal."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import pytest

from demo import synthetic
from demo.synthetic import DemoData, generate, interactions_csv_chunks, write_csvs, write_interactions_csv

if TYPE_CHECKING:
    from pathlib import Path

SMALL = {"n_users": 200, "n_items": 120, "n_interactions": 6_000}


@pytest.fixture(scope="module")
def demo_data() -> DemoData:
    return generate()


def _parse(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = write_csvs(generate(**SMALL, seed=7), tmp_path / "a")
    second = write_csvs(generate(**SMALL, seed=7), tmp_path / "b")
    assert set(first) == {"users", "items", "interactions"}
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_different_seed_gives_different_data() -> None:
    assert generate(**SMALL, seed=1).interactions_csv != generate(**SMALL, seed=2).interactions_csv


def test_default_sizes(demo_data: DemoData) -> None:
    assert len(demo_data.users) == synthetic.DEFAULT_USERS
    assert len(demo_data.items) == synthetic.DEFAULT_ITEMS
    assert len(demo_data.interactions) == synthetic.DEFAULT_INTERACTIONS


@pytest.mark.parametrize(
    ("schema", "attribute", "record_name"),
    [
        (synthetic.INTERACTIONS_SCHEMA, "interactions_csv", "Interactions"),
        (synthetic.ITEMS_SCHEMA, "items_csv", "Items"),
        (synthetic.USERS_SCHEMA, "users_csv", "Users"),
    ],
)
def test_schema_fields_match_csv_header(
    demo_data: DemoData, schema: str, attribute: str, record_name: str
) -> None:
    parsed = json.loads(schema)
    assert parsed["type"] == "record"
    assert parsed["name"] == record_name
    assert parsed["namespace"] == "com.amazonaws.personalize.schema"
    assert parsed["version"] == "1.0"
    header, rows = _parse(getattr(demo_data, attribute))
    assert [f["name"] for f in parsed["fields"]] == header
    assert all(len(row) == len(header) for row in rows)


def test_schema_flags() -> None:
    def flags(schema: str) -> dict[str, tuple[str, bool, bool]]:
        return {
            f["name"]: (f["type"], f.get("categorical", False), f.get("textual", False))
            for f in json.loads(schema)["fields"]
        }

    items = flags(synthetic.ITEMS_SCHEMA)
    assert items["CATEGORY"] == ("string", True, False)
    assert items["DESCRIPTION"] == ("string", False, True)
    assert items["PRICE"][0] == "float"
    assert items["CREATION_TIMESTAMP"][0] == "long"
    users = flags(synthetic.USERS_SCHEMA)
    assert users["MEMBERSHIP"] == ("string", True, False)
    assert users["AGE_GROUP"] == ("string", True, False)
    assert flags(synthetic.INTERACTIONS_SCHEMA)["TIMESTAMP"][0] == "long"


def test_value_constraints(demo_data: DemoData) -> None:
    _, users = _parse(demo_data.users_csv)
    _, items = _parse(demo_data.items_csv)
    _, interactions = _parse(demo_data.interactions_csv)
    for row in users + items + interactions:
        assert all(len(value) <= 1000 for value in row)
        assert row[0]
    user_ids = [row[0] for row in users]
    item_ids = [row[0] for row in items]
    assert len(set(user_ids)) == len(user_ids)
    assert len(set(item_ids)) == len(item_ids)

    for _, membership, age_group in users:
        assert membership in synthetic.MEMBERSHIPS
        assert age_group in synthetic.AGE_GROUPS
    for _, category, price, description, created in items:
        assert category in synthetic.CATEGORIES
        assert float(price) > 0
        assert description.endswith(".") and len(description.split()) >= 6
        assert int(created) > 0 and str(int(created)) == created

    known_users, known_items = set(user_ids), set(item_ids)
    first_item_creation = min(int(row[4]) for row in items)
    for user_id, item_id, timestamp, event_type in interactions:
        assert user_id in known_users and item_id in known_items
        assert str(int(timestamp)) == timestamp and int(timestamp) > first_item_creation
        assert event_type in ("View", "Purchase")


def test_purchases_are_rarer_and_follow_a_view(demo_data: DemoData) -> None:
    events = Counter(row[3] for row in demo_data.interactions)
    assert 0 < events["Purchase"] < events["View"] / 5
    first_view: dict[tuple[str, str], int] = {}
    for user_id, item_id, timestamp, event_type in demo_data.interactions:
        if event_type == "View":
            first_view.setdefault((user_id, item_id), timestamp)
        else:
            assert first_view.get((user_id, item_id), timestamp + 1) <= timestamp


def test_latent_signal_beats_popularity(demo_data: DemoData) -> None:
    """Hold out each user's last view; a category-affinity scorer must out-hit most-popular."""
    category = {row[0]: row[1] for row in demo_data.items}
    by_user: dict[str, list[tuple[str, str, int, str]]] = defaultdict(list)
    for row in demo_data.interactions:  # already in time order
        by_user[row[0]].append(row)
    held_out: dict[str, str] = {}
    train: list[tuple[str, str, int, str]] = []
    for user_id, rows in by_user.items():
        views = [row for row in rows if row[3] == "View"]
        if len(views) < 2:
            continue
        last = views[-1]
        held_out[user_id] = last[1]
        train.extend(row for row in rows if row[2] < last[2])

    popularity = Counter(row[1] for row in train)
    top_k = 10
    most_popular = {item for item, _ in popularity.most_common(top_k)}
    pop_hits = sum(item in most_popular for item in held_out.values())

    affinity: dict[str, Counter[str]] = defaultdict(Counter)
    for user_id, item_id, _, _ in train:
        affinity[user_id][category[item_id]] += 1
    personal_hits = 0
    for user_id, item_id in held_out.items():
        prefs = affinity[user_id]
        # Smoothed P(category | user) * popularity: popularity within the user's favourite categories.
        ranked = sorted(popularity, key=lambda i: -(prefs[category[i]] + 1) * popularity[i])
        personal_hits += item_id in ranked[:top_k]

    assert len(held_out) > 0.9 * len(demo_data.users)
    assert personal_hits > 1.2 * pop_hits, (personal_hits, pop_hits)


def test_stream_is_deterministic_and_exact(tmp_path: Path) -> None:
    options = {"n_users": 300, "n_items": 80, "seed": 3, "chunk_rows": 1_000}
    first = write_interactions_csv(tmp_path / "a.csv", 4_321, **options)
    second = write_interactions_csv(tmp_path / "b.csv", 4_321, **options)
    assert first.read_bytes() == second.read_bytes()
    header, rows = _parse(first.read_text(encoding="utf-8"))
    assert header == list(synthetic.INTERACTIONS_HEADER)
    assert len(rows) == 4_321
    timestamps = [int(row[2]) for row in rows]
    assert all(a <= b + synthetic.PURCHASE_DELAY_SECONDS[1] for a, b in itertools.pairwise(timestamps))
    assert {row[3] for row in rows} == {"View", "Purchase"}


def test_stream_without_header() -> None:
    text = "".join(interactions_csv_chunks(10, n_users=5, n_items=5, header=False))
    assert text.count("\n") == 10 and not text.startswith("USER_ID")


def _co_purchases(data: DemoData, window: int = 3_600) -> dict[str, Counter[str]]:
    """Item -> items the same user bought within ``window`` seconds of it."""
    bought: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user_id, item_id, timestamp, event_type in data.interactions:
        if event_type == "Purchase":
            bought[user_id].append((timestamp, item_id))
    together: dict[str, Counter[str]] = defaultdict(Counter)
    for purchases in bought.values():
        for (first_time, first), (second_time, second) in itertools.combinations(purchases, 2):
            if first != second and abs(second_time - first_time) <= window:
                together[first][second] += 1
                together[second][first] += 1
    return together


def test_planted_partners_are_pairs_within_a_category(demo_data: DemoData) -> None:
    category = {row[0]: row[1] for row in demo_data.items}
    partners = demo_data.bought_together
    assert len(partners) >= 0.95 * len(demo_data.items)
    for item_id, partner in partners.items():
        assert partner != item_id and category[partner] == category[item_id]
    assert sum(partners.get(partner) == item_id for item_id, partner in partners.items()) >= 0.95 * len(
        partners
    )


def test_planted_co_purchases_are_what_is_bought_together(demo_data: DemoData) -> None:
    """For items bought together often enough to tell, the item bought most often with each is its
    planted partner: what "Frequently bought together" must find."""
    together = _co_purchases(demo_data)
    evident = {item: counts for item, counts in together.items() if counts.total() >= 5}
    assert len(evident) >= 100
    first = sum(
        counts.most_common(1)[0][0] == demo_data.bought_together.get(item) for item, counts in evident.items()
    )
    assert first >= 0.9 * len(evident), (first, len(evident))


def test_event_types_and_purchase_share(demo_data: DemoData) -> None:
    events = Counter(row[3] for row in demo_data.interactions)
    assert set(events) == {"View", "Purchase"}
    assert events["Purchase"] == round(synthetic.DEFAULT_INTERACTIONS * synthetic.PURCHASE_RATE)
    assert events["Purchase"] >= 1_000 and events["View"] >= 1_000  # the ECOMMERCE use cases' minimum


def test_sessions_carry_sequential_co_views(demo_data: DemoData) -> None:
    """A view minutes after the user's previous view is mostly of the same category (a companion),
    while views days apart follow the user's taste only."""
    category = {row[0]: row[1] for row in demo_data.items}
    last: dict[str, tuple[int, str]] = {}
    close, far = Counter[bool](), Counter[bool]()
    for user_id, item_id, timestamp, event_type in demo_data.interactions:
        if event_type != "View":
            continue
        if user_id in last:
            previous_time, previous = last[user_id]
            same = category[previous] == category[item_id]
            (close if timestamp - previous_time <= max(synthetic.SESSION_GAP_SECONDS) else far)[same] += 1
        last[user_id] = (timestamp, item_id)
    assert close.total() > 0.3 * (close.total() + far.total())
    assert close[True] / close.total() > far[True] / far.total() + 0.1
