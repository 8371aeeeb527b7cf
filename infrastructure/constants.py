"""Names, paths, sizes and context keys of the picks CDK app, in one place."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
LAYER_DIR = REPO_ROOT / "layers" / "picks"  # holds python/picks (first party) and requirements.txt
LAYER_REQUIREMENTS = LAYER_DIR / "requirements.txt"
LIBRARY_DIR = LAYER_DIR / "python" / "picks"  # the first-party package itself
TRAINING_DIR = REPO_ROOT / "training"  # the training package (entry point: training.train.main)
TRAINING_REQUIREMENTS = TRAINING_DIR / "requirements.txt"  # pip-installed by the container, not by synth
CDK_JSON = REPO_ROOT / "cdk.json"

STACK_ID = "Picks"
SERVICE_NAME = "picks"
METRICS_NAMESPACE = "picks"
API_STAGE = "v1"

# Context keys (``cdk synth -c key=value``; defaults live in cdk.json).
CONTEXT_OFFLINE_DEPENDENCIES = "picks:offlineDependencies"
CONTEXT_LOG_LEVEL = "picks:logLevel"
DEFAULT_LOG_LEVEL = "INFO"
CONTEXT_TRAINING_IMAGE = "picks:trainingImage"
# Buckets picks may read import sources from with its own role (comma-separated names); any other bucket
# is read only as the roleArn the caller names. The stack's own data bucket is always trusted.
CONTEXT_TRUSTED_BUCKETS = "picks:trustedBuckets"
# AWS Deep Learning Containers, PyTorch training for SageMaker (script mode), GPU build with Python 3.12: it
# also runs on CPU instances, and torch is preinstalled. ${AWS::Region}/${AWS::URLSuffix} become the stack's
# region and domain; 763104351884 hosts the DLCs in most commercial regions (docs/deploy.md: Training).
DEFAULT_TRAINING_IMAGE = (
    "763104351884.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/"
    "pytorch-training:2.9.0-gpu-py312-cu130-ubuntu22.04-sagemaker"
)

# The numpy pinned in requirements.txt ships manylinux_2_27/2_28 wheels only; Lambda's python3.11
# runtime is Amazon Linux 2 (glibc 2.26), python3.12 is Amazon Linux 2023 (glibc 2.34).
LAMBDA_PYTHON_VERSION = "3.12"
# pip's --platform values for the bundled wheels: newest first, older tags for pure-ish wheels.
LAMBDA_WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")

# Which functions get what beyond the defaults (read/write on the table and the data bucket).
# Keys are picks.routes.FUNCTIONS names; the stack rejects unknown ones at synth time.
READ_ONLY_FUNCTIONS = frozenset({"runtime"})  # serving reads models and resources, never writes
# states:StartExecution + PICKS_WORKFLOWS. workflow_steps: a version that becomes ACTIVE redeploys the
# campaigns following the latest one; scheduler: automatic training and updates. A synth test derives
# the functions whose code starts workflows and checks each is here.
WORKFLOW_STARTERS = frozenset({"control_plane", "s3_drop", "workflow_steps", "scheduler"})
# Functions that never touch the data bucket: the resources table only (scheduler reads solutions and
# versions and records versions and updates; the workflows it starts do the data work).
TABLE_ONLY_FUNCTIONS = frozenset({"scheduler"})
# Act on users' buckets (picks.user_buckets): sts:AssumeRole on the account's roles, to use the roleArn
# a job names, and read access to the trusted buckets.
USER_BUCKET_USERS = frozenset({"workflow_steps"})
# sagemaker:StopTrainingJob + PICKS_TRAINING_JOBS (StopSolutionVersionCreation stops the running job).
TRAINING_JOB_STOPPERS = frozenset({"control_plane"})
TRAINING_JOBS_BACKEND = "sagemaker"  # the value of PICKS_TRAINING_JOBS on AWS
# The real-time events table (picks.dal.event_store) is granted separately; a function in neither set gets
# no access to it. PutEvents is one TransactWriteItems of conditional Puts: IAM has no TransactWriteItems
# action and authorizes each Put as dynamodb:PutItem (a ConditionCheck as dynamodb:ConditionCheckItem),
# both part of the read/write grant.
EVENTS_TABLE_WRITERS = frozenset({"events"})  # PutEvents/PutActionInteractions, PutItems/PutUsers/PutActions
# runtime: the per-user recent history (Query, ConsistentRead) and a group's latest events for trending
# (byGroup index); workflow_steps: training exports the events through byGroup and reads the PutItems/
# PutUsers/PutActions records. control_plane and s3_drop get nothing: event trackers are items of the
# resources table, and no control-plane operation reads or deletes events (DeleteEventTracker keeps them).
EVENTS_TABLE_READERS = frozenset({"runtime", "workflow_steps"})
# The DynamoDB operations picks issues on the events table (picks.dal.event_store and
# picks.dal.metadata; a test keeps the two in step), for its ThrottledRequests/SystemErrors alarms:
# names of aws_dynamodb.Operation, one metric each, and an alarm may use at most 10 metrics.
EVENTS_TABLE_OPERATIONS = ("QUERY", "BATCH_GET_ITEM", "TRANSACT_WRITE_ITEMS")

# SageMaker script mode: the source archive (sagemaker_submit_directory) and its entry script
# (sagemaker_program), which the container runs from the archive's root.
TRAINING_SOURCE_ARCHIVE = "sourcedir.tar.gz"
TRAINING_ENTRY_POINT = "train.py"
TRAINING_INSTANCE_COUNT = 1  # the recipes train on one machine
TRAINING_VOLUME_GIB = 50  # the channel is copied to the volume (File mode), next to the model being written
TRAINING_MAX_RUNTIME_S = 24 * 3600
# Where SageMaker training jobs log; shared by every job of the account and region, created by SageMaker.
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRAINING_METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"  # instance and algorithm metrics of the jobs

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_MAX_ID_LENGTH = 64


def construct_id(*parts: str) -> str:
    """A PascalCase construct id from declaration names: ``("control_plane", "Fn")`` -> ``ControlPlaneFn``.

    CloudFormation logical ids are alphanumeric and at most 255 characters, but resource names derived
    from them (log groups, roles) are shorter; 64 keeps every derived name within limits.
    """
    words = [w for part in parts for w in _NON_ALNUM.split(part) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        raise ValueError(f"no usable characters in {parts!r}")
    if len(name) > _MAX_ID_LENGTH:
        raise ValueError(f"construct id {name!r} is longer than {_MAX_ID_LENGTH} characters")
    return name
