"""picks.domain.resources: private state is typed, kept out of the wire document, and records
written before it had its own attribute (private keys inside ``doc``) are read into it."""

from __future__ import annotations

import pytest
from picks.domain.resources import (
    CampaignState,
    DatasetState,
    ModelRef,
    NoState,
    Resource,
    SolutionVersionState,
    TableRef,
    from_storage,
    state_from_json,
)

VERSION = "arn:aws:personalize:us-east-1:000000000000:solution/s/abc123"
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"
GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def test_a_legacy_versions_private_keys_move_into_its_state():
    doc = {
        "solutionVersionArn": VERSION,
        "status": "ACTIVE",
        "_model": {
            "prefix": "models/s/abc123/",
            "recipe": "r",
            "recipeType": "USER_PERSONALIZATION",
            "eventsUntil": 9,
        },
        "_metrics": {"coverage": 0.5},
        "_trainingJobName": "picks-s-abc123",
        "_eventsUntil": 9,
    }
    state = from_storage("solution-version", doc, None)
    assert doc == {"solutionVersionArn": VERSION, "status": "ACTIVE"}
    assert state == SolutionVersionState(
        model=ModelRef("models/s/abc123/", "r", "USER_PERSONALIZATION", events_until=9),
        metrics={"coverage": 0.5},
        training_job_name="picks-s-abc123",
        events_until=9,
    )


def test_a_legacy_campaigns_private_keys_move_into_its_state_with_its_pending_updates():
    update = {
        "solutionVersionArn": f"{VERSION}x",
        "status": "CREATE PENDING",
        "_servingVersionArn": f"{VERSION}x",
    }
    doc = {
        "campaignArn": CAMPAIGN,
        "_servingVersionArn": VERSION,
        "_datasetGroupArn": GROUP,
        "latestCampaignUpdate": update,
    }
    state = from_storage("campaign", doc, None)
    assert doc == {
        "campaignArn": CAMPAIGN,
        "latestCampaignUpdate": {"solutionVersionArn": f"{VERSION}x", "status": "CREATE PENDING"},
    }
    assert state == CampaignState(
        serving_version_arn=VERSION, dataset_group_arn=GROUP, update_serving_version_arn=f"{VERSION}x"
    )


def test_a_legacy_datasets_import_moves_into_its_state():
    doc = {"datasetArn": "d", "_data": {"prefix": "datasets/g/INTERACTIONS/j/", "rowCount": 3, "job": "j"}}
    assert from_storage("dataset", doc, None) == DatasetState(TableRef("datasets/g/INTERACTIONS/j/", 3, "j"))
    assert doc == {"datasetArn": "d"}


def test_a_stored_state_is_read_as_it_is_and_leaves_the_document_alone():
    stored = SolutionVersionState(model=ModelRef("p/", "r", "SIMS"), metrics={"coverage": 0.1})
    doc = {"solutionVersionArn": VERSION}
    assert from_storage("solution-version", doc, stored.to_json()) == stored
    assert doc == {"solutionVersionArn": VERSION}


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        ("dataset", DatasetState()),
        ("dataset", DatasetState(TableRef("datasets/x/", 5))),
        ("solution-version", SolutionVersionState()),
        (
            "solution-version",
            SolutionVersionState(ModelRef("m/", "r", "PERSONALIZED_RANKING", 7), {"a": 1.0}, "j", 7),
        ),
        ("campaign", CampaignState()),
        ("campaign", CampaignState(VERSION, GROUP, VERSION)),
        ("schema", NoState()),
    ],
)
def test_every_state_round_trips_through_its_json(kind, state):
    assert state_from_json(kind, state.to_json()) == state


def test_each_kind_gets_its_own_state_and_no_other():
    version = Resource(arn=VERSION, kind="solution-version", doc={})
    assert version.version_state == SolutionVersionState()
    assert Resource(arn=CAMPAIGN, kind="campaign", doc={}).campaign_state == CampaignState()
    assert Resource(arn="d", kind="dataset", doc={}).dataset_state.data_prefix is None
    with pytest.raises(TypeError, match="campaign"):
        Resource(arn=CAMPAIGN, kind="campaign", doc={}).version_state  # noqa: B018
    assert isinstance(Resource(arn="s", kind="schema", doc={}).state, NoState)
