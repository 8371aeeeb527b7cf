"""Starting workflows: Step Functions on AWS, an in-process runner locally.

Both take the same input; both run the steps declared in
``picks.workflows.declaration``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol


class WorkflowStarter(Protocol):
    def start(self, workflow: str, execution_name: str, payload: dict[str, Any]) -> str:
        """Start ``workflow`` with ``payload``; returns an execution id."""


class StepFunctionsStarter:
    """Starts the state machines CDK created from the declaration; ``stepfunctions`` is injected."""

    def __init__(self, stepfunctions: Any, state_machine_arns: dict[str, str]) -> None:
        self._sfn = stepfunctions
        self._arns = state_machine_arns

    def start(self, workflow: str, execution_name: str, payload: dict[str, Any]) -> str:
        # Execution names allow [A-Za-z0-9-_] up to 80 chars; a stable name makes retries idempotent.
        name = re.sub(r"[^A-Za-z0-9_-]", "-", execution_name)[:80]
        response = self._sfn.start_execution(
            stateMachineArn=self._arns[workflow], name=name, input=json.dumps(payload)
        )
        arn: str = response["executionArn"]
        return arn
