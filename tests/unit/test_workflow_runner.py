"""The in-process workflow runner follows the declaration like the state machine does."""

from __future__ import annotations

from picks.workflows.declaration import DATASET_IMPORT, WORKFLOWS

from emulator.workflow_runner import LocalWorkflowRunner


def test_steps_receive_declared_payloads_and_chain_state():
    calls = []

    def invoke(function, event):
        calls.append((function, event))
        return {**event["input"], "status": "ACTIVE"}

    runner = LocalWorkflowRunner(invoke)
    runner.start("DatasetImport", "job", {"datasetImportJobArn": "arn"})
    runner.wait_idle()
    runner.shutdown()
    step = DATASET_IMPORT.steps[0]
    assert calls == [(step.function, {"action": step.action, "input": {"datasetImportJobArn": "arn"}})]


def test_exception_routes_to_on_failure_with_error():
    calls = []

    def invoke(function, event):
        calls.append(event)
        if event["action"] == DATASET_IMPORT.steps[0].action:
            raise RuntimeError("disk on fire")
        return event["input"]

    runner = LocalWorkflowRunner(invoke)
    runner.start("DatasetImport", "job", {"datasetImportJobArn": "arn"})
    runner.wait_idle()
    runner.shutdown()
    failure = calls[-1]
    assert failure["action"] == DATASET_IMPORT.on_failure.action
    assert failure["input"]["error"] == {"Error": "RuntimeError", "Cause": "disk on fire"}
    assert failure["input"]["datasetImportJobArn"] == "arn"


def test_every_workflow_has_steps_and_a_failure_handler():
    for workflow in WORKFLOWS.values():
        assert workflow.steps
        assert workflow.on_failure.action.endswith("record_failure")
