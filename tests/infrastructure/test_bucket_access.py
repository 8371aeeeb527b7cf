"""No function can read S3 outside the stack's own bucket (and the buckets the operator trusts) except
by assuming the caller's role: the import step reads users' buckets as the job's roleArn.

One offline synth with a trusted bucket configured, inspected statement by statement.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import assertions
from cdk_nag import AwsSolutionsChecks
from picks.routes import FUNCTIONS
from picks.workflows.declaration import DATASET_IMPORT, Step

from app import build
from infrastructure import constants
from infrastructure.options import DeploymentOptions
from tests.infrastructure.test_stack import _id_of, _render

pytestmark = pytest.mark.infrastructure

TRUSTED = "shared-imports"
S3_READS = ("s3:get", "s3:list", "s3:*", "*")


@pytest.fixture(scope="module")
def synthesized() -> tuple[Any, dict[str, Any]]:
    _, stack = build(
        {constants.CONTEXT_OFFLINE_DEPENDENCIES: "true", constants.CONTEXT_TRUSTED_BUCKETS: TRUSTED}
    )
    return stack, assertions.Template.from_stack(stack).to_json()["Resources"]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function_roles(resources: dict[str, Any]) -> set[str]:
    """Logical ids of the roles of every Lambda function (picks' and CDK's own helpers)."""
    return {
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }


def _statements_of(resources: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every Allow statement of the role: its attached policies, inline and managed by reference."""
    found: list[dict[str, Any]] = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in props.get("Roles", []):
            found.extend(props["PolicyDocument"]["Statement"])
    role = resources[role_id]["Properties"]
    for policy in role.get("Policies", []):
        found.extend(policy["PolicyDocument"]["Statement"])
    return [s for s in found if s.get("Effect") == "Allow"]


def _reads_s3(statement: dict[str, Any]) -> bool:
    return any(str(a).lower().startswith(S3_READS) for a in _listed(statement["Action"]))


def test_no_function_role_reads_s3_outside_the_stacks_and_trusted_buckets(synthesized) -> None:
    stack, resources = synthesized
    bucket = "@" + _id_of(stack.storage.bucket)
    allowed = {
        f"{bucket}.Arn",  # _render writes Fn::GetAtt [<id>, Arn] as @<id>
        bucket,
        f"{bucket}/*",
        f"arn:@AWS::Partition:s3:::{TRUSTED}",
        f"arn:@AWS::Partition:s3:::{TRUSTED}/*",
    }
    # CDK's own helpers (bucket notifications) use the deployment's asset bucket, never user data.
    roles = _function_roles(resources)
    assert len(roles) >= len(FUNCTIONS)
    checked = 0
    for role_id in roles:
        for statement in _statements_of(resources, role_id):
            if not _reads_s3(statement):
                continue
            rendered = {_render(r) for r in _listed(statement["Resource"])}
            assert rendered <= allowed, (role_id, statement)
            assert "NotResource" not in statement and "*" not in rendered, (role_id, statement)
            checked += 1
    assert checked > 0


def test_the_import_step_assumes_roles_of_the_account(synthesized) -> None:
    stack, resources = synthesized
    (ingest,) = [
        s for s in DATASET_IMPORT.steps if isinstance(s, Step) and s.action == "dataset_import.ingest"
    ]
    role_id = _id_of(stack.functions.functions[ingest.function].role)
    assumes = [s for s in _statements_of(resources, role_id) if "sts:AssumeRole" in _listed(s["Action"])]
    assert [_render(r) for s in assumes for r in _listed(s["Resource"])] == [
        "arn:@AWS::Partition:iam::@AWS::AccountId:role/*"
    ]
    # ... and no other function may act as another role.
    for other in _function_roles(resources) - {role_id}:
        assert not any("sts:AssumeRole" in _listed(s["Action"]) for s in _statements_of(resources, other))


def test_functions_know_the_trusted_buckets(synthesized) -> None:
    _, resources = synthesized
    picks_functions = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "handler.lambda_handler"
    ]
    assert len(picks_functions) == len(FUNCTIONS)
    for function in picks_functions:
        assert function["Properties"]["Environment"]["Variables"]["PICKS_TRUSTED_BUCKETS"] == f'["{TRUSTED}"]'


def test_trusted_buckets_leave_no_unacknowledged_finding(synthesized) -> None:
    stack, _ = synthesized
    violations = AwsSolutionsChecks().validate_scope(stack).violations
    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in violations] == []


@pytest.mark.parametrize("value", ["Not_A_Bucket", "a", "arn:aws:s3:::x", "b/*"])
def test_trusted_buckets_must_be_bucket_names(value: str) -> None:
    with pytest.raises(ValueError, match=constants.CONTEXT_TRUSTED_BUCKETS):
        DeploymentOptions(trusted_buckets=(value,))
