"""Batch inference jobs over HTTP with stock boto3: CreateBatchInferenceJob → the BatchInference
workflow (Prepare, the scoring job as a subprocess of training/train.py, Publish) → `.out` files in
the output bucket, each line the answer GetRecommendations / GetPersonalizedRanking gives for the
same input on a campaign serving the same solution version."""

from __future__ import annotations

import json

import pytest

from demo.load import load_demo
from demo.synthetic import generate
from demo.waiting import wait_for
from tests.conftest import client_for
from tests.e2e.test_train_and_serve import deploy, train

pytestmark = pytest.mark.e2e

ROLE_ARN = "arn:aws:iam::000000000000:role/PicksBatch"
BUCKET = "batch-io"


@pytest.fixture(scope="module")
def demo(emulator):
    data = generate(n_users=200, n_items=80, n_interactions=6000, seed=5)
    return load_demo(emulator.url, data=data, quiet=True), data


@pytest.fixture(scope="module")
def clients(emulator):
    s3 = client_for(emulator, "s3")
    s3.create_bucket(Bucket=BUCKET)
    return client_for(emulator, "personalize"), client_for(emulator, "personalize-runtime"), s3


def _version_and_campaign(clients, demo, name: str, recipe: str) -> tuple[str, str]:
    personalize = clients[0]
    version_arn, version = train(personalize, demo[0]["datasetGroupArn"], name, recipe)
    assert version["status"] == "ACTIVE", version
    return version_arn, deploy(personalize, name, version_arn)


@pytest.fixture(scope="module")
def personalization(clients, demo):
    return _version_and_campaign(clients, demo, "batch-up", "aws-user-personalization")


def _put_lines(s3, key: str, lines: list[object]) -> None:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())


def _run_job(personalize, name: str, version_arn: str, source: str, **extra) -> dict:
    arn = personalize.create_batch_inference_job(
        jobName=name,
        solutionVersionArn=version_arn,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/{source}"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/{name}/"}},
        roleArn=ROLE_ARN,
        **extra,
    )["batchInferenceJobArn"]
    job = wait_for(
        lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    )
    assert set(job["seen"]) <= {"PENDING", "IN PROGRESS", "ACTIVE", "CREATE FAILED"}
    return job


def _output(s3, key: str) -> list[dict]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def _recommended(runtime, campaign: str, count: int, **request) -> tuple[list[str], list[float]]:
    items = runtime.get_recommendations(campaignArn=campaign, numResults=count, **request)["itemList"]
    return [i["itemId"] for i in items], [i["score"] for i in items]


def test_user_personalization_folder_of_two_files_with_a_malformed_line(clients, demo, personalization):
    personalize, runtime, s3 = clients
    version_arn, campaign = personalization
    users = [row[0] for row in demo[1].users]
    _put_lines(s3, "up/in/part-1.json", [{"userId": u} for u in users[:5]])
    _put_lines(
        s3, "up/in/part-2.json", [{"userId": users[5]}, "{not json", {"itemId": "x"}, {"userId": "nobody"}]
    )
    job = _run_job(
        personalize,
        "batch-up-folder",
        version_arn,
        "up/in/",
        numResults=10,
        tags=[{"tagKey": "team", "tagValue": "crm"}],
    )
    assert job["status"] == "ACTIVE", job
    assert job["numResults"] == 10 and job["batchInferenceJobMode"] == "BATCH_INFERENCE"
    assert job["jobOutput"]["s3DataDestination"]["path"] == f"s3://{BUCKET}/out/batch-up-folder/"
    keys = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/batch-up-folder/")["Contents"]
    )
    assert keys == ["out/batch-up-folder/part-1.json.out", "out/batch-up-folder/part-2.json.out"]

    first = _output(s3, keys[0])
    assert [line["input"] for line in first] == [{"userId": u} for u in users[:5]]
    for line in first:
        assert line["error"] is None
        assert (line["output"]["recommendedItems"], line["output"]["scores"]) == _recommended(
            runtime, campaign, 10, userId=line["input"]["userId"]
        )
    second = _output(s3, keys[1])
    assert len(second) == 4
    assert second[0]["error"] is None and len(second[0]["output"]["recommendedItems"]) == 10
    assert second[1]["input"] == "{not json" and "not valid JSON" in second[1]["error"]
    assert second[2]["input"] == {"itemId": "x"} and "userId" in second[2]["error"]
    # An unknown user gets what GetRecommendations gives them (popular items).
    assert second[3]["output"]["recommendedItems"] == _recommended(runtime, campaign, 10, userId="nobody")[0]

    listed = personalize.list_batch_inference_jobs(solutionVersionArn=version_arn)["batchInferenceJobs"]
    assert [j["jobName"] for j in listed] == ["batch-up-folder"]
    assert listed[0]["status"] == "ACTIVE"
    tags = personalize.list_tags_for_resource(resourceArn=job["batchInferenceJobArn"])["tags"]
    assert tags == [{"tagKey": "team", "tagValue": "crm"}]


def test_filter_with_values_per_line(clients, demo, personalization):
    personalize, runtime, s3 = clients
    version_arn, campaign = personalization
    filter_arn = personalize.create_filter(
        name="batch-category",
        datasetGroupArn=demo[0]["datasetGroupArn"],
        filterExpression="INCLUDE ItemID WHERE Items.CATEGORY IN ($CATS)",
    )["filterArn"]
    wait_for(lambda: personalize.describe_filter(filterArn=filter_arn)["filter"])
    categories = sorted({row[1] for row in demo[1].items})
    users = [row[0] for row in demo[1].users][:4]
    lines = [
        {"userId": user, "filterValues": {"CATS": json.dumps(categories[i % len(categories)])}}
        for i, user in enumerate(users)
    ]
    _put_lines(s3, "filtered/users.json", [*lines, {"userId": users[0]}])
    job = _run_job(
        personalize, "batch-filtered", version_arn, "filtered/users.json", numResults=5, filterArn=filter_arn
    )
    assert job["status"] == "ACTIVE", job
    assert job["filterArn"] == filter_arn
    out = _output(s3, "out/batch-filtered/users.json.out")
    category = {row[0]: row[1] for row in demo[1].items}
    for line in out[:-1]:
        wanted = json.loads(line["input"]["filterValues"]["CATS"])
        assert line["output"]["recommendedItems"], line
        assert {category[item] for item in line["output"]["recommendedItems"]} == {wanted}
        assert (line["output"]["recommendedItems"], line["output"]["scores"]) == _recommended(
            runtime,
            campaign,
            5,
            userId=line["input"]["userId"],
            filterArn=filter_arn,
            filterValues=line["input"]["filterValues"],
        )
    # A line without the values the filter's INCLUDE needs is an error on that line only.
    assert "filterValues" in out[-1]["error"] and "CATS" in out[-1]["error"]


def test_related_items(clients, demo):
    personalize, runtime, s3 = clients
    version_arn, campaign = _version_and_campaign(clients, demo, "batch-sims", "aws-sims")
    items = [row[0] for row in demo[1].items][:6]
    _put_lines(s3, "sims/items.json", [{"itemId": item} for item in items])
    job = _run_job(personalize, "batch-sims", version_arn, "sims/items.json", numResults=8)
    assert job["status"] == "ACTIVE", job
    for line in _output(s3, "out/batch-sims/items.json.out"):
        assert "scores" not in line["output"]  # Personalize scores only UP and PR in batch
        expected, _ = _recommended(runtime, campaign, 8, itemId=line["input"]["itemId"])
        assert line["output"]["recommendedItems"] == expected


def test_personalized_ranking(clients, demo):
    personalize, runtime, s3 = clients
    version_arn, campaign = _version_and_campaign(clients, demo, "batch-rank", "aws-personalized-ranking")
    users = [row[0] for row in demo[1].users][:4]
    items = [row[0] for row in demo[1].items]
    lines = [{"userId": user, "itemList": items[i : i + 7] + ["never-seen"]} for i, user in enumerate(users)]
    _put_lines(s3, "rank/in.json", lines)
    job = _run_job(personalize, "batch-rank", version_arn, "rank/in.json")
    assert job["status"] == "ACTIVE", job
    for line in _output(s3, "out/batch-rank/in.json.out"):
        ranking = runtime.get_personalized_ranking(
            campaignArn=campaign, userId=line["input"]["userId"], inputList=line["input"]["itemList"]
        )["personalizedRanking"]
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in ranking]
        assert line["output"]["scores"][:-1] == [i["score"] for i in ranking[:-1]]
        assert line["output"]["recommendedItems"][-1] == "never-seen"


def test_failures_end_create_failed_with_a_reason(clients, personalization):
    personalize, _, s3 = clients
    version_arn, _ = personalization
    missing = _run_job(personalize, "batch-missing-input", version_arn, "nowhere/in.json")
    assert missing["status"] == "CREATE FAILED"
    assert "no input file" in missing["failureReason"]
    _put_lines(s3, "ok/in.json", [{"userId": "u1"}])
    arn = personalize.create_batch_inference_job(
        jobName="batch-no-output-bucket",
        solutionVersionArn=version_arn,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/ok/in.json"}},
        jobOutput={"s3DataDestination": {"path": "s3://no-such-output-bucket/out/"}},
        roleArn=ROLE_ARN,
    )["batchInferenceJobArn"]
    job = wait_for(
        lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    )
    assert job["status"] == "CREATE FAILED"
    assert "no-such-output-bucket" in job["failureReason"] and "does not exist" in job["failureReason"]


def test_requests_that_cannot_run_are_refused_at_create(clients, demo, personalization):
    personalize, _, _ = clients
    version_arn, _ = personalization
    request = {
        "jobName": "batch-refused",
        "solutionVersionArn": version_arn,
        "jobInput": {"s3DataSource": {"path": f"s3://{BUCKET}/ok/in.json"}},
        "jobOutput": {"s3DataDestination": {"path": f"s3://{BUCKET}/out/refused/"}},
        "roleArn": ROLE_ARN,
    }
    errors = personalize.exceptions
    with pytest.raises(errors.InvalidInputException, match="THEME_GENERATION"):
        personalize.create_batch_inference_job(**request, batchInferenceJobMode="THEME_GENERATION")
    with pytest.raises(errors.InvalidInputException, match="explorationWeight"):
        personalize.create_batch_inference_job(
            **request, batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "2"}}
        )
    with pytest.raises(errors.InvalidInputException, match="numResults"):
        personalize.create_batch_inference_job(**request, numResults=501)
    trending, _ = train(personalize, demo[0]["datasetGroupArn"], "batch-trending", "aws-trending-now")
    with pytest.raises(errors.InvalidInputException, match="does not support batch inference"):
        personalize.create_batch_inference_job(**{**request, "solutionVersionArn": trending})
    with pytest.raises(errors.ResourceNotFoundException):
        personalize.describe_batch_inference_job(
            batchInferenceJobArn="arn:aws:personalize:us-east-1:000000000000:batch-inference-job/nope"
        )
