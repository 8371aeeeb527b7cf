"""The synthesized picks stack, asserted against the declarations it is derived from.

One offline synth per module (no pip, no Docker, no AWS); see docs/deploy.md for the flag.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnResource, RemovalPolicy, Stack, assertions
from aws_cdk import aws_kms as kms
from picks.dal.event_store import BY_GROUP_INDEX, events_table_definition
from picks.dal.resources import table_definition
from picks.routes import API_FUNCTIONS, FUNCTIONS, routes
from picks.workflows import training_contract
from picks.workflows.declaration import (
    DROP_PREFIX,
    TRAINING_INPUT_PREFIX,
    TRAINING_OUTPUT_PREFIX,
    TRIGGERS,
    WORKFLOWS,
    TrainingStep,
)

from app import build
from infrastructure import bundling, constants
from infrastructure.bundling import OfflinePlaceholderBundling, PipInstallBundling
from infrastructure.constructs.storage import table_from_definition
from infrastructure.options import DeploymentOptions, EcrImage, base_context

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
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]  # the asset bucket: cdk-<qualifier>-assets-${AWS::AccountId}-${AWS::Region}
    raise AssertionError(f"unexpected intrinsic {value}")


def _pseudo(text: str) -> str:
    """``${AWS::Region}`` as ``_render`` writes the stack's pseudo parameters: ``@AWS::Region``."""
    return re.sub(r"\$\{(AWS::\w+)\}", r"@\1", text)


def _id_of(construct: Any) -> str:
    """The logical id of a construct's CloudFormation resource."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource), construct.node.path
    return Stack.of(resource).get_logical_id(resource)


def _resources(statement: dict[str, Any]) -> list[str]:
    value = statement["Resource"]
    return [_render(r) for r in (value if isinstance(value, list) else [value])]


def _definition(template: assertions.Template, workflow_name: str) -> dict[str, Any]:
    definitions = [
        json.loads(_render(m["Properties"]["DefinitionString"]))
        for m in template.find_resources("AWS::StepFunctions::StateMachine").values()
    ]
    (definition,) = [d for d in definitions if workflow_name in d.get("Comment", "")]
    return definition


def _training_steps() -> list[tuple[Any, TrainingStep]]:
    return [
        (workflow, step)
        for workflow in WORKFLOWS.values()
        for step in workflow.steps
        if isinstance(step, TrainingStep)
    ]


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

        assert {
            "PICKS_TABLE",
            "PICKS_EVENTS_TABLE",
            "PICKS_BUCKET",
            "PICKS_ACCOUNT",
            "LOG_LEVEL",
        } <= variables.keys()
        assert variables["POWERTOOLS_SERVICE_NAME"] == constants.SERVICE_NAME
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "picks"
        assert variables["OPENBLAS_NUM_THREADS"] == variables["OMP_NUM_THREADS"] == "1"
        assert variables["MKL_NUM_THREADS"] == "1"
        assert variables["LOG_LEVEL"] == constants.DEFAULT_LOG_LEVEL
        assert ("PICKS_WORKFLOWS" in variables) == (name in constants.WORKFLOW_STARTERS)
        assert ("PICKS_TRAINING_JOBS" in variables) == (name in constants.TRAINING_JOB_STOPPERS)


def test_workflow_starters_get_every_state_machine_arn(synthesized: tuple[Any, assertions.Template]) -> None:
    stack, template = synthesized
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    # Each workflow's state machine is named after it, so its ARN is known without a reference ...
    names = {m["Properties"]["StateMachineName"] for m in machines.values()}
    assert names == {f"{stack.stack_name}-{workflow}" for workflow in WORKFLOWS}
    for name in constants.WORKFLOW_STARTERS:
        variables = _functions(template)[name]["Properties"]["Environment"]["Variables"]

        rendered = json.loads(_render(variables["PICKS_WORKFLOWS"]))

        # ... and every starter is told each one's ARN
        assert rendered.keys() == WORKFLOWS.keys()
        for workflow, arn in rendered.items():
            assert arn == (
                f"arn:@AWS::Partition:states:@AWS::Region:@AWS::AccountId:stateMachine:"
                f"{stack.stack_name}-{workflow}"
            )


def test_grants_follow_each_functions_role(template: assertions.Template) -> None:
    functions = _functions(template)
    runtime = _actions(_statements(template, _role_of(functions["runtime"])))
    control_plane = _actions(_statements(template, _role_of(functions["control_plane"])))
    steps = _statements(template, _role_of(functions["workflow_steps"]))

    assert "dynamodb:PutItem" not in runtime and "s3:PutObject" not in runtime
    assert {"dynamodb:GetItem", "dynamodb:Query"} <= runtime
    assert {"dynamodb:PutItem", "s3:PutObject", "states:StartExecution"} <= control_plane
    assert "states:StartExecution" not in runtime
    # Users' buckets only as the job's roleArn: no S3 read beyond picks' bucket (none is trusted here).
    assert not [s for s in steps if s.get("Sid") in {"ReadTrustedBuckets", "ListTrustedBuckets"}]
    (assume,) = [s for s in steps if s.get("Sid") == "ActAsCallersRoles"]
    assert _actions([assume]) == {"sts:AssumeRole"}
    assert _resources(assume) == ["arn:@AWS::Partition:iam::@AWS::AccountId:role/*"]


def _actions_on(statements: list[dict[str, Any]], resource: str) -> set[str]:
    """The actions ``statements`` allow on ``resource`` (a rendered ARN such as ``@<table id>``)."""
    return _actions([s for s in statements if resource in _resources(s)])


def test_events_table_is_granted_per_function(synthesized: tuple[Any, assertions.Template]) -> None:
    # Given the events table and each function's statements
    stack, template = synthesized
    table = f"@{_id_of(stack.storage.events_table)}"
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert constants.EVENTS_TABLE_WRITERS == {"events"}
    assert constants.EVENTS_TABLE_READERS == {"runtime", "workflow_steps"}

    for name, resource in _functions(template).items():
        statements = _statements(template, _role_of(resource))
        variables = resource["Properties"]["Environment"]["Variables"]
        on_table, on_indexes = _actions_on(statements, table), _actions_on(statements, f"{table}/index/*")

        # Then every function is told the table's name ...
        assert variables["PICKS_EVENTS_TABLE"] == {"Ref": table.lstrip("@")}, name
        if name in constants.EVENTS_TABLE_WRITERS:
            # ... the events function writes: PutEvents is a TransactWriteItems of conditional Puts, which
            # IAM authorizes as PutItem (ConditionCheck as ConditionCheckItem); PutItems and friends put
            # and update metadata
            assert writes | {"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query"} <= on_table
        elif name in constants.EVENTS_TABLE_READERS:
            # ... runtime (history Query) and workflow_steps (byGroup export, metadata) only read
            assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"} <= on_table, name
            assert not on_table & writes, name
            assert "dynamodb:Query" in on_indexes, name  # the byGroup export
        else:
            # ... and the others (control_plane, s3_drop) cannot touch it
            assert on_table == set() and on_indexes == set(), name
        if on_table:
            # The table is encrypted with the data key: a grant without kms:Decrypt would be useless
            key = f"@{_id_of(stack.storage.key)}"
            assert "kms:Decrypt" in _actions_on(statements, key), name


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
    for name in WORKFLOWS:
        template.has_output(f"{name}StateMachineArn", {})


@pytest.mark.parametrize("workflow", WORKFLOWS.values(), ids=WORKFLOWS.keys())
def test_state_machine_follows_the_declaration(template: assertions.Template, workflow: Any) -> None:
    # Given the rendered definition of the workflow's state machine
    definition = _definition(template, workflow.name)
    states = definition["States"]
    on_failure = workflow.on_failure

    # Then steps run in order: a Lambda step invokes its function with {action, input: <state>}, a
    # training step runs a SageMaker job (asserted in detail below) ...
    assert definition["StartAt"] == workflow.steps[0].name
    for position, step in enumerate(workflow.steps):
        state = states[step.name]
        if isinstance(step, TrainingStep):
            assert state["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
            assert state["ResultPath"] == f"$.{step.result_key}"
        else:
            assert state["Resource"] == "@" + _logical_id(template, step.function)
            assert state["Parameters"] == {"action": step.action, "input.$": "$"}
        if position + 1 < len(workflow.steps):
            following = workflow.steps[position + 1]
            if isinstance(following, TrainingStep) and following.ends_without_request:
                # ... through a Choice that ends the execution when the state asks for no job
                choice = states[state["Next"]]
                assert choice["Type"] == "Choice"
                assert choice["Choices"] == [
                    {"Variable": f"$.{following.request_key}", "IsPresent": True, "Next": following.name}
                ]
                assert states[choice["Default"]] == {"Type": "Succeed"}
            else:
                assert state["Next"] == following.name
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


def test_the_declaration_has_a_training_step() -> None:
    # The training assertions below are parametrized over these; none would silently mean no checks.
    # a large import; training; a model's automatic update; batch inference and batch segment jobs;
    # a recommender's training
    assert [step.name for _, step in _training_steps()] == ["Import", "Train", "Train", "Run", "Run", "Train"]


@pytest.mark.parametrize(("workflow", "step"), _training_steps(), ids=lambda v: getattr(v, "name", ""))
def test_training_step_runs_the_request_as_a_sagemaker_job(
    synthesized: tuple[Any, assertions.Template], workflow: Any, step: TrainingStep
) -> None:
    # Given the training task of the rendered definition
    stack, template = synthesized
    state = _definition(template, workflow.name)["States"][step.name]
    params = state["Parameters"]
    request = f"$.{step.request_key}"
    bucket_id, _ = _data_bucket(template)
    key_id = _id_of(stack.storage.key)

    # Then it runs the job to completion (.sync) and keeps the state, adding the job's description
    assert state["Resource"] == "arn:@AWS::Partition:states:::sagemaker:createTrainingJob.sync"
    assert state["ResultPath"] == "$.trainingJob" == f"$.{step.result_key}"
    assert state["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": workflow.on_failure.name}
    ]
    # ... named, sized and fed from the TrainingRequest (JSON paths, no "ml." added to the instance type)
    assert params["TrainingJobName.$"] == f"{request}.jobName"
    assert params["ResourceConfig"] == {
        "InstanceCount": 1,
        "InstanceType.$": f"{request}.instanceType",
        "VolumeSizeInGB": constants.TRAINING_VOLUME_GIB,
        "VolumeKmsKeyId": f"@{key_id}",
    }
    assert params["InputDataConfig"] == [
        {
            "ChannelName": training_contract.CHANNEL,
            "DataSource": {
                "S3DataSource": {
                    "S3Uri.$": f"{request}.inputUri",
                    "S3DataType": "S3Prefix",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "InputMode": "File",
        }
    ]
    # ... writing the model files, uncompressed (Register serves them where they are), under
    # training-output/ of the data bucket, encrypted with the data key
    assert params["OutputDataConfig"] == {
        "S3OutputPath": f"s3://@{bucket_id}/{TRAINING_OUTPUT_PREFIX}",
        "KmsKeyId": f"@{key_id}",
        "CompressionType": "NONE",
    }
    assert training_contract.OUTPUT_COMPRESSION == "NONE"
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 24 * 3600}
    assert params["RoleArn"] == f"@{_id_of(stack.training.role)}"
    # ... in the script-mode container, running train.py from the source archive
    assert params["AlgorithmSpecification"] == {
        "TrainingInputMode": "File",
        "TrainingImage": _pseudo(constants.DEFAULT_TRAINING_IMAGE),
    }
    assert params["HyperParameters"] == {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": _render(stack.resolve(stack.training.source.s3_object_url)),
        "sagemaker_region": "@AWS::Region",
    }
    assert params["HyperParameters"]["sagemaker_submit_directory"].startswith("s3://cdk-")


def test_training_state_machine_may_pass_only_the_training_role(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    stack, template = synthesized
    for workflow, _ in _training_steps():
        machine = stack.workflows.state_machines[workflow.name]
        statements = _statements(template, _id_of(machine.role))

        (pass_role,) = [s for s in statements if "iam:PassRole" in _actions([s])]
        assert _resources(pass_role) == [f"@{_id_of(stack.training.role)}"]
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        assert {"sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"} <= _actions(statements)
    # Workflows without a training step get no SageMaker permission at all
    for name, machine in stack.workflows.state_machines.items():
        if name not in {workflow.name for workflow, _ in _training_steps()}:
            actions = _actions(_statements(template, _id_of(machine.role)))
            assert not any(a.startswith("sagemaker:") or a == "iam:PassRole" for a in actions), name


def test_training_role_reads_and_writes_only_the_training_prefixes(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    # Given the SageMaker execution role and its policy
    stack, template = synthesized
    role_id = _id_of(stack.training.role)
    trust = template.to_json()["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]
    statements = _statements(template, role_id)
    by_sid = {s.get("Sid"): s for s in statements}
    bucket_id, _ = _data_bucket(template)

    # Then only SageMaker assumes it ...
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "sagemaker.amazonaws.com"}]
    # ... it reads the channel prefix and writes the output prefix, nothing else of the data bucket
    assert _resources(by_sid["ReadTrainingInput"]) == [f"@{bucket_id}/{TRAINING_INPUT_PREFIX}*"]
    assert _actions([by_sid["ReadTrainingInput"]]) == {"s3:GetObject"}
    assert _resources(by_sid["ListTrainingInput"]) == [f"@{bucket_id}"]
    assert _actions([by_sid["ListTrainingInput"]]) == {"s3:ListBucket"}
    assert _resources(by_sid["WriteTrainingOutput"]) == [f"@{bucket_id}/{TRAINING_OUTPUT_PREFIX}*"]
    assert _actions([by_sid["WriteTrainingOutput"]]) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    s3_resources = {
        r for s in statements if any(a.startswith("s3:") for a in _actions([s])) for r in _resources(s)
    }
    assert f"@{bucket_id}/*" not in s3_resources
    # ... the one source archive object (not the whole asset bucket)
    source = stack.training.source
    assert _resources(by_sid["ReadSourceArchive"]) == [
        f"arn:@AWS::Partition:s3:::{_render(stack.resolve(source.s3_bucket_name))}/{source.s3_object_key}"
    ]
    # ... the data key only, for reading the channel, writing the model and the encrypted volume
    kms = [s for s in statements if any(a.startswith("kms:") for a in _actions([s]))]
    assert {r for s in kms for r in _resources(s)} == {f"@{_id_of(stack.storage.key)}"}
    assert {"kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant"} <= _actions(kms)
    # ... SageMaker's own log group, and image pulls from the image's repository only
    log_group = "arn:@AWS::Partition:logs:@AWS::Region:@AWS::AccountId:log-group:/aws/sagemaker/TrainingJobs"
    assert _resources(by_sid["TrainingJobLogs"]) == [log_group, f"{log_group}:*"]
    assert _resources(by_sid["EcrLogin"]) == ["*"]
    assert _actions([by_sid["EcrLogin"]]) == {"ecr:GetAuthorizationToken"}
    assert _resources(by_sid["PullTrainingImage"]) == [
        "arn:@AWS::Partition:ecr:@AWS::Region:763104351884:repository/pytorch-training"
    ]
    assert by_sid["TrainingJobMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    }


def test_control_plane_can_stop_training_jobs(template: assertions.Template) -> None:
    functions = _functions(template)
    for name, resource in functions.items():
        statements = _statements(template, _role_of(resource))
        variables = resource["Properties"]["Environment"]["Variables"]
        stops = [s for s in statements if s.get("Sid") == "StopTrainingJobs"]
        if name in constants.TRAINING_JOB_STOPPERS:
            (stop,) = stops
            assert _actions([stop]) == {"sagemaker:StopTrainingJob"}
            assert _resources(stop) == [
                "arn:@AWS::Partition:sagemaker:@AWS::Region:@AWS::AccountId:training-job/*"
            ]
            assert variables["PICKS_TRAINING_JOBS"] == "sagemaker"
        else:
            assert not any(a.startswith("sagemaker:") for a in _actions(statements)), name
            assert "PICKS_TRAINING_JOBS" not in variables, name


def test_training_source_is_uploaded_as_one_tar_gz(synthesized: tuple[Any, assertions.Template]) -> None:
    # Given the source archive asset as staged in the cloud assembly
    stack, _ = synthesized
    source = stack.training.source
    staged = Path(stack.node.root.outdir) / source.asset_path

    manifest = json.loads((staged.parent / f"{stack.artifact_id}.assets.json").read_text())
    entry = manifest["files"][source.asset_hash]

    # Then the archive file itself is the asset, uploaded as is (packaging "file", not zipped again) ...
    assert staged.name.endswith(".tar.gz") and staged.is_file()
    assert entry["source"] == {"path": source.asset_path, "packaging": "file"}
    # ... holding exactly the members the bundling computes from the repository
    with tarfile.open(staged, "r:gz") as archive:
        assert archive.getnames() == list(bundling.training_source_files())


def test_training_image_comes_from_context() -> None:
    # Given a synth naming another image (the stack's own account: ${AWS::AccountId}) ...
    image = "${AWS::AccountId}.dkr.ecr.eu-west-1.amazonaws.com/picks/train@sha256:" + "0" * 64
    _, stack = build({**OFFLINE, constants.CONTEXT_TRAINING_IMAGE: image})
    template = assertions.Template.from_stack(stack)

    # Then the task runs it and the role may pull it from that repository only
    (workflow, step) = _training_steps()[0]
    params = _definition(template, workflow.name)["States"][step.name]["Parameters"]
    assert params["AlgorithmSpecification"]["TrainingImage"] == _pseudo(image)
    statements = _statements(template, _id_of(stack.training.role))
    (pull,) = [s for s in statements if s.get("Sid") == "PullTrainingImage"]
    assert _resources(pull) == ["arn:@AWS::Partition:ecr:eu-west-1:@AWS::AccountId:repository/picks/train"]


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


def test_keys_rotate(template: assertions.Template) -> None:
    keys = template.find_resources("AWS::KMS::Key")
    assert len(keys) == 2  # the data key, the alarm topic's key
    assert all(key["Properties"]["EnableKeyRotation"] is True for key in keys.values())


def _comparable(definition: dict[str, Any]) -> dict[str, Any]:
    """CreateTable parameters without the name, in an order CloudFormation and boto3 agree on."""
    comparable = {key: value for key, value in definition.items() if key != "TableName"}
    comparable["AttributeDefinitions"] = sorted(
        definition["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    if "GlobalSecondaryIndexes" in definition:
        comparable["GlobalSecondaryIndexes"] = sorted(
            definition["GlobalSecondaryIndexes"], key=lambda index: index["IndexName"]
        )
    return comparable


@pytest.mark.parametrize(
    ("attribute", "definition"),
    [("table", table_definition), ("events_table", events_table_definition)],
    ids=["resources", "events"],
)
def test_tables_match_the_dal_definitions(
    synthesized: tuple[Any, assertions.Template], attribute: str, definition: Any
) -> None:
    # Given the CDK table and the CreateTable parameters moto and the emulator create it with
    stack, template = synthesized
    props = template.to_json()["Resources"][_id_of(getattr(stack.storage, attribute))]["Properties"]
    expected = _comparable(definition("any-name"))

    # Then keys, attribute types, indexes (keys, projection) and billing are the same ...
    assert _comparable({key: props[key] for key in expected if key in props}) == expected
    # ... and the rest is picks' storage policy: the data key, point-in-time recovery, nothing else
    # (no TTL, stream or provisioned throughput the emulator would not have)
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": [_id_of(stack.storage.key), "Arn"]},
    }
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props.keys() == expected.keys() | {"SSESpecification", "PointInTimeRecoverySpecification", "Tags"}


def test_events_table_has_the_export_index(synthesized: tuple[Any, assertions.Template]) -> None:
    stack, template = synthesized
    props = template.to_json()["Resources"][_id_of(stack.storage.events_table)]["Properties"]
    assert [index["IndexName"] for index in props["GlobalSecondaryIndexes"]] == [BY_GROUP_INDEX]
    template.has_output("EventsTableName", {"Value": {"Ref": _id_of(stack.storage.events_table)}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"StreamSpecification": {"StreamEnabled": True}}, "StreamSpecification"),
        ({"BillingMode": "PROVISIONED"}, "PAY_PER_REQUEST"),
    ],
)
def test_table_definitions_the_app_cannot_mirror_fail_the_synth(change: dict[str, Any], message: str) -> None:
    stack = Stack(App(), "Bare")
    with pytest.raises(ValueError, match=message):
        table_from_definition(
            stack,
            "Events",
            {**events_table_definition("t"), **change},
            encryption_key=kms.Key(stack, "Key"),
            removal_policy=RemovalPolicy.RETAIN,
        )


def test_data_is_retained_when_the_stack_is_deleted(synthesized: tuple[Any, assertions.Template]) -> None:
    stack, template = synthesized
    resources = template.to_json()["Resources"]
    tables = template.find_resources("AWS::DynamoDB::Table")

    assert tables.keys() == {_id_of(stack.storage.table), _id_of(stack.storage.events_table)}
    for logical_id in (*tables, _id_of(stack.storage.key)):
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id
    data_bucket_id, bucket = _data_bucket(template)
    assert bucket["DeletionPolicy"] == "Retain", data_bucket_id
    # The alarm topic's key protects nothing that outlives the topic
    assert resources[_id_of(stack.alarms.key)]["DeletionPolicy"] == "Delete"


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


def test_asynchronous_invocations_end_in_a_dead_letter_queue(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    # Given the trigger rules, the asynchronous invoke configurations and the two queues
    stack, template = synthesized
    dead_letters = _id_of(stack.triggers.dead_letter_queue)
    failed = _id_of(stack.triggers.failed_invocation_queue)
    configs = template.find_resources("AWS::Lambda::EventInvokeConfig")

    # Then EventBridge retries each target explicitly, then hands the event to the dead-letter queue ...
    for rule in template.find_resources("AWS::Events::Rule").values():
        (target,) = rule["Properties"]["Targets"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 2 * 3600, "MaximumRetryAttempts": 4}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dead_letters, "Arn"]}}
    # ... and every function EventBridge invokes (asynchronously) sends what it failed on to the
    # failure queue after explicit retries; functions invoked synchronously have no such configuration
    triggered = {trigger.function for trigger in TRIGGERS}
    assert {c["Properties"]["FunctionName"]["Ref"] for c in configs.values()} == {
        _logical_id(template, name) for name in triggered
    }
    for config in configs.values():
        props = config["Properties"]
        assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failed, "Arn"]}}}
        assert props["MaximumRetryAttempts"] == 2
        assert props["MaximumEventAgeInSeconds"] == 2 * 3600
    for name in triggered:
        statements = _statements(template, _role_of(_functions(template)[name]))
        assert "sqs:SendMessage" in _actions_on(statements, f"@{failed}"), name
    template.has_output("DropDeadLetterQueueUrl", {"Value": {"Ref": dead_letters}})
    template.has_output("DropFailedInvocationQueueUrl", {"Value": {"Ref": failed}})


def test_every_queue_is_encrypted_and_refuses_plain_http(template: assertions.Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    denied = {
        queue["Ref"]
        for policy in template.find_resources("AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for queue in policy["Properties"]["Queues"]
    }

    assert len(queues) == 3  # the drop trigger's two, the schedules' dead letters
    for queue in queues.values():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert denied == queues.keys()


# --- alarms ----------------------------------------------------------------------------------------


def _alarms(template: assertions.Template) -> dict[str, dict[str, Any]]:
    """Every alarm's properties, keyed by alarm name."""
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


def _simple(metric_name: str, namespace: str, statistic: str, **dimensions: Any) -> dict[str, Any]:
    """What a single-metric alarm's properties say about its metric."""
    return {
        "MetricName": metric_name,
        "Namespace": namespace,
        "Statistic": statistic,
        "Period": 300,
        "Dimensions": [{"Name": name, "Value": value} for name, value in sorted(dimensions.items())],
    }


def _metric_of(alarm: dict[str, Any]) -> dict[str, Any]:
    keys = ("MetricName", "Namespace", "Statistic", "Period")
    metric = {key: alarm.get(key) for key in keys}
    metric["Dimensions"] = sorted(alarm.get("Dimensions", []), key=lambda d: d["Name"])
    return metric


def _expected_alarms(stack: Any, template: assertions.Template) -> dict[str, Any]:
    """Alarm name -> the metric it watches: a ``_simple`` dict, or ``(metric name, table id)`` for the
    DynamoDB per-operation sums."""
    prefix = f"{stack.stack_name}-"
    expected: dict[str, Any] = {}
    for name in API_FUNCTIONS.values():
        function = {"Ref": _logical_id(template, name)}
        key = constants.construct_id(name)
        expected[f"{prefix}{key}Errors"] = _simple("Errors", "AWS/Lambda", "Sum", FunctionName=function)
        expected[f"{prefix}{key}Throttles"] = _simple("Throttles", "AWS/Lambda", "Sum", FunctionName=function)
    stage = stack.api.rest_api.deployment_stage
    expected[f"{prefix}Api5XXErrors"] = _simple(
        "5XXError", "AWS/ApiGateway", "Sum", ApiName=f"{stack.stack_name}-api", Stage={"Ref": _id_of(stage)}
    )
    table = _id_of(stack.storage.events_table)
    expected[f"{prefix}EventsTableThrottles"] = ("ThrottledRequests", table)
    expected[f"{prefix}EventsTableSystemErrors"] = ("SystemErrors", table)
    for name, queue in (
        ("DropDeadLetters", stack.triggers.dead_letter_queue),
        ("DropFailedInvocations", stack.triggers.failed_invocation_queue),
        ("ScheduleDeadLetters", stack.schedules.dead_letter_queue),
    ):
        expected[f"{prefix}{name}Messages"] = _simple(
            "ApproximateNumberOfMessagesVisible",
            "AWS/SQS",
            "Maximum",
            QueueName={"Fn::GetAtt": [_id_of(queue), "QueueName"]},
        )
    for name, machine in stack.workflows.state_machines.items():
        expected[f"{prefix}{constants.construct_id(name)}ExecutionsFailed"] = _simple(
            "ExecutionsFailed", "AWS/States", "Sum", StateMachineArn={"Ref": _id_of(machine)}
        )
    return expected


def test_alarms_watch_what_should_never_happen(synthesized: tuple[Any, assertions.Template]) -> None:
    # Given every alarm of the stack, and the ones the declarations call for
    stack, template = synthesized
    alarms = _alarms(template)
    expected = _expected_alarms(stack, template)

    # Then there is one per API function signal, the API stage, the events table, each queue and each
    # workflow, and no other ...
    assert alarms.keys() == expected.keys()
    assert len(alarms) == 2 * len(API_FUNCTIONS) + 1 + 2 + 3 + len(WORKFLOWS)
    for name, alarm in alarms.items():
        # ... each raised by a single data point above 0 over 5 minutes, quiet when there is no data
        assert alarm["Threshold"] == 0, name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert alarm["EvaluationPeriods"] == 1, name
        assert alarm["TreatMissingData"] == "notBreaching", name
        # ... notifying the alarm topic
        assert alarm["AlarmActions"] == [{"Ref": _id_of(stack.alarms.topic)}], name
        if isinstance(expected[name], dict):
            assert _metric_of(alarm) == expected[name], name


@pytest.mark.parametrize("metric_name", ["ThrottledRequests", "SystemErrors"])
def test_events_table_alarms_sum_every_operation_it_serves(
    synthesized: tuple[Any, assertions.Template], metric_name: str
) -> None:
    # Given the events table alarm on metric_name
    stack, template = synthesized
    table = _id_of(stack.storage.events_table)
    (alarm,) = [
        a
        for name, a in _alarms(template).items()
        if _expected_alarms(stack, template)[name] == (metric_name, table)
    ]
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    stats = [m for m in alarm["Metrics"] if "MetricStat" in m]

    # Then it adds up one metric per operation of the table (TransactWriteItems for PutEvents included),
    # each read as 0 when that operation reported nothing
    operations = {
        "".join(word.capitalize() for word in name.split("_")) for name in constants.EVENTS_TABLE_OPERATIONS
    }
    assert "TransactWriteItems" in operations and "Query" in operations
    assert {
        next(d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "Operation")
        for m in stats
    } == operations
    for m in stats:
        assert m["MetricStat"]["Metric"]["MetricName"] == metric_name
        assert m["MetricStat"]["Metric"]["Namespace"] == "AWS/DynamoDB"
        assert {"Name": "TableName", "Value": {"Ref": table}} in m["MetricStat"]["Metric"]["Dimensions"]
        assert (m["MetricStat"]["Stat"], m["MetricStat"]["Period"], m["ReturnData"]) == ("Sum", 300, False)
    assert expression["ReturnData"] is True
    assert expression["Expression"] == " + ".join(f"FILL({m['Id']}, 0)" for m in stats)
    assert len(alarm["Metrics"]) <= 10  # CloudWatch's limit for one alarm


def _dynamodb_calls(module: Path) -> set[str]:
    """The boto3 DynamoDB client methods a DAL module calls (``self._db.<method>(...)``)."""
    return {
        node.func.attr
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "_db"
    }


def test_events_table_alarms_cover_every_operation_picks_issues() -> None:
    # Given the DynamoDB calls of the events table's DAL modules (every picks.dal module but the
    # resources table's)
    modules = sorted(
        m
        for m in (constants.LIBRARY_DIR / "dal").glob("*.py")
        if m.name not in {"__init__.py", "resources.py"}
    )
    calls = set().union(*(_dynamodb_calls(m) for m in modules))

    # Then each is one of the operations the alarms sum (query, batch_get_item, transact_write_items ...)
    assert {"event_store.py"} <= {m.name for m in modules}
    assert {"query", "transact_write_items"} <= calls
    assert {call.upper() for call in calls} <= set(constants.EVENTS_TABLE_OPERATIONS)


def test_alarm_topic_is_encrypted_tls_only_and_open_to_this_stacks_alarms(
    synthesized: tuple[Any, assertions.Template],
) -> None:
    # Given the alarm topic, its policy and its key
    stack, template = synthesized
    resources = template.to_json()["Resources"]
    topic_id, key_id = _id_of(stack.alarms.topic), _id_of(stack.alarms.key)
    (policy,) = template.find_resources(
        "AWS::SNS::TopicPolicy", {"Properties": {"Topics": [{"Ref": topic_id}]}}
    ).values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    key_statements = resources[key_id]["Properties"]["KeyPolicy"]["Statement"]

    # Then the topic is encrypted with its own key (not the data key) ...
    assert resources[topic_id]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key_id != _id_of(stack.storage.key)
    # ... refuses publishing without TLS ...
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # ... admits CloudWatch only for this stack's alarms in this account and region, which all match ...
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    pattern = _render(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert (
        pattern == f"arn:@AWS::Partition:cloudwatch:@AWS::Region:@AWS::AccountId:alarm:{stack.stack_name}-*"
    )
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert all(name.startswith(f"{stack.stack_name}-") for name in _alarms(template))
    # ... lets CloudWatch encrypt what it publishes ...
    (cloudwatch,) = [
        s for s in key_statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # ... and is exported for subscriptions
    template.has_output("AlarmTopicArn", {"Value": {"Ref": topic_id}})
    data_key = resources[_id_of(stack.storage.key)]["Properties"]["KeyPolicy"]["Statement"]
    assert not any("cloudwatch" in json.dumps(s.get("Principal")) for s in data_key)


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


def test_training_image_defaults_to_cdk_json_and_can_be_overridden() -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/picks-training:1"

    assert base_context()[constants.CONTEXT_TRAINING_IMAGE] == constants.DEFAULT_TRAINING_IMAGE
    assert DeploymentOptions.from_context(_Scope()).training_image == constants.DEFAULT_TRAINING_IMAGE
    options = DeploymentOptions.from_context(_Scope(**{constants.CONTEXT_TRAINING_IMAGE: image}))
    assert options.training_image == image


@pytest.mark.parametrize(
    "image",
    [
        "pytorch/pytorch:2.9.0",  # Docker Hub: SageMaker only pulls from ECR
        "public.ecr.aws/deep-learning-containers/pytorch-training:2.9.0-gpu-py312",  # ECR Public
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training",  # no tag or digest
        "763104351884.dkr.ecr.${AWS::Partition}.amazonaws.com/pytorch-training:2.9.0",  # not a region
    ],
)
def test_training_image_must_be_an_ecr_image(image: str) -> None:
    with pytest.raises(ValueError, match=re.escape(constants.CONTEXT_TRAINING_IMAGE)):
        DeploymentOptions.from_context(_Scope(**{constants.CONTEXT_TRAINING_IMAGE: image}))


def test_training_image_renders_the_stack_region_and_domain() -> None:
    image = EcrImage.parse(constants.DEFAULT_TRAINING_IMAGE)

    uri, repository_arn = image.render(
        account="111122223333", region="eu-west-1", url_suffix="amazonaws.com", partition="aws"
    )

    assert uri.startswith("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:")
    assert "-gpu-py312-" in uri and uri.endswith("-sagemaker")  # GPU-capable, Python 3.12, script mode
    assert repository_arn == "arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-training"


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


# --- training source archive (no synth) ------------------------------------------------------------


def _fake_sources(root: Path, *, init: bool) -> dict[str, Path]:
    """A training package, a library and requirements in ``root``, shaped like the repository's."""
    training, library = root / "training", root / "library" / "picks"
    for folder in (training / "recipes", training / "__pycache__", training / "tests", library / "workflows"):
        folder.mkdir(parents=True)
    (training / "train.py").write_text(
        "import os, sys\nimport picks\n\ndef main():\n    print('trained with', picks.NAME)\n    return 0\n\n"
        "def run_and_exit():\n    code = main()\n    sys.stdout.flush()\n    os._exit(code)\n"
    )
    (training / "recipes" / "__init__.py").write_text("")
    (training / "__pycache__" / "train.cpython-312.pyc").write_bytes(b"\0")
    (training / "tests" / "test_train.py").write_text("")
    if init:
        (training / "__init__.py").write_text("")
    (library / "__init__.py").write_text("NAME = 'picks'\n")
    (library / "workflows" / "__init__.py").write_text("")
    (root / "requirements.txt").write_text("implicit==0.7.3\n")
    return {"training_dir": training, "library_dir": library, "requirements": root / "requirements.txt"}


def test_source_archive_has_the_script_mode_layout(tmp_path: Path) -> None:
    # Given sources whose training folder has no __init__.py yet, bundled into an empty folder
    sources = _fake_sources(tmp_path / "src", init=False)
    files = bundling.training_source_files(**sources)
    out = tmp_path / "out"
    out.mkdir()

    assert bundling.SourceArchiveBundling(files).try_bundle(str(out)) is True

    # Then the folder holds one sourcedir.tar.gz: train.py and requirements.txt at the root, the
    # training package (made a regular package, no caches or tests) and the picks library
    (archive_path,) = out.iterdir()
    assert archive_path.name == constants.TRAINING_SOURCE_ARCHIVE
    with tarfile.open(archive_path, "r:gz") as archive:
        names = archive.getnames()
        shim = archive.extractfile("train.py").read().decode()  # type: ignore[union-attr]
        requirements = archive.extractfile("requirements.txt").read().decode()  # type: ignore[union-attr]
    assert names == [
        "picks/__init__.py",
        "picks/workflows/__init__.py",
        "requirements.txt",
        "train.py",
        "training/__init__.py",
        "training/recipes/__init__.py",
        "training/train.py",
    ]
    assert requirements == "implicit==0.7.3\n"
    # ... and train.py only imports training.train and runs its main() as a process (run_and_exit)
    imports = [node for node in ast.walk(ast.parse(shim)) if isinstance(node, ast.ImportFrom | ast.Import)]
    assert [(node.module, [alias.name for alias in node.names]) for node in imports] == [
        ("training.train", ["run_and_exit"])
    ]
    assert len(shim.strip().splitlines()) == 5


def test_source_archive_runs_as_sagemaker_would(tmp_path: Path) -> None:
    # Given the archive extracted the way the training toolkit does (into /opt/ml/code)
    files = bundling.training_source_files(**_fake_sources(tmp_path / "src", init=True))
    archive_path = bundling.write_source_archive(files, tmp_path / "sourcedir.tar.gz")
    code = tmp_path / "code"
    with tarfile.open(archive_path, "r:gz") as archive:
        archive.extractall(code, filter="data")

    # When script mode runs the entry point from there
    result = subprocess.run(
        [sys.executable, "train.py"], cwd=code, capture_output=True, text=True, check=False, env={}
    )

    # Then training.train.main() ran (through run_and_exit), importing the bundled picks
    assert result.returncode == 0, result.stderr
    assert result.stdout == "trained with picks\n"


def test_source_archive_is_reproducible_and_its_hash_follows_every_file(tmp_path: Path) -> None:
    sources = _fake_sources(tmp_path / "src", init=True)
    files = bundling.training_source_files(**sources)
    first = bundling.write_source_archive(files, tmp_path / "a" / "sourcedir.tar.gz").read_bytes()
    second = bundling.write_source_archive(files, tmp_path / "b" / "sourcedir.tar.gz").read_bytes()
    assert first == second  # equal sources, equal bytes (fixed timestamps and owners)

    before = bundling.training_source_hash(files)
    for changed in (
        sources["training_dir"] / "recipes" / "__init__.py",
        sources["library_dir"] / "workflows" / "__init__.py",
        sources["requirements"],
    ):
        changed.write_text(changed.read_text() + "# changed\n")
        after = bundling.training_source_hash(bundling.training_source_files(**sources))
        assert after != before, changed
        before = after
    # Neither caches nor tests take part
    (sources["training_dir"] / "tests" / "test_more.py").write_text("")
    assert bundling.training_source_hash(bundling.training_source_files(**sources)) == before


def test_repository_sources_make_a_complete_archive() -> None:
    names = list(bundling.training_source_files())

    assert {"train.py", "requirements.txt", "training/__init__.py"} <= set(names)
    assert "picks/workflows/training_contract.py" in names
    assert not any("__pycache__" in name or "/tests/" in name or name.endswith(".pyc") for name in names)


def test_training_requirements_use_the_repository_pins() -> None:
    training = _pins(constants.TRAINING_REQUIREMENTS)
    repository = _pins(constants.REPO_ROOT / "requirements.txt")

    assert {"implicit", "scipy", "threadpoolctl", "tqdm", "numpy", "boto3", "botocore"} <= training.keys()
    assert "torch" not in training  # preinstalled in the PyTorch training container
    assert {name: repository[name] for name in training if name in repository} == {
        name: version for name, version in training.items() if name in repository
    }
