"""Steps of the DatasetImport workflow (declared in ``declaration.DATASET_IMPORT``).

``ingest`` validates the whole source before writing, writes the columnar
table under a new prefix, then repoints the dataset at it; a bad file ends the
job CREATE FAILED with the line and column and leaves the dataset's previous
data in place.  The source is read as the job's roleArn unless picks trusts its
bucket (``picks.user_buckets``); a role picks cannot assume, or one that may not
read the source, fails the job the same way.  ``record_failure`` handles
anything unexpected (the Catch).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from picks import arns, user_buckets
from picks.domain.queries import dataset_schema
from picks.domain.resources import TableRef
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, IN_PROGRESS_STATES
from picks.errors import excerpt
from picks.ingest.csv_reader import ImportValidationError
from picks.ingest.importer import parse_s3_uri, run_import
from picks.workflows.failures import failure_reason

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

JOB = "Dataset import job"


def _set_status(services: Services, job_arn: str, status: str, reason: str | None = None) -> Resource:
    def apply(job: Resource) -> None:
        job.doc["status"] = status
        job.doc["lastUpdatedDateTime"] = services.clock()
        if reason is not None:
            job.doc["failureReason"] = reason

    return services.resources.update(job_arn, apply, what=JOB)


def ingest(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    region = arns.parse(state["datasetImportJobArn"]).region
    services = services.in_region(region)
    job = _set_status(services, state["datasetImportJobArn"], CREATE_IN_PROGRESS)
    dataset = services.resources.get(job.doc["datasetArn"], what="Dataset")
    schema = dataset_schema(services, dataset)
    dataset_type = dataset.doc["datasetType"]
    group_name = arns.parse(dataset.doc["datasetGroupArn"]).path
    destination = f"datasets/{group_name}/{dataset_type}/{job.doc['jobName']}-{uuid.uuid4().hex[:8]}/"
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
        result = run_import(
            services.s3,
            source_s3=source_s3,
            source_role=None if source_s3 is services.s3 else role_arn,
            data_location=location,
            bucket=services.settings.bucket_name,
            dest_prefix=destination,
            schema=schema,
            dataset_type=dataset_type,
            mode=job.doc.get("importMode") or "FULL",
            previous_prefix=dataset.dataset_state.data_prefix,
        )
    except (ImportValidationError, user_buckets.BucketAccessError) as error:
        _set_status(services, job.arn, CREATE_FAILED, str(error))
        return {**state, "status": CREATE_FAILED}

    def repoint(resource: Resource) -> None:
        resource.dataset_state.data = TableRef(result.prefix, result.row_count, job.arn)
        resource.doc["lastUpdatedDateTime"] = services.clock()

    services.resources.update(dataset.arn, repoint, what="Dataset")
    _set_status(services, job.arn, ACTIVE)
    return {**state, "status": ACTIVE, "rowCount": result.row_count}


def record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    error = state.get("error") or {}
    # The error's name and the start of its message; never a stack trace or a whole message quoting data.
    name, _, message = failure_reason(error).partition(": ")
    reason = f"Internal error while importing: {name}: {excerpt(message)}".strip()
    job = services.resources.find(state["datasetImportJobArn"])
    if job is not None and job.doc.get("status") in IN_PROGRESS_STATES:
        _set_status(services, job.arn, CREATE_FAILED, reason)
    return {**state, "status": CREATE_FAILED}


ACTIONS = {"dataset_import.ingest": ingest, "dataset_import.record_failure": record_failure}
