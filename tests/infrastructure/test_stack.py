"""The synthesized picks stack, asserted against the declarations it is derived from.

One offline synth per module (no pip, no Docker, no AWS); see docs/deploy.md for the flag.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk import assertions
from picks.routes import FUNCTIONS, routes
from picks.workflows.declaration import DROP_PREFIX, TRIGGERS, WORKFLOWS

from app import build
from infrastructure import constants
from infrastructure.bundling import OfflinePlaceholderBundling, PipInstallBundling
from infrastructure.options import DeploymentOptions

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.infrastructure

OFFLINE = {constants.CONTEXT_OFFLINE_DEPENDENCIES: "true"}


@pytest.fixture(scope="module")
def synthesized() -> tuple[Any, assertions.Template]:
    _, stack = build(OFFLINE)
    return stack, assertions.Template.from_stack(stack)


@pytest.fixture(scope="module")
def template(synthesized: tuple[Any, assertions.Template]) -> assertions.Template:
    return synthesized[1]


def _functions(template: assertions.Template) -> dict[str, dict[str, Any]]:
    """The picks functions (not CDK's own helpers), keyed by declaration name via their description."""
    by_description = {f.description: name for name, f in FUNCTIONS.items()}
    found = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "handler.lambda_handler"}}
    )
    return {by_description[r["Properties"]["Description"]]: r for r in found.values()}


def _logical_id(template: assertions.Template, declaration_name: str) -> str:
    description = FUNCTIONS[declaration_name].description
    (logical_id,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Description": description}}
    )
    return logical_id


def _only(resources: dict[str, Any]) -> dict[str, Any]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.values()))


def _render(value: Any) -> str:
    """A Fn::Join of literal strings and references, with each reference replaced by ``@<id>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    if "Fn::GetAtt" in value:
        return "@" + value["Fn::GetAtt"][0]
    if "Ref" in value:
        return "@" + value["Ref"]
    raise AssertionError(f"unexpected intrinsic {value}")


def _statements(template: assertions.Template, role_logical_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_logical_id}]}}
    ).values()
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def _role_of(function: dict[str, Any]) -> str:
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


# --- functions -------------------------------------------------------------------------------------


def test_one_function_per_declaration_with_its_sizes(template: assertions.Template) -> None:
    functions = _functions(template)

    assert functions.keys() == FUNCTIONS.keys()
    for name, resource in functions.items():
        props = resource["Properties"]
        assert props["MemorySize"] == FUNCTIONS[name].memory_mb
        assert props["Timeout"] == FUNCTIONS[name].timeout_s
        assert props["Runtime"] == f"python{constants.LAMBDA_PYTHON_VERSION}"
        assert props["Architectures"] == ["x86_64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert len(props["Layers"]) == 2  # third-party dependencies + the picks library


def test_functions_share_the_environment_picks_reads(template: assertions.Template) -> None:
    for name, resource in _functions(template).items():
        variables = resource["Properties"]["Environment"]["Variables"]

        assert {"PICKS_TABLE", "PICKS_BUCKET", "PICKS_ACCOUNT", "LOG_LEVEL"} <= variables.keys()
        assert variables["POWERTOOLS_SERVICE_NAME"] == constants.SERVICE_NAME
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "picks"
        assert variables["LOG_LEVEL"] == constants.DEFAULT_LOG_LEVEL
        assert ("PICKS_WORKFLOWS" in variables) == (name in constants.WORKFLOW_STARTERS)


def test_workflow_starters_get_every_state_machine_arn(template: assertions.Template) -> None:
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    for name in constants.WORKFLOW_STARTERS:
        variables = _functions(template)[name]["Properties"]["Environment"]["Variables"]

        rendered = json.loads(_render(variables["PICKS_WORKFLOWS"]))

        assert rendered.keys() == WORKFLOWS.keys()
        assert {value.lstrip("@") for value in rendered.values()} == machines.keys()


def test_grants_follow_each_functions_role(template: assertions.Template) -> None:
    functions = _functions(template)
    runtime = _actions(_statements(template, _role_of(functions["runtime"])))
    control_plane = _actions(_statements(template, _role_of(functions["control_plane"])))
    steps = _statements(template, _role_of(functions["workflow_steps"]))

    assert "dynamodb:PutItem" not in runtime and "s3:PutObject" not in runtime
    assert {"dynamodb:GetItem", "dynamodb:Query"} <= runtime
    assert {"dynamodb:PutItem", "s3:PutObject", "states:StartExecution"} <= control_plane
    assert "states:StartExecution" not in runtime
    import_reads = [s for s in steps if s.get("Sid") in {"ReadImportSources", "ListImportSources"}]
    assert {_render(s["Resource"]) for s in import_reads} == {
        "arn:@AWS::Partition:s3:::*/*",
        "arn:@AWS::Partition:s3:::*",
    }
    assert _actions(import_reads) == {"s3:GetObject", "s3:ListBucket"}


def test_each_function_logs_to_its_own_group_only(template: assertions.Template) -> None:
    for resource in _functions(template).values():
        group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        statements = _statements(template, _role_of(resource))
        log_statements = [s for s in statements if any(a.startswith("logs:") for a in _actions([s]))]

        assert [_render(s["Resource"]) for s in log_statements] == [f"@{group}"]


def test_offline_synth_is_flagged_as_not_deployable(synthesized: tuple[Any, assertions.Template]) -> None:
    stack, _ = synthesized
    warnings = assertions.Annotations.from_stack(stack).find_warning(
        "*", assertions.Match.string_like_regexp("placeholder")
    )
    assert len(warnings) == 1


# --- workflows -------------------------------------------------------------------------------------


def test_one_state_machine_per_workflow_with_logs_and_tracing(template: assertions.Template) -> None:
    machines = template.find_resources("AWS::StepFunctions::StateMachine")

    assert len(machines) == len(WORKFLOWS)
    for machine in machines.values():
        props = machine["Properties"]
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"


@pytest.mark.parametrize("workflow", WORKFLOWS.values(), ids=WORKFLOWS.keys())
def test_state_machine_follows_the_declaration(template: assertions.Template, workflow: Any) -> None:
    # Given the rendered definition of the workflow's state machine
    definitions = [
        json.loads(_render(m["Properties"]["DefinitionString"]))
        for m in template.find_resources("AWS::StepFunctions::StateMachine").values()
    ]
    (definition,) = [d for d in definitions if workflow.name in d.get("Comment", "")]
    states = definition["States"]
    on_failure = workflow.on_failure

    # Then steps run in order, each invoking its function with {action, input: <state>} ...
    assert definition["StartAt"] == workflow.steps[0].name
    for position, step in enumerate(workflow.steps):
        state = states[step.name]
        assert state["Resource"] == "@" + _logical_id(template, step.function)
        assert state["Parameters"] == {"action": step.action, "input.$": "$"}
        if position + 1 < len(workflow.steps):
            assert state["Next"] == workflow.steps[position + 1].name
        else:
            assert state["End"] is True
        # ... and every failure goes, with the error beside the original input, to on_failure
        assert state["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": on_failure.name}
        ]

    failure = states[on_failure.name]
    assert failure["Parameters"] == {"action": on_failure.action, "input.$": "$"}
    assert failure["ResultPath"] is None  # keeps the caught error for the Fail state
    fail = states[failure["Next"]]
    assert fail == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


# --- API -------------------------------------------------------------------------------------------


def test_one_iam_authorized_method_per_route(template: assertions.Template) -> None:
    methods = template.find_resources("AWS::ApiGateway::Method")

    assert len(methods) == len(routes())
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}
    assert all(m["Properties"]["Integration"]["Type"] == "AWS_PROXY" for m in methods.values())
    assert all("RequestValidatorId" in m["Properties"] for m in methods.values())


def test_routes_map_to_resources_and_functions(template: assertions.Template) -> None:
    methods = template.find_resources("AWS::ApiGateway::Method").values()
    resources = template.find_resources("AWS::ApiGateway::Resource")
    by_operation = {m["Properties"]["OperationName"]: m["Properties"] for m in methods}

    for route in routes():
        props = by_operation[route.operation or f"{route.service} (X-Amz-Target)"]
        assert props["HttpMethod"] == route.method
        assert f"@{_logical_id(template, route.function)}" in _render(props["Integration"]["Uri"])
        if route.path == "/":
            assert props["ResourceId"]["Fn::GetAtt"][1] == "RootResourceId"
        else:
            path_part = route.path.strip("/").split("/")[-1]
            assert resources[props["ResourceId"]["Ref"]]["Properties"]["PathPart"] == path_part


def test_stage_logs_traces_and_is_exported(template: assertions.Template) -> None:
    stage = _only(template.find_resources("AWS::ApiGateway::Stage"))["Properties"]

    assert stage["StageName"] == constants.API_STAGE
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]
    assert stage["MethodSettings"][0]["LoggingLevel"] == "ERROR"
    assert stage["MethodSettings"][0]["DataTraceEnabled"] is False
    template.has_output("ApiUrl", {})


# --- storage ---------------------------------------------------------------------------------------


def _data_bucket(template: assertions.Template) -> tuple[str, dict[str, Any]]:
    (item,) = template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {}}}
    ).items()
    return item


def test_data_bucket_is_private_encrypted_versioned_and_logged(template: assertions.Template) -> None:
    _, bucket = _data_bucket(template)
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "Fn::GetAtt" in rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    notifications = _only(template.find_resources("Custom::S3BucketNotifications"))["Properties"]
    assert notifications["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}


def test_every_bucket_refuses_plain_http(template: assertions.Template) -> None:
    buckets = template.find_resources("AWS::S3::Bucket")
    policies = template.find_resources("AWS::S3::BucketPolicy").values()
    denied = {
        p["Properties"]["Bucket"]["Ref"]
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert denied == buckets.keys()


def test_key_rotates(template: assertions.Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_table_matches_the_dal_layout(template: assertions.Template) -> None:
    table = _only(template.find_resources("AWS::DynamoDB::Table"))["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["SSESpecification"]["SSEType"] == "KMS"
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byKind"
    assert index["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]


def test_data_is_retained_when_the_stack_is_deleted(template: assertions.Template) -> None:
    for resource_type in ("AWS::DynamoDB::Table", "AWS::KMS::Key"):
        assert _only(template.find_resources(resource_type))["DeletionPolicy"] == "Retain"
    data_bucket_id, bucket = _data_bucket(template)
    assert bucket["DeletionPolicy"] == "Retain", data_bucket_id


# --- triggers --------------------------------------------------------------------------------------


def test_drop_prefix_rule_targets_its_function(template: assertions.Template) -> None:
    rules = template.find_resources("AWS::Events::Rule")
    bucket_id, _ = _data_bucket(template)

    assert len(rules) == len(TRIGGERS)
    (drop,) = [t for t in TRIGGERS if t.prefix == DROP_PREFIX]
    (rule,) = rules.values()
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": bucket_id}]}, "object": {"key": [{"prefix": DROP_PREFIX}]}},
    }
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_logical_id(template, drop.function), "Arn"]}
    assert "DeadLetterConfig" in target


# --- options and bundling (no synth) ---------------------------------------------------------------


class _Node:
    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def try_get_context(self, key: str) -> Any:
        return self._context.get(key)


class _Scope:
    def __init__(self, **context: Any) -> None:
        self.node = _Node(context)


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), (True, True), ("false", False), (None, False)]
)
def test_offline_flag_accepts_cli_strings_and_json_booleans(value: Any, expected: bool) -> None:
    options = DeploymentOptions.from_context(_Scope(**{constants.CONTEXT_OFFLINE_DEPENDENCIES: value}))
    assert options.offline_dependencies is expected


def test_unknown_log_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="picks:logLevel"):
        DeploymentOptions.from_context(_Scope(**{constants.CONTEXT_LOG_LEVEL: "chatty"}))


def test_pip_bundling_targets_the_lambda_platform(tmp_path: Path) -> None:
    bundler = PipInstallBundling(
        requirements=constants.LAYER_REQUIREMENTS,
        python_version=constants.LAMBDA_PYTHON_VERSION,
        platforms=constants.LAMBDA_WHEEL_PLATFORMS,
    )

    command = bundler.command(str(tmp_path))

    assert command[command.index("--target") + 1] == str(tmp_path / "python")
    assert command[command.index("--python-version") + 1] == constants.LAMBDA_PYTHON_VERSION
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"] == list(
        constants.LAMBDA_WHEEL_PLATFORMS
    )
    assert "--only-binary=:all:" in command
    assert command[-2:] == ["-r", str(constants.LAYER_REQUIREMENTS)]


def test_pip_bundling_runs_the_command_and_reports_failures(tmp_path: Path) -> None:
    # Given a stand-in pip that records its arguments, then one that fails
    script = "import sys, pathlib; pathlib.Path(sys.argv[-3]).mkdir(parents=True)"  # argv[-3]: --target
    ok = PipInstallBundling(
        requirements=constants.LAYER_REQUIREMENTS,
        python_version="3.12",
        platforms=["manylinux_2_28_x86_64"],
        pip=[sys.executable, "-c", script],
    )
    failing = PipInstallBundling(
        requirements=constants.LAYER_REQUIREMENTS,
        python_version="3.12",
        platforms=["manylinux_2_28_x86_64"],
        pip=[sys.executable, "-c", "raise SystemExit(3)"],
    )

    # Then success is local bundling (no Docker fallback) and failure is an error naming the way out
    assert ok.try_bundle(str(tmp_path)) is True
    assert (tmp_path / "python").is_dir()
    with pytest.raises(RuntimeError, match=re.escape(constants.CONTEXT_OFFLINE_DEPENDENCIES)):
        failing.try_bundle(str(tmp_path / "other"))


def test_offline_bundling_writes_only_a_placeholder(tmp_path: Path) -> None:
    assert (
        OfflinePlaceholderBundling(requirements=constants.LAYER_REQUIREMENTS).try_bundle(str(tmp_path))
        is True
    )
    assert [p.name for p in (tmp_path / "python").iterdir()] == ["PICKS_OFFLINE_PLACEHOLDER.txt"]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version.strip()
    return pins


def test_layer_requirements_use_the_repository_pins() -> None:
    layer = _pins(constants.LAYER_REQUIREMENTS)
    repository = _pins(constants.REPO_ROOT / "requirements.txt")

    assert {"aws-lambda-powertools", "numpy"} <= layer.keys()
    assert {name: repository.get(name) for name in layer} == layer
