"""Runs declared workflows in-process, the way the Step Functions state machine runs them.

Each step invokes the same Lambda handler with the same payload
(``Step.payload``); the output of a step is the next step's state; any
exception routes to ``on_failure`` with ``error`` added, as the Catch does.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from picks.workflows.declaration import WORKFLOWS, Workflow

Invoke = Callable[[str, dict[str, Any]], Any]


class LocalWorkflowRunner:
    def __init__(self, invoke: Invoke, max_workers: int = 2) -> None:
        self._invoke = invoke
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

    def _run(self, workflow: Workflow, state: dict[str, Any]) -> None:
        for step in workflow.steps:
            try:
                result = self._invoke(step.function, step.payload(state))
            except Exception as error:  # noqa: BLE001 - mirrors the state machine's Catch States.ALL
                failure = {**state, "error": {"Error": type(error).__name__, "Cause": str(error)}}
                self._invoke(workflow.on_failure.function, workflow.on_failure.payload(failure))
                return
            if isinstance(result, dict):
                state = result

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until every started workflow has finished (tests and the demo use this)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
