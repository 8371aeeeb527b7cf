"""The one declaration of picks' workflows and event triggers.

CDK turns each ``Workflow`` into a Step Functions state machine (one
LambdaInvoke task per step, a Catch on every task routing to ``on_failure``);
the emulator's ``LocalWorkflowRunner`` walks the same steps in a background
thread, invoking the same Lambda handler with the same payload.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str  # state name in Step Functions
    function: str  # picks.routes.FUNCTIONS key
    action: str  # dispatched inside the function

    def payload(self, state: dict) -> dict:
        """The event a step's Lambda receives (the state machine builds the same shape)."""
        return {"action": self.action, "input": state}


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step, ...]
    on_failure: Step
    timeout_s: int = 3600


@dataclass(frozen=True)
class ObjectCreatedTrigger:
    """An object written under ``prefix`` in the picks data bucket invokes ``function``."""

    prefix: str
    function: str


DATASET_IMPORT = Workflow(
    name="DatasetImport",
    steps=(Step("Ingest", "workflow_steps", "dataset_import.ingest"),),
    on_failure=Step("RecordFailure", "workflow_steps", "dataset_import.record_failure"),
)

WORKFLOWS: dict[str, Workflow] = {w.name: w for w in (DATASET_IMPORT,)}

# s3://<picks bucket>/drop/<dataset group name>/<DATASET_TYPE>/<anything>.csv
DROP_PREFIX = "drop/"
TRIGGERS: tuple[ObjectCreatedTrigger, ...] = (ObjectCreatedTrigger(DROP_PREFIX, "s3_drop"),)
