"""Filters, promotions and item metadata in responses, over HTTP with stock boto3."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from demo.load import load_demo
from demo.synthetic import generate
from tests.conftest import client_for
from tests.e2e.test_train_and_serve import deploy, train

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def setup(emulator):
    data = generate(n_users=300, n_items=150, n_interactions=9000, seed=31)
    loaded = load_demo(emulator.url, data=data, quiet=True)
    personalize = client_for(emulator, "personalize")
    group = loaded["datasetGroupArn"]
    tracking = personalize.create_event_tracker(name="rules", datasetGroupArn=group)["trackingId"]
    up_arn, version = train(
        personalize,
        group,
        "rules-up",
        "aws-user-personalization",
        solutionConfig={"algorithmHyperParameters": {"exclude_interacted_items": "false"}},
    )
    assert version["status"] == "ACTIVE", version
    campaign = personalize.create_campaign(
        name="rules-up",
        solutionVersionArn=up_arn,
        campaignConfig={"enableMetadataWithRecommendations": True},
    )["campaignArn"]
    from tests.e2e.test_train_and_serve import wait_for

    assert (
        wait_for(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])["status"]
        == "ACTIVE"
    )
    sims_arn, version = train(personalize, group, "rules-sims", "aws-sims")
    assert version["status"] == "ACTIVE", version
    items = {row[0]: {"CATEGORY": row[1], "PRICE": float(row[2])} for row in data.items}

    def make_filter(name: str, expression: str) -> str:
        return personalize.create_filter(name=name, datasetGroupArn=group, filterExpression=expression)[
            "filterArn"
        ]

    return {
        "data": data,
        "group": group,
        "items": items,
        "tracking": tracking,
        "campaign": campaign,
        "sims": deploy(personalize, "rules-sims", sims_arn),
        "filter": make_filter,
        "runtime": client_for(emulator, "personalize-runtime"),
        "events": client_for(emulator, "personalize-events"),
    }


def ids(response: dict) -> list[str]:
    return [i["itemId"] for i in response["itemList"]]


def test_exclude_purchased_hides_an_item_right_after_the_purchase(setup):
    runtime, user = setup["runtime"], "rules-new-user"
    exclude = setup["filter"](
        "exclude-purchased", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    )
    first = ids(
        runtime.get_recommendations(
            campaignArn=setup["campaign"], userId=user, numResults=10, filterArn=exclude
        )
    )
    bought = first[0]
    setup["events"].put_events(
        trackingId=setup["tracking"],
        userId=user,
        sessionId="rules-s",
        eventList=[{"eventType": "Purchase", "itemId": bought, "sentAt": datetime.now(UTC)}],
    )
    after = ids(
        runtime.get_recommendations(
            campaignArn=setup["campaign"], userId=user, numResults=10, filterArn=exclude
        )
    )
    assert bought not in after
    assert len(after) == 10  # the next best items fill the list


def test_an_item_id_sent_in_properties_is_the_events_item(setup):
    """The sample notebooks' shape: ``properties='{"itemId": "..."}'`` and no itemId member."""
    from picks import services as picks_services

    runtime, user = setup["runtime"], "rules-properties-user"
    exclude = setup["filter"](
        "exclude-purchased-p", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    )
    before = ids(runtime.get_recommendations(campaignArn=setup["campaign"], userId=user, numResults=10))
    bought = before[0]
    setup["events"].put_events(
        trackingId=setup["tracking"],
        userId=user,
        sessionId="rules-p",
        eventList=[
            {"eventType": "Purchase", "sentAt": datetime.now(UTC), "properties": f'{{"ItemId": "{bought}"}}'}
        ],
    )
    stored = picks_services.get_services().events.recent(setup["group"], user)
    assert [e.item_id for e in stored] == [bought]
    after = ids(runtime.get_recommendations(campaignArn=setup["campaign"], userId=user, numResults=10))
    assert after != before  # folded into the (formerly unknown) user's vector
    filtered = ids(
        runtime.get_recommendations(
            campaignArn=setup["campaign"], userId=user, numResults=10, filterArn=exclude
        )
    )
    assert bought not in filtered and len(filtered) == 10


def test_interaction_filters_see_the_newest_thousand_events_of_each_type(setup):
    """30 watches, then 1,500 clicks: the newest 1,000 events are all clicks, yet every watch counts."""
    runtime, user = setup["runtime"], "rules-heavy-clicker"
    exclude = setup["filter"]("exclude-watched", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    catalog = sorted(setup["items"])
    watched, clicked = catalog[:30], catalog[30:]
    sent = [("Watch", item) for item in watched] + [("Click", clicked[n % len(clicked)]) for n in range(1500)]
    for start in range(0, len(sent), 10):
        setup["events"].put_events(
            trackingId=setup["tracking"],
            userId=user,
            sessionId="rules-heavy",
            eventList=[
                {"eventType": kind, "itemId": item, "sentAt": datetime.now(UTC)}
                for kind, item in sent[start : start + 10]
            ],
        )
    found = ids(
        runtime.get_recommendations(
            campaignArn=setup["campaign"], userId=user, numResults=150, filterArn=exclude
        )
    )
    assert not set(found) & set(watched)
    assert len(found) == len(catalog) - len(watched)


def test_price_range_filter_with_a_parameter(setup):
    runtime = setup["runtime"]
    cheap = setup["filter"]("cheap", "INCLUDE ItemID WHERE Items.PRICE <= $PRICE")
    user = setup["data"].users[0][0]
    for limit in ("20", '"20"'):  # filterValues numbers, quoted or not
        found = ids(
            runtime.get_recommendations(
                campaignArn=setup["campaign"],
                userId=user,
                numResults=15,
                filterArn=cheap,
                filterValues={"PRICE": limit},
            )
        )
        assert found and all(setup["items"][i]["PRICE"] <= 20 for i in found)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="PRICE"):
        runtime.get_recommendations(campaignArn=setup["campaign"], userId=user, filterArn=cheap)


def test_current_item_filter_on_related_items(setup):
    runtime = setup["runtime"]
    same_category = setup["filter"](
        "same-category", "INCLUDE ItemID WHERE Items.CATEGORY IN CurrentItem.CATEGORY"
    )
    item = setup["data"].items[0][0]
    related = ids(
        runtime.get_recommendations(
            campaignArn=setup["sims"], itemId=item, numResults=10, filterArn=same_category
        )
    )
    category = setup["items"][item]["CATEGORY"]
    assert related and all(setup["items"][i]["CATEGORY"] == category for i in related)
    assert item not in related


def _books_promoted(setup, suffix: str, **promotion) -> list[dict]:
    """Ten recommendations that exclude books, 30% of them promoted from the books."""
    books = setup["filter"](f"books{suffix}", 'INCLUDE ItemID WHERE Items.CATEGORY IN ("books")')
    no_books = setup["filter"](f"no-books{suffix}", 'EXCLUDE ItemID WHERE Items.CATEGORY IN ("books")')
    return setup["runtime"].get_recommendations(
        campaignArn=setup["campaign"],
        userId=setup["data"].users[2][0],
        numResults=10,
        filterArn=no_books,
        promotions=[{**promotion, "percentPromotedItems": 30, "filterArn": books}],
    )["itemList"]


def test_promotion_takes_thirty_percent(setup):
    items = _books_promoted(setup, "", name="read-more")
    promoted = [i for i in items if i.get("promotionName") == "read-more"]
    assert len(items) == 10 and len(promoted) == 3
    assert all(setup["items"][i["itemId"]]["CATEGORY"] == "books" for i in promoted)
    # The request filter applies to the rest only.
    assert all(setup["items"][i["itemId"]]["CATEGORY"] != "books" for i in items if "promotionName" not in i)


def test_promotion_without_a_name_promotes_untagged(setup):
    # Every member of Promotion is optional in the model: no name means promoted items carry no promotionName.
    items = _books_promoted(setup, "-unnamed")
    assert len(items) == 10 and not [i for i in items if "promotionName" in i]
    assert sum(setup["items"][i["itemId"]]["CATEGORY"] == "books" for i in items) == 3


@pytest.mark.parametrize(
    "promotion", [{}, {"name": "no-share"}, {"filterArn": "arn:aws:personalize:::filter/x"}]
)
def test_promotion_without_a_share_names_the_field(setup, promotion):
    runtime = setup["runtime"]
    field = r"promotions\.1\.percentPromotedItems"
    with pytest.raises(runtime.exceptions.InvalidInputException, match=field):
        runtime.get_recommendations(
            campaignArn=setup["campaign"], userId=setup["data"].users[2][0], promotions=[promotion]
        )


def test_metadata_columns_in_responses(setup):
    runtime = setup["runtime"]
    response = runtime.get_recommendations(
        campaignArn=setup["campaign"],
        userId=setup["data"].users[4][0],
        numResults=5,
        metadataColumns={"ITEMS": ["CATEGORY", "PRICE"]},
    )
    for item in response["itemList"]:
        expected = setup["items"][item["itemId"]]
        assert item["metadata"]["CATEGORY"] == expected["CATEGORY"]
        assert float(item["metadata"]["PRICE"]) == pytest.approx(expected["PRICE"], rel=1e-4)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="numResults"):
        runtime.get_recommendations(
            campaignArn=setup["campaign"], userId="u", numResults=51, metadataColumns={"ITEMS": ["CATEGORY"]}
        )
    with pytest.raises(runtime.exceptions.InvalidInputException, match="enableMetadataWithRecommendations"):
        runtime.get_recommendations(
            campaignArn=setup["sims"],
            itemId=setup["data"].items[0][0],
            metadataColumns={"ITEMS": ["CATEGORY"]},
        )


def test_metadata_filters_see_put_items_at_once(setup):
    runtime = setup["runtime"]
    toys = setup["filter"]("toys-only", 'INCLUDE ItemID WHERE Items.CATEGORY IN ("toys")')
    user = setup["data"].users[6][0]
    before = set(
        ids(
            runtime.get_recommendations(
                campaignArn=setup["campaign"], userId=user, numResults=150, filterArn=toys
            )
        )
    )
    target = next(i for i, meta in setup["items"].items() if meta["CATEGORY"] != "toys")
    assert target not in before
    items_dataset = setup["group"].replace("dataset-group/", "dataset/") + "/ITEMS"
    setup["events"].put_items(
        datasetArn=items_dataset,
        items=[
            {
                "itemId": target,
                "properties": (
                    '{"category": "toys", "price": 9.5, "description": "now a toy", '
                    '"creationTimestamp": 1704067200}'
                ),
            }
        ],
    )
    time.sleep(1.1)  # another process's catalog refreshes records at least every second
    after = set(
        ids(
            runtime.get_recommendations(
                campaignArn=setup["campaign"], userId=user, numResults=150, filterArn=toys
            )
        )
    )
    assert target in after
