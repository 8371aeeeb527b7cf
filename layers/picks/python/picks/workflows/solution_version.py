"""Steps of the SolutionVersionTraining workflow (declared in ``declaration.SOLUTION_VERSION_TRAINING``).

``prepare`` stages the dataset group's tables as the job's ``train`` channel and picks an instance
type; the ``Train`` step is the SageMaker job (``training/train.py``: fit, holdout metrics,
artifact), which uploads the artifact's files uncompressed under
``training-output/<job>/output/model/``; ``register`` checks them (manifest readable, data file
present with the size the manifest names), makes that prefix the version's model — nothing is
copied — and the version ACTIVE; ``record_failure`` (the Catch) ends it CREATE FAILED with the
job's reason, or CREATE STOPPED when StopSolutionVersionCreation asked for it.  A job whose
output is SageMaker's default ``model.tar.gz`` is still registered: its files are unpacked under
``models/<solution>/<version>/``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tarfile
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from picks import arns, realtime
from picks.domain.queries import dataset_schema, group_datasets, latest_full_model
from picks.domain.resources import ModelRef, TableRef
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_STOPPED, STOPPING_STATES
from picks.ingest.columnar import (
    MISSING_OBJECT_CODES,
    ColumnTable,
    concat,
    merge,
    object_bytes,
    read_table,
    table_from_records,
    write_table,
)
from picks.model_artifact import ARRAYS_NAME, MANIFEST_NAME, ArtifactError, parse_manifest, publish_files
from picks.observability import logger
from picks.workflows.campaign import redeploy
from picks.workflows.declaration import TRAINING_INPUT_PREFIX, TRAINING_OUTPUT_PREFIX
from picks.workflows.failures import TRAINING_JOB_FAILED, TrainingDataMissing, failure_reason
from picks.workflows.training_contract import (
    CONFIG_FILE,
    TrainingRequest,
    copy_object,
    is_archive,
    model_artifacts_uri,
    split_s3_uri,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.dataset_schema import DatasetSchema
    from picks.domain.resources import Resource, SolutionVersionState
    from picks.services import Services

WHAT = "Solution version"
TABLE_FILES = ("manifest.json", "data.npz")
MINIMUM_INTERACTIONS = 1000
TRAINED_DATASETS = ("INTERACTIONS", "ITEMS", "USERS")
MODEL_FILES = (MANIFEST_NAME, ARRAYS_NAME, "metrics.json")
# Reported as their message alone: the training job's own reason, missing data, an unusable model.
EXPECTED_FAILURES = frozenset({TrainingDataMissing.error_code, TRAINING_JOB_FAILED, ArtifactError.error_code})


class SolutionVersionStopped(Exception):
    """StopSolutionVersionCreation arrived before the job started."""


def instance_type_for(rows: int, recipe: str) -> str:
    """SageMaker instance for a job: sized by interactions (ALS needs ~40 bytes a row, plus headroom)."""
    if rows < 2_000_000:
        return "ml.m5.xlarge"  # 4 vCPU, 16 GiB
    if rows < 30_000_000:
        return "ml.m5.4xlarge"  # 16 vCPU, 64 GiB
    if recipe in ("aws-user-personalization", "aws-personalized-ranking"):
        return "ml.g5.4xlarge"  # implicit's CUDA ALS on an A10G, 64 GiB host memory
    return "ml.m5.12xlarge"


def job_name_for(version: Resource, suffix: str = "") -> str:
    """A SageMaker job name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``) unique per version (and
    ``suffix``: an update's)."""
    solution_name, _, version_id = arns.parse(version.arn).path.partition("/")
    tail = f"-{version_id}{suffix}"
    stem = re.sub(r"[^A-Za-z0-9]+", "-", solution_name).strip("-")[: 63 - len(tail) - 6] or "solution"
    return f"picks-{stem}{tail}"


def model_prefix(version: Resource) -> str:
    return f"models/{arns.parse(version.arn).path}/"


def _set(
    services: Services,
    arn: str,
    *,
    state_change: Callable[[SolutionVersionState], None] | None = None,
    **changes: Any,
) -> Resource:
    """Update the version's document with ``changes`` (and its private state with ``state_change``)."""

    def apply(resource: Resource) -> None:
        resource.doc.update(changes)
        if state_change is not None:
            state_change(resource.version_state)
        resource.doc["lastUpdatedDateTime"] = services.clock()

    return services.resources.update(arn, apply, what=WHAT)


def _copy_object(s3: Any, bucket: str, source_key: str, destination_key: str) -> None:
    copy_object(s3, bucket, source_key, bucket, destination_key)


def _copy_table(services: Services, source_prefix: str, destination_prefix: str) -> None:
    bucket = services.settings.bucket_name
    for name in TABLE_FILES:
        _copy_object(
            services.s3,
            bucket,
            f"{source_prefix.rstrip('/')}/{name}",
            f"{destination_prefix.rstrip('/')}/{name}",
        )


def prepare(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    def start(resource: Resource) -> None:
        # Decided on the record being written, so a stop that lands meanwhile is never overwritten.
        if resource.doc.get("status") in STOPPING_STATES:
            raise SolutionVersionStopped(resource.arn)
        resource.doc["status"] = CREATE_IN_PROGRESS
        resource.doc["lastUpdatedDateTime"] = services.clock()

    version = services.resources.update(state["solutionVersionArn"], start, what=WHAT)
    solution = services.resources.get(version.doc["solutionArn"], what="Solution")
    mode = version.doc.get("trainingMode") or "FULL"
    previous = None
    if mode == "UPDATE":
        previous = latest_full_model(services, solution.arn, exclude=version.arn)
        if previous is None:
            raise TrainingDataMissing("trainingMode UPDATE needs an ACTIVE FULL solution version to update.")
    job_name = job_name_for(version)
    request, events_until = stage_training(services, solution, version, job_name, previous)

    def record_job(version_state: SolutionVersionState) -> None:
        version_state.training_job_name = job_name
        version_state.events_until = events_until

    _set(services, version.arn, state_change=record_job)
    return {**state, "training": request.to_state()}


def stage_training(
    services: Services,
    solution: Resource,
    version: Resource,
    job_name: str,
    previous: ModelRef | None,
    *,
    config: dict[str, Any] | None = None,
    excluded_columns: dict[str, list[str]] | None = None,
) -> tuple[TrainingRequest, int]:
    """Stage the job's channel: the dataset group's tables joined with what PutEvents / PutItems /
    PutUsers stored until now and, to train in UPDATE mode, the ``previous`` model; returns the
    job's request and the cut-off (epoch ms) of the real-time events it trains on.

    ``solution`` names the group (``datasetGroupArn``) and recipe (``recipeArn``); a recommender
    passes itself with its own ``config.json`` (``config``) and the metadata columns its
    ``trainingDataConfig`` leaves out of training (``excluded_columns`` by dataset type)."""
    group_arn = solution.doc["datasetGroupArn"]
    datasets = group_datasets(services, group_arn)
    interactions = datasets.get("INTERACTIONS")
    data = interactions.dataset_state.data if interactions else None
    bucket = services.settings.bucket_name
    channel = f"{TRAINING_INPUT_PREFIX}{job_name}/"
    events_until = int(services.clock() * 1000)
    schema = dataset_schema(services, interactions) if interactions else None
    rows = _stage_interactions(
        services,
        group_arn,
        data,
        events_until,
        channel + "interactions",
        schema,
        (excluded_columns or {}).get("INTERACTIONS"),
    )
    for dataset_type in TRAINED_DATASETS[1:]:
        if dataset_type in datasets:
            excluded = (excluded_columns or {}).get(dataset_type, [])
            stage_entities(services, datasets[dataset_type], channel + dataset_type.lower(), excluded)
    recipe = arns.parse(solution.doc["recipeArn"]).path if solution.doc.get("recipeArn") else ""
    if previous is not None:
        for name in (MANIFEST_NAME, ARRAYS_NAME):
            _copy_object(services.s3, bucket, previous.prefix + name, f"{channel}previous_model/{name}")
    mode = "UPDATE" if previous is not None else version.doc.get("trainingMode") or "FULL"
    if config is None:
        config = _training_config(solution, version, recipe, mode)
    else:
        config = {**config, "trainingMode": mode}
    services.s3.put_object(Bucket=bucket, Key=channel + CONFIG_FILE, Body=json.dumps(config).encode())
    request = TrainingRequest(
        jobName=job_name,
        instanceType=instance_type_for(rows, recipe),
        inputUri=f"s3://{bucket}/{channel}",
        outputUri=f"s3://{bucket}/{TRAINING_OUTPUT_PREFIX}",
    )
    return request, events_until


def _stage_interactions(
    services: Services,
    group_arn: str,
    data: TableRef | None,
    events_until: int,
    destination: str,
    schema: DatasetSchema | None = None,
    excluded: list[str] | None = None,
) -> int:
    """Stage the INTERACTIONS table for training: the bulk data (``data``: the dataset's stored
    table, if any) joined by the real-time events (PutEvents) received before ``events_until``,
    what users did since the last import, with their ``properties`` as the columns of the
    dataset's ``schema`` they set (context such as DEVICE, trained on like imported columns),
    without the ``excluded`` metadata columns (a recommender's ``trainingDataConfig``).
    Returns the row count; TrainingDataMissing if too few."""
    bucket = services.settings.bucket_name
    streamed = None
    if services.events is not None:
        streamed = realtime.events_table(services.events.export(group_arn, until_ms=events_until), schema)
    rows = (data.row_count if data else 0) + (streamed.row_count if streamed else 0)
    if rows == 0:
        raise TrainingDataMissing("the dataset group has no interactions (import some or send events) yet.")
    if rows < MINIMUM_INTERACTIONS:
        raise TrainingDataMissing(
            f"training needs at least {MINIMUM_INTERACTIONS} interactions; the dataset group has {rows}."
        )
    if streamed is not None or excluded:
        parts = ([streamed] if streamed is not None else []) + (
            [read_table(services.s3, bucket, data.prefix)] if data else []
        )
        write_table(services.s3, bucket, destination, _without(concat(parts), excluded))
    elif data:
        _copy_table(services, data.prefix, destination)
    return rows


def _without(table: ColumnTable, excluded: list[str] | None) -> ColumnTable:
    """``table`` without the ``excluded`` columns (matched case-insensitively)."""
    if not excluded:
        return table
    dropped = {name.upper() for name in excluded}
    kept = {name: column for name, column in table.columns.items() if name.upper() not in dropped}
    return dataclasses.replace(table, columns=kept)


def _training_config(solution: Resource, version: Resource, recipe: str, mode: str) -> dict[str, Any]:
    """The job's ``config.json``: what ``training/train.py`` trains, and with which settings."""
    return {
        "recipe": recipe,
        "recipeArn": solution.doc.get("recipeArn"),
        "solutionArn": solution.arn,
        "solutionVersionArn": version.arn,
        "eventType": solution.doc.get("eventType"),
        "solutionConfig": solution.doc.get("solutionConfig") or {},
        "performHPO": bool(solution.doc.get("performHPO")),
        "trainingMode": mode,
    }


def stage_entities(
    services: Services, dataset: Resource, destination: str, excluded: list[str] | None = None
) -> None:
    """The ITEMS / USERS table for training: bulk data upserted with PutItems / PutUsers records,
    without the ``excluded`` columns (a recommender's ``trainingDataConfig``)."""
    table = dataset.dataset_state.data
    written = None
    if services.metadata is not None:
        written = table_from_records(
            dataset_schema(services, dataset),
            dataset.doc["datasetType"],
            services.metadata.scan_all(dataset.arn),
        )
    if written is None and not excluded:
        if table is not None:
            _copy_table(services, table.prefix, destination)
        return
    bulk = read_table(services.s3, services.settings.bucket_name, table.prefix) if table is not None else None
    # The individually written record wins over the bulk row with the same id.
    staged = merge(bulk, written, dataset.doc["datasetType"]) if written is not None else bulk
    if staged is None:
        return
    write_table(services.s3, services.settings.bucket_name, destination, _without(staged, excluded))


def _read_archive(services: Services, uri: str) -> dict[str, bytes]:
    bucket, key = split_s3_uri(uri)
    body = services.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    files: dict[str, bytes] = {}
    # "r:*": SageMaker's gzipped model.tar.gz, and a plain tar as well.  Members are read in archive
    # order, each as it is reached: on a gzip stream, going back to an earlier member decompresses
    # everything before it again.
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if member.isfile() and name in MODEL_FILES:
                extracted = archive.extractfile(member)
                assert extracted is not None
                files[name] = extracted.read()
    missing = [name for name in (MANIFEST_NAME, ARRAYS_NAME) if name not in files]
    if missing:
        raise ArtifactError(f"{uri} lacks {', '.join(missing)}")
    return files


def _object_size(services: Services, bucket: str, key: str) -> int | None:
    """The object's size; None when there is no such key."""
    try:
        return int(services.s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING_OBJECT_CODES:
            return None
        raise


def _check_model_files(services: Services, uri: str) -> tuple[str, dict[str, Any]]:
    """The job's uncompressed output under ``uri``: (its key prefix, the parsed manifest), once
    manifest.json reads as a picks model's and model.npz is there with the size it names."""
    bucket, key = split_s3_uri(uri)
    prefix = key.rstrip("/") + "/"
    where = f"s3://{bucket}/{prefix}"
    if bucket != services.settings.bucket_name:
        raise ArtifactError(f"{where} is outside the picks bucket {services.settings.bucket_name}")
    manifest_bytes = object_bytes(services.s3, bucket, prefix + MANIFEST_NAME)
    data_size = _object_size(services, bucket, prefix + ARRAYS_NAME)
    if manifest_bytes is None or data_size is None:
        found = {MANIFEST_NAME: manifest_bytes, ARRAYS_NAME: data_size}
        missing = [name for name, value in found.items() if value is None]
        raise ArtifactError(f"{where} lacks {', '.join(missing)}")
    try:
        manifest = parse_manifest(manifest_bytes)
    except ArtifactError as error:
        raise ArtifactError(f"{where}{MANIFEST_NAME}: {error}") from None
    if data_size != manifest["data"]["size"]:
        raise ArtifactError(
            f"{where}{ARRAYS_NAME} is {data_size} bytes; {MANIFEST_NAME} says {manifest['data']['size']}"
        )
    return prefix, manifest


def trained_model(services: Services, job: dict[str, Any], archive_prefix: str) -> tuple[str, dict[str, Any]]:
    """The model a finished job wrote: (its key prefix in the picks bucket, its manifest).  A job
    whose output is one archive has it unpacked under ``archive_prefix``."""
    uri = model_artifacts_uri(job)
    if not is_archive(uri):
        # The job's own files are the model: it never writes there again (job names are unique),
        # so there is nothing to copy.
        return _check_model_files(services, uri)
    files = _read_archive(services, uri)
    try:
        manifest = parse_manifest(files[MANIFEST_NAME])
    except ArtifactError as error:
        raise ArtifactError(f"{uri}: {error}") from None
    publish_files(
        services.s3, services.settings.bucket_name, archive_prefix, files[MANIFEST_NAME], files[ARRAYS_NAME]
    )
    return archive_prefix, manifest


def register(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    version = services.resources.get(state["solutionVersionArn"], what=WHAT)
    if version.doc.get("status") in STOPPING_STATES:
        _set(services, version.arn, status=CREATE_STOPPED)
        return {**state, "status": CREATE_STOPPED}
    prefix, manifest = trained_model(services, state["trainingJob"], model_prefix(version))
    info = manifest.get("info", {})
    seconds = float(state["trainingJob"].get("BillableTimeInSeconds") or info.get("trainingSeconds") or 0)
    changes: dict[str, Any] = {"status": ACTIVE, "trainingHours": round(seconds / 3600.0, 6)}
    model = ModelRef.from_manifest(prefix, manifest, version.version_state.events_until)
    metrics = info.get("metrics", {})
    if info.get("tunedHPOParams"):
        changes["tunedHPOParams"] = info["tunedHPOParams"]

    def activate(resource: Resource) -> None:
        # A stop that arrived while the model was being checked or published wins over ACTIVE.
        if resource.doc.get("status") in STOPPING_STATES:
            resource.doc["status"] = CREATE_STOPPED
        else:
            resource.doc.update(changes)
            resource.version_state.model = model
            resource.version_state.metrics = metrics
        resource.doc["lastUpdatedDateTime"] = services.clock()

    version = services.resources.update(version.arn, activate, what=WHAT)
    if version.doc["status"] == CREATE_STOPPED:
        return {**state, "status": CREATE_STOPPED}
    _follow_latest(services, version)
    logger.info("solution version ACTIVE", extra={"solutionVersionArn": version.arn, "metrics": metrics})
    return {**state, "status": ACTIVE}


def _follow_latest(services: Services, version: Resource) -> None:
    """Campaigns with syncWithLatestSolutionVersion move to the version that just became ACTIVE."""
    for campaign in services.resources.list("campaign", parent=version.doc["solutionArn"]):
        if (campaign.doc.get("campaignConfig") or {}).get("syncWithLatestSolutionVersion"):
            redeploy(services, campaign.arn, version.arn)


def record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    version = services.resources.find(state["solutionVersionArn"])
    if version is None:
        return {**state, "status": CREATE_FAILED}
    if version.doc.get("status") in STOPPING_STATES:
        _set(services, version.arn, status=CREATE_STOPPED)
        return {**state, "status": CREATE_STOPPED}
    if version.doc.get("status") != ACTIVE:
        reason = failure_reason(state.get("error") or {}, EXPECTED_FAILURES)
        _set(services, version.arn, status=CREATE_FAILED, failureReason=reason[:1000])
    return {**state, "status": CREATE_FAILED}


ACTIONS = {
    "solution_version.prepare": prepare,
    "solution_version.register": register,
    "solution_version.record_failure": record_failure,
}
