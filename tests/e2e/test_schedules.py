"""Automatic updates and automatic training through the emulator with stock boto3: the test moves the
emulator's clock and runs the declared schedules once (what EventBridge Scheduler does on AWS), then
watches the versions and campaigns as a client would.

* The latest FULL User-Personalization version served by a campaign is updated in place two hours
  on: an item that only PutEvents has seen becomes part of the served model, ``lastUpdatedDateTime``
  moves, the campaign keeps its version and never stops serving, and the update is in the version's
  history (``GET /_picks/solution-version-updates``).
* ``performAutoTraining`` with ``rate(1 day)``: an AUTOTRAIN / AUTOMATIC version appears an hour after
  the solution, and a campaign following ``$LATEST`` switches to it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from picks import cache
from picks.workflows.schedules import FIRST_TRAINING_AFTER_S, UPDATE_INTERVAL_S

from demo.waiting import wait_for
from emulator.__main__ import main as emulator_main
from emulator.server import Emulator
from tests.conftest import client_for
from tests.e2e.test_solution_version_lifecycle import (
    SMALL,
    SOURCE_BUCKET,
    deploy,
    group_with,
    recommended,
    train,
)
from tests.unit.planted import planted

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

RECIPE = "arn:aws:personalize:::recipe/"
QUICK_CAMPAIGN_TTL_S = 0.2


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """This module's own emulator, without the background ticker: the tests tick when they choose."""
    server = Emulator(port=0, tick_interval_s=0).start()
    yield server
    server.wait_idle()
    server.stop()


@pytest.fixture(scope="module")
def clients(emulator: Emulator) -> tuple[Any, Any, Any, Any]:
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    personalize = client_for(emulator, "personalize")
    return (
        personalize,
        client_for(emulator, "personalize-runtime"),
        s3,
        client_for(emulator, "personalize-events"),
    )


@pytest.fixture(scope="module", autouse=True)
def quick_campaign_refresh() -> Iterator[None]:
    """The runtime caches a campaign's model prefix for the ``campaigns`` TTL; shorten it."""
    campaigns = cache.named(cache.CAMPAIGNS)
    original = campaigns.ttl_s
    campaigns.ttl_s = QUICK_CAMPAIGN_TTL_S
    yield
    campaigns.ttl_s = original


def tracker(personalize: Any, group: str, name: str) -> str:
    arn = personalize.create_event_tracker(name=name, datasetGroupArn=group)["eventTrackerArn"]
    described = wait_for(lambda: personalize.describe_event_tracker(eventTrackerArn=arn)["eventTracker"])
    assert described["status"] == "ACTIVE", described
    return str(described["trackingId"])


def send_views(events: Any, tracking_id: str, users: list[str], item: str) -> None:
    for user in users:
        events.put_events(
            trackingId=tracking_id,
            userId=user,
            sessionId=f"s-{user}",
            eventList=[{"eventType": "View", "itemId": item, "sentAt": time.time()}],
        )


def admin(emulator: Emulator, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        emulator.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local emulator
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def mine(started: list[dict[str, str]], solution_arn: str) -> list[dict[str, str]]:
    return [s for s in started if s["solutionVersionArn"].startswith(solution_arn + "/")]


def test_the_latest_full_version_is_updated_in_place(clients, emulator: Emulator) -> None:
    personalize, runtime_client, _, events = clients
    data = planted(seed=8)
    group, _ = group_with(clients[:3], "sched-update", data)
    solution_arn = personalize.create_solution(
        name="sched-update",
        datasetGroupArn=group,
        recipeArn=RECIPE + "aws-user-personalization",
        performAutoTraining=False,
        solutionConfig={"algorithmHyperParameters": SMALL},
    )["solutionArn"]
    full_arn, full = train(personalize, solution_arn)
    campaign = deploy(personalize, "sched-update", full_arn)
    # 30 cluster-A users view an item no training has seen; the other cluster-A users never do.
    fans = np.random.default_rng(0).choice(data.users_of(0), 30, replace=False)
    others = [data.interactions.user_ids[u] for u in data.users_of(0) if u not in set(fans.tolist())]
    send_views(
        events,
        tracker(personalize, group, "sched-update"),
        [data.interactions.user_ids[u] for u in fans],
        "new-A",
    )
    assert not any("new-A" in recommended(runtime_client, campaign, user, 25) for user in others)

    assert mine(emulator.tick(), solution_arn) == []  # published minutes ago: not due
    started = emulator.tick(advance_s=UPDATE_INTERVAL_S + 60)
    assert mine(started, solution_arn) == [{"kind": "update", "solutionVersionArn": full_arn}]
    emulator.wait_idle()

    updated = personalize.describe_solution_version(solutionVersionArn=full_arn)["solutionVersion"]
    assert updated["status"] == "ACTIVE" and updated["trainingMode"] == "FULL"
    assert updated["lastUpdatedDateTime"] > full["lastUpdatedDateTime"]
    assert updated["creationDateTime"] == full["creationDateTime"]
    history = admin(emulator, f"/_picks/solution-version-updates?solutionVersionArn={full_arn}")
    assert [u["status"] for u in history["updates"]] == ["ACTIVE"]
    assert (
        history["modelPrefix"].startswith("training-output/")
        and history["updates"][0]["jobName"] in history["modelPrefix"]
    )
    # The campaign still serves the same version (no redeploy), now with the updated model.
    served = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert served["status"] == "ACTIVE" and served["solutionVersionArn"] == full_arn
    assert "latestCampaignUpdate" not in served
    time.sleep(QUICK_CAMPAIGN_TTL_S * 2)  # past the runtime's campaign cache
    with_new = [user for user in others if "new-A" in recommended(runtime_client, campaign, user, 25)]
    assert len(with_new) >= 0.8 * len(others)
    # A second tick at once finds nothing due.
    assert mine(emulator.tick(), solution_arn) == []


def test_automatic_training_creates_a_version_a_following_campaign_switches_to(
    clients, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    personalize, runtime_client, _, events = clients
    data = planted(seed=9)
    group, _ = group_with(clients[:3], "sched-auto", data)
    solution_arn = personalize.create_solution(
        name="sched-auto",
        datasetGroupArn=group,
        recipeArn=RECIPE + "aws-popularity-count",
        performAutoTraining=True,
        solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}},
    )["solutionArn"]
    first_arn, _ = train(personalize, solution_arn)
    latest = f"{solution_arn}/$LATEST"
    campaign = deploy(
        personalize, "sched-auto", latest, campaignConfig={"syncWithLatestSolutionVersion": True}
    )
    assert "hot-item" not in recommended(runtime_client, campaign, "u0", 3)
    users = [data.interactions.user_ids[u] for u in range(data.interactions.user_count)]
    send_views(events, tracker(personalize, group, "sched-auto"), users, "hot-item")

    answer = admin(emulator, "/_picks/schedules/tick", {"advanceSeconds": 0})
    assert mine(answer["started"], solution_arn) == []  # the solution is minutes old
    with pytest.raises(urllib.error.HTTPError) as refused:
        admin(emulator, "/_picks/schedules/tick", {"advanceSeconds": -5})
    assert refused.value.code == 400
    (started,) = mine(emulator.tick(advance_s=FIRST_TRAINING_AFTER_S), solution_arn)
    assert started["kind"] == "training"
    auto_arn = started["solutionVersionArn"]
    assert mine(emulator.tick(), solution_arn) == []  # one at a time: it is training
    emulator.wait_idle()

    auto = personalize.describe_solution_version(solutionVersionArn=auto_arn)["solutionVersion"]
    assert (auto["status"], auto["trainingMode"], auto["trainingType"]) == (
        "ACTIVE",
        "AUTOTRAIN",
        "AUTOMATIC",
    )
    listed = personalize.list_solution_versions(solutionArn=solution_arn)["solutionVersions"]
    assert {v["solutionVersionArn"]: v["trainingType"] for v in listed} == {
        first_arn: "MANUAL",
        auto_arn: "AUTOMATIC",
    }
    moved = wait_for(
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"],
        lambda c: (c.get("latestCampaignUpdate") or {}).get("status") == "ACTIVE",
        timeout=30,
    )
    assert moved["status"] == "ACTIVE" and moved["solutionVersionArn"] == latest
    wait_for(
        lambda: {"items": recommended(runtime_client, campaign, "u0", 3)},
        lambda r: r["items"][0] == "hot-item",
        timeout=10,
        field="items",
    )
    # The next automatic version is a day after this one, not before; the command line asks the same.
    assert mine(emulator.tick(advance_s=3600), solution_arn) == []
    assert emulator_main(["tick", "--port", str(emulator.port), "--advance-hours", "1"]) == 0
    assert mine(json.loads(capsys.readouterr().out)["started"], solution_arn) == []


def test_new_items_reach_users_after_the_automatic_update_only_through_exploration(
    clients, emulator: Emulator
) -> None:
    """Issue 15's acceptance, end to end: items added with PutItems (no interactions) appear after the
    automatic update with explorationWeight 0.9 and never with 0.0, and appear less once a later
    automatic update has seen them shown (PutEvents impressions) and never chosen."""
    from tests.e2e.test_exploration import (
        NEW_ITEMS,
        _exploring,
        _new_item_share,
        items_dataset,
        put_new_items,
    )

    personalize, runtime_client, _, events = clients
    data = planted(users_per_cluster=100, items_per_group=60, per_user=10, seed=11)
    group, _ = group_with(clients[:3], "sched-explore", data)
    dataset = items_dataset(personalize, group, "sched-explore")
    solution_arn = personalize.create_solution(
        name="sched-explore",
        datasetGroupArn=group,
        recipeArn=RECIPE + "aws-user-personalization",
        performAutoTraining=False,
    )["solutionArn"]
    full_arn, _ = train(personalize, solution_arn)
    eager = _exploring(personalize, "sched-explore-0-9", full_arn, "0.9")
    never = _exploring(personalize, "sched-explore-0-0", full_arn, "0.0")
    users = [str(user) for user in data.interactions.user_ids.tolist()]
    assert _new_item_share(runtime_client, eager, users) == (0, 0)  # not in the model yet

    put_new_items(events, dataset, int(emulator.clock()))
    assert mine(emulator.tick(advance_s=UPDATE_INTERVAL_S + 60), solution_arn) == [
        {"kind": "update", "solutionVersionArn": full_arn}
    ]
    emulator.wait_idle()
    time.sleep(QUICK_CAMPAIGN_TTL_S * 2)  # past the runtime's campaign cache
    reached, before = _new_item_share(runtime_client, eager, users)
    assert reached >= 40, (reached, before)
    assert _new_item_share(runtime_client, never, users) == (0, 0)

    # Every user is shown the new items beside an old one, and chooses the old one.
    tracking_id = tracker(personalize, group, "sched-explore")
    for position, user in enumerate(users):
        chosen = str(data.interactions.item_ids[position % data.interactions.item_count])
        events.put_events(
            trackingId=tracking_id,
            userId=user,
            sessionId=f"shown-{user}",
            eventList=[
                {
                    "eventType": "View",
                    "itemId": chosen,
                    "sentAt": time.time(),
                    "impression": [chosen, *NEW_ITEMS],
                }
            ],
        )
    assert mine(emulator.tick(advance_s=UPDATE_INTERVAL_S + 60), solution_arn) == [
        {"kind": "update", "solutionVersionArn": full_arn}
    ]
    emulator.wait_idle()
    time.sleep(QUICK_CAMPAIGN_TTL_S * 2)
    _, after = _new_item_share(runtime_client, eager, users)
    assert after < before / 2, (after, before)
    assert _new_item_share(runtime_client, never, users) == (0, 0)
