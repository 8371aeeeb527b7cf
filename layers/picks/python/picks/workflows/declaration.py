"""The one declaration of picks' workflows, event triggers and schedules.

CDK turns each ``Workflow`` into a Step Functions state machine: a ``Step`` is a LambdaInvoke task,
a ``TrainingStep`` a SageMaker CreateTrainingJob task (``.sync``); every task has a Catch routing
to ``on_failure``.  The emulator's ``LocalWorkflowRunner`` walks the same steps in a background
thread: it invokes the same Lambda handler with the same payload, and runs a ``TrainingStep`` as a
subprocess of the same training entry point under the SageMaker contract
(``emulator.training_jobs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    name: str  # state name in Step Functions
    function: str  # picks.routes.FUNCTIONS key
    action: str  # dispatched inside the function

    def payload(self, state: dict[str, Any]) -> dict[str, Any]:
        """The event a step's Lambda receives (the state machine builds the same shape)."""
        return {"action": self.action, "input": state}


@dataclass(frozen=True)
class TrainingStep:
    """A training job following the SageMaker training contract.

    The state entering it carries ``state[request_key]`` (see ``TrainingRequest``); the job's
    description is stored at ``state[result_key]`` with ``ModelArtifacts.S3ModelArtifacts`` (the
    prefix SageMaker uploads the model dir's files under, uncompressed: ``CompressionType NONE``),
    exactly as the Step Functions ``.sync`` integration does.
    """

    name: str
    request_key: str = "training"
    result_key: str = "trainingJob"
    # When set, a state without ``request_key`` ends the workflow here, successfully: the steps
    # before did the whole job (a small import, done in the Lambda step). Step Functions: a Choice.
    ends_without_request: bool = False

    def skipped(self, state: dict[str, Any]) -> bool:
        """Whether the workflow ends before this step (the state asks for no job)."""
        return self.ends_without_request and self.request_key not in state


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step | TrainingStep, ...]
    on_failure: Step
    timeout_s: int = 3600


@dataclass(frozen=True)
class Schedule:
    """``function`` invoked every ``every_minutes`` with ``{"action": action, "input": {}}``: an
    EventBridge Scheduler schedule on AWS, the emulator's ticker locally (on its clock)."""

    name: str
    function: str
    action: str
    every_minutes: int

    def payload(self) -> dict[str, Any]:
        return {"action": self.action, "input": {}}


@dataclass(frozen=True)
class ObjectCreatedTrigger:
    """An object written under ``prefix`` in the picks data bucket invokes ``function``."""

    prefix: str
    function: str


# Where training jobs read their one input channel and write their model files, in the picks bucket.
TRAINING_INPUT_PREFIX = "training-input/"
TRAINING_OUTPUT_PREFIX = "training-output/"
# The single SageMaker input channel; it holds config.json plus one folder per table.
TRAINING_CHANNEL = "train"

# Ingest: a source up to Settings.max_lambda_import_bytes is imported in the step itself and the
# workflow ends there; a larger one is staged (read as the job's roleArn) for Import, the same
# entry point as training (config.json "task": "import"), and Publish stores its table and
# repoints the dataset.
DATASET_IMPORT = Workflow(
    name="DatasetImport",
    steps=(
        Step("Ingest", "workflow_steps", "dataset_import.ingest"),
        TrainingStep("Import", ends_without_request=True),
        Step("Publish", "workflow_steps", "dataset_import.publish"),
    ),
    on_failure=Step("RecordFailure", "workflow_steps", "dataset_import.record_failure"),
    # Longer than the job's own 24 h limit, so a job that runs out of time still reaches RecordFailure.
    timeout_s=25 * 3600,
)

# Prepare: stage the datasets as the job's channel and choose the instance; Train: the SageMaker
# job (fit, holdout evaluation, artifact); Register: publish the numpy artifact and metrics and
# make the version ACTIVE.
SOLUTION_VERSION_TRAINING = Workflow(
    name="SolutionVersionTraining",
    steps=(
        Step("Prepare", "workflow_steps", "solution_version.prepare"),
        TrainingStep("Train"),
        Step("Register", "workflow_steps", "solution_version.register"),
    ),
    on_failure=Step("RecordFailure", "workflow_steps", "solution_version.record_failure"),
    # Longer than the job's own 24 h limit, so a job that runs out of time still reaches RecordFailure.
    timeout_s=25 * 3600,
)

# The automatic update of a version's model in place (picks.workflows.model_update): the same
# staging and training job as a trainingMode UPDATE version, published as the version's model.
SOLUTION_VERSION_UPDATE = Workflow(
    name="SolutionVersionUpdate",
    steps=(
        Step("Prepare", "workflow_steps", "model_update.prepare"),
        TrainingStep("Train"),
        Step("Publish", "workflow_steps", "model_update.publish"),
    ),
    on_failure=Step("RecordFailure", "workflow_steps", "model_update.record_failure"),
    timeout_s=25 * 3600,
)

# Checks the campaign's model artifact loads, then makes the campaign (or its update) ACTIVE.
CAMPAIGN_DEPLOYMENT = Workflow(
    name="CampaignDeployment",
    steps=(Step("Deploy", "workflow_steps", "campaign.deploy"),),
    on_failure=Step("RecordFailure", "workflow_steps", "campaign.record_failure"),
    timeout_s=900,
)

# A batch job (picks.workflows.batch_jobs): Prepare checks the job, reads its input as the job's
# roleArn and stages it with the model as the job's channel; Run is the scoring job, the same
# entry point as training (training/train.py dispatches on the channel's config.json); Publish
# writes each output file to the job's destination as the roleArn and makes the job ACTIVE.
BATCH_INFERENCE = Workflow(
    name="BatchInference",
    steps=(
        Step("Prepare", "workflow_steps", "batch_inference.prepare"),
        TrainingStep("Run"),
        Step("Publish", "workflow_steps", "batch_inference.publish"),
    ),
    on_failure=Step("RecordFailure", "workflow_steps", "batch_inference.record_failure"),
    timeout_s=25 * 3600,
)

# A batch segment job: the same three steps on the same plumbing (training/train.py runs the
# channel's "batch-segment" task).
BATCH_SEGMENT = Workflow(
    name="BatchSegment",
    steps=(
        Step("Prepare", "workflow_steps", "batch_segment.prepare"),
        TrainingStep("Run"),
        Step("Publish", "workflow_steps", "batch_segment.publish"),
    ),
    on_failure=Step("RecordFailure", "workflow_steps", "batch_segment.record_failure"),
    timeout_s=25 * 3600,
)

# A recommender's model (picks.workflows.recommender): Prepare stages the group's data as for a
# solution version (or, for an UpdateRecommender that changes no training input, applies the update
# and ends the workflow), Train is the same training job, Register publishes the model.
RECOMMENDER_TRAINING = Workflow(
    name="RecommenderTraining",
    steps=(
        Step("Prepare", "workflow_steps", "recommender.prepare"),
        TrainingStep("Train", ends_without_request=True),
        Step("Register", "workflow_steps", "recommender.register"),
    ),
    on_failure=Step("RecordFailure", "workflow_steps", "recommender.record_failure"),
    timeout_s=25 * 3600,
)

# StopRecommender, StartRecommender, DeleteRecommender: the pending status to the final one.
RECOMMENDER_STATUS_CHANGE = Workflow(
    name="RecommenderStatusChange",
    steps=(Step("ChangeStatus", "workflow_steps", "recommender.change_status"),),
    on_failure=Step("RecordFailure", "workflow_steps", "recommender.status_record_failure"),
    timeout_s=900,
)

WORKFLOWS: dict[str, Workflow] = {
    w.name: w
    for w in (
        DATASET_IMPORT,
        SOLUTION_VERSION_TRAINING,
        SOLUTION_VERSION_UPDATE,
        CAMPAIGN_DEPLOYMENT,
        BATCH_INFERENCE,
        BATCH_SEGMENT,
        RECOMMENDER_TRAINING,
        RECOMMENDER_STATUS_CHANGE,
    )
}

# s3://<picks bucket>/drop/<dataset group name>/<DATASET_TYPE>/<anything>.csv
DROP_PREFIX = "drop/"
TRIGGERS: tuple[ObjectCreatedTrigger, ...] = (ObjectCreatedTrigger(DROP_PREFIX, "s3_drop"),)

# Automatic training and automatic updates (picks.workflows.schedules): a tick finds what is due by
# the stored times, so the rate only bounds how late a due training starts.
SCHEDULES: tuple[Schedule, ...] = (
    Schedule("SolutionMaintenance", "scheduler", "schedules.tick", every_minutes=15),
)
