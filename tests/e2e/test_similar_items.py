"""aws-similar-items end to end with stock boto3: the demo data (CATEGORY categorical, PRICE, a
textual DESCRIPTION) imported, cold items added with PutItems (no interactions), a version
trained by the emulator's training job and deployed; GetRecommendations(itemId=...) answers a cold
item from its metadata, a warm item from co-occurrence, an unknown item with popular items; a
batch inference job answers as the campaign does."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from demo.load import load_demo
from demo.synthetic import generate
from tests.conftest import client_for
from tests.e2e.test_batch_inference import BUCKET, _output, _put_lines, _recommended, _run_job
from tests.e2e.test_train_and_serve import deploy, train
from tests.utils import METRIC_KEYS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(emulator):
    data = generate(n_users=300, n_items=120, n_interactions=9000, seed=17)
    loaded = load_demo(emulator.url, data=data, quiet=True)
    # Two cold items (no interactions), each a copy of an existing item's metadata but its id.
    by_category = {row[1]: row for row in data.items}
    twins = {f"cold-{category}": by_category[category] for category in ("kitchen", "books")}
    client_for(emulator, "personalize-events").put_items(
        datasetArn=loaded["datasetArns"]["ITEMS"],
        items=[
            {
                "itemId": cold,
                "properties": json.dumps(
                    {
                        "category": twin[1],
                        "price": twin[2],
                        "description": twin[3],
                        "creationTimestamp": twin[4],
                    }
                ),
            }
            for cold, twin in twins.items()
        ],
    )
    return loaded, data, twins


@pytest.fixture(scope="module")
def clients(emulator):
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=BUCKET)
    return client_for(emulator, "personalize"), client_for(emulator, "personalize-runtime"), s3


@pytest.fixture(scope="module")
def similar(demo, clients):
    personalize = clients[0]
    version_arn, version = train(personalize, demo[0]["datasetGroupArn"], "e2e-similar", "aws-similar-items")
    assert version["status"] == "ACTIVE", version
    return version_arn, deploy(personalize, "e2e-similar", version_arn)


def test_metrics_are_sims_metrics(similar, clients):
    metrics = clients[0].get_solution_metrics(solutionVersionArn=similar[0])["metrics"]
    assert METRIC_KEYS <= set(metrics) and metrics["precision_at_10"] > 0


def test_a_cold_item_gets_items_sharing_its_category_and_text(demo, similar, clients):
    _, data, twins = demo
    runtime = clients[1]
    category_of = {row[0]: row[1] for row in data.items}
    for cold, twin in twins.items():
        answer = runtime.get_recommendations(campaignArn=similar[1], itemId=cold, numResults=10)["itemList"]
        ids = [entry["itemId"] for entry in answer]
        assert len(ids) == 10 and cold not in ids
        # Its twin (same category, description and price) first, and only items of its category.
        assert ids[0] == twin[0]
        assert {category_of.get(item) for item in ids} == {twin[1]}


def test_a_warm_item_gets_cooccurring_items(demo, similar, clients):
    _, data, _ = demo
    users_of = defaultdict(set)
    for user, item, _, _ in data.interactions:
        users_of[item].add(user)
    item = max(users_of, key=lambda i: len(users_of[i]))
    answer = clients[1].get_recommendations(campaignArn=similar[1], itemId=item, numResults=5)["itemList"]
    # The best answer shares at least min_cointeraction_count (3) users with the item.
    assert len(users_of[item] & users_of[answer[0]["itemId"]]) >= 3


def test_an_unknown_item_gets_popular_items(similar, clients):
    answer = clients[1].get_recommendations(campaignArn=similar[1], itemId="no-such-item", numResults=5)
    assert len(answer["itemList"]) == 5


def test_batch_inference_answers_as_the_campaign(demo, similar, clients):
    personalize, runtime, s3 = clients
    items = [*demo[2], demo[1].items[0][0], "no-such-item"]
    _put_lines(s3, "similar/items.json", [{"itemId": item} for item in items])
    job = _run_job(personalize, "batch-similar", similar[0], "similar/items.json", numResults=8)
    assert job["status"] == "ACTIVE", job
    lines = _output(s3, "out/batch-similar/items.json.out")
    assert [line["input"]["itemId"] for line in lines] == items
    for line in lines:
        expected, _ = _recommended(runtime, similar[1], 8, itemId=line["input"]["itemId"])
        assert line["output"]["recommendedItems"] == expected
