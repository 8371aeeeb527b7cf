"""The BatchSegment workflow against moto: the control plane, Prepare / Publish / RecordFailure and
the segment job (a subprocess of training/train.py, as the emulator runs it), with segment models
written directly so every expected segment is known.  Every failure ends CREATE FAILED with a
reason naming the problem, the output location holds no file of a failed job, and picks' bucket
keeps no copy of the input."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from picks.controlplane.dispatch import dispatch
from picks.domain.resources import ModelRef, Resource, SolutionVersionState
from picks.errors import InvalidInputException, LimitExceededException, ResourceInUseException
from picks.model_artifact import ModelArtifact, publish_files, serialize

from tests.integration.test_batch_inference_workflow import FailingSecondPut
from tests.integration.test_import_roles import DeniedS3, RecordingSts

USER_BUCKET = "segments-bucket"
ROLE = "arn:aws:iam::000000000000:role/PicksSegments"
GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"
AFFINITY = "arn:aws:personalize:us-east-1:000000000000:solution/aff/aaaa1111"
ATTRIBUTES = "arn:aws:personalize:us-east-1:000000000000:solution/attr/bbbb2222"
POPULAR = "arn:aws:personalize:us-east-1:000000000000:solution/pop/cccc3333"
USERS = [f"u{n}" for n in range(10)]
ITEMS = ["i0", "i1", "i2", "i3"]
PURCHASERS = ("u7", "u8")  # the only users with a "purchase" in the training data


def _segment_artifact(recipe: str) -> ModelArtifact:
    """User u's factors (u, 9 - u): i0 = (1, 0) ranks u9, u8, u7, ...; i1 = (0, 1) ranks u0, u1, ...
    GENRES: i0 and i2 Comedy, i1 and i3 Drama.  Every user clicked i0; u7 and u8 bought i1."""
    user_factors = np.array([[u, 9 - u] for u in range(len(USERS))], dtype=np.float32)
    item_factors = np.array([[1, 0], [0, 1], [1, 0.1], [0.1, 1]], dtype=np.float32)
    entries = [[(0, 0)] + ([(1, 1)] if user in PURCHASERS else []) for user in USERS]
    return ModelArtifact(
        recipe=recipe,
        recipe_type="USER_SEGMENTATION",
        item_ids=np.array(ITEMS, dtype=object),
        user_ids=np.array(USERS, dtype=object),
        arrays={
            "user_factors": user_factors,
            "item_factors": item_factors,
            "popularity": np.ones(len(ITEMS), np.float32),
            "attribute_codes.GENRES": np.array([0, 1, 0, 1], dtype=np.int32),
            "filter_indptr": np.concatenate([[0], np.cumsum([len(e) for e in entries])]).astype(np.int64),
            "filter_items": np.array([item for e in entries for item, _ in e], dtype=np.uint16),
            "filter_types": np.array([kind for e in entries for _, kind in e], dtype=np.int16),
        },
        strings={
            "attribute_values.GENRES": np.array(["Comedy", "Drama"], dtype=object),
            "filter_users": np.array(USERS, dtype=object),
            "filter_event_types": np.array(["click", "purchase"], dtype=object),
        },
        info={"itemAttributes": {"GENRES": "categorical"}},
    )


def _add_version(services, arn: str, artifact: ModelArtifact) -> None:
    prefix = "models/" + arn.split(":solution/", 1)[1] + "/"
    publish_files(services.s3, services.settings.bucket_name, prefix, *serialize(artifact))
    state = SolutionVersionState(model=ModelRef(prefix, artifact.recipe, artifact.recipe_type))
    doc = {"solutionVersionArn": arn, "status": "ACTIVE", "datasetGroupArn": GROUP}
    services.resources.create(
        Resource(arn, "solution-version", doc, parent=arn.rsplit("/", 1)[0], state=state),
        what="Solution version",
    )


def _add_filter(services, name: str, expression: str) -> str:
    arn = f"arn:aws:personalize:us-east-1:000000000000:filter/{name}"
    doc = {"filterArn": arn, "name": name, "datasetGroupArn": GROUP, "filterExpression": expression}
    services.resources.create(Resource(arn, "filter", {**doc, "status": "ACTIVE"}), what="Filter")
    return arn


@pytest.fixture
def versions(services, aws) -> None:
    aws.client("s3").create_bucket(Bucket=USER_BUCKET)
    _add_version(services, AFFINITY, _segment_artifact("aws-item-affinity"))
    _add_version(services, ATTRIBUTES, _segment_artifact("aws-item-attribute-affinity"))
    popular = ModelArtifact(
        recipe="aws-popularity-count",
        recipe_type="POPULAR_ITEMS",
        item_ids=np.array(ITEMS, dtype=object),
        arrays={"popularity": np.arange(len(ITEMS), dtype=np.float32)},
    )
    _add_version(services, POPULAR, popular)


@pytest.fixture
def sts(services, aws) -> RecordingSts:
    recording = RecordingSts(aws.client("sts"))
    services.sts = recording
    return recording


def _put(services, key: str, lines: list[Any]) -> None:
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    services.s3.put_object(Bucket=USER_BUCKET, Key=key, Body=body.encode())


def _request(name: str, source: str, version: str = AFFINITY, **extra: Any) -> dict[str, Any]:
    return {
        "jobName": name,
        "solutionVersionArn": version,
        "jobInput": {"s3DataSource": {"path": f"s3://{USER_BUCKET}/{source}"}},
        "jobOutput": {"s3DataDestination": {"path": f"s3://{USER_BUCKET}/out/"}},
        "roleArn": ROLE,
        **extra,
    }


def _run(services, name: str, source: str, **extra: Any) -> dict[str, Any]:
    arn = dispatch(services, "CreateBatchSegmentJob", _request(name, source, **extra))["batchSegmentJobArn"]
    services.workflows.wait_idle(timeout=120)
    return dispatch(services, "DescribeBatchSegmentJob", {"batchSegmentJobArn": arn})["batchSegmentJob"]


def _output(services, key: str) -> list[dict[str, Any]]:
    body = services.s3.get_object(Bucket=USER_BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def _keys(services, bucket: str, prefix: str) -> list[str]:
    listed = services.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _staged(services) -> list[str]:
    bucket = services.settings.bucket_name
    return _keys(services, bucket, "training-input/") + _keys(services, bucket, "training-output/")


def test_item_affinity_job_writes_personalize_lines_as_the_role(services, versions, sts):
    _put(
        services,
        "in/items.json",
        [{"itemId": "i0"}, {"itemId": "i1"}, "", "not json", {"itemId": "nope"}, {}],
    )
    job = _run(services, "items", "in/items.json", numResults=3, tags=[{"tagKey": "team", "tagValue": "crm"}])

    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["numResults"] == 3 and job["roleArn"] == ROLE and "failureReason" not in job
    assert {call["RoleArn"] for call in sts.calls} == {ROLE}
    lines = _output(services, "out/items.json.out")
    assert lines[:2] == [
        {"input": {"itemId": "i0"}, "output": {"recommendedUsers": ["u9", "u8", "u7"]}},
        {"input": {"itemId": "i1"}, "output": {"recommendedUsers": ["u0", "u1", "u2"]}},
    ]
    assert lines[2] == {"input": "not json", "error": "the line is not valid JSON."}
    assert (
        lines[3]["input"] == {"itemId": "nope"}
        and "not in the solution version's training data" in lines[3]["error"]
    )
    assert lines[4]["input"] == {} and lines[4]["error"].startswith("itemId: required")
    assert len(lines) == 5  # the blank line is not a record
    assert _staged(services) == []
    listed = dispatch(services, "ListBatchSegmentJobs", {"solutionVersionArn": AFFINITY})["batchSegmentJobs"]
    assert [(j["jobName"], j["status"]) for j in listed] == [("items", "ACTIVE")]
    tags = dispatch(services, "ListTagsForResource", {"resourceArn": job["batchSegmentJobArn"]})["tags"]
    assert tags == [{"tagKey": "team", "tagValue": "crm"}]


def test_item_attribute_affinity_job_and_its_default_size(services, versions, sts):
    comedy = 'ITEMS.genres = "Comedy"'
    _put(services, "in/q.json", [{"itemAttributes": comedy}, {"itemAttributes": 'ITEMS.genres = "Horror"'}])
    job = _run(services, "attrs", "in/q.json", solutionVersionArn=ATTRIBUTES)

    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["numResults"] == 25  # the documented default
    first, second = _output(services, "out/q.json.out")
    assert first == {
        "itemAttributes": comedy,
        "output": {"recommendedUsers": [f"u{n}" for n in range(9, -1, -1)]},
    }
    assert second["itemAttributes"] == 'ITEMS.genres = "Horror"' and "no item" in second["error"]


def test_a_users_filter_on_interactions_with_per_line_values(services, versions, sts):
    arn = _add_filter(services, "no-buyers", "EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT)")
    _put(
        services,
        "in/items.json",
        [{"itemId": "i0", "filterValues": {"EVENT": '"purchase"'}}, {"itemId": "i0"}],
    )
    job = _run(services, "filtered", "in/items.json", numResults=3, filterArn=arn)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["filterArn"] == arn
    excluded, unfiltered = _output(services, "out/items.json.out")
    assert excluded["output"]["recommendedUsers"] == ["u9", "u6", "u5"]  # u8 and u7 bought
    # An EXCLUDE expression without its value is skipped, as Personalize skips it.
    assert unfiltered["output"]["recommendedUsers"] == ["u9", "u8", "u7"]


def test_create_refusals(services, versions, sts):
    with pytest.raises(InvalidInputException, match="USER_SEGMENTATION recipe.*CreateBatchInferenceJob"):
        dispatch(services, "CreateBatchSegmentJob", _request("pop", "in/x.json", version=POPULAR))
    with pytest.raises(InvalidInputException, match="numResults: 5000001"):
        dispatch(services, "CreateBatchSegmentJob", _request("big", "in/x.json", numResults=5_000_001))
    items_filter = _add_filter(services, "items", 'EXCLUDE ItemID WHERE Items.GENRES IN ("Drama")')
    with pytest.raises(InvalidInputException, match="filters ItemIDs; a batch segment job filters the users"):
        dispatch(services, "CreateBatchSegmentJob", _request("f1", "in/x.json", filterArn=items_filter))
    clicks = _add_filter(services, "clicks", 'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")')
    with pytest.raises(InvalidInputException, match="Item-interaction filters are not allowed"):
        dispatch(
            services,
            "CreateBatchSegmentJob",
            _request("f2", "in/x.json", version=ATTRIBUTES, filterArn=clicks),
        )
    with pytest.raises(InvalidInputException, match="roleArn"):
        dispatch(
            services, "CreateBatchSegmentJob", _request("r", "in/x.json", roleArn="arn:aws:iam::0:roleX")
        )

    def deactivate(resource: Resource) -> None:
        resource.doc["status"] = "CREATE IN_PROGRESS"

    services.resources.update(AFFINITY, deactivate, what="Solution version")
    with pytest.raises(ResourceInUseException, match="ACTIVE"):
        dispatch(services, "CreateBatchSegmentJob", _request("v", "in/x.json"))


def test_concurrent_jobs_quota(services, versions, sts):
    services.settings = replace(services.settings, max_batch_segment_jobs=0)
    with pytest.raises(LimitExceededException, match="batch segment jobs .* the limit is 0"):
        dispatch(services, "CreateBatchSegmentJob", _request("one-too-many", "in/x.json"))


def test_query_limit_per_file_fails_the_job(services, versions, sts):
    _put(services, "in/q.json", [{"itemAttributes": 'ITEMS.genres = "Comedy"'}] * 11)
    job = _run(services, "eleven", "in/q.json", solutionVersionArn=ATTRIBUTES)
    assert job["status"] == "CREATE FAILED"
    assert "q.json has more than 10 itemAttributes queries" in job["failureReason"]
    services.settings = replace(services.settings, max_item_affinity_queries=1)
    _put(services, "in/items.json", [{"itemId": "i0"}, {"itemId": "i1"}])
    job = _run(services, "two", "in/items.json")
    assert job["status"] == "CREATE FAILED" and "more than 1 itemId queries" in job["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == [] and _staged(services) == []


def test_input_files_quota(services, versions, sts):
    _put(services, "folder/a.json", [{"itemId": "i0"}])
    _put(services, "folder/b.json", [{"itemId": "i1"}])
    services.settings = replace(services.settings, max_batch_input_files=1)
    job = _run(services, "files", "folder/")
    assert job["status"] == "CREATE FAILED" and "2 files; the limit is 1" in job["failureReason"]
    services.settings = replace(services.settings, max_batch_input_files=1000, max_batch_input_bytes=10)
    job = _run(services, "bytes", "folder/")
    assert job["status"] == "CREATE FAILED" and "the limit is 10 bytes" in job["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == [] and _staged(services) == []


def test_refused_role_unreadable_input_and_missing_buckets_fail_the_job(services, versions, sts):
    _put(services, "in/items.json", [{"itemId": "i0"}])
    sts.refuse = True
    refused = _run(services, "refused", "in/items.json")
    assert refused["status"] == "CREATE FAILED"
    assert ROLE in refused["failureReason"] and "AccessDenied" in refused["failureReason"]
    sts.refuse = False
    missing = _run(services, "missing", "in/none.json")
    assert missing["status"] == "CREATE FAILED" and "no input file" in missing["failureReason"]
    request = _request("no-bucket", "in/items.json")
    request["jobOutput"] = {"s3DataDestination": {"path": "s3://no-such-bucket/out/"}}
    arn = dispatch(services, "CreateBatchSegmentJob", request)["batchSegmentJobArn"]
    services.workflows.wait_idle(timeout=120)
    job = dispatch(services, "DescribeBatchSegmentJob", {"batchSegmentJobArn": arn})["batchSegmentJob"]
    assert job["status"] == "CREATE FAILED" and "no-such-bucket" in job["failureReason"]
    services.s3_with_credentials = lambda credentials, region: DeniedS3()
    denied = _run(services, "denied", "in/items.json")
    assert denied["status"] == "CREATE FAILED" and "access denied reading" in denied["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == [] and _staged(services) == []


def test_a_refused_write_leaves_no_output_file(services, versions, sts):
    moto_client = services.s3
    services.s3_with_credentials = lambda credentials, region: FailingSecondPut(moto_client)
    _put(services, "folder/a.json", [{"itemId": "i0"}])
    _put(services, "folder/b.json", [{"itemId": "i1"}])
    job = _run(services, "half", "folder/")
    assert job["status"] == "CREATE FAILED"
    assert "access denied writing" in job["failureReason"] and "b.json.out" in job["failureReason"]
    assert _keys(services, USER_BUCKET, "out/") == []  # a.json.out was written, then removed
    assert _staged(services) == []
