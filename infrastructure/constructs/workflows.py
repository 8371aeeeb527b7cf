"""Step Functions state machines for ``picks.workflows.declaration.WORKFLOWS``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from picks.workflows import training_contract
from picks.workflows.declaration import TrainingStep

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_cdk import aws_lambda as lambda_
    from picks.workflows.declaration import Step, Workflow

    from infrastructure.constructs.training import TrainingJobs

# Where a caught error lands in the state, next to the original input (ResultPath of every Catch).
ERROR_PATH = "$.error"


class _UngrantedS3Location(tasks.S3Location):
    """An S3 URI (literal or JSON path) that grants nothing when bound to a training task.

    ``S3Location.fromJsonExpression`` would give the execution role ``s3:GetObject``/``ListBucket`` on
    every bucket (``*``) and ``fromBucket`` the bucket's full write grant; ``TrainingJobs`` grants its
    role the two prefixes instead.
    """

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri

    def bind(
        self, task: tasks.ISageMakerTask, *, for_reading: bool | None = None, for_writing: bool | None = None
    ) -> tasks.S3LocationConfig:
        return tasks.S3LocationConfig(uri=self._uri)


class _UncompressedOutputTrainingJob(tasks.SageMakerCreateTrainingJob):
    """``SageMakerCreateTrainingJob`` with ``OutputDataConfig.CompressionType`` set.

    CDK's ``OutputDataConfig`` has no compression type; SageMaker's CreateTrainingJob does
    (``training_contract.OUTPUT_COMPRESSION``: the model directory's files are uploaded as they
    are instead of as one ``model.tar.gz``), so it is added to the rendered task parameters.
    """

    def to_state_json(self, *args: Any) -> Any:
        rendered = super().to_state_json(*args)
        parameters = rendered.get("Parameters") or rendered.get("Arguments")
        if not isinstance(parameters, dict) or not isinstance(parameters.get("OutputDataConfig"), dict):
            raise ValueError(f"{self.node.path}: the rendered training task has no OutputDataConfig")
        parameters["OutputDataConfig"]["CompressionType"] = training_contract.OUTPUT_COMPRESSION
        return rendered


class Workflows(Construct):
    """One STANDARD state machine per workflow.

    A ``Step`` is a LambdaInvoke of ``functions[step.function]`` with payload
    ``{"action": step.action, "input": <state>}``; its result becomes the next state. A
    ``TrainingStep`` is a SageMaker CreateTrainingJob task run to completion (``.sync``) from the
    request at ``$.<request_key>`` (``training_contract.TrainingRequest``); the job's description is
    added at ``$.<result_key>`` and the rest of the state passes through. Every step catches
    ``States.ALL`` into ``$.error`` and goes to the ``on_failure`` step, which receives the same
    payload shape and is followed by a Fail state carrying the original error. A ``TrainingStep``
    declared ``ends_without_request`` is reached through a Choice: without ``$.<request_key>`` the
    execution succeeds there (the steps before did the work).

    Each state machine is named ``<stack name>-<workflow name>`` so that its ARN is known without
    referencing it (``arns``): a workflow step's function may then start workflows (a retrained
    version redeploys the campaigns following it) without a circular dependency between the state
    machine, which invokes the function, and the function's environment and role.

    Attributes: ``state_machines`` (workflow name -> ``sfn.StateMachine``), ``arns`` (workflow name
    -> its state machine's ARN, built from the name).
    """

    LOG_RETENTION = logs.RetentionDays.ONE_MONTH

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declarations: Mapping[str, Workflow],
        functions: Mapping[str, lambda_.IFunction],
        training: TrainingJobs | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions = functions
        self._training = training
        stack = Stack.of(self)
        self.arns: dict[str, str] = {
            name: stack.format_arn(
                service="states",
                resource="stateMachine",
                resource_name=self.state_machine_name(name),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in declarations
        }
        self.state_machines: dict[str, sfn.StateMachine] = {
            name: self._build_state_machine(workflow) for name, workflow in declarations.items()
        }

    def state_machine_name(self, workflow: str) -> str:
        return f"{Stack.of(self).stack_name}-{workflow}"

    def _build_state_machine(self, workflow: Workflow) -> sfn.StateMachine:
        # State construct ids only need to be unique per workflow, so each gets its own scope.
        scope = Construct(self, constants.construct_id(workflow.name))
        failed = sfn.Fail(
            scope,
            "Failed",
            state_name="Failed",
            error_path=f"{ERROR_PATH}.Error",
            cause_path=f"{ERROR_PATH}.Cause",
        )
        on_failure = self._invoke(scope, workflow.on_failure, discard_result=True)
        # The failure handler's result is discarded so that Failed still sees the caught error.
        on_failure.add_catch(failed, errors=[sfn.Errors.ALL], result_path=ERROR_PATH)
        on_failure.next(failed)

        steps = [
            self._train(scope, step) if isinstance(step, TrainingStep) else self._invoke(scope, step)
            for step in workflow.steps
        ]
        for step in steps:
            step.add_catch(on_failure, errors=[sfn.Errors.ALL], result_path=ERROR_PATH)
        chain = self._chain(scope, workflow, steps)

        log_group = logs.LogGroup(
            scope,
            "Logs",
            # The /aws/vendedlogs/ prefix keeps CloudWatch Logs resource policies from growing per group.
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-{workflow.name}",
            retention=self.LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,  # a retained named group would block redeploying the stack
        )
        return sfn.StateMachine(
            scope,
            "StateMachine",
            state_machine_name=self.state_machine_name(workflow.name),
            definition_body=sfn.DefinitionBody.from_chainable(chain),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.seconds(workflow.timeout_s),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=f"picks workflow {workflow.name} (picks.workflows.declaration)",
        )

    @staticmethod
    def _chain(scope: Construct, workflow: Workflow, states: list[Any]) -> sfn.IChainable:
        """The states in order; a training step declared ``ends_without_request`` sits behind a
        Choice that ends the execution (Succeed) when the state carries no request for it."""
        chain: sfn.IChainable | None = None
        for step, state in reversed(list(zip(workflow.steps, states, strict=True))):
            link: sfn.IChainable = state if chain is None else sfn.Chain.start(state).next(chain)
            if isinstance(step, TrainingStep) and step.ends_without_request:
                name = constants.construct_id(step.name)
                link = (
                    sfn.Choice(scope, f"{name}Requested", state_name=f"{step.name}Requested")
                    .when(sfn.Condition.is_present(f"$.{step.request_key}"), link)
                    .otherwise(sfn.Succeed(scope, f"{name}NotRequested", state_name="Done"))
                )
            chain = link
        assert chain is not None, f"workflow {workflow.name} has no steps"
        return chain

    def _invoke(self, scope: Construct, step: Step, *, discard_result: bool = False) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            scope,
            constants.construct_id(step.name),
            state_name=step.name,
            lambda_function=self._functions[step.function],
            payload=sfn.TaskInput.from_object({"action": step.action, "input": sfn.JsonPath.entire_payload}),
            payload_response_only=True,  # the function's return value is the next state, nothing else
            retry_on_service_exceptions=True,  # Lambda throttling/service errors, not function errors
            result_path=sfn.JsonPath.DISCARD if discard_result else None,
        )

    def _train(self, scope: Construct, step: TrainingStep) -> tasks.SageMakerCreateTrainingJob:
        training = self._training
        if training is None:
            raise ValueError(f"training step {step.name!r} needs the TrainingJobs construct (training=...)")
        request = f"$.{step.request_key}"
        return _UncompressedOutputTrainingJob(
            scope,
            constants.construct_id(step.name),
            state_name=step.name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,  # .sync: wait for the job to end
            training_job_name=sfn.JsonPath.string_at(f"{request}.jobName"),
            role=training.role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(training.image_uri),
                training_input_mode=tasks.InputMode.FILE,
            ),
            hyperparameters=dict(training.hyperparameters),
            input_data_config=[
                tasks.Channel(
                    channel_name=training_contract.CHANNEL,
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=_UngrantedS3Location(sfn.JsonPath.string_at(f"{request}.inputUri")),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                            s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                        )
                    ),
                    input_mode=tasks.InputMode.FILE,
                )
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=_UngrantedS3Location(training.output_uri),
                encryption_key=training.key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=constants.TRAINING_INSTANCE_COUNT,
                # The request's values already read "ml.<type>"; CDK renders a JSON path as is
                # ("InstanceType.$") and only prefixes literal EC2 instance types with "ml.".
                instance_type=ec2.InstanceType(sfn.JsonPath.string_at(f"{request}.instanceType")),
                volume_size=Size.gibibytes(constants.TRAINING_VOLUME_GIB),
                volume_encryption_key=training.key,
            ),
            stopping_condition=tasks.StoppingCondition(
                max_runtime=Duration.seconds(constants.TRAINING_MAX_RUNTIME_S)
            ),
            result_path=f"$.{step.result_key}",  # keeps the request and everything else in the state
        )
