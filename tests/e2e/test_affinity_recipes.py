"""The USER_SEGMENTATION recipes end to end with stock boto3: the demo data imported, a solution
and a version of each affinity recipe trained by the emulator's training job, GetSolutionMetrics
with the segment metrics."""

from __future__ import annotations

import pytest

from demo.load import load_demo
from demo.synthetic import generate
from demo.waiting import wait_for
from tests.conftest import client_for

pytestmark = pytest.mark.e2e

RECIPE = "arn:aws:personalize:::recipe/"
SEGMENT_METRICS = {"hits_at_1_percent", "recall_at_1_percent", "coverage"}


@pytest.fixture(scope="module")
def group(emulator):
    data = generate(n_users=300, n_items=120, n_interactions=9000, seed=13)
    return load_demo(emulator.url, data=data, quiet=True)["datasetGroupArn"]


@pytest.mark.parametrize("recipe", ["aws-item-affinity", "aws-item-attribute-affinity"])
def test_affinity_recipe_trains_and_reports_segment_metrics(emulator, group, recipe):
    personalize = client_for(emulator, "personalize")
    assert (
        personalize.describe_recipe(recipeArn=RECIPE + recipe)["recipe"]["recipeType"] == "USER_SEGMENTATION"
    )
    solution = personalize.create_solution(
        name=f"e2e-{recipe}",
        datasetGroupArn=group,
        recipeArn=RECIPE + recipe,
        performAutoTraining=False,
        solutionConfig={"algorithmHyperParameters": {"hidden_dimension": "32"}},
    )["solutionArn"]
    version_arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]
    )
    assert version["status"] == "ACTIVE", version
    metrics = personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
    assert set(metrics) == SEGMENT_METRICS
    assert metrics["hits_at_1_percent"] > 0
    assert 0 < metrics["recall_at_1_percent"] <= 1 and 0 < metrics["coverage"] <= 1
    with pytest.raises(personalize.exceptions.InvalidInputException, match="CreateBatchSegmentJob"):
        personalize.create_campaign(name=f"e2e-{recipe}", solutionVersionArn=version_arn)
