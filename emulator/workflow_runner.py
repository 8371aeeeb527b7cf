"""Runs declared workflows in-process, the way the Step Functions state machine runs them.

A ``Step`` invokes the same Lambda handler with the same payload (``Step.payload``); a
``TrainingStep`` runs the training entry point through ``training_jobs`` (a subprocess under the
SageMaker contract) and stores the job description at ``result_key``, as the ``.sync`` task
does.  The output of a step is the next step's state; any exception routes to ``on_failure``
with ``error`` added, as the Catch does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from picks.workflows.declaration import WORKFLOWS, Step, TrainingStep, Workflow
from picks.workflows.training_contract import TrainingRequest

Invoke = Callable[[str, dict[str, Any]], Any]


def step_error(error: Exception) -> dict[str, str]:
    describe = getattr(error, "step_error", None)
    if callable(describe):
        described: dict[str, str] = describe()
        return described
    return {"Error": type(error).__name__, "Cause": str(error)}


class LocalWorkflowRunner:
    def __init__(self, invoke: Invoke, training_jobs: Any = None, max_workers: int = 4) -> None:
        self._invoke = invoke
        self._training_jobs = training_jobs
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="workflow")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def start(self, workflow: str, execution_name: str, payload: dict[str, Any]) -> str:
        declared = WORKFLOWS[workflow]
        future = self._pool.submit(self._run, declared, dict(payload))
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return f"local:{workflow}:{execution_name}:{uuid.uuid4().hex[:8]}"

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run_step(self, step: Step | TrainingStep, state: dict[str, Any]) -> Any:
        if isinstance(step, TrainingStep):
            if self._training_jobs is None:
                raise RuntimeError("this runner has no training_jobs to run a TrainingStep")
            job = self._training_jobs.run(TrainingRequest.from_state(state[step.request_key]))
            return {**state, step.result_key: job}
        return self._invoke(step.function, step.payload(state))

    def _run(self, workflow: Workflow, state: dict[str, Any]) -> None:
        for step in workflow.steps:
            if isinstance(step, TrainingStep) and step.skipped(state):
                return  # the state machine's Choice: the workflow ends here
            try:
                result = self._run_step(step, state)
            except Exception as error:  # noqa: BLE001 - mirrors the state machine's Catch States.ALL
                failure = {**state, "error": step_error(error)}
                self._invoke(workflow.on_failure.function, workflow.on_failure.payload(failure))
                return
            if isinstance(result, dict):
                state = result

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until every started workflow has finished (tests and the demo use this)."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for future in pending:
                future.result(timeout=timeout)

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Wait for the running workflows; with ``cancel_pending`` (the emulator stopping) the ones
        not started yet are dropped: their resources stay pending, and the next start fails them."""
        self._pool.shutdown(wait=True, cancel_futures=cancel_pending)
