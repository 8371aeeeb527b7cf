"""After a restart: jobs the previous server was running end as Personalize ends a failed job.

A dataset import, a solution version's training (or its model's automatic update), a campaign
deployment, a batch job, or a recommender's training, status change or maintenance that was pending
or in progress when the server stopped has no workflow running it any more.  Each is handed to its
workflow's own failure step (``on_failure`` in ``picks.workflows.declaration``, the state machine's
Catch) with an ``Interrupted`` error, so it ends CREATE FAILED (a version being stopped: CREATE
STOPPED) with a failureReason saying why, exactly as if its step had failed; the caller creates it
again.  Nothing here runs on AWS, where Step Functions carries an execution through.

An object written under ``drop/`` whose "Object Created" event the previous server acknowledged
but never delivered (it stopped first, or the import it started was interrupted) is delivered
again, as EventBridge delivers at least once: its import starts now instead of never.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane import (
    batch_inference_jobs,
    batch_segment_jobs,
    campaigns,
    import_jobs,
    solution_versions,
)
from picks.domain.resources import RECOMMENDER_KIND, RECOMMENDER_UPDATE
from picks.domain.states import (
    BATCH_RUNNING_STATES,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    DELETE_PENDING,
    IN_PROGRESS_STATES,
    START_IN_PROGRESS,
    START_PENDING,
    STOP_IN_PROGRESS,
    STOP_PENDING,
    VERSION_BUSY_STATES,
)
from picks.workflows import recommender as recommender_workflow
from picks.workflows.declaration import (
    BATCH_INFERENCE,
    BATCH_SEGMENT,
    CAMPAIGN_DEPLOYMENT,
    DATASET_IMPORT,
    RECOMMENDER_STATUS_CHANGE,
    RECOMMENDER_TRAINING,
    SOLUTION_VERSION_TRAINING,
    SOLUTION_VERSION_UPDATE,
    TRIGGERS,
    Workflow,
)

from emulator.lambda_bridge import invoke
from emulator.training_jobs import INTERRUPTED_REASON

if TYPE_CHECKING:
    from picks.services import Services

INTERRUPTED = {"Error": "Interrupted", "Cause": INTERRUPTED_REASON.removeprefix("interrupted: ")}


def _fail(workflow: Workflow, state: dict[str, Any]) -> None:
    step = workflow.on_failure
    invoke(step.function, step.payload({**state, "error": INTERRUPTED}))


def end_interrupted_jobs(services: Services) -> list[str]:
    """Fail every job left pending or in progress; returns their ARNs."""
    ended: list[str] = []
    for job in services.resources.list(import_jobs.KIND):
        if job.doc.get("status") in IN_PROGRESS_STATES:
            _fail(DATASET_IMPORT, {"datasetImportJobArn": job.arn})
            ended.append(job.arn)
    for version in services.resources.list(solution_versions.KIND):
        if version.doc.get("status") in VERSION_BUSY_STATES:
            _fail(SOLUTION_VERSION_TRAINING, {"solutionVersionArn": version.arn})
            ended.append(version.arn)
        running = [u.job_name for u in version.version_state.updates if u.status == CREATE_IN_PROGRESS]
        for job_name in running:  # an automatic update of its model: the version keeps its model
            _fail(SOLUTION_VERSION_UPDATE, {"solutionVersionArn": version.arn, "jobName": job_name})
            ended.append(version.arn)
    for campaign in services.resources.list(campaigns.KIND):
        update = campaign.doc.get("latestCampaignUpdate") or {}
        if campaign.doc.get("status") in IN_PROGRESS_STATES:
            _fail(CAMPAIGN_DEPLOYMENT, {"campaignArn": campaign.arn})
            ended.append(campaign.arn)
        elif update.get("status") in IN_PROGRESS_STATES:
            _fail(CAMPAIGN_DEPLOYMENT, {"campaignArn": campaign.arn, "update": True})
            ended.append(campaign.arn)
    return ended + _end_interrupted_batch_jobs(services) + _end_interrupted_recommenders(services)


# Each batch job kind: its resources, its workflow, and the workflow state's key for the job's ARN.
BATCH_JOBS = (
    (batch_inference_jobs.JOBS.kind, BATCH_INFERENCE, "batchInferenceJobArn"),
    (batch_segment_jobs.JOBS.kind, BATCH_SEGMENT, "batchSegmentJobArn"),
)


def _end_interrupted_batch_jobs(services: Services) -> list[str]:
    ended: list[str] = []
    for kind, workflow, key in BATCH_JOBS:
        for job in services.resources.list(kind):
            if job.doc.get("status") in BATCH_RUNNING_STATES:
                _fail(workflow, {key: job.arn})
                ended.append(job.arn)
    return ended


def undelivered_drops(services: Services) -> list[tuple[str, dict[str, Any]]]:
    """(key, the event's ``object`` detail) of every object under a drop prefix of picks' bucket
    that no import job has read since it was written, but for jobs ended as interrupted."""
    bucket = services.settings.bucket_name
    imported: dict[str, float] = {}  # s3://bucket/key -> newest creation of a job that read it
    for job in services.resources.list(import_jobs.KIND):
        if INTERRUPTED_REASON.removeprefix("interrupted: ") in (job.doc.get("failureReason") or ""):
            continue
        location = (job.doc.get("dataSource") or {}).get("dataLocation", "")
        created = float(job.doc.get("creationDateTime") or 0)
        imported[location] = max(created, imported.get(location, 0.0))
    pending: list[tuple[str, dict[str, Any]]] = []
    paginator = services.s3.get_paginator("list_objects_v2")
    for trigger in TRIGGERS:
        for page in paginator.paginate(Bucket=bucket, Prefix=trigger.prefix):
            for entry in page.get("Contents", []):
                written = entry["LastModified"].timestamp()
                # S3 keeps whole seconds of LastModified; a job created in that second counts.
                if imported.get(f"s3://{bucket}/{entry['Key']}", -1.0) >= int(written):
                    continue
                pending.append((entry["Key"], {"etag": entry["ETag"].strip('"'), "size": entry["Size"]}))
    return pending


# A recommender's pending or running status change, by status: the change its workflow was making.
RECOMMENDER_CHANGES = {
    STOP_PENDING: "stop",
    STOP_IN_PROGRESS: "stop",
    START_PENDING: "start",
    START_IN_PROGRESS: "start",
    DELETE_PENDING: "delete",
}


def _end_interrupted_recommenders(services: Services) -> list[str]:
    """A recommender's creation, UpdateRecommender training, status change or maintenance job
    that no workflow runs any more ends as its workflow's Catch ends it."""
    ended: list[str] = []
    for recommender in services.resources.list(RECOMMENDER_KIND):
        key = {"recommenderArn": recommender.arn}
        status = recommender.doc.get("status")
        interrupted = [
            (
                RECOMMENDER_TRAINING,
                {**key, "purpose": recommender_workflow.MAINTAIN, "jobName": update.job_name},
            )
            for update in recommender.recommender_state.maintenance  # the model it serves stays
            if update.status == CREATE_IN_PROGRESS
        ]
        if status in (CREATE_PENDING, CREATE_IN_PROGRESS):
            interrupted.append((RECOMMENDER_TRAINING, {**key, "purpose": recommender_workflow.CREATE}))
        elif status in RECOMMENDER_CHANGES:
            interrupted.append((RECOMMENDER_STATUS_CHANGE, {**key, "change": RECOMMENDER_CHANGES[status]}))
        elif (recommender.doc.get(RECOMMENDER_UPDATE) or {}).get("status") in IN_PROGRESS_STATES:
            interrupted.append((RECOMMENDER_TRAINING, {**key, "purpose": recommender_workflow.UPDATE}))
        for workflow, state in interrupted:
            _fail(workflow, state)
        if interrupted:
            ended.append(recommender.arn)
    return ended
