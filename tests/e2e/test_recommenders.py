"""Domain recommenders through the emulator with stock boto3, on synthetic domain data (two user
clusters with planted tastes, event types of the domain, an Items dataset of the domain's schema).

* The lifecycle on "Recommended for you": create -> ACTIVE with ``modelMetrics``; ListRecommenders by
  group with pagination; GetRecommendations with the required input (and InvalidInputException naming
  it when missing); the use case's auto-filter (an item the user purchased is gone on the next call,
  one they only viewed is not) together with a filter of the group and a promotion; UpdateRecommender
  serving the previous configuration until ``latestRecommenderUpdate`` is ACTIVE; Stop (refuses,
  and is not maintained) / Start (serves again); automatic updates and weekly retraining on the
  emulator's clock; Delete.
* The control plane's refusals, each naming the field.
* Every use case whose training module is registered (``training.recipes.RECIPE_MODULES``): create,
  serve with its required inputs, refuse without them, auto-filter, Stop/Start/Update/Delete.

Use cases without a training module yet train as the recipe they stand for in
``tests.e2e.use_case_training`` (the emulator's training entry point in this module).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from picks import cache
from picks.dataset_schema import DOMAIN_DEFAULT_SCHEMAS
from picks.domain.use_cases import RETRAIN_INTERVAL_S, UPDATE_INTERVAL_S, USE_CASES
from picks.workflows import recommender as recommender_steps

from demo.waiting import wait_for
from emulator.server import Emulator
from tests.conftest import client_for
from tests.unit.planted import Planted, planted
from training.recipes import RECIPE_MODULES

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

RECIPE = "arn:aws:personalize:::recipe/"
SOURCE_BUCKET = "recommender-sources"
ROLE = "arn:aws:iam::000000000000:role/PicksImport"
ECOMMERCE, VOD = "ECOMMERCE", "VIDEO_ON_DEMAND"
# Per domain: (the event type of most rows, the one of every third row).
EVENT_TYPES = {ECOMMERCE: ("View", "Purchase"), VOD: ("Watch", "Click")}
# The event that a use case's auto-filter removes items for.
FILTERED_EVENT = {'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Watch")': "Watch"}
FILTERED_EVENT['EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Purchase")'] = "Purchase"
METRIC_KEYS = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "precision_at_10",
    "normalized_discounted_cumulative_gain_at_10",
)
QUICK_TTL_S = 0.2
_names = itertools.count()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """This module's emulator: schedules only when the tests tick, training through the stand-ins."""
    server = Emulator(port=0, tick_interval_s=0, training_entry_module="tests.e2e.use_case_training").start()
    yield server
    server.wait_idle()
    server.stop()


@dataclass(frozen=True)
class Clients:
    personalize: Any
    runtime: Any
    s3: Any
    events: Any


@pytest.fixture(scope="module")
def clients(emulator: Emulator) -> Clients:
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    return Clients(
        client_for(emulator, "personalize"),
        client_for(emulator, "personalize-runtime"),
        s3,
        client_for(emulator, "personalize-events"),
    )


@pytest.fixture(scope="module", autouse=True)
def quick_refresh() -> Iterator[None]:
    """The runtime caches a recommender for the ``campaigns`` TTL; shorten it."""
    campaigns = cache.named(cache.CAMPAIGNS)
    original = campaigns.ttl_s
    campaigns.ttl_s = QUICK_TTL_S
    yield
    campaigns.ttl_s = original


@dataclass(frozen=True)
class DomainGroup:
    arn: str
    domain: str
    tracking_id: str
    data: Planted

    def bought(self, user: str, event_type: str) -> set[str]:
        """The items ``user`` has an imported ``event_type`` interaction with (``_interactions_csv``)."""
        frame = self.data.interactions
        third = EVENT_TYPES[self.domain][1]
        rows = zip(frame.users.tolist(), frame.items.tolist(), strict=True)
        return {
            str(frame.item_ids[i])
            for n, (u, i) in enumerate(rows)
            if frame.user_ids[u] == user and (n % 3 == 0) == (event_type == third)
        }

    def category(self, item: str) -> str:
        index = list(self.data.interactions.item_ids).index(item)
        return "A" if self.data.item_group[index] == 0 else "B"


def _import(clients: Clients, dataset: str, text: str) -> None:
    key = f"rec-{next(_names)}.csv"
    clients.s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=text.encode())
    arn = clients.personalize.create_dataset_import_job(
        jobName=key[:-4],
        datasetArn=dataset,
        roleArn=ROLE,
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/{key}"},
    )["datasetImportJobArn"]
    job = wait_for(
        lambda: clients.personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")


def _interactions_csv(data: Planted, domain: str) -> str:
    common, third = EVENT_TYPES[domain]
    frame = data.interactions
    rows = zip(frame.users.tolist(), frame.items.tolist(), frame.timestamps.tolist(), strict=True)
    lines = [
        f"{frame.user_ids[u]},{frame.item_ids[i]},{third if n % 3 == 0 else common},{t}\n"
        for n, (u, i, t) in enumerate(rows)
    ]
    return "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "".join(lines)


def _items_csv(data: Planted, domain: str) -> str:
    ids = data.interactions.item_ids
    groups = ["A" if g == 0 else "B" for g in data.item_group.tolist()]
    if domain == ECOMMERCE:
        return "ITEM_ID,PRICE,CATEGORY_L1\n" + "".join(
            f"{i},{10 + n % 7}.5,{g}\n" for n, (i, g) in enumerate(zip(ids, groups, strict=True))
        )
    start = int(data.interactions.timestamps.min())
    return "ITEM_ID,GENRES,CREATION_TIMESTAMP\n" + "".join(
        f"{i},{g},{start - n}\n" for n, (i, g) in enumerate(zip(ids, groups, strict=True))
    )


def domain_group(clients: Clients, name: str, domain: str, seed: int = 11) -> DomainGroup:
    personalize = clients.personalize
    data = planted(users_per_cluster=90, items_per_group=20, per_user=18, seed=seed)
    group = personalize.create_dataset_group(name=name, domain=domain)["datasetGroupArn"]
    for dataset_type, text in (
        ("INTERACTIONS", _interactions_csv(data, domain)),
        ("ITEMS", _items_csv(data, domain)),
    ):
        schema = personalize.create_schema(
            name=f"{name}-{dataset_type.lower()}",
            schema=DOMAIN_DEFAULT_SCHEMAS[(domain, dataset_type)],
            domain=domain,
        )["schemaArn"]
        dataset = personalize.create_dataset(
            name=f"{name}-{dataset_type.lower()}",
            schemaArn=schema,
            datasetGroupArn=group,
            datasetType=dataset_type,
        )["datasetArn"]
        _import(clients, dataset, text)
    tracker = personalize.create_event_tracker(name=f"{name}-tracker", datasetGroupArn=group)[
        "eventTrackerArn"
    ]
    described = wait_for(lambda: personalize.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"])
    return DomainGroup(group, domain, described["trackingId"], data)


def create_recommender(
    clients: Clients, group: DomainGroup, name: str, use_case: str, **config: Any
) -> tuple[str, dict]:
    arn = clients.personalize.create_recommender(
        name=name,
        datasetGroupArn=group.arn,
        recipeArn=RECIPE + use_case,
        **({"recommenderConfig": config} if config else {}),
    )["recommenderArn"]
    return arn, describe_settled(clients, arn)


def describe(clients: Clients, arn: str) -> dict[str, Any]:
    return dict(clients.personalize.describe_recommender(recommenderArn=arn)["recommender"])


def describe_settled(clients: Clients, arn: str, status: str = "ACTIVE") -> dict[str, Any]:
    recommender = wait_for(
        lambda: describe(clients, arn), lambda r: r["status"] in (status, "CREATE FAILED"), timeout=300
    )
    assert recommender["status"] == status, recommender.get("failureReason")
    return recommender


def recommend(clients: Clients, arn: str, **params: Any) -> list[str]:
    answer = clients.runtime.get_recommendations(recommenderArn=arn, **params)
    return [item["itemId"] for item in answer["itemList"]]


def put_event(clients: Clients, group: DomainGroup, user: str, item: str, event_type: str) -> None:
    clients.events.put_events(
        trackingId=group.tracking_id,
        userId=user,
        sessionId=f"s-{user}",
        eventList=[{"eventType": event_type, "itemId": item, "sentAt": time.time()}],
    )


def refused(call: Any, error: str = "InvalidInputException") -> str:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == error, raised.value.response
    return str(raised.value.response["Error"]["Message"])


def inputs_for(use_case: str, group: DomainGroup) -> dict[str, str]:
    frame = group.data.interactions
    values = {"userId": str(frame.user_ids[0]), "itemId": str(frame.item_ids[0])}
    return {name: values[name] for name in USE_CASES[use_case].required_inputs}


# --- the lifecycle ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecommerce(clients: Clients) -> DomainGroup:
    return domain_group(clients, "rec-shop", ECOMMERCE)


def test_recommended_for_you_lifecycle(
    clients: Clients, ecommerce: DomainGroup, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    personalize = clients.personalize
    arn, created = create_recommender(clients, ecommerce, "rec-for-you", "aws-ecomm-recommended-for-you")
    assert created["recipeArn"] == RECIPE + "aws-ecomm-recommended-for-you"
    assert created["datasetGroupArn"] == ecommerce.arn
    assert created["recommenderConfig"] == {
        "minRecommendationRequestsPerSecond": 1,
        "enableMetadataWithRecommendations": False,
    }
    assert set(METRIC_KEYS) <= set(created["modelMetrics"]), created["modelMetrics"]
    assert all(0.0 <= created["modelMetrics"][key] <= 1.0 for key in METRIC_KEYS)
    assert created["seen"][-1] == "ACTIVE" and "CREATE FAILED" not in created["seen"]

    # ListRecommenders: by group, paginated; another group's listing is empty.
    together, _ = create_recommender(
        clients, ecommerce, "rec-together", "aws-ecomm-frequently-bought-together"
    )
    first = personalize.list_recommenders(datasetGroupArn=ecommerce.arn, maxResults=1)
    second = personalize.list_recommenders(
        datasetGroupArn=ecommerce.arn, maxResults=1, nextToken=first["nextToken"]
    )
    listed = first["recommenders"] + second["recommenders"]
    assert [r["recommenderArn"] for r in listed] == [arn, together] and "nextToken" not in second
    assert listed[0]["status"] == "ACTIVE" and listed[0]["recipeArn"] == created["recipeArn"]
    other = personalize.create_dataset_group(name="rec-empty", domain=ECOMMERCE)["datasetGroupArn"]
    assert personalize.list_recommenders(datasetGroupArn=other)["recommenders"] == []

    # Required input; the use case's auto-filter holds on the next call after PutEvents.
    user = str(ecommerce.data.interactions.user_ids[3])
    assert len(recommend(clients, arn, userId=user)) == 25
    message = refused(lambda: clients.runtime.get_recommendations(recommenderArn=arn))
    assert message.startswith("userId: required")
    everything = recommend(clients, arn, userId=user, numResults=500)
    # Every item but those the user purchased in the imported data.
    catalog = set(ecommerce.data.interactions.item_ids.tolist())
    assert set(everything) == catalog - ecommerce.bought(user, "Purchase")
    chosen = everything[0]
    put_event(clients, ecommerce, user, chosen, "View")
    assert chosen in recommend(clients, arn, userId=user, numResults=500)  # viewing filters nothing
    put_event(clients, ecommerce, user, chosen, "Purchase")
    assert chosen not in recommend(clients, arn, userId=user, numResults=500)

    # A filter of the domain group works on its recommender, with the auto-filter, and a promotion too.
    filter_arn = personalize.create_filter(
        name="rec-category",
        datasetGroupArn=ecommerce.arn,
        filterExpression="INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CATEGORY)",
    )["filterArn"]
    wait_for(lambda: personalize.describe_filter(filterArn=filter_arn)["filter"])
    category = ecommerce.category(chosen)
    other_category = "B" if category == "A" else "A"
    filtered = recommend(
        clients,
        arn,
        userId=user,
        numResults=500,
        filterArn=filter_arn,
        filterValues={"CATEGORY": f'"{category}"'},
    )
    assert filtered and chosen not in filtered
    assert {ecommerce.category(item) for item in filtered} == {category}
    answer = clients.runtime.get_recommendations(
        recommenderArn=arn,
        userId=user,
        numResults=10,
        filterArn=filter_arn,
        filterValues={"CATEGORY": f'"{category}"'},
        promotions=[
            {
                "name": "other",
                "percentPromotedItems": 20,
                "filterArn": filter_arn,
                "filterValues": {"CATEGORY": f'"{other_category}"'},
            }
        ],
    )["itemList"]
    promoted = [item["itemId"] for item in answer if item.get("promotionName") == "other"]
    assert len(promoted) == 2 and {ecommerce.category(item) for item in promoted} == {other_category}
    assert chosen not in [item["itemId"] for item in answer]

    # metadataColumns need enableMetadataWithRecommendations: UpdateRecommender, served from the
    # previous configuration until the update is ACTIVE (its new trainingDataConfig retrains).
    message = refused(
        lambda: recommend(clients, arn, userId=user, metadataColumns={"ITEMS": ["CATEGORY_L1"]})
    )
    assert "recommenderConfig.enableMetadataWithRecommendations" in message
    release, entered = threading.Event(), threading.Event()
    publish = recommender_steps.trained_model

    def held(*args: Any) -> Any:
        entered.set()
        assert release.wait(60)
        return publish(*args)

    monkeypatch.setattr(recommender_steps, "trained_model", held)
    new_config = {
        "enableMetadataWithRecommendations": True,
        "trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE"]}},
    }
    personalize.update_recommender(recommenderArn=arn, recommenderConfig=new_config)
    assert entered.wait(120)
    pending = describe(clients, arn)
    assert pending["status"] == "ACTIVE"
    assert pending["recommenderConfig"]["enableMetadataWithRecommendations"] is False
    assert pending["latestRecommenderUpdate"]["status"] == "CREATE IN_PROGRESS"
    assert (
        pending["latestRecommenderUpdate"]["recommenderConfig"]["trainingDataConfig"]
        == new_config["trainingDataConfig"]
    )
    refused(
        lambda: personalize.update_recommender(recommenderArn=arn, recommenderConfig={}),
        "ResourceInUseException",
    )
    time.sleep(QUICK_TTL_S * 2)  # past the runtime's cache: still the old configuration
    refused(lambda: recommend(clients, arn, userId=user, metadataColumns={"ITEMS": ["CATEGORY_L1"]}))
    release.set()
    done = wait_for(
        lambda: describe(clients, arn),
        lambda r: r["latestRecommenderUpdate"]["status"] != "CREATE IN_PROGRESS",
        timeout=120,
    )
    assert done["latestRecommenderUpdate"]["status"] == "ACTIVE", done["latestRecommenderUpdate"]
    assert done["recommenderConfig"]["enableMetadataWithRecommendations"] is True
    time.sleep(QUICK_TTL_S * 2)
    answer = clients.runtime.get_recommendations(
        recommenderArn=arn, userId=user, numResults=5, metadataColumns={"ITEMS": ["CATEGORY_L1"]}
    )
    assert [set(item["metadata"]) for item in answer["itemList"]] == [{"CATEGORY_L1"}] * 5
    assert all(
        item["metadata"]["CATEGORY_L1"] == ecommerce.category(item["itemId"]) for item in answer["itemList"]
    )

    # Stop: INACTIVE, refuses, and the schedules leave it alone; Start: serves again.
    personalize.stop_recommender(recommenderArn=arn)
    stopped = describe_settled(clients, arn, "INACTIVE")
    assert stopped["seen"][-1] == "INACTIVE"
    message = refused(lambda: recommend(clients, arn, userId=user))
    assert "INACTIVE" in message and "StartRecommender" in message
    refused(lambda: personalize.stop_recommender(recommenderArn=arn), "ResourceInUseException")
    started = emulator.tick(advance_s=UPDATE_INTERVAL_S + 60)
    assert [s for s in started if s.get("recommenderArn") == arn] == []
    personalize.start_recommender(recommenderArn=arn)
    describe_settled(clients, arn, "ACTIVE")
    assert len(recommend(clients, arn, userId=user)) == 25

    # Maintenance on the clock: a 2-hourly automatic update (Recommended for you has them, Frequently
    # bought together does not), then the weekly retraining of both.
    started = emulator.tick(advance_s=UPDATE_INTERVAL_S + 60)
    assert {"kind": "recommender-update", "recommenderArn": arn} in started
    assert [s for s in started if s.get("recommenderArn") == together] == []
    emulator.wait_idle()
    updated = describe(clients, arn)
    assert updated["status"] == "ACTIVE" and updated["modelMetrics"] == done["modelMetrics"]
    assert chosen not in recommend(clients, arn, userId=user, numResults=500)
    started = emulator.tick(advance_s=RETRAIN_INTERVAL_S)
    assert {"kind": "recommender-retraining", "recommenderArn": arn} in started
    assert {"kind": "recommender-retraining", "recommenderArn": together} in started
    emulator.wait_idle()
    assert describe(clients, arn)["status"] == "ACTIVE"
    assert len(recommend(clients, arn, userId=user)) == 25

    # Delete: DELETE PENDING, then gone.
    personalize.delete_recommender(recommenderArn=arn)
    wait_gone(clients, arn)
    refused(lambda: recommend(clients, arn, userId=user), "ResourceNotFoundException")
    personalize.delete_recommender(recommenderArn=together)


def wait_gone(clients: Clients, arn: str) -> None:
    wait_for(
        lambda: {"status": "exists" if _exists(clients, arn) else "gone"},
        lambda r: r["status"] == "gone",
        timeout=60,
    )


def _exists(clients: Clients, arn: str) -> bool:
    try:
        describe(clients, arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


# --- refusals -----------------------------------------------------------------------------------


def test_create_recommender_refusals_name_the_field(clients: Clients, ecommerce: DomainGroup) -> None:
    personalize = clients.personalize

    def create(recipe: str, group: str = ecommerce.arn, name: str = "rec-refused", **config: Any) -> str:
        return refused(
            lambda: personalize.create_recommender(
                name=name,
                datasetGroupArn=group,
                recipeArn=RECIPE + recipe,
                **({"recommenderConfig": config} if config else {}),
            )
        )

    custom = personalize.create_dataset_group(name="rec-custom")["datasetGroupArn"]
    assert create("aws-ecomm-recommended-for-you", group=custom).startswith("datasetGroupArn:")
    assert create("aws-vod-top-picks").startswith(
        "recipeArn: aws-vod-top-picks is a VIDEO_ON_DEMAND use case"
    )
    assert create("aws-user-personalization").startswith(
        "recipeArn: aws-user-personalization is a custom recipe"
    )
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_recommender(
            name="rec-refused", datasetGroupArn=ecommerce.arn, recipeArn=RECIPE + "aws-nothing"
        )
    assert create(
        "aws-ecomm-frequently-bought-together", itemExplorationConfig={"explorationWeight": "0.5"}
    ).startswith("recommenderConfig.itemExplorationConfig:")
    assert create(
        "aws-ecomm-recommended-for-you", itemExplorationConfig={"explorationWeight": "2"}
    ).startswith("recommenderConfig.itemExplorationConfig.explorationWeight:")
    message = create(
        "aws-ecomm-recommended-for-you", trainingDataConfig={"excludedDatasetColumns": {"ITEMS": ["ITEM_ID"]}}
    )
    assert message.startswith("recommenderConfig.trainingDataConfig.excludedDatasetColumns.ITEMS:")
    message = create(
        "aws-ecomm-recommended-for-you", trainingDataConfig={"excludedDatasetColumns": {"USERS": ["X"]}}
    )
    assert "has no USERS dataset" in message
    empty = personalize.create_dataset_group(name="rec-nodata", domain=ECOMMERCE)["datasetGroupArn"]
    assert "no imported interactions" in create("aws-ecomm-recommended-for-you", group=empty)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_recommender(
            recommenderArn="arn:aws:personalize:us-east-1:000000000000:recommender/none"
        )
    with pytest.raises(clients.runtime.exceptions.ResourceNotFoundException):
        clients.runtime.get_recommendations(
            recommenderArn="arn:aws:personalize:us-east-1:000000000000:recommender/none", userId="u"
        )


# --- every use case with a training module ------------------------------------------------------

REGISTERED = [name for name in USE_CASES if name in RECIPE_MODULES]


@pytest.fixture(scope="module")
def groups(clients: Clients, ecommerce: DomainGroup) -> dict[str, DomainGroup]:
    return {ECOMMERCE: ecommerce, VOD: domain_group(clients, "rec-vod", VOD, seed=12)}


@pytest.mark.parametrize("use_case", REGISTERED)
def test_each_registered_use_case(clients: Clients, groups: dict[str, DomainGroup], use_case: str) -> None:
    declared = USE_CASES[use_case]
    group = groups[declared.domain]
    name = "uc-" + use_case.removeprefix("aws-")[:50]
    arn, created = create_recommender(clients, group, name, use_case)
    assert set(METRIC_KEYS) & set(created["modelMetrics"]), created["modelMetrics"]
    inputs = inputs_for(use_case, group)
    items = recommend(clients, arn, numResults=500, **inputs)
    assert items
    for missing in declared.required_inputs:
        given = {key: value for key, value in inputs.items() if key != missing}
        assert refused(lambda g=given: recommend(clients, arn, **g)).startswith(f"{missing}: required")
    if declared.auto_filter is not None:
        chosen = items[0]
        put_event(clients, group, inputs["userId"], chosen, FILTERED_EVENT[declared.auto_filter])
        assert chosen not in recommend(clients, arn, numResults=500, **inputs)
    clients.personalize.update_recommender(
        recommenderArn=arn, recommenderConfig={"minRecommendationRequestsPerSecond": 2}
    )
    updated = wait_for(
        lambda: describe(clients, arn),
        lambda r: r["latestRecommenderUpdate"]["status"] == "ACTIVE",
        timeout=60,
    )
    assert updated["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 2
    clients.personalize.stop_recommender(recommenderArn=arn)
    describe_settled(clients, arn, "INACTIVE")
    refused(lambda: recommend(clients, arn, **inputs))
    clients.personalize.start_recommender(recommenderArn=arn)
    describe_settled(clients, arn, "ACTIVE")
    assert recommend(clients, arn, numResults=500, **inputs)
    clients.personalize.delete_recommender(recommenderArn=arn)
    wait_for(
        lambda: {"status": "exists" if _exists(clients, arn) else "gone"},
        lambda r: r["status"] == "gone",
        timeout=60,
    )
