"""Request context (interaction metadata such as DEVICE) shifts user-personalization's ranking."""

from __future__ import annotations

import numpy as np
import pytest

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.conftest import client_for
from tests.e2e.test_train_and_serve import deploy, train, wait_for

pytestmark = pytest.mark.e2e

SCHEMA = avro_schema(
    "Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string"), ("DEVICE", "string", "categorical")
)


def _interactions_csv(seed: int = 5) -> str:
    # Items m0..m29 are chosen mostly on mobile, d0..d29 mostly on desktop; users use both devices.
    rng = np.random.default_rng(seed)
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,DEVICE"]
    for row in range(6000):
        device = "mobile" if rng.random() < 0.5 else "desktop"
        own = "m" if device == "mobile" else "d"
        prefix = own if rng.random() < 0.9 else ("d" if own == "m" else "m")
        lines.append(
            f"u{rng.integers(0, 200)},{prefix}{rng.integers(0, 30)},{1700000000 + row},View,{device}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def campaign(emulator):
    personalize, s3 = client_for(emulator, "personalize"), client_for(emulator, "s3")
    group = personalize.create_dataset_group(name="context")["datasetGroupArn"]
    schema = personalize.create_schema(name="context-interactions", schema=SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(
        name="context", schemaArn=schema, datasetGroupArn=group, datasetType="INTERACTIONS"
    )["datasetArn"]
    s3.create_bucket(Bucket="context-src")
    s3.put_object(Bucket="context-src", Key="i.csv", Body=_interactions_csv().encode())
    job = personalize.create_dataset_import_job(
        jobName="context",
        datasetArn=dataset,
        roleArn="arn:aws:iam::000000000000:role/PicksImport",
        dataSource={"dataLocation": "s3://context-src/i.csv"},
    )
    imported = wait_for(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])[
            "datasetImportJob"
        ]
    )
    assert imported["status"] == "ACTIVE", imported
    version_arn, version = train(personalize, group, "context-up", "aws-user-personalization")
    assert version["status"] == "ACTIVE", version
    return deploy(personalize, "context-up", version_arn)


def test_context_changes_the_ranking(emulator, campaign):
    runtime = client_for(emulator, "personalize-runtime")

    def top(device: str | None) -> list[str]:
        extra = {"context": {"DEVICE": device}} if device else {}
        return [
            i["itemId"]
            for i in runtime.get_recommendations(campaignArn=campaign, userId="u7", numResults=10, **extra)[
                "itemList"
            ]
        ]

    mobile, desktop, plain = top("mobile"), top("desktop"), top(None)
    assert mobile != desktop
    assert sum(i.startswith("m") for i in mobile) > sum(i.startswith("m") for i in desktop)
    # A context value the model never saw leaves the ranking as it is.
    assert top("smart-fridge") == plain
