"""Real-time events over HTTP with stock boto3: read-your-writes personalization, anonymous sessions,
idempotent eventIds, events in the next training, trending-now, and no loss under storage faults."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from picks import services as picks_services

from demo.load import load_demo
from demo.synthetic import generate
from tests.conftest import client_for
from tests.e2e.test_train_and_serve import deploy, train, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def setup(emulator):
    data = generate(n_users=300, n_items=120, n_interactions=9000, seed=23)
    loaded = load_demo(emulator.url, data=data, quiet=True)
    personalize = client_for(emulator, "personalize")
    tracker = personalize.create_event_tracker(name="realtime", datasetGroupArn=loaded["datasetGroupArn"])
    version_arn, version = train(personalize, loaded["datasetGroupArn"], "rt-up", "aws-user-personalization")
    assert version["status"] == "ACTIVE", version
    campaign = deploy(personalize, "rt-up", version_arn)
    return {
        "data": data,
        "group": loaded["datasetGroupArn"],
        "tracking": tracker["trackingId"],
        "campaign": campaign,
        "personalize": personalize,
        "events": client_for(emulator, "personalize-events"),
        "runtime": client_for(emulator, "personalize-runtime"),
    }


def event(item: str, event_type: str = "View", **extra) -> dict:
    return {"eventType": event_type, "itemId": item, "sentAt": datetime.now(UTC), **extra}


def top(setup, user: str, n: int = 10) -> list[str]:
    items = setup["runtime"].get_recommendations(campaignArn=setup["campaign"], userId=user, numResults=n)[
        "itemList"
    ]
    return [i["itemId"] for i in items]


def stored(group: str) -> list:
    return list(picks_services.get_services().events.export(group))


def test_a_new_user_is_personalized_from_the_first_event(setup):
    before = top(setup, "brand-new-user")
    assert before == top(setup, "another-new-user")  # both unknown: popular items
    item = setup["data"].items[-1][0]
    setup["events"].put_events(
        trackingId=setup["tracking"], userId="brand-new-user", sessionId="s-new", eventList=[event(item)]
    )
    after = top(setup, "brand-new-user")
    assert after != before


def test_anonymous_session_is_personalized(setup):
    item = setup["data"].items[-2][0]
    popular = top(setup, "session-only-1")
    setup["events"].put_events(
        trackingId=setup["tracking"], sessionId="session-only-1", eventList=[event(item)]
    )
    assert top(setup, "session-only-1") != popular


def test_repeated_event_id_is_stored_once(setup):
    item = setup["data"].items[3][0]
    for _ in range(3):
        setup["events"].put_events(
            trackingId=setup["tracking"],
            userId="dup-user",
            sessionId="dup-s",
            eventList=[event(item, eventId="dup-1"), event(item, eventId="dup-1")],
        )
    assert sum(1 for e in stored(setup["group"]) if e.event_id == "dup-1") == 1


def test_unknown_tracking_id_and_bad_events_are_rejected(setup):
    events = setup["events"]
    with pytest.raises(events.exceptions.ResourceNotFoundException, match="trackingId"):
        events.put_events(trackingId="no-such-tracker", sessionId="s", eventList=[event("i")])
    with pytest.raises(events.exceptions.InvalidInputException, match="recommendationId"):
        events.put_events(
            trackingId=setup["tracking"], sessionId="s", eventList=[event("i", recommendationId="x" * 41)]
        )


def test_events_enter_the_next_training(setup):
    personalize = setup["personalize"]
    newcomer = "only-seen-through-put-events"
    users = [u[0] for u in setup["data"].users[:40]]
    for user in users:
        setup["events"].put_events(
            trackingId=setup["tracking"],
            userId=user,
            sessionId=f"s-{user}",
            eventList=[event(newcomer), event(newcomer, "Purchase")],
        )
    solution = personalize.describe_solution_version(
        solutionVersionArn=personalize.list_solution_versions(
            solutionArn=setup["campaign"].replace("campaign/", "solution/")
        )["solutionVersions"][0]["solutionVersionArn"]
    )["solutionVersion"]["solutionArn"]
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    )
    assert version["status"] == "ACTIVE", version
    personalize.update_campaign(campaignArn=setup["campaign"], solutionVersionArn=arn)
    wait_for(
        lambda: personalize.describe_campaign(campaignArn=setup["campaign"])["campaign"][
            "latestCampaignUpdate"
        ]
    )
    time.sleep(5.5)  # the runtime caches campaign resolution for 5 s
    ranked = setup["runtime"].get_recommendations(
        campaignArn=setup["campaign"], userId=setup["data"].users[100][0], numResults=120
    )["itemList"]
    assert newcomer in {i["itemId"] for i in ranked}


def test_trending_now_follows_the_event_stream(setup):
    personalize = setup["personalize"]
    version_arn, version = train(personalize, setup["group"], "rt-trending", "aws-trending-now")
    assert version["status"] == "ACTIVE", version
    campaign = deploy(personalize, "rt-trending", version_arn)
    burst = [item[0] for item in setup["data"].items[60:63]]
    # More events per item than anything else received lately (the retraining test sent 80 on one item).
    for n in range(50):
        setup["events"].put_events(
            trackingId=setup["tracking"],
            userId=f"fan-{n}",
            sessionId=f"fan-{n}",
            eventList=[event(item) for item in burst] * 2,
        )
    time.sleep(2.5)  # trending re-reads the stream every 2 s
    first = setup["runtime"].get_recommendations(campaignArn=campaign, numResults=3)["itemList"]
    assert {i["itemId"] for i in first} == set(burst)


def test_storage_faults_never_lose_acknowledged_events(setup, emulator):
    store = picks_services.get_services().events
    real = store._db
    rng = random.Random(7)

    class Flaky:
        def __getattr__(self, name):
            return getattr(real, name)

        def transact_write_items(self, **kwargs):
            if rng.random() < 0.3:
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                    "TransactWriteItems",
                )
            if rng.random() < 0.1:
                raise ClientError(
                    {"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems"
                )
            return real.transact_write_items(**kwargs)

    store._db = Flaky()
    acknowledged, failed, lock = [], [], threading.Lock()

    def client_loop(worker: int) -> None:
        events = client_for(emulator, "personalize-events")
        for call in range(15):
            ids = [f"fault-{worker}-{call}-{k}" for k in range(3)]
            try:
                events.put_events(
                    trackingId=setup["tracking"],
                    userId=f"fault-{worker}",
                    sessionId=f"f{worker}",
                    eventList=[event("I00001", eventId=i) for i in ids],
                )
                with lock:
                    acknowledged.extend(ids)
            except ClientError as error:
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 503)
                with lock:
                    failed.extend(ids)

    try:
        threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        store._db = real
    saved = {e.event_id for e in stored(setup["group"]) if e.event_id.startswith("fault-")}
    assert failed, "the fault injection should have failed some calls"
    assert saved == set(acknowledged)  # every acknowledged event stored, no failed call half-stored


def test_put_items_enter_the_next_training_data(setup):
    from picks.ingest.columnar import read_table

    services = picks_services.get_services()
    personalize = setup["personalize"]
    items_dataset = next(
        d["datasetArn"]
        for d in personalize.list_datasets(datasetGroupArn=setup["group"])["datasets"]
        if d["datasetType"] == "ITEMS"
    )
    setup["events"].put_items(
        datasetArn=items_dataset,
        items=[
            {
                "itemId": "I-new-arrival",
                "properties": (
                    '{"category": "shoes", "price": 19.5, "description": "new", '
                    '"creationTimestamp": 1704067200}'
                ),
            }
        ],
    )
    version_arn, version = train(personalize, setup["group"], "rt-items", "aws-popularity-count")
    assert version["status"] == "ACTIVE", version
    job = services.resources.get(version_arn, what="Solution version").version_state.training_job_name
    staged = read_table(services.s3, services.settings.bucket_name, f"training-input/{job}/items")
    rows = {row["ITEM_ID"]: row for row in staged.to_pylist()}
    assert rows["I-new-arrival"]["CATEGORY"] == "shoes" and rows["I-new-arrival"]["PRICE"] == 19.5
    assert len(rows) == len(setup["data"].items) + 1  # bulk items kept, the new one upserted
