"""What a ``TrainingStep`` receives and returns, shared by Step Functions (CDK) and the local runner.

The Prepare step puts a ``TrainingRequest`` (as a dict, see ``to_state``) at ``state["training"]``:

* ``jobName``       SageMaker training job name (``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``)
* ``instanceType``  e.g. ``ml.m5.xlarge`` (chosen from the data size and the recipe)
* ``inputUri``      ``s3://<picks bucket>/training-input/<jobName>/``: the one ``train`` channel,
                    holding ``config.json`` and one columnar table folder per dataset
* ``outputUri``     ``s3://<picks bucket>/training-output/``; the job uploads the files of its
                    model directory, uncompressed (``OutputDataConfig.CompressionType``
                    ``NONE``), under ``<outputUri><jobName>/output/model/``
* ``maxRuntimeSeconds``

The step stores the job's description at ``state["trainingJob"]``, in the shape of SageMaker's
DescribeTrainingJob (the ``.sync`` integration's output); picks reads only ``TrainingJobName``,
``TrainingJobStatus``, ``FailureReason`` and ``ModelArtifacts.S3ModelArtifacts``: the prefix of the
uploaded files (with or without a trailing ``/``), or, for a job run with SageMaker's default
(GZIP) output, the ``model.tar.gz`` holding them (``is_archive``).

Inside the job, the SageMaker training contract (``SM_MODEL_DIR``, ``SM_CHANNEL_TRAIN``,
``SM_OUTPUT_DIR``, ``/opt/ml/output/failure``) is the only interface; see ``training/train.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

CHANNEL = "train"
CONFIG_FILE = "config.json"  # inside the channel: recipe, solution config, training mode
# OutputDataConfig.CompressionType: the model directory's files are uploaded one by one, as they
# are, so the Register step can serve them where they are instead of unpacking an archive.
OUTPUT_COMPRESSION = "NONE"
MODEL_OUTPUT = "model/"  # under <outputUri><jobName>/output/ with OUTPUT_COMPRESSION "NONE"
MODEL_ARCHIVE = "model.tar.gz"  # SageMaker's default (GZIP) output


@dataclass(frozen=True)
class TrainingRequest:
    jobName: str  # noqa: N815 - state keys match the Step Functions paths CDK uses
    instanceType: str  # noqa: N815
    inputUri: str  # noqa: N815
    outputUri: str  # noqa: N815
    maxRuntimeSeconds: int = 24 * 3600  # noqa: N815

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, value: dict[str, Any]) -> TrainingRequest:
        return cls(**{key: value[key] for key in cls.__dataclass_fields__ if key in value})

    @property
    def model_artifacts_uri(self) -> str:
        """Where the job's model files go (``S3ModelArtifacts`` of an uncompressed-output job)."""
        return f"{self.outputUri.rstrip('/')}/{self.jobName}/output/{MODEL_OUTPUT}"


def unique_job_name(kind: str, name: str) -> str:
    """A SageMaker job name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``) for a ``kind`` of job on the
    resource named ``name``, unique per run."""
    stem = "".join(c if c.isalnum() else "-" for c in name).strip("-")[:40] or "job"
    return f"picks-{kind}-{stem}-{uuid.uuid4().hex[:8]}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key), for the URIs of this contract (the importer checks a
    user's data location itself: ``picks.ingest.importer.parse_s3_uri``)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def model_artifacts_uri(job: dict[str, Any]) -> str:
    """``ModelArtifacts.S3ModelArtifacts`` of a DescribeTrainingJob-shaped result."""
    uri: str = job["ModelArtifacts"]["S3ModelArtifacts"]
    return uri


def is_archive(uri: str) -> bool:
    """Whether ``S3ModelArtifacts`` names one archive (GZIP output) rather than a prefix of files."""
    return uri.endswith((".tar.gz", ".tar"))


def copy_object(s3: Any, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
    """One server-side CopyObject (staging a channel, publishing a job's output); boto3's managed
    copy, a multipart copy of ranges, only for a source past CopyObject's 5 GB limit."""
    try:
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key})
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "InvalidRequest":
            raise
        s3.copy({"Bucket": source_bucket, "Key": source_key}, bucket, key)
