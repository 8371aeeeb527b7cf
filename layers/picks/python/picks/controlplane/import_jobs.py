"""CreateDatasetImportJob / DescribeDatasetImportJob / ListDatasetImportJobs.

Creating a job records it as CREATE PENDING and starts the DatasetImport
workflow; the workflow's steps (``picks.workflows.dataset_import``) move it to
ACTIVE or CREATE FAILED.  If the workflow cannot be started the job record is
removed and the caller gets an error, so no job is left pending forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks import user_buckets
from picks.controlplane import datasets
from picks.controlplane.common import arn_for, list_page, new_resource
from picks.controlplane.registry import operation
from picks.domain.states import CREATE_PENDING
from picks.errors import InvalidInputException, ResourceInUseException, excerpt
from picks.workflows.declaration import DATASET_IMPORT

if TYPE_CHECKING:
    from picks.services import Services

KIND = "dataset-import-job"
WHAT = "Dataset import job"
IMPORT_MODES = ("FULL", "INCREMENTAL")


def start_import(
    services: Services,
    *,
    job_name: str,
    dataset_arn: str,
    data_location: str,
    import_mode: str = "FULL",
    role_arn: str | None = None,
    tags: list[dict[str, str]] | None = None,
    publish_attribution: bool | None = None,
) -> str:
    dataset = services.resources.get(dataset_arn, what=datasets.WHAT, kind=datasets.KIND)
    source_bucket = data_location[len("s3://") :].partition("/")[0]
    if not data_location.startswith("s3://") or not source_bucket:
        raise InvalidInputException(
            f"dataSource.dataLocation: '{excerpt(data_location)}' must be an s3://bucket/key or "
            "s3://bucket/folder/ location."
        )
    user_buckets.check_access(services.settings, source_bucket, role_arn)
    busy = datasets.in_progress_import(services, dataset.arn)
    if busy is not None:
        raise ResourceInUseException(
            f"datasetArn: import job {busy.arn} is still in progress for {dataset.arn}."
        )
    arn = arn_for(services, KIND, job_name)
    doc = {
        "jobName": job_name,
        "datasetImportJobArn": arn,
        "datasetArn": dataset.arn,
        "dataSource": {"dataLocation": data_location},
        "roleArn": role_arn,
        "status": CREATE_PENDING,
        "importMode": import_mode,
        "publishAttributionMetricsToS3": publish_attribution,
    }
    services.resources.create(
        new_resource(services, KIND, arn, doc, parent=dataset.arn, tags=tags), what=WHAT
    )
    try:
        services.workflows.start(DATASET_IMPORT.name, job_name, {"datasetImportJobArn": arn})
    except Exception:
        services.resources.delete(arn)
        raise
    return arn


@operation("CreateDatasetImportJob")
def create_dataset_import_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    location = params["dataSource"].get("dataLocation")
    if not location:
        raise InvalidInputException("dataSource.dataLocation: an S3 location is required.")
    arn = start_import(
        services,
        job_name=params["jobName"],
        dataset_arn=params["datasetArn"],
        data_location=location,
        import_mode=params.get("importMode", "FULL"),
        role_arn=params.get("roleArn"),
        tags=params.get("tags"),
        publish_attribution=params.get("publishAttributionMetricsToS3"),
    )
    return {"datasetImportJobArn": arn}


@operation("DescribeDatasetImportJob")
def describe_dataset_import_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    job = services.resources.get(params["datasetImportJobArn"], what=WHAT, kind=KIND)
    return {"datasetImportJob": job.to_wire()}


@operation("ListDatasetImportJobs")
def list_dataset_import_jobs(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("datasetArn")
    if parent:
        services.resources.get(parent, what=datasets.WHAT, kind=datasets.KIND)
    fields = (
        "datasetImportJobArn",
        "jobName",
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
        "failureReason",
        "importMode",
    )
    page, token = list_page(services, params, kind=KIND, fields=fields, parent=parent)
    return {"datasetImportJobs": page, "nextToken": token}
