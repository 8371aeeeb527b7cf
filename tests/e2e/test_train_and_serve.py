"""The getting-started flow over HTTP with stock boto3: import → solution → version ACTIVE → metrics →
campaign ACTIVE → GetRecommendations / GetPersonalizedRanking / RELATED_ITEMS."""

from __future__ import annotations

import pytest

from demo.load import load_demo
from demo.synthetic import generate
from demo.waiting import wait_for
from tests.conftest import client_for
from tests.utils import METRIC_KEYS

pytestmark = pytest.mark.e2e

RECIPE = "arn:aws:personalize:::recipe/"


@pytest.fixture(scope="module")
def demo(emulator):
    data = generate(n_users=300, n_items=120, n_interactions=9000, seed=11)
    return load_demo(emulator.url, data=data, quiet=True), data


@pytest.fixture(scope="module")
def clients(emulator):
    return (client_for(emulator, "personalize"), client_for(emulator, "personalize-runtime"))


def train(personalize, group_arn: str, name: str, recipe: str, **solution) -> tuple[str, dict]:
    solution_arn = personalize.create_solution(
        name=name, datasetGroupArn=group_arn, recipeArn=RECIPE + recipe, performAutoTraining=False, **solution
    )["solutionArn"]
    version_arn = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    version = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]
    )
    return version_arn, version


def deploy(personalize, name: str, version_arn: str) -> str:
    arn = personalize.create_campaign(name=name, solutionVersionArn=version_arn)["campaignArn"]
    campaign = wait_for(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"])
    assert campaign["status"] == "ACTIVE", campaign
    return arn


@pytest.fixture(scope="module")
def personalization(demo, clients):
    personalize, _ = clients
    loaded, _ = demo
    version_arn, version = train(personalize, loaded["datasetGroupArn"], "e2e-up", "aws-user-personalization")
    assert version["status"] == "ACTIVE", version
    return version_arn, version, deploy(personalize, "e2e-up", version_arn)


def test_version_goes_through_the_documented_states(personalization):
    _, version, _ = personalization
    assert version["seen"][-1] == "ACTIVE"
    assert set(version["seen"]) <= {"CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"}
    assert version["trainingHours"] > 0
    assert version["trainingMode"] == "FULL"


def test_metrics_have_personalize_keys_and_beat_popularity(personalization, demo, clients):
    personalize, _ = clients
    version_arn, _, _ = personalization
    metrics = personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
    assert METRIC_KEYS <= set(metrics)
    assert all(0.0 <= value <= 1.0 for value in metrics.values())

    popular_arn, _ = train(personalize, demo[0]["datasetGroupArn"], "e2e-pop", "aws-popularity-count")
    popular = personalize.get_solution_metrics(solutionVersionArn=popular_arn)["metrics"]
    # The demo data is drawn from latent preferences: personalization must beat the popularity baseline.
    assert (
        metrics["normalized_discounted_cumulative_gain_at_25"]
        > popular["normalized_discounted_cumulative_gain_at_25"]
    )
    assert metrics["coverage"] > popular["coverage"]


def test_get_recommendations(personalization, demo, clients):
    _, runtime = clients
    _, _, campaign = personalization
    user = demo[1].users[0][0]
    response = runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=7)
    items = response["itemList"]
    assert len(items) == 7
    assert len({i["itemId"] for i in items}) == 7
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert 1 <= len(response["recommendationId"]) <= 40
    default = runtime.get_recommendations(campaignArn=campaign, userId=user)["itemList"]
    assert len(default) == 25


def test_recommendations_can_exclude_what_the_user_already_did(demo, clients):
    personalize, runtime = clients
    version_arn, version = train(
        personalize,
        demo[0]["datasetGroupArn"],
        "e2e-up-exclude",
        "aws-user-personalization",
        solutionConfig={"algorithmHyperParameters": {"exclude_interacted_items": "true"}},
    )
    assert version["status"] == "ACTIVE", version
    campaign = deploy(personalize, "e2e-up-exclude", version_arn)
    data = demo[1]
    user = data.users[3][0]
    seen = {row[1] for row in data.interactions if row[0] == user}
    items = {
        i["itemId"]
        for i in runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=50)["itemList"]
    }
    assert seen and not (items & seen)


def test_unknown_user_gets_popular_items(personalization, clients):
    _, runtime = clients
    _, _, campaign = personalization
    first = runtime.get_recommendations(campaignArn=campaign, userId="nobody-1", numResults=10)["itemList"]
    second = runtime.get_recommendations(campaignArn=campaign, userId="nobody-2", numResults=10)["itemList"]
    assert [i["itemId"] for i in first] == [i["itemId"] for i in second]


def test_explanations_name_the_users_interactions(personalization, demo, clients):
    _, runtime = clients
    _, _, campaign = personalization
    data = demo[1]
    user = data.users[5][0]
    seen = {row[1] for row in data.interactions if row[0] == user}
    items = runtime.get_recommendations(
        campaignArn=campaign, userId=user, numResults=5, context={"PICKS_EXPLAIN": "true"}
    )["itemList"]
    reasons = [reason for item in items for reason in item.get("reason", [])]
    assert reasons
    assert all(any(f"item {s} " in reason for s in seen) for reason in reasons)


def test_runtime_errors_are_modelled(personalization, clients):
    _, runtime = clients
    _, _, campaign = personalization
    with pytest.raises(runtime.exceptions.InvalidInputException, match="userId"):
        runtime.get_recommendations(campaignArn=campaign)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="numResults"):
        runtime.get_recommendations(campaignArn=campaign, userId="u", numResults=501)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(campaignArn=campaign.replace("e2e-up", "missing"), userId="u")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(
            campaignArn=campaign,
            userId="u",
            filterArn="arn:aws:personalize:us-east-1:000000000000:filter/none",
        )
    with pytest.raises(runtime.exceptions.InvalidInputException, match="GetPersonalizedRanking"):
        runtime.get_personalized_ranking(campaignArn=campaign, userId="u", inputList=["a"])


def test_personalized_ranking(demo, clients):
    personalize, runtime = clients
    data = demo[1]
    version_arn, version = train(
        personalize, demo[0]["datasetGroupArn"], "e2e-rank", "aws-personalized-ranking"
    )
    assert version["status"] == "ACTIVE", version
    campaign = deploy(personalize, "e2e-rank", version_arn)
    user = data.users[1][0]
    candidates = [row[0] for row in data.items[:20]] + ["never-seen-b", "never-seen-a"]
    ranked = runtime.get_personalized_ranking(campaignArn=campaign, userId=user, inputList=candidates)
    ranking = ranked["personalizedRanking"]
    assert sorted(i["itemId"] for i in ranking) == sorted(candidates)
    # Unknown items come last, in request order, without a score.
    assert [i["itemId"] for i in ranking[-2:]] == ["never-seen-b", "never-seen-a"]
    assert all("score" not in i for i in ranking[-2:])
    scores = [i["score"] for i in ranking[:-2]]
    assert scores == sorted(scores, reverse=True)
    assert abs(sum(scores) - 1.0) < 1e-3  # a softmax over the candidates, as Personalize documents


def test_related_items(demo, clients):
    personalize, runtime = clients
    data = demo[1]
    version_arn, version = train(personalize, demo[0]["datasetGroupArn"], "e2e-sims", "aws-sims")
    assert version["status"] == "ACTIVE", version
    campaign = deploy(personalize, "e2e-sims", version_arn)
    item = data.items[0][0]
    related = runtime.get_recommendations(campaignArn=campaign, itemId=item, numResults=10)["itemList"]
    assert len(related) == 10 and item not in {i["itemId"] for i in related}
    with pytest.raises(runtime.exceptions.InvalidInputException, match="itemId"):
        runtime.get_recommendations(campaignArn=campaign, userId="u")
    unknown = runtime.get_recommendations(campaignArn=campaign, itemId="no-such-item", numResults=5)[
        "itemList"
    ]
    assert len(unknown) == 5  # popular items for an item the model has never seen


def test_failed_training_names_the_reason(emulator, clients):
    personalize, _ = clients
    s3 = client_for(emulator, "s3")
    from tests.e2e.test_control_plane import INTERACTIONS

    group = personalize.create_dataset_group(name="too-small")["datasetGroupArn"]
    schema = personalize.create_schema(name="too-small-interactions", schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(
        name="too-small", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    s3.create_bucket(Bucket="too-small-src")
    rows = "".join(f"u{i % 40},i{i % 17},{1700000000 + i},View\n" for i in range(300))
    s3.put_object(
        Bucket="too-small-src", Key="x.csv", Body=("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + rows).encode()
    )
    job = personalize.create_dataset_import_job(
        jobName="too-small",
        datasetArn=dataset,
        roleArn="arn:aws:iam::000000000000:role/PicksImport",
        dataSource={"dataLocation": "s3://too-small-src/x.csv"},
    )
    wait_for(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])[
            "datasetImportJob"
        ]
    )
    _, version = train(personalize, group, "too-small", "aws-user-personalization")
    assert version["status"] == "CREATE FAILED"
    assert "1000 interactions" in version["failureReason"] and "300" in version["failureReason"]
