"""Solution versions and campaigns over their lifetime, through the emulator with stock boto3:
StopSolutionVersionCreation on a training version, trainingMode UPDATE after an INCREMENTAL import,
campaigns that follow ``$LATEST``, and UpdateCampaign serving the old version until the new one is ACTIVE."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import numpy as np
import pytest
from picks import cache
from picks import services as picks_services
from picks.workflows import campaign as campaign_steps

from demo.waiting import wait_for
from tests.conftest import client_for
from tests.e2e.test_control_plane import INTERACTIONS
from tests.unit.planted import Planted, csv_rows, planted

pytestmark = pytest.mark.e2e

RECIPE = "arn:aws:personalize:::recipe/"
SOURCE_BUCKET = "lifecycle-sources"
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
SMALL = {"hidden_dimension": "8", "als_iterations": "5", "exclude_interacted_items": "true"}
_names = itertools.count()


@pytest.fixture(scope="module")
def clients(emulator):
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    return client_for(emulator, "personalize"), client_for(emulator, "personalize-runtime"), s3


QUICK_CAMPAIGN_TTL_S = 0.2


@pytest.fixture(scope="module", autouse=True)
def quick_campaign_refresh():
    """The runtime caches a campaign for the ``campaigns`` TTL; shorten it so tests need not wait."""
    campaigns = cache.named(cache.CAMPAIGNS)
    original = campaigns.ttl_s
    campaigns.ttl_s = QUICK_CAMPAIGN_TTL_S
    yield
    campaigns.ttl_s = original


def import_csv(clients, dataset: str, text: str, mode: str = "FULL") -> None:
    personalize, _, s3 = clients
    key = f"lifecycle-{next(_names)}.csv"
    s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=(HEADER + text).encode())
    arn = personalize.create_dataset_import_job(
        jobName=key[:-4],
        datasetArn=dataset,
        importMode=mode,
        roleArn="arn:aws:iam::000000000000:role/PicksImport",
        dataSource={"dataLocation": f"s3://{SOURCE_BUCKET}/{key}"},
    )["datasetImportJobArn"]
    job = wait_for(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")


def group_with(clients, name: str, data: Planted) -> tuple[str, str]:
    personalize = clients[0]
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    schema = personalize.create_schema(name=f"{name}-interactions", schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(
        name=f"{name}-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    import_csv(clients, dataset, csv_rows(data.interactions))
    return group, dataset


def solution(
    personalize,
    group: str,
    name: str,
    recipe: str = "aws-user-personalization",
    params: dict[str, str] | None = SMALL,
) -> str:
    config = {"solutionConfig": {"algorithmHyperParameters": params}} if params else {}
    return personalize.create_solution(name=name, datasetGroupArn=group, recipeArn=RECIPE + recipe, **config)[
        "solutionArn"
    ]


def train(personalize, solution_arn: str, **kwargs: Any) -> tuple[str, dict]:
    arn = personalize.create_solution_version(solutionArn=solution_arn, **kwargs)["solutionVersionArn"]
    version = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    )
    assert version["status"] == "ACTIVE", version
    return arn, version


def deploy(personalize, name: str, version_arn: str, **kwargs: Any) -> str:
    arn = personalize.create_campaign(name=name, solutionVersionArn=version_arn, **kwargs)["campaignArn"]
    campaign = wait_for(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"])
    assert campaign["status"] == "ACTIVE", campaign
    return arn


def recommended(runtime_client, campaign: str, user: str, count: int = 5) -> list[str]:
    items = runtime_client.get_recommendations(campaignArn=campaign, userId=user, numResults=count)[
        "itemList"
    ]
    return [item["itemId"] for item in items]


def new_item_rows(data: Planted, item: str, fans: np.ndarray) -> str:
    start = data.interactions.latest_timestamp + 1
    return "".join(
        f"{data.interactions.user_ids[u]},{item},{start + n},View\n" for n, u in enumerate(fans.tolist())
    )


# --- StopSolutionVersionCreation ---------------------------------------------------------------


def test_stop_a_training_version(clients):
    personalize = clients[0]
    data = planted(users_per_cluster=300, items_per_group=60, per_user=20, seed=3)
    group, _ = group_with(clients, "lifecycle-stop", data)
    solution_arn = solution(personalize, group, "lifecycle-stop", params={"als_iterations": "30"})
    arn = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]

    def describe() -> dict:
        return personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]

    running = wait_for(describe, lambda r: r["status"] != "CREATE PENDING", timeout=30)
    assert running["status"] == "CREATE IN_PROGRESS", running
    personalize.stop_solution_version_creation(solutionVersionArn=arn)
    stopped = wait_for(describe, timeout=60)
    assert stopped["status"] == "CREATE STOPPED", stopped
    assert set(stopped["seen"]) <= {"CREATE IN_PROGRESS", "CREATE STOPPING", "CREATE STOPPED"}
    assert "failureReason" not in stopped
    # No model, no metrics; the solution is free to train again.
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="CREATE STOPPED"):
        personalize.get_solution_metrics(solutionVersionArn=arn)
    with pytest.raises(personalize.exceptions.InvalidInputException, match="CREATE STOPPED"):
        personalize.create_campaign(name="lifecycle-stopped", solutionVersionArn=arn)
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="CREATE STOPPED"):
        personalize.stop_solution_version_creation(solutionVersionArn=arn)
    listed = personalize.list_solution_versions(solutionArn=solution_arn)["solutionVersions"]
    assert [v["status"] for v in listed] == ["CREATE STOPPED"]


def test_stop_while_pending_is_not_lost_to_the_starting_workflow(clients, emulator):
    personalize = clients[0]
    services = picks_services.get_services()
    data = planted(seed=4)
    group, _ = group_with(clients, "lifecycle-stop-race", data)
    solution_arn = solution(personalize, group, "lifecycle-stop-race")
    store = services.resources
    original_get = store.get
    read_status: list[str] = []

    def get(arn: str, *args: Any, **kwargs: Any):
        resource = original_get(arn, *args, **kwargs)
        # The workflow's first read of the version (Prepare, CREATE PENDING): the user stops it right then.
        if (
            arn.startswith(solution_arn + "/")
            and threading.current_thread().name.startswith("workflow")
            and not read_status
        ):
            read_status.append(resource.doc["status"])
            personalize.stop_solution_version_creation(solutionVersionArn=arn)
        return resource

    store.get = get
    try:
        arn = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
        emulator.wait_idle()  # the workflow has finished, whatever it did
    finally:
        store.get = original_get
    assert read_status == ["CREATE PENDING"]
    version = personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert version["status"] == "CREATE STOPPED"


# --- trainingMode UPDATE and UpdateCampaign ----------------------------------------------------


@pytest.fixture(scope="module")
def updated(clients):
    """A FULL version, an INCREMENTAL import adding item ``new-A`` for 30 cluster-A users, then an UPDATE
    version."""
    personalize = clients[0]
    data = planted(seed=8)
    group, dataset = group_with(clients, "lifecycle-update", data)
    solution_arn = solution(personalize, group, "lifecycle-update")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="trainingMode"):
        personalize.create_solution_version(solutionArn=solution_arn, trainingMode="UPDATE")
    full_arn, full = train(personalize, solution_arn)
    campaign = deploy(personalize, "lifecycle-update", full_arn)
    fans = np.random.default_rng(0).choice(data.users_of(0), 30, replace=False)
    import_csv(clients, dataset, new_item_rows(data, "new-A", fans), mode="INCREMENTAL")
    update_arn, update = train(personalize, solution_arn, trainingMode="UPDATE")
    others = [data.interactions.user_ids[u] for u in data.users_of(0) if u not in set(fans.tolist())]
    return {
        "full": (full_arn, full),
        "update": (update_arn, update),
        "campaign": campaign,
        "others": others,
        "cluster_b": [data.interactions.user_ids[u] for u in data.users_of(1)],
        "solution": solution_arn,
    }


def test_update_version_recommends_the_new_item(updated, clients):
    personalize, runtime_client, _ = clients
    update_arn, update = updated["update"]
    assert update["trainingMode"] == "UPDATE" and update["status"] == "ACTIVE"
    metrics = personalize.get_solution_metrics(solutionVersionArn=update_arn)["metrics"]
    assert "normalized_discounted_cumulative_gain_at_10" in metrics
    campaign = deploy(personalize, "lifecycle-update-direct", update_arn)
    with_new = [user for user in updated["others"] if "new-A" in recommended(runtime_client, campaign, user)]
    assert len(with_new) >= 0.8 * len(updated["others"])
    cluster_b = [
        user for user in updated["cluster_b"] if "new-A" in recommended(runtime_client, campaign, user)
    ]
    assert len(cluster_b) <= 0.1 * len(updated["cluster_b"])


def test_update_campaign_serves_the_old_version_until_active(updated, clients, monkeypatch):
    personalize, runtime_client, _ = clients
    campaign = updated["campaign"]
    full_arn, _ = updated["full"]
    update_arn, _ = updated["update"]
    user = updated["others"][0]
    # The FULL model has never seen new-A.
    assert "new-A" not in recommended(runtime_client, campaign, user, 25)

    # Hold the deployment step until the test has looked at the campaign mid-update.
    release, entered = threading.Event(), threading.Event()
    resolve = campaign_steps.serving_version

    def held(services, requested):
        entered.set()
        assert release.wait(30)
        return resolve(services, requested)

    monkeypatch.setattr(campaign_steps, "serving_version", held)
    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=update_arn)
    assert entered.wait(30)
    pending = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert pending["status"] == "ACTIVE"
    assert pending["solutionVersionArn"] == full_arn  # still describes what is served
    assert pending["latestCampaignUpdate"]["solutionVersionArn"] == update_arn
    assert pending["latestCampaignUpdate"]["status"] == "CREATE IN_PROGRESS"
    time.sleep(QUICK_CAMPAIGN_TTL_S * 2)  # past the runtime's campaign cache
    items = recommended(runtime_client, campaign, user, 25)
    assert len(items) == 25 and "new-A" not in items  # the old version still answers

    release.set()
    done = wait_for(
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"],
        lambda c: c["latestCampaignUpdate"]["status"] == "ACTIVE",
        timeout=30,
    )
    assert done["solutionVersionArn"] == update_arn and done["status"] == "ACTIVE"
    # Once ACTIVE (and past the runtime's short campaign cache), the new version answers.
    wait_for(
        lambda: {"items": recommended(runtime_client, campaign, user, 25)},
        lambda r: "new-A" in r["items"],
        timeout=10,
        field="items",
    )


# --- syncWithLatestSolutionVersion -------------------------------------------------------------


def test_campaign_following_latest_moves_to_a_new_version(clients):
    personalize, runtime_client, _ = clients
    data = planted(seed=9)
    group, dataset = group_with(clients, "lifecycle-latest", data)
    solution_arn = solution(
        personalize, group, "lifecycle-latest", recipe="aws-popularity-count", params=None
    )
    first_arn, _ = train(personalize, solution_arn)
    latest = f"{solution_arn}/$LATEST"
    with pytest.raises(personalize.exceptions.InvalidInputException, match="syncWithLatestSolutionVersion"):
        personalize.create_campaign(name="lifecycle-latest", solutionVersionArn=latest)
    campaign = deploy(
        personalize, "lifecycle-latest", latest, campaignConfig={"syncWithLatestSolutionVersion": True}
    )
    described = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["solutionVersionArn"] == latest
    assert described["campaignConfig"]["syncWithLatestSolutionVersion"] is True
    before = recommended(runtime_client, campaign, "u0", 3)
    assert "hot-item" not in before

    # Every user interacts with a new item: the next version's most popular item.
    everyone = np.arange(data.interactions.user_count)
    import_csv(clients, dataset, new_item_rows(data, "hot-item", everyone), mode="INCREMENTAL")
    second_arn, _ = train(personalize, solution_arn)
    assert second_arn != first_arn
    moved = wait_for(
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"],
        lambda c: (c.get("latestCampaignUpdate") or {}).get("status") == "ACTIVE",
        timeout=30,
    )
    assert moved["status"] == "ACTIVE"
    assert moved["campaignConfig"]["syncWithLatestSolutionVersion"] is True
    assert moved["latestCampaignUpdate"]["solutionVersionArn"] in (latest, second_arn)
    wait_for(
        lambda: {"items": recommended(runtime_client, campaign, "u0", 3)},
        lambda r: r["items"][0] == "hot-item",
        timeout=10,
        field="items",
    )
