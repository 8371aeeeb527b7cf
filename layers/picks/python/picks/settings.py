"""Settings read once from the environment (Lambda) or passed explicitly (emulator, tests)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_ACCOUNT = "000000000000"
# SigV4's credential scope, in the Authorization header
# ("AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request, ...") or the same
# in a presigned URL's (URL-decoded) X-Amz-Credential parameter.
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s&]+/[0-9]{8}/([^/,\s&]+)/([^/,\s&]+)/aws4_request")
_REGION = re.compile(r"[a-z0-9-]+")


@dataclass(frozen=True)
class Settings:
    region: str
    account: str
    table_name: str
    bucket_name: str
    events_table_name: str = "picks-events"
    workflow_arns: dict[str, str] = field(default_factory=dict)
    training_jobs: str | None = None  # "sagemaker" where StopSolutionVersionCreation stops SageMaker jobs
    # Buckets besides ``bucket_name`` that picks reads with its own role (import sources the operator
    # chose to trust when deploying); any other bucket is read only as the caller's roleArn.
    trusted_buckets: tuple[str, ...] = ()
    # Quotas from the Personalize developer guide's limits page (defaults, per account and region).
    max_dataset_groups: int = 500
    max_schemas: int = 500
    max_tags_per_resource: int = 50
    # Per dataset group.
    max_solutions_per_group: int = 10
    max_campaigns_per_group: int = 5
    max_recommenders_per_group: int = 5
    # Filters (current guide: "30 filters per dataset group"; "The maximum number of distinct dataset
    # fields for a filter ... is 10. The maximum number of distinct dataset fields across all filters
    # in a dataset group is 20").
    max_filters_per_group: int = 30
    max_fields_per_filter: int = 10
    max_filter_fields_per_group: int = 20
    # Batch inference (limits page: "Total number of pending or in progress batch inference jobs: 5",
    # "Maximum number of input files in a batch inference job: 1000", "Maximum size of batch
    # inference job input: 1 GB", "Maximum number of records per input file: 50 million").
    max_batch_inference_jobs: int = 5
    max_batch_input_files: int = 1000
    max_batch_input_bytes: int = 1 << 30
    max_batch_records_per_file: int = 50_000_000
    # Batch segment jobs (limits page: "Total number of pending or in progress batch segment jobs: 5",
    # "Maximum number of queries per input file for Item-Affinity recipe: 500", "... for
    # Item-Attribute-Affinity recipe: 10"; their input files and size follow the batch quotas above).
    max_batch_segment_jobs: int = 5
    max_item_affinity_queries: int = 500
    max_item_attribute_affinity_queries: int = 10
    # Dataset imports whose source objects total more bytes than this run as a job on the training
    # runner (SageMaker, a subprocess locally) instead of inside the workflow-steps Lambda, whose
    # 15-minute ceiling and memory would cap them (docs/architecture.md, "An import").
    max_lambda_import_bytes: int = 256 << 20

    @classmethod
    def quotas_from_environment(cls) -> dict[str, Any]:
        """Every ``max_*`` setting given as ``PICKS_MAX_...`` in the environment (the emulator reads
        them too)."""
        return {
            name: int(os.environ[f"PICKS_{name.upper()}"])
            for name, spec in cls.__dataclass_fields__.items()
            if name.startswith("max_") and spec.type in ("int", int) and f"PICKS_{name.upper()}" in os.environ
        }

    @classmethod
    def from_environment(cls, account: str | None = None) -> Settings:
        # Every quota can be raised without a code change: PICKS_MAX_FILTERS_PER_GROUP=60, etc.
        return cls(
            **cls.quotas_from_environment(),
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            account=account or os.environ.get("PICKS_ACCOUNT", DEFAULT_ACCOUNT),
            table_name=os.environ["PICKS_TABLE"],
            bucket_name=os.environ["PICKS_BUCKET"],
            events_table_name=os.environ.get("PICKS_EVENTS_TABLE", "picks-events"),
            workflow_arns=json.loads(os.environ.get("PICKS_WORKFLOWS", "{}")),
            training_jobs=os.environ.get("PICKS_TRAINING_JOBS"),
            trusted_buckets=tuple(json.loads(os.environ.get("PICKS_TRUSTED_BUCKETS", "[]"))),
        )

    def trusts(self, bucket: str) -> bool:
        """Whether picks reads ``bucket`` with its own role: its own bucket, or one the stack trusts."""
        return bucket == self.bucket_name or bucket in self.trusted_buckets

    def in_region(self, region: str) -> Settings:
        return self if region == self.region else replace(self, region=region)


def region_of_request(authorization: str | None) -> str | None:
    """The region a SigV4-signed request was signed for (its credential scope), or None if unsigned.

    On AWS, API Gateway only lets through requests signed for its own region, so this is the deployed
    region; the emulator serves every region on one port and tells them apart by it.
    """
    scope = credential_scope(authorization)
    return scope[0] if scope is not None and _REGION.fullmatch(scope[0]) else None


def credential_scope(signed: str | None) -> tuple[str, str] | None:
    """(region, service) of the SigV4 credential scope in ``signed`` (an Authorization header or a
    URL-decoded query string), or None if it has none."""
    match = _CREDENTIAL_SCOPE.search(signed or "")
    return (match.group(1), match.group(2)) if match else None
