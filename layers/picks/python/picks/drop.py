"""S3 drop imports: ``s3://<picks bucket>/drop/<dataset group name>/<DATASET_TYPE>/<file>.csv``.

Writing an object there starts an INCREMENTAL import into that dataset (on
AWS via S3 → EventBridge → the s3_drop Lambda; in the emulator when its S3
receives the object).  If the dataset already has an import running the
caller gets ResourceInUseException and must retry later, so no drop is lost.

EventBridge delivers an event at least once, so the import job is named after the object write
itself (key, version id, and the event's sequencer, or else the ETag), not after the time it is
handled: a redelivered event finds its job already there and is done, it never imports twice.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from picks.controlplane.common import arn_for
from picks.controlplane.import_jobs import KIND as IMPORT_JOB_KIND
from picks.controlplane.import_jobs import start_import
from picks.dataset_schema import DATASET_TYPES
from picks.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from picks.observability import logger
from picks.workflows.declaration import DROP_PREFIX

if TYPE_CHECKING:
    from picks.services import Services


def parse_drop_key(key: str) -> tuple[str, str] | None:
    """(dataset group name, dataset type) for a key under the drop prefix, else None."""
    if not key.startswith(DROP_PREFIX) or key.endswith("/"):
        return None
    parts = key[len(DROP_PREFIX) :].split("/")
    if len(parts) < 3 or parts[1].upper() not in DATASET_TYPES:
        return None
    return parts[0], parts[1].upper()


def drop_job_name(
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    sequencer: str | None = None,
    etag: str | None = None,
) -> str:
    """The import job for one write of ``s3://bucket/key``: the same for every delivery of its
    event, another for the next write of the key (a new sequencer or version, else a new ETag)."""
    identity = "\n".join([bucket, key, version_id or "", sequencer or etag or ""])
    return f"drop-{hashlib.sha256(identity.encode()).hexdigest()[:32]}"


def import_dropped_object(
    services: Services,
    bucket: str,
    key: str,
    *,
    etag: str | None = None,
    version_id: str | None = None,
    sequencer: str | None = None,
) -> dict[str, Any]:
    target = parse_drop_key(key)
    if target is None or bucket != services.settings.bucket_name:
        logger.warning("ignoring object outside the drop layout", extra={"bucket": bucket, "key": key})
        return {"status": "IGNORED", "reason": f"s3://{bucket}/{key} is not drop/<group>/<TYPE>/<file>"}
    group_name, dataset_type = target
    dataset_arn = arn_for(services, "dataset", f"{group_name}/{dataset_type}")
    job_name = drop_job_name(bucket, key, version_id=version_id, sequencer=sequencer, etag=etag)
    existing = services.resources.find(arn_for(services, IMPORT_JOB_KIND, job_name))
    if existing is not None:
        return _already_started(existing.arn, key)
    try:
        job_arn = start_import(
            services,
            job_name=job_name,
            dataset_arn=dataset_arn,
            data_location=f"s3://{bucket}/{key}",
            import_mode="INCREMENTAL",
        )
    except ResourceAlreadyExistsException:
        # A concurrent delivery of the same event created it first.
        return _already_started(arn_for(services, IMPORT_JOB_KIND, job_name), key)
    except ResourceNotFoundException as error:
        # Retrying cannot help; the object stays in S3 for a later, explicit import.
        logger.error("drop for a dataset that does not exist", extra={"key": key, "reason": error.message})
        return {"status": "IGNORED", "reason": error.message}
    logger.info("started drop import", extra={"job": job_arn, "key": key})
    return {"status": "STARTED", "datasetImportJobArn": job_arn}


def _already_started(job_arn: str, key: str) -> dict[str, Any]:
    logger.info("drop already imported: a redelivered event", extra={"job": job_arn, "key": key})
    return {"status": "ALREADY_STARTED", "datasetImportJobArn": job_arn}
