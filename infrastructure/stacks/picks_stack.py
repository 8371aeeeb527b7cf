"""The picks stack: storage, functions, training, workflows, API, triggers and alarms, wired together."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from picks.routes import API_FUNCTIONS, FUNCTIONS, routes
from picks.workflows.declaration import SCHEDULES, TRIGGERS, WORKFLOWS, TrainingStep

from infrastructure import constants
from infrastructure.constructs.alarms import OperationalAlarms
from infrastructure.constructs.api import PersonalizeApi
from infrastructure.constructs.functions import LambdaFunctions
from infrastructure.constructs.schedules import Schedules
from infrastructure.constructs.storage import Storage
from infrastructure.constructs.training import TrainingJobs
from infrastructure.constructs.triggers import ObjectCreatedTriggers
from infrastructure.constructs.workflows import Workflows
from infrastructure.stacks.nag_acknowledgments import acknowledge_nag_findings

if TYPE_CHECKING:
    from constructs import Construct

    from infrastructure.options import DeploymentOptions


class PicksStack(Stack):
    """Everything picks needs in one account and region.

    Attributes: ``storage``, ``functions``, ``training`` (None when no workflow trains),
    ``workflows``, ``api``, ``triggers``, ``schedules``, ``alarms`` (the constructs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        options: DeploymentOptions,
        **stack_kwargs: Any,
    ) -> None:
        stack_kwargs.setdefault(
            "description", "picks: self-hosted, Amazon Personalize-compatible recommendations"
        )
        super().__init__(scope, construct_id, **stack_kwargs)
        _check_function_sets()
        self.trusted_buckets = options.trusted_buckets

        # Data outlives the stack: deleting it must never delete imported datasets or resources.
        self.storage = Storage(self, "Storage", removal_policy=RemovalPolicy.RETAIN)
        self.functions = LambdaFunctions(
            self,
            "Functions",
            declarations=FUNCTIONS,
            environment={
                "PICKS_TABLE": self.storage.table.table_name,
                "PICKS_EVENTS_TABLE": self.storage.events_table.table_name,
                "PICKS_BUCKET": self.storage.bucket.bucket_name,
                # picks builds resource ARNs from it; without it they would name a dummy account.
                "PICKS_ACCOUNT": self.account,
                # Read with picks' own role (besides the data bucket); others only as a job's roleArn.
                "PICKS_TRUSTED_BUCKETS": json.dumps(list(options.trusted_buckets)),
            },
            log_level=options.log_level,
            offline_dependencies=options.offline_dependencies,
        )
        # Only a declaration with a TrainingStep gets the SageMaker role, image and source archive.
        trains = any(isinstance(step, TrainingStep) for flow in WORKFLOWS.values() for step in flow.steps)
        self.training = (
            TrainingJobs(
                self,
                "Training",
                bucket=self.storage.bucket,
                key=self.storage.key,
                image=options.training_ecr_image,
            )
            if trains
            else None
        )
        self.workflows = Workflows(
            self,
            "Workflows",
            declarations=WORKFLOWS,
            functions=self.functions.functions,
            training=self.training,
        )
        self.api = PersonalizeApi(
            self, "Api", routes=routes(), functions=self.functions.functions, stage_name=constants.API_STAGE
        )
        self.triggers = ObjectCreatedTriggers(
            self,
            "Triggers",
            declarations=TRIGGERS,
            bucket=self.storage.bucket,
            functions=self.functions.functions,
        )
        self.schedules = Schedules(
            self, "Schedules", declarations=SCHEDULES, functions=self.functions.functions
        )

        self.alarms = OperationalAlarms(
            self,
            "Alarms",
            api_functions={name: self.functions.functions[name] for name in API_FUNCTIONS.values()},
            api_stage=self.api.rest_api.deployment_stage,
            tables={"events_table": self.storage.events_table},
            operations=[dynamodb.Operation[name] for name in constants.EVENTS_TABLE_OPERATIONS],
            dead_letter_queues={
                "drop_dead_letters": self.triggers.dead_letter_queue,
                "drop_failed_invocations": self.triggers.failed_invocation_queue,
                "schedule_dead_letters": self.schedules.dead_letter_queue,
            },
            state_machines=self.workflows.state_machines,
        )

        self._grant_access()
        self._add_outputs()
        Tags.of(self).add("project", constants.SERVICE_NAME)
        acknowledge_nag_findings(self)

    def _grant_access(self) -> None:
        table, bucket = self.storage.table, self.storage.bucket
        for name, function in self.functions.functions.items():
            # Table and bucket grants include the KMS key both are encrypted with.
            if name in constants.READ_ONLY_FUNCTIONS:
                table.grant_read_data(function)
                bucket.grant_read(function)
            elif name in constants.TABLE_ONLY_FUNCTIONS:
                table.grant_read_write_data(function)
            else:
                table.grant_read_write_data(function)
                bucket.grant_read_write(function)

            # The events table is granted only where it is used (constants: EVENTS_TABLE_*).
            if name in constants.EVENTS_TABLE_WRITERS:
                self.storage.events_table.grant_read_write_data(function)
            elif name in constants.EVENTS_TABLE_READERS:
                self.storage.events_table.grant_read_data(function)

            if name in constants.WORKFLOW_STARTERS:
                # ARNs built from the state machines' names, not references: the workflow steps'
                # function starts workflows too, and its state machines invoke it (a cycle otherwise).
                arns = self.workflows.arns
                function.add_to_role_policy(
                    iam.PolicyStatement(
                        sid="StartWorkflows",
                        actions=["states:StartExecution"],
                        resources=sorted(arns.values()),
                    )
                )
                function.add_environment("PICKS_WORKFLOWS", self.to_json_string(arns))

            if name in constants.TRAINING_JOB_STOPPERS and self.training is not None:
                # StopSolutionVersionCreation stops the job itself; job names come from the Prepare step.
                function.add_to_role_policy(
                    iam.PolicyStatement(
                        sid="StopTrainingJobs",
                        actions=["sagemaker:StopTrainingJob"],
                        resources=[
                            self.format_arn(service="sagemaker", resource="training-job", resource_name="*")
                        ],
                    )
                )
                function.add_environment("PICKS_TRAINING_JOBS", constants.TRAINING_JOBS_BACKEND)

            if name in constants.USER_BUCKET_USERS:
                self._grant_user_buckets(function)

    def _grant_user_buckets(self, function: Any) -> None:
        """Users' buckets only as the job's roleArn; S3 read with picks' own role only on trusted buckets.

        Like Amazon Personalize, an import job names the role that may read its source (roleArn), and
        picks assumes it: without account-wide S3 read, picks cannot be made to read (and echo, or train
        on) an object that the caller's role could not read itself.
        """
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ActAsCallersRoles",
                actions=["sts:AssumeRole"],
                # Roles of this account; each role's own trust policy must also name this function's
                # role (docs/deploy.md, Import sources).
                resources=[self.format_arn(service="iam", region="", resource="role", resource_name="*")],
            )
        )
        if self.trusted_buckets:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ReadTrustedBuckets",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{self.partition}:s3:::{bucket}/*" for bucket in self.trusted_buckets],
                )
            )
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ListTrustedBuckets",
                    actions=["s3:ListBucket"],
                    resources=[f"arn:{self.partition}:s3:::{bucket}" for bucket in self.trusted_buckets],
                )
            )

    def _add_outputs(self) -> None:
        CfnOutput(
            self,
            "ApiUrl",
            value=self.api.url,
            description="endpoint_url for picks.client.picks_client (all three Personalize services)",
        )
        CfnOutput(self, "DataBucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "ResourcesTableName", value=self.storage.table.table_name)
        CfnOutput(self, "EventsTableName", value=self.storage.events_table.table_name)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.alarms.topic.topic_arn,
            description="SNS topic every picks alarm notifies: subscribe to it (e.g. by email)",
        )
        CfnOutput(
            self,
            "DropDeadLetterQueueUrl",
            value=self.triggers.dead_letter_queue.queue_url,
            description="Drop events EventBridge could not deliver to the s3_drop function",
        )
        CfnOutput(
            self,
            "DropFailedInvocationQueueUrl",
            value=self.triggers.failed_invocation_queue.queue_url,
            description="Drop events the s3_drop function failed on after its retries",
        )
        for name, machine in self.workflows.state_machines.items():
            CfnOutput(self, f"{name}StateMachineArn", value=machine.state_machine_arn)
        for name in sorted(constants.USER_BUCKET_USERS):
            role = self.functions.functions[name].role
            assert role is not None
            CfnOutput(
                self,
                f"{constants.construct_id(name)}RoleArn",
                value=role.role_arn,
                description="The principal that assumes an import job's roleArn: trust it in that role",
            )


def _check_function_sets() -> None:
    """Fail the synth if constants name a function the declaration does not have (e.g. after a rename)."""
    named = (
        constants.READ_ONLY_FUNCTIONS
        | constants.TABLE_ONLY_FUNCTIONS
        | constants.WORKFLOW_STARTERS
        | constants.USER_BUCKET_USERS
        | constants.TRAINING_JOB_STOPPERS
        | constants.EVENTS_TABLE_WRITERS
        | constants.EVENTS_TABLE_READERS
    )
    unknown = sorted(named - FUNCTIONS.keys())
    if unknown:
        raise ValueError(
            f"infrastructure.constants names functions missing from picks.routes.FUNCTIONS: {unknown}"
        )
    both = sorted(constants.EVENTS_TABLE_WRITERS & constants.EVENTS_TABLE_READERS)
    if both:
        raise ValueError(f"infrastructure.constants: events table writers are readers too: {both}")
