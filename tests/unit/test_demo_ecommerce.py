"""The demo's ECOMMERCE part (demo/ecommerce.py): the domain data it imports, how it tells a build
without recommenders, and the side-by-side report."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from botocore.exceptions import ClientError
from picks.dataset_schema import check_for_dataset_type, parse_schema

from demo import ecommerce
from demo.load import versus_popularity
from demo.synthetic import generate

SMALL = {"n_users": 300, "n_items": 120, "n_interactions": 15_000, "seed": 5}


@pytest.fixture(scope="module")
def data():
    return generate(**SMALL)


@pytest.fixture(scope="module")
def spec(data):
    return ecommerce.domain_data(data)


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


@pytest.mark.parametrize(
    ("dataset_type", "stem"), [("INTERACTIONS", "interactions"), ("ITEMS", "items"), ("USERS", "users")]
)
def test_domain_schemas_are_valid_ecommerce_schemas_matching_their_csv(spec, dataset_type, stem):
    schema = spec.schemas[dataset_type]
    check_for_dataset_type(parse_schema(schema), dataset_type, ecommerce.DOMAIN)  # raises if not
    header, rows = _rows(spec.texts[stem])
    assert [field["name"] for field in json.loads(schema)["fields"]] == header
    assert rows and all(len(row) == len(header) for row in rows)


def test_domain_items_carry_the_demo_catalog_under_the_domain_names(spec, data):
    header, rows = _rows(spec.texts["items"])
    assert header[:3] == ["ITEM_ID", "PRICE", "CATEGORY_L1"]
    by_id = {row[0]: row for row in rows}
    for item_id, category, price, _, created in data.items:
        assert by_id[item_id][1:3] == [str(price), category]
        assert by_id[item_id][4] == str(created)
    assert spec.domain == "ECOMMERCE" and spec.prefix and spec.group != "picks-demo"


def test_domain_interactions_have_enough_views_and_purchases_with_planted_co_purchases(spec, data):
    """What the two use cases need: >= 1000 View and Purchase events (the documented minimum), and
    partners bought by the same user minutes apart (what Frequently bought together must find)."""
    _, rows = _rows(spec.texts["interactions"])
    events = Counter(row[3] for row in rows)
    assert set(events) == {"View", "Purchase"}
    assert events["View"] >= 1_000 and events["Purchase"] >= 1_000
    purchases: dict[str, list[tuple[int, str]]] = {}
    for user_id, item_id, timestamp, event_type in rows:
        if event_type == "Purchase":
            purchases.setdefault(user_id, []).append((int(timestamp), item_id))
    planted = 0
    for bought in purchases.values():
        items_at = dict((item, time) for time, item in bought)
        planted += sum(
            1
            for time, item in bought
            if (partner := data.bought_together.get(item)) in items_at
            and 0 < items_at[partner] - time <= 3_600
        )
    assert planted >= 0.2 * events["Purchase"]


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateRecommender")


def test_a_build_without_recommenders_is_told_from_a_bad_request():
    assert ecommerce.recommenders_unavailable(_client_error("UnknownOperationException", "unknown"))
    assert ecommerce.recommenders_unavailable(
        _client_error("InvalidInputException", "CreateRecommender is not supported by picks yet.")
    )
    assert not ecommerce.recommenders_unavailable(
        _client_error("InvalidInputException", "recipeArn is invalid")
    )
    assert not ecommerce.recommenders_unavailable(_client_error("LimitExceededException", "too many"))


def test_side_by_side_pads_the_left_column_and_keeps_every_line():
    text = ecommerce.side_by_side("Left", ["a", "a longer left line"], "Right", ["x", "y", "z"], gap=2)
    lines = text.splitlines()
    width = max(ecommerce.MIN_COLUMN, len("a longer left line"))
    assert lines[0] == "  " + "Left".ljust(width) + "  Right"
    assert lines[1] == "  " + "a".ljust(width) + "  x"
    assert lines[2] == "  " + "a longer left line".ljust(width) + "  y"
    assert lines[3] == "  " + " " * width + "  z"
    assert all(line == line.rstrip() for line in lines)
    assert ecommerce.side_by_side("L", ["only left"], "R", []).splitlines()[1] == "  only left"


def test_answers_text_shows_both_use_cases_and_marks_the_planted_partner():
    answers = {
        "userId": "U00001",
        "itemId": "I00002",
        "plantedPartner": "I00003",
        "recommendedForYou": [{"itemId": "I00010", "score": 0.2}, {"itemId": "I00011", "score": 0.1}],
        "frequentlyBoughtTogether": [{"itemId": "I00003"}, {"itemId": "I00012"}],
        "categories": {"I00002": "kitchen", "I00003": "kitchen", "I00010": "books", "I00011": "toys"},
    }
    text = ecommerce.answers_text(answers)
    lines = text.splitlines()
    header = next(line for line in lines if "Recommended for you (U00001, unseen)" in line)
    assert "Frequently bought together with I00002 (kitchen)" in header
    first, second = lines[lines.index(header) + 1 : lines.index(header) + 3]
    assert first.split() == ["I00010", "books", "I00003", "kitchen", "*"]
    assert second.split() == ["I00011", "toys", "I00012", "?"]
    assert "* I00002's planted bought-together partner" in text


def test_versus_popularity_states_the_ratio():
    metrics = {
        "aws-user-personalization": {"precision_at_10": 0.15},
        "aws-popularity-count": {"precision_at_10": 0.06},
    }
    assert "2.5x" in versus_popularity(metrics) and "0.1500 vs 0.0600" in versus_popularity(metrics)
    assert versus_popularity({"aws-sims": {"precision_at_10": 0.1}}) == ""
