"""What every batch job's workflow does (batch inference now; batch segments reuse it): Prepare,
Publish and RecordFailure, parametrised by a ``BatchJobKind``.

* ``prepare`` moves the job to IN PROGRESS, reads its input — one JSON Lines file, or every file of
  a folder — from the user's bucket as the job's ``roleArn`` (``picks.user_buckets``, the rule
  imports follow), checks the input quotas, and stages it with the solution version's model files
  and ``config.json`` (``"task"``: which job ``training/train.py`` runs) as the job's ``train``
  channel; the scoring job is then the workflow's ``TrainingStep`` (SageMaker on AWS, a subprocess
  locally), which writes one ``<input name>.out`` per input file into its model directory.
* ``publish`` copies each ``.out`` file to ``jobOutput.s3DataDestination`` as the ``roleArn``: a
  PutObject (or a multipart upload) makes an object appear whole or not at all, and if any copy
  fails the ones already written are removed, so the destination never holds part of a job's
  output.  Then the job is ACTIVE.
* ``record_failure`` (the Catch) ends the job CREATE FAILED with a reason naming the problem.

The staged copy of the user's input and the job's output are removed from picks' bucket when the
job ends either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from picks import arns, user_buckets
from picks.domain.states import ACTIVE, BATCH_IN_PROGRESS, BATCH_PENDING, BATCH_RUNNING_STATES, CREATE_FAILED
from picks.errors import excerpt
from picks.model_artifact import ARRAYS_NAME, MANIFEST_NAME
from picks.observability import logger
from picks.workflows.declaration import TRAINING_INPUT_PREFIX, TRAINING_OUTPUT_PREFIX
from picks.workflows.failures import TRAINING_JOB_FAILED, BatchJobFailed, failure_reason
from picks.workflows.training_contract import (
    CONFIG_FILE,
    TrainingRequest,
    model_artifacts_uri,
    split_s3_uri,
    unique_job_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.domain.resources import Resource
    from picks.services import Services

OUTPUT_SUFFIX = ".out"  # "The output file's name will be of the format input-name.out"
INPUT_FOLDER = "input/"  # in the channel: the input files, under their names
MODEL_FOLDER = "model/"  # in the channel: the solution version's manifest.json + model.npz
EXPECTED_FAILURES = frozenset({BatchJobFailed.error_code, TRAINING_JOB_FAILED})
_MISSING_BUCKET = "NoSuchBucket"
_MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})
_DELETE_BATCH = 1000


@dataclass(frozen=True)
class BatchJobKind:
    """One kind of batch job: its resource, the key of its ARN, and the task its job runs."""

    what: str  # "Batch inference job", in messages
    arn_key: str  # the workflow state's key (and the Describe document's member) holding the ARN
    task: str  # config.json's "task": the job training/train.py runs
    session: str  # the AssumeRole session's purpose (picks-<session>-<job name>)


@dataclass(frozen=True)
class InputFile:
    key: str  # in the user's bucket
    name: str  # relative to the input location: the output is <name>.out
    size: int


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _s3_failure(error: ClientError, field: str, uri: str, role_arn: str, doing: str) -> BatchJobFailed | None:
    """A permanent S3 error as the job's failure; None for one worth retrying (the step's retries)."""
    code = _code(error)
    if code == _MISSING_BUCKET:
        return BatchJobFailed(f"{field}: the bucket of {excerpt(uri, 200)} does not exist.")
    if code in _MISSING_KEY:
        return BatchJobFailed(f"{field}: {excerpt(uri, 200)} does not exist.")
    if code in _DENIED:
        return BatchJobFailed(f"{field}: access denied {doing} {excerpt(uri, 200)} as roleArn {role_arn}.")
    return None


def instance_type_for(input_bytes: int, model_bytes: int) -> str:
    """The job's instance: the model is held in memory, the input streamed (4 vCPU, 16 GiB up to a
    few GB of model; 16 vCPU, 64 GiB beyond)."""
    return "ml.m5.xlarge" if model_bytes + input_bytes < 4 << 30 else "ml.m5.4xlarge"


def set_status(
    services: Services, kind: BatchJobKind, arn: str, status: str, reason: str | None = None
) -> Resource:
    def apply(job: Resource) -> None:
        job.doc["status"] = status
        job.doc["lastUpdatedDateTime"] = services.clock()
        if reason is not None:
            job.doc["failureReason"] = reason

    return services.resources.update(arn, apply, what=kind.what)


def _client(services: Services, kind: BatchJobKind, job: Resource, uri: str, *, writes: bool) -> Any:
    bucket = split_s3_uri(uri)[0]
    try:
        return user_buckets.s3_client(
            services,
            bucket,
            role_arn=job.doc.get("roleArn"),
            session=user_buckets.session_name(kind.session, job.doc["jobName"]),
            region=services.settings.region,
            writes=writes,
        )
    except user_buckets.BucketAccessError as error:
        field = "jobOutput.s3DataDestination" if writes else "jobInput.s3DataSource"
        raise BatchJobFailed(f"{field}: {error}") from None


def _list_folder(reader: Any, bucket: str, folder: str) -> list[InputFile]:
    # The files directly in the folder (Delimiter "/"), like a directory listing; folder markers
    # and sub-folders are not input.
    files: list[InputFile] = []
    for page in reader.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
        for entry in page.get("Contents", []):
            name = entry["Key"][len(folder) :]
            if name and not name.endswith("/"):
                files.append(InputFile(entry["Key"], name, int(entry["Size"])))
    return sorted(files, key=lambda f: f.key)


def list_input(reader: Any, uri: str, role_arn: str) -> list[InputFile]:
    """The input files at ``uri``: the object itself, or the files of the folder it names."""
    field = "jobInput.s3DataSource.path"
    bucket, key = split_s3_uri(uri)
    try:
        if key and not key.endswith("/"):
            try:
                head = reader.head_object(Bucket=bucket, Key=key)
                return [InputFile(key, key.rsplit("/", 1)[-1], int(head["ContentLength"]))]
            except ClientError as error:
                if _code(error) not in _MISSING_KEY:
                    raise
            key += "/"  # "s3://b/folder" without the slash: the folder, if there is one
        files = _list_folder(reader, bucket, key)
    except ClientError as error:
        failure = _s3_failure(error, field, uri, role_arn, "reading")
        if failure is None:
            raise
        raise failure from None
    if not files:
        raise BatchJobFailed(f"{field}: there is no input file at {excerpt(uri, 200)}.")
    return files


def check_input_quotas(services: Services, files: list[InputFile]) -> int:
    """The input's total size, once its file count and size are within the quotas."""
    settings = services.settings
    if len(files) > settings.max_batch_input_files:
        raise BatchJobFailed(
            f"jobInput.s3DataSource.path: the input has {len(files)} files; the limit is "
            f"{settings.max_batch_input_files}."
        )
    total = sum(f.size for f in files)
    if total > settings.max_batch_input_bytes:
        raise BatchJobFailed(
            f"jobInput.s3DataSource.path: the input is {total} bytes; the limit is "
            f"{settings.max_batch_input_bytes} bytes."
        )
    return total


def _stage_input(
    services: Services, reader: Any, uri: str, role_arn: str, files: list[InputFile], to: str
) -> None:
    bucket = split_s3_uri(uri)[0]
    for entry in files:
        try:
            body = reader.get_object(Bucket=bucket, Key=entry.key)["Body"]
        except ClientError as error:
            failure = _s3_failure(
                error, "jobInput.s3DataSource.path", f"s3://{bucket}/{entry.key}", role_arn, "reading"
            )
            if failure is None:
                raise
            raise failure from None
        # Streamed (multipart beyond 8 MB): a file is never held whole in the step's memory.
        services.s3.upload_fileobj(body, services.settings.bucket_name, to + entry.name)


def _check_destination(writer: Any, job: Resource) -> None:
    """Fail before scoring when the output bucket does not exist (a role that may write but not
    list the bucket is not refused here: Publish finds out)."""
    uri = job.doc["jobOutput"]["s3DataDestination"]["path"]
    try:
        writer.head_bucket(Bucket=split_s3_uri(uri)[0])
    except ClientError as error:
        if _code(error) in (_MISSING_BUCKET, "404", "NotFound"):
            raise BatchJobFailed(
                f"jobOutput.s3DataDestination.path: the bucket of {excerpt(uri, 200)} does not exist."
            ) from None


def _stage_model(services: Services, version: Resource, to: str) -> int:
    """The version's model files into the channel (server-side copies); returns the model's size."""
    model = version.version_state.model
    if version.doc.get("status") != ACTIVE or model is None:
        raise BatchJobFailed(f"solutionVersionArn: {version.arn} is no longer ACTIVE.")
    bucket = services.settings.bucket_name
    for name in (MANIFEST_NAME, ARRAYS_NAME):
        services.s3.copy_object(
            Bucket=bucket, Key=to + name, CopySource={"Bucket": bucket, "Key": model.prefix + name}
        )
    return int(services.s3.head_object(Bucket=bucket, Key=to + ARRAYS_NAME)["ContentLength"])


def prepare(
    services: Services,
    state: dict[str, Any],
    kind: BatchJobKind,
    configure: Callable[[Services, Resource, Resource, str], dict[str, Any]],
) -> dict[str, Any]:
    """``configure(services, job, version, channel)``: the kind's own config.json members (it may
    stage more files in the channel)."""
    arn = state[kind.arn_key]
    services = services.in_region(arns.parse(arn).region)

    def start(job: Resource) -> None:
        if job.doc.get("status") != BATCH_PENDING:
            raise BatchJobFailed(f"{kind.what} {arn} is {job.doc.get('status')}; only a PENDING job starts.")
        job.doc["status"] = BATCH_IN_PROGRESS
        job.doc["lastUpdatedDateTime"] = services.clock()

    job = services.resources.update(arn, start, what=kind.what)
    version = services.resources.get(job.doc["solutionVersionArn"], what="Solution version")
    source = job.doc["jobInput"]["s3DataSource"]["path"]
    reader = _client(services, kind, job, source, writes=False)
    files = list_input(reader, source, job.doc["roleArn"])
    total = check_input_quotas(services, files)
    _check_destination(
        _client(services, kind, job, job.doc["jobOutput"]["s3DataDestination"]["path"], writes=True), job
    )
    job_name = unique_job_name("batch", job.doc["jobName"])
    channel = f"{TRAINING_INPUT_PREFIX}{job_name}/"

    def record(resource: Resource) -> None:  # first, so a failure from here on cleans the channel up
        resource.batch_state.job_name = job_name
        resource.batch_state.channel = channel
        resource.batch_state.input_names = [f.name for f in files]
        resource.batch_state.input_bytes = total
        resource.doc["lastUpdatedDateTime"] = services.clock()

    job = services.resources.update(arn, record, what=kind.what)
    model_bytes = _stage_model(services, version, channel + MODEL_FOLDER)
    _stage_input(services, reader, source, job.doc["roleArn"], files, channel + INPUT_FOLDER)
    config = {
        "task": kind.task,
        "jobArn": arn,
        "inputs": [f.name for f in files],
        "maxRecordsPerFile": services.settings.max_batch_records_per_file,
        **configure(services, job, version, channel),
    }
    bucket = services.settings.bucket_name
    services.s3.put_object(Bucket=bucket, Key=channel + CONFIG_FILE, Body=json.dumps(config).encode())
    request = TrainingRequest(
        jobName=job_name,
        instanceType=instance_type_for(total, model_bytes),
        inputUri=f"s3://{bucket}/{channel}",
        outputUri=f"s3://{bucket}/{TRAINING_OUTPUT_PREFIX}",
    )
    logger.info("batch job staged", extra={"jobArn": arn, "files": len(files), "bytes": total})
    return {**state, "training": request.to_state()}


def _output_key(prefix: str, name: str) -> str:
    return f"{prefix}{name}{OUTPUT_SUFFIX}"


def publish(services: Services, state: dict[str, Any], kind: BatchJobKind) -> dict[str, Any]:
    arn = state[kind.arn_key]
    services = services.in_region(arns.parse(arn).region)
    job = services.resources.get(arn, what=kind.what)
    bucket, prefix = split_s3_uri(model_artifacts_uri(state["trainingJob"]))
    prefix = prefix.rstrip("/") + "/"
    destination = job.doc["jobOutput"]["s3DataDestination"]
    out_bucket, out_prefix = split_s3_uri(destination["path"])
    if out_prefix and not out_prefix.endswith("/"):
        out_prefix += "/"
    extra = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": destination["kmsKeyArn"]}
        if destination.get("kmsKeyArn")
        else None
    )
    writer = _client(services, kind, job, destination["path"], writes=True)
    written: list[str] = []
    try:
        for name in job.batch_state.input_names:
            key = _output_key(out_prefix, name)
            try:
                body = services.s3.get_object(Bucket=bucket, Key=_output_key(prefix, name))["Body"]
            except ClientError as error:
                if _code(error) in _MISSING_KEY:
                    raise BatchJobFailed(
                        f"the job wrote no output for input file {excerpt(name, 200)}."
                    ) from None
                raise
            _put(writer, body, out_bucket, key, extra, job.doc["roleArn"])
            written.append(key)
    except Exception:
        _remove(writer, out_bucket, written)
        raise
    set_status(services, kind, arn, ACTIVE)
    remove_staged(services, job)
    return {**state, "status": ACTIVE, "outputFiles": len(written)}


def _put(writer: Any, body: Any, bucket: str, key: str, extra: dict[str, str] | None, role_arn: str) -> None:
    try:
        writer.upload_fileobj(body, bucket, key, ExtraArgs=extra)
    except ClientError as error:
        failure = _s3_failure(
            error, "jobOutput.s3DataDestination.path", f"s3://{bucket}/{key}", role_arn, "writing"
        )
        if failure is None:
            raise
        raise failure from None


def _remove(writer: Any, bucket: str, keys: list[str]) -> None:
    """Best effort: the role may not be allowed to delete; each object left is still whole."""
    for start in range(0, len(keys), _DELETE_BATCH):
        try:
            writer.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]},
            )
        except ClientError:
            logger.warning("could not remove a failed batch job's output", extra={"bucket": bucket})
            return


def remove_staged(services: Services, job: Resource) -> None:
    """The job's channel (a copy of the user's input) and its output in picks' bucket."""
    if job.batch_state.job_name:
        remove_job_files(services, job.batch_state.job_name)


def remove_job_files(services: Services, job_name: str) -> None:
    """A job's channel and its output in picks' bucket (dataset import jobs use it too)."""
    bucket = services.settings.bucket_name
    paginator = services.s3.get_paginator("list_objects_v2")
    for prefix in (f"{TRAINING_INPUT_PREFIX}{job_name}/", f"{TRAINING_OUTPUT_PREFIX}{job_name}/"):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
            if keys:
                services.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def record_failure(services: Services, state: dict[str, Any], kind: BatchJobKind) -> dict[str, Any]:
    arn = state[kind.arn_key]
    services = services.in_region(arns.parse(arn).region)
    job = services.resources.find(arn)
    if job is None:
        return {**state, "status": CREATE_FAILED}
    if job.doc.get("status") in BATCH_RUNNING_STATES:
        reason = failure_reason(state.get("error") or {}, EXPECTED_FAILURES)
        set_status(services, kind, arn, CREATE_FAILED, reason[:1000])
    try:
        remove_staged(services, job)
    except ClientError:
        logger.warning("could not remove a failed batch job's staged files", extra={"jobArn": arn})
    return {**state, "status": CREATE_FAILED}


def filter_expression(services: Services, job: Resource) -> str | None:
    """The expression of the job's filter, if it names one (the filter may not be deleted meanwhile)."""
    filter_arn = job.doc.get("filterArn")
    if not filter_arn:
        return None
    resource = services.resources.find(filter_arn)
    if resource is None or resource.kind != "filter":
        raise BatchJobFailed(f"filterArn: filter {filter_arn} no longer exists.")
    expression: str = resource.doc["filterExpression"]
    return expression


def step_actions(
    step_prefix: str,
    kind: BatchJobKind,
    configure: Callable[[Services, Resource, Resource, str], dict[str, Any]],
) -> dict[str, Callable[[Services, dict[str, Any]], dict[str, Any]]]:
    """The kind's three workflow steps (``<step_prefix>.prepare`` / ``.publish`` /
    ``.record_failure``, as picks.workflows.declaration names them) for the workflow-steps handler."""

    def prepare_step(services: Services, state: dict[str, Any]) -> dict[str, Any]:
        return prepare(services, state, kind, configure)

    def publish_step(services: Services, state: dict[str, Any]) -> dict[str, Any]:
        return publish(services, state, kind)

    def record_failure_step(services: Services, state: dict[str, Any]) -> dict[str, Any]:
        return record_failure(services, state, kind)

    return {
        f"{step_prefix}.prepare": prepare_step,
        f"{step_prefix}.publish": publish_step,
        f"{step_prefix}.record_failure": record_failure_step,
    }
