"""The synthesized stack's schedules and workflow starters, against the declarations and the code.

* Every function whose code can start a workflow (derived from the source: its handler's imports,
  followed through the layer, reach a ``<services>.workflows.start(...)`` call) may start every
  state machine and is told their ARNs, and no other function may (``constants.WORKFLOW_STARTERS``
  must equal the derived set).  A retrained version redeploying the campaigns that follow it is
  the workflow steps' function starting CampaignDeployment: without this, it failed on AWS.
* One EventBridge Scheduler schedule per ``SCHEDULES`` declaration, invoking its function with the
  declared payload through a role that may invoke only that function.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import assertions
from picks.routes import FUNCTIONS
from picks.workflows.declaration import SCHEDULES, WORKFLOWS

from app import build
from infrastructure import constants
from tests.infrastructure.test_stack import (
    _actions,
    _functions,
    _logical_id,
    _render,
    _resources,
    _role_of,
    _statements,
)

pytestmark = pytest.mark.infrastructure

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "picks" / "python"


@pytest.fixture(scope="module")
def synthesized() -> tuple[Any, assertions.Template]:
    _, stack = build({constants.CONTEXT_OFFLINE_DEPENDENCIES: "true"})
    return stack, assertions.Template.from_stack(stack)


# --- which code starts workflows -------------------------------------------------------------------


def _source(module: str) -> Path | None:
    for root in (LAYER, REPO):
        base = root.joinpath(*module.split("."))
        for path in (base / "__init__.py", base.with_suffix(".py")):
            if path.is_file():
                return path
    return None


def _imports(tree: ast.Module) -> set[str]:
    """The first-party modules a module imports when it runs (``TYPE_CHECKING`` blocks skipped)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            else:
                visit(child)

    visit(tree)
    return {name for name in found if name.split(".")[0] in ("picks", "functions")}


def _starts_a_workflow(tree: ast.Module) -> bool:
    """Whether the module calls ``<anything>.workflows.start(...)`` (``Services.workflows``)."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "start"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "workflows"
        for node in ast.walk(tree)
    )


def _can_start_workflows(function: str) -> bool:
    seen: set[str] = set()
    pending = [FUNCTIONS[function].module]
    while pending:
        module = pending.pop()
        path = _source(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _starts_a_workflow(tree):
            return True
        pending.extend(_imports(tree))
    return False


def test_the_functions_whose_code_starts_workflows_are_the_declared_starters() -> None:
    starters = {name for name in FUNCTIONS if _can_start_workflows(name)}
    # Not vacuous: the API, the drop trigger, the workflow steps (campaign sync) and the scheduler.
    assert {"control_plane", "s3_drop", "workflow_steps", "scheduler"} <= starters
    assert starters == constants.WORKFLOW_STARTERS


def test_every_function_that_starts_workflows_may_start_each_of_them(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    stack, template = synthesized
    expected = sorted(
        f"arn:@AWS::Partition:states:@AWS::Region:@AWS::AccountId:stateMachine:{stack.stack_name}-{workflow}"
        for workflow in WORKFLOWS
    )
    for name, function in _functions(template).items():
        statements = _statements(template, _role_of(function))
        starting = [s for s in statements if "states:StartExecution" in _actions([s])]
        variables = function["Properties"]["Environment"]["Variables"]
        if _can_start_workflows(name):
            assert [sorted(_resources(s)) for s in starting] == [expected], name
            assert json.loads(_render(variables["PICKS_WORKFLOWS"])).keys() == WORKFLOWS.keys(), name
        else:
            assert starting == [] and "PICKS_WORKFLOWS" not in variables, name


# --- schedules -------------------------------------------------------------------------------------


def test_one_schedule_per_declaration_invokes_its_function(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    stack, template = synthesized
    schedules = template.find_resources("AWS::Scheduler::Schedule")
    queue = stack.schedules.dead_letter_queue
    queue_id = stack.get_logical_id(queue.node.default_child)
    assert len(schedules) == len(SCHEDULES) >= 1
    for declaration in SCHEDULES:
        (schedule,) = [
            s["Properties"]
            for s in schedules.values()
            if s["Properties"]["Target"]["Arn"]
            == {"Fn::GetAtt": [_logical_id(template, declaration.function), "Arn"]}
        ]
        assert schedule["ScheduleExpression"] == f"rate({declaration.every_minutes} minutes)"
        assert schedule["State"] == "ENABLED"
        target = schedule["Target"]
        assert (
            json.loads(target["Input"]) == declaration.payload() == {"action": "schedules.tick", "input": {}}
        )
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_a_schedule_role_may_only_invoke_its_function(synthesized: tuple[Any, assertions.Template]) -> None:
    stack, template = synthesized
    for declaration in SCHEDULES:
        role = stack.schedules.roles[declaration.function]
        role_id = stack.get_logical_id(role.node.default_child)
        trust = template.to_json()["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ]
        assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
        statements = _statements(template, role_id)
        function = f"@{_logical_id(template, declaration.function)}"
        queue = f"@{stack.get_logical_id(stack.schedules.dead_letter_queue.node.default_child)}"
        invoking = [s for s in statements if "lambda:InvokeFunction" in _actions([s])]
        dead_letters = [s for s in statements if "sqs:SendMessage" in _actions([s])]
        assert _actions(statements) == {"lambda:InvokeFunction", "sqs:SendMessage"}
        assert {r for s in invoking for r in _resources(s)} == {function, f"{function}:*"}
        assert _actions(invoking) == {"lambda:InvokeFunction"}
        # ... and hand what it could not deliver to the schedules' dead-letter queue
        assert {r for s in dead_letters for r in _resources(s)} == {queue}
        assert _actions(dead_letters) == {"sqs:SendMessage"}


def test_the_scheduler_function_reads_and_writes_the_resources_table_only(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    stack, template = synthesized
    statements = _statements(template, _role_of(_functions(template)["scheduler"]))
    actions = _actions(statements)
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"} <= actions
    assert not [a for a in actions if a.startswith("s3:")]
    table = f"@{stack.get_logical_id(stack.storage.table.node.default_child)}"
    events_table = f"@{stack.get_logical_id(stack.storage.events_table.node.default_child)}"
    touched = {r for s in statements for r in _resources(s)}
    assert table in touched and events_table not in touched
