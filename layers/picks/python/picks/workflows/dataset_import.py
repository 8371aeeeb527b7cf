"""Steps of the DatasetImport workflow (declared in ``declaration.DATASET_IMPORT``).

``ingest`` lists the source as the job's roleArn unless picks trusts its bucket
(``picks.user_buckets``); a role picks cannot assume, or one that may not read the source, fails
the job.  A source of at most ``Settings.max_lambda_import_bytes`` is imported in the step itself:
the whole source is validated before anything is written, the columnar table goes under a new
prefix, then the dataset is repointed at it, and the workflow ends.  A larger one runs as a job
(no Lambda ceiling): ``ingest`` copies the source objects into the job's channel in picks' bucket
(read as the role, written as picks: the role never needs access to picks' bucket, and the job's
container never acts as the role), with the dataset's current table for an INCREMENTAL import;
the ``Import`` step runs ``training/import_job.py`` (``config.json`` ``"task": "import"``, the
training entry point) which builds the same table with the same checks and messages; ``publish``
copies it under the dataset's new prefix and repoints the dataset.

Either way a bad file ends the job CREATE FAILED with the line and column and leaves the dataset's
previous data in place (a job's failure reason is its own message); ``record_failure`` handles
the Catch and removes what a job staged.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from picks import arns, user_buckets
from picks.domain.queries import dataset_schema
from picks.domain.resources import TableRef
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, IN_PROGRESS_STATES
from picks.errors import excerpt
from picks.ingest.columnar import MANIFEST_NAME, read_manifest
from picks.ingest.csv_reader import ImportValidationError
from picks.ingest.importer import SourceObjects, open_object, parse_s3_uri, resolve_sources, run_import
from picks.observability import logger
from picks.workflows.batch_jobs import remove_job_files
from picks.workflows.declaration import TRAINING_INPUT_PREFIX, TRAINING_OUTPUT_PREFIX
from picks.workflows.failures import TRAINING_JOB_FAILED, error_code, failure_reason
from picks.workflows.training_contract import (
    CONFIG_FILE,
    TrainingRequest,
    copy_object,
    is_archive,
    model_artifacts_uri,
    split_s3_uri,
    unique_job_name,
)

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

JOB = "Dataset import job"
TASK = "import"  # config.json's "task": training/train.py runs training/import_job.py
SOURCES_FOLDER = "input/"  # in the channel: the source objects, in import order
PREVIOUS_FOLDER = "previous/"  # in the channel: the dataset's table an INCREMENTAL import merges into
REQUEST_KEY = "training"  # declaration.DATASET_IMPORT's TrainingStep defaults
RESULT_KEY = "trainingJob"


def _set_status(services: Services, job_arn: str, status: str, reason: str | None = None) -> Resource:
    def apply(job: Resource) -> None:
        job.doc["status"] = status
        job.doc["lastUpdatedDateTime"] = services.clock()
        if reason is not None:
            job.doc["failureReason"] = reason

    return services.resources.update(job_arn, apply, what=JOB)


def instance_type_for(source_bytes: int) -> str:
    """The job's instance: the raw source and the parsed table are held in memory (about three
    times the CSV's size at most), so 16 GiB up to 2 GiB of CSV, 64 GiB up to 8, 384 GiB beyond."""
    if source_bytes <= 2 << 30:
        return "ml.m5.xlarge"
    return "ml.m5.4xlarge" if source_bytes <= 8 << 30 else "ml.m5.24xlarge"


def _finish(services: Services, job: Resource, dataset: Resource, prefix: str, rows: int) -> None:
    """Point the dataset at its new table, then the job is ACTIVE."""

    def repoint(resource: Resource) -> None:
        resource.dataset_state.data = TableRef(prefix, rows, job.arn)
        resource.doc["lastUpdatedDateTime"] = services.clock()

    services.resources.update(dataset.arn, repoint, what="Dataset")
    _set_status(services, job.arn, ACTIVE)


def ingest(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    region = arns.parse(state["datasetImportJobArn"]).region
    services = services.in_region(region)
    job = _set_status(services, state["datasetImportJobArn"], CREATE_IN_PROGRESS)
    dataset = services.resources.get(job.doc["datasetArn"], what="Dataset")
    group_name = arns.parse(dataset.doc["datasetGroupArn"]).path
    destination = (
        f"datasets/{group_name}/{dataset.doc['datasetType']}/{job.doc['jobName']}-{uuid.uuid4().hex[:8]}"
    )
    location = job.doc["dataSource"]["dataLocation"]
    role_arn = job.doc.get("roleArn")
    try:
        source_s3 = user_buckets.s3_client(
            services,
            parse_s3_uri(location)[0],
            role_arn=role_arn,
            session=user_buckets.session_name("import", job.doc["jobName"]),
            region=region,
        )
        source_role = None if source_s3 is services.s3 else role_arn
        sources = resolve_sources(source_s3, location, source_role)
        if sources.total_bytes > services.settings.max_lambda_import_bytes:
            request = _stage_job(services, job, dataset, sources, source_s3, source_role)
            return {**state, REQUEST_KEY: request.to_state(), "destination": destination}
        result = run_import(
            services.s3,
            source_s3=source_s3,
            source_role=source_role,
            data_location=location,
            bucket=services.settings.bucket_name,
            dest_prefix=destination,
            schema=dataset_schema(services, dataset),
            dataset_type=dataset.doc["datasetType"],
            mode=job.doc.get("importMode") or "FULL",
            previous_prefix=dataset.dataset_state.data_prefix,
            sources=sources,
        )
    except (ImportValidationError, user_buckets.BucketAccessError) as error:
        _set_status(services, job.arn, CREATE_FAILED, str(error))
        return {**state, "status": CREATE_FAILED}
    _finish(services, job, dataset, result.prefix, result.row_count)
    return {**state, "status": ACTIVE, "rowCount": result.row_count}


def _copy_source(
    services: Services, source_s3: Any, sources: SourceObjects, key: str, to: str, role: str | None
) -> None:
    bucket = services.settings.bucket_name
    if role is None:  # a bucket picks reads itself: a server-side copy (multipart beyond 5 GB)
        copy_object(services.s3, sources.bucket, key, bucket, to)
        return
    # Read as the role, written as picks, streamed (multipart): never whole in the step's memory.
    body = open_object(source_s3, sources.bucket, key, role)
    services.s3.upload_fileobj(body, bucket, to)


def _stage_previous(services: Services, previous: str, to: str) -> str:
    bucket = services.settings.bucket_name
    manifest = read_manifest(services.s3, bucket, previous)
    data_key = manifest["data"]["key"]
    copy_object(services.s3, bucket, f"{previous}/{data_key}", bucket, to + data_key)
    copy_object(services.s3, bucket, f"{previous}/{MANIFEST_NAME}", bucket, to + MANIFEST_NAME)
    return previous


def _stage_job(
    services: Services,
    job: Resource,
    dataset: Resource,
    sources: SourceObjects,
    source_s3: Any,
    source_role: str | None,
) -> TrainingRequest:
    """Copy the source (and an INCREMENTAL import's current table) into a job channel with its
    ``config.json``; the request for the Import step.  A failure removes what was staged."""
    job_name = unique_job_name("import", job.doc["jobName"])
    channel = f"{TRAINING_INPUT_PREFIX}{job_name}/"
    bucket = services.settings.bucket_name
    mode = (job.doc.get("importMode") or "FULL").upper()
    previous = dataset.dataset_state.data_prefix if mode == "INCREMENTAL" else None
    try:
        files = []
        for index, key in enumerate(sources.keys):
            name = f"{SOURCES_FOLDER}{index:06d}.csv"
            _copy_source(services, source_s3, sources, key, channel + name, source_role)
            files.append({"file": name, "uri": sources.uri(key)})
        if previous is not None:
            _stage_previous(services, previous.strip("/"), channel + PREVIOUS_FOLDER)
        schema = services.resources.get(dataset.doc["schemaArn"], what="Schema")
        config = {
            "task": TASK,
            "jobArn": job.arn,
            "schema": schema.doc["schema"],
            "datasetType": dataset.doc["datasetType"],
            "mode": mode,
            "dataLocation": job.doc["dataSource"]["dataLocation"],
            "sources": files,
            "previous": PREVIOUS_FOLDER if previous is not None else None,
            "previousPrefix": previous.strip("/") if previous is not None else None,
        }
        services.s3.put_object(Bucket=bucket, Key=channel + CONFIG_FILE, Body=json.dumps(config).encode())
    except Exception:
        remove_job_files(services, job_name)
        raise
    logger.info(
        "dataset import staged as a job",
        extra={"jobArn": job.arn, "files": len(files), "bytes": sources.total_bytes},
    )
    return TrainingRequest(
        jobName=job_name,
        instanceType=instance_type_for(sources.total_bytes),
        inputUri=f"s3://{bucket}/{channel}",
        outputUri=f"s3://{bucket}/{TRAINING_OUTPUT_PREFIX}",
    )


def publish(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    """The Import job's table under the dataset's new prefix (data first, manifest last, as
    ``write_table`` stores one), then the dataset points at it and the job is ACTIVE."""
    services = services.in_region(arns.parse(state["datasetImportJobArn"]).region)
    job = services.resources.get(state["datasetImportJobArn"], what=JOB)
    dataset = services.resources.get(job.doc["datasetArn"], what="Dataset")
    uri = model_artifacts_uri(state[RESULT_KEY])
    if is_archive(uri):
        raise ValueError(f"the import job's output is an archive ({excerpt(uri, 200)}); picks needs files")
    output_bucket, output = split_s3_uri(uri)
    output = output.rstrip("/")
    manifest = read_manifest(services.s3, output_bucket, output)
    bucket, destination = services.settings.bucket_name, state["destination"]
    for name in (manifest["data"]["key"], MANIFEST_NAME):
        copy_object(services.s3, output_bucket, f"{output}/{name}", bucket, f"{destination}/{name}")
    _finish(services, job, dataset, destination, int(manifest["row_count"]))
    remove_job_files(services, TrainingRequest.from_state(state[REQUEST_KEY]).jobName)
    return {**state, "status": ACTIVE, "rowCount": int(manifest["row_count"])}


def record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    error = state.get("error") or {}
    if error_code(error) == TRAINING_JOB_FAILED:
        # The import job's own reason: a bad file's line and column, as the Lambda step reports it.
        reason = failure_reason(error, {TRAINING_JOB_FAILED})[:1000]
    else:
        # The error's name and the start of its message; never a stack trace or a whole message quoting data.
        name, _, message = failure_reason(error).partition(": ")
        reason = f"Internal error while importing: {name}: {excerpt(message)}".strip()
    job = services.resources.find(state["datasetImportJobArn"])
    if job is not None and job.doc.get("status") in IN_PROGRESS_STATES:
        _set_status(services, job.arn, CREATE_FAILED, reason)
    if isinstance(state.get(REQUEST_KEY), dict):
        remove_job_files(services, TrainingRequest.from_state(state[REQUEST_KEY]).jobName)
    return {**state, "status": CREATE_FAILED}


ACTIONS = {
    "dataset_import.ingest": ingest,
    "dataset_import.publish": publish,
    "dataset_import.record_failure": record_failure,
}
