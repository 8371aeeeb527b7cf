"""cdk-nag (AwsSolutions) findings picks accepts, each on the narrowest construct, each with its reason.

cdk-nag 3 reads CDK's own ``Validations.of(construct).acknowledge(...)`` records; an acknowledgment
covers the construct it is made on and everything below it. Granular rules (IAM4, IAM5) report one
finding per policy or action/resource, acknowledged one by one as ``Rule[finding]``. Findings that
name a resource carry its logical id, which is computed here rather than copied from a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from picks.dal.event_store import BY_GROUP_INDEX
from picks.dal.resources import BY_KIND_INDEX
from picks.workflows.declaration import (
    SCHEDULES,
    TRAINING_INPUT_PREFIX,
    TRAINING_OUTPUT_PREFIX,
    WORKFLOWS,
    Step,
    TrainingStep,
)

from infrastructure import constants

if TYPE_CHECKING:
    from constructs import IConstruct

    from infrastructure.constructs.training import TrainingJobs
    from infrastructure.stacks.picks_stack import PicksStack

_MANAGED_POLICY = "Policy::arn:<AWS::Partition>:iam::aws:policy/"

X_RAY_AND_LOG_DELIVERY = (
    "X-Ray PutTraceSegments/PutTelemetryRecords and CloudWatch Logs log-delivery actions do not support "
    "resource-level permissions, so their statements must name Resource '*'."
)
KMS_GRANT = (
    "Added by the CDK encrypt/decrypt grant for the single customer-managed key of the data bucket and "
    "tables; the wildcard only covers the GenerateDataKey*/ReEncrypt* variants, on that key alone."
)
S3_GRANT = (
    "Added by the CDK read/write grant on the picks data bucket: the action wildcards are the "
    "Get/List/Delete/Abort variants and the resource wildcard is the objects of that one bucket."
)
TABLE_INDEXES = (
    f"Added by the CDK table grant: queries on the table's own secondary indexes ({BY_KIND_INDEX} lists "
    "resources); scoped to the picks resources table."
)
EVENTS_TABLE_INDEXES = (
    f"Added by the CDK table grant: queries on the events table's own secondary indexes ({BY_GROUP_INDEX}, "
    "which training exports a dataset group's events from); scoped to the picks events table."
)
LAMBDA_VERSIONS = (
    "Added by the Step Functions LambdaInvoke task: invoking any version or alias of the step function "
    "itself, and nothing else."
)
SCHEDULE_INVOKES_VERSIONS = (
    "Added by the EventBridge Scheduler LambdaInvoke target: its role may invoke any version or alias of "
    "the scheduled function itself, and nothing else."
)
SCHEDULE_DLQ_IS_DLQ = (
    "This queue is the dead-letter queue of the schedules' targets (deliveries EventBridge Scheduler gave up "
    "on); a dead-letter queue of its own would only move the problem."
)
ACT_AS_CALLERS_ROLES = (
    "Deliberate: like Amazon Personalize, a job reads a user's bucket as the IAM role the caller names "
    "(roleArn), known only at run time. Only sts:AssumeRole, only on roles of this account, and each "
    "role's own trust policy must name this function's role as well."
)
TRUSTED_BUCKETS = (
    "The operator listed these buckets in the picks:trustedBuckets context at deploy time; import jobs "
    "read any object in them with picks' own role (s3:GetObject only), so the wildcard is the object keys."
)
RUNTIME_VERSION = (
    f"Pinned to python{constants.LAMBDA_PYTHON_VERSION}: the pinned numpy ships manylinux_2_28 wheels, which "
    "need the Amazon Linux 2023 runtimes, and picks is developed and tested on Python 3.11/3.12. The "
    "dependencies layer is built for this exact version, so runtime upgrades are a deliberate change."
)
IAM_NOT_COGNITO = (
    "The API is called by AWS SDK clients signing requests with SigV4 (IAM authorization), the same way "
    "Amazon Personalize is; a Cognito user pool authorizer would break stock boto3 clients."
)
NO_WAF = (
    "Every method requires IAM (SigV4) authorization, so anonymous traffic is rejected before reaching "
    "the functions; a WAF web ACL is an optional, paid addition that operators can associate with the stage."
)
API_GATEWAY_LOGGING_ROLE = (
    "AmazonAPIGatewayPushToCloudWatchLogs is the role API Gateway documents for its account-level "
    "CloudWatch logging setting, needed for the access and execution logs of the stage."
)
DLQ_IS_DLQ = (
    "This queue is itself the dead-letter queue of the EventBridge trigger targets; cdk-nag only "
    "recognizes SQS redrive policies as dead-letter use."
)
FAILURE_DESTINATION_IS_DLQ = (
    "This queue is itself the on-failure destination (dead-letter queue) of the trigger functions' "
    "asynchronous invocations; cdk-nag only recognizes SQS redrive policies as dead-letter use."
)
TRAINING_ACCOUNT_WIDE = (
    "ecr:GetAuthorizationToken (the registry login token) and cloudwatch:PutMetricData have no "
    "resource-level permissions, so their statements must name Resource '*'; PutMetricData is limited "
    "by a cloudwatch:namespace condition to SageMaker's training job namespace."
)
TRAINING_OUTPUT_KEY = (
    "Added by the Step Functions SageMakerCreateTrainingJob task's encrypt grant for the job's output "
    "key, the single customer-managed key of the data bucket; the wildcards only cover the "
    "GenerateDataKey*/ReEncrypt* variants, on that key alone."
)
TRAINING_INPUT = (
    f"A training job copies its channel, every object under {TRAINING_INPUT_PREFIX}<job name>/, and "
    f"job names are chosen by the Prepare step at run time; read access is limited to the "
    f"{TRAINING_INPUT_PREFIX} prefix of the data bucket."
)
TRAINING_OUTPUT = (
    f"SageMaker writes the model files under <job name>/output/model/ in {TRAINING_OUTPUT_PREFIX}, with "
    f"job names chosen at run time; write access (PutObject, AbortMultipartUpload) is limited to the "
    f"{TRAINING_OUTPUT_PREFIX} prefix."
)
TRAINING_LOG_STREAMS = (
    f"SageMaker writes one log stream per training job, named after the job, into the account's "
    f"{constants.TRAINING_LOG_GROUP} log group; the wildcard covers the streams of that one group."
)
TRAINING_JOBS_OF_STATE_MACHINE = (
    "Added by the Step Functions SageMakerCreateTrainingJob task: the job name is read from the "
    "execution's state at run time, so CreateTrainingJob, DescribeTrainingJob, StopTrainingJob and "
    "AddTags name the training jobs of this account and region."
)
TRAINING_STATE_MACHINE_ACCOUNT_WIDE = (
    "sagemaker:ListTags, added by the SageMakerCreateTrainingJob task, and the X-Ray and CloudWatch Logs "
    "log-delivery actions have no resource-level permissions, so their statements must name Resource '*'."
)
STOP_TRAINING_JOBS = (
    "StopSolutionVersionCreation stops the solution version's training job, whose name is chosen by the "
    "Prepare step at run time; only sagemaker:StopTrainingJob is allowed, on the training jobs of this "
    "account and region."
)
BUCKET_NOTIFICATIONS_HANDLER = (
    "CDK's own singleton handler that turns on EventBridge notifications for the data bucket at deploy "
    "time; its role and runtime are managed by aws-cdk-lib, not by picks."
)


def acknowledge_nag_findings(stack: PicksStack) -> None:
    """Record every accepted AwsSolutions finding of ``stack``."""
    functions = stack.functions
    # Findings shared by every function role (their default policies).
    _acknowledge(
        functions,
        ("AwsSolutions-L1", RUNTIME_VERSION),
        ("AwsSolutions-IAM5[Resource::*]", X_RAY_AND_LOG_DELIVERY),
        (f"AwsSolutions-IAM5[Resource::{_arn(stack.storage.table)}/index/*]", TABLE_INDEXES),
        (f"AwsSolutions-IAM5[Resource::{_arn(stack.storage.bucket)}/*]", S3_GRANT),
        ("AwsSolutions-IAM5[Action::s3:GetObject*]", S3_GRANT),
        ("AwsSolutions-IAM5[Action::s3:GetBucket*]", S3_GRANT),
        ("AwsSolutions-IAM5[Action::s3:List*]", S3_GRANT),
        ("AwsSolutions-IAM5[Action::s3:DeleteObject*]", S3_GRANT),
        ("AwsSolutions-IAM5[Action::s3:Abort*]", S3_GRANT),
        ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", KMS_GRANT),
        ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", KMS_GRANT),
    )
    for name in sorted(constants.EVENTS_TABLE_WRITERS | constants.EVENTS_TABLE_READERS):
        _acknowledge(
            functions.functions[name].role,
            (
                f"AwsSolutions-IAM5[Resource::{_arn(stack.storage.events_table)}/index/*]",
                EVENTS_TABLE_INDEXES,
            ),
        )
    partition = "arn:<AWS::Partition>"
    for name in constants.USER_BUCKET_USERS:
        _acknowledge(
            functions.functions[name].role,
            (f"AwsSolutions-IAM5[Resource::{partition}:iam::<AWS::AccountId>:role/*]", ACT_AS_CALLERS_ROLES),
            *(
                (f"AwsSolutions-IAM5[Resource::{partition}:s3:::{bucket}/*]", TRUSTED_BUCKETS)
                for bucket in stack.trusted_buckets
            ),
        )

    step_functions = {
        step.function
        for flow in WORKFLOWS.values()
        for step in (*flow.steps, flow.on_failure)
        if isinstance(step, Step)
    }
    _acknowledge(
        stack.workflows,
        ("AwsSolutions-IAM5[Resource::*]", X_RAY_AND_LOG_DELIVERY),
        *(
            (f"AwsSolutions-IAM5[Resource::{_arn(functions.functions[name])}:*]", LAMBDA_VERSIONS)
            for name in step_functions
        ),
    )

    if stack.training is not None:
        _acknowledge_training(stack, stack.training, partition)

    _acknowledge(stack.api, ("AwsSolutions-COG4", IAM_NOT_COGNITO), ("AwsSolutions-APIG3", NO_WAF))
    _acknowledge(
        stack.api.rest_api,
        (
            f"AwsSolutions-IAM4[{_MANAGED_POLICY}service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            API_GATEWAY_LOGGING_ROLE,
        ),
    )
    _acknowledge(stack.triggers.dead_letter_queue, ("AwsSolutions-SQS3", DLQ_IS_DLQ))
    _acknowledge(stack.triggers.failed_invocation_queue, ("AwsSolutions-SQS3", FAILURE_DESTINATION_IS_DLQ))
    _acknowledge(stack.schedules.dead_letter_queue, ("AwsSolutions-SQS3", SCHEDULE_DLQ_IS_DLQ))
    for schedule in SCHEDULES:
        _acknowledge(
            stack.schedules.roles[schedule.function],
            (
                f"AwsSolutions-IAM5[Resource::{_arn(functions.functions[schedule.function])}:*]",
                SCHEDULE_INVOKES_VERSIONS,
            ),
        )

    # aws-cdk-lib adds this singleton at the stack root (id: BucketNotificationsHandler<uuid>).
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            _acknowledge(
                child,
                (
                    f"AwsSolutions-IAM4[{_MANAGED_POLICY}service-role/AWSLambdaBasicExecutionRole]",
                    BUCKET_NOTIFICATIONS_HANDLER,
                ),
            )


def _acknowledge_training(stack: PicksStack, training: TrainingJobs, partition: str) -> None:
    """The SageMaker execution role, the roles of the state machines that train, the job stoppers."""
    bucket = _arn(stack.storage.bucket)
    _acknowledge(
        training.role,
        ("AwsSolutions-IAM5[Resource::*]", TRAINING_ACCOUNT_WIDE),
        ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", TRAINING_OUTPUT_KEY),
        ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", TRAINING_OUTPUT_KEY),
        (f"AwsSolutions-IAM5[Resource::{bucket}/{TRAINING_INPUT_PREFIX}*]", TRAINING_INPUT),
        (f"AwsSolutions-IAM5[Resource::{bucket}/{TRAINING_OUTPUT_PREFIX}*]", TRAINING_OUTPUT),
        (
            f"AwsSolutions-IAM5[Resource::{partition}:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            f"{constants.TRAINING_LOG_GROUP}:*]",
            TRAINING_LOG_STREAMS,
        ),
    )
    training_jobs = (
        f"AwsSolutions-IAM5[Resource::{partition}:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/*]"
    )
    for name, flow in WORKFLOWS.items():
        if any(isinstance(step, TrainingStep) for step in flow.steps):
            _acknowledge(
                stack.workflows.state_machines[name].role,
                (training_jobs, TRAINING_JOBS_OF_STATE_MACHINE),
                ("AwsSolutions-IAM5[Resource::*]", TRAINING_STATE_MACHINE_ACCOUNT_WIDE),
            )
    for name in constants.TRAINING_JOB_STOPPERS:
        _acknowledge(stack.functions.functions[name].role, (training_jobs, STOP_TRAINING_JOBS))


def _acknowledge(construct: IConstruct | None, *findings: tuple[str, str]) -> None:
    if construct is None:
        raise ValueError("cannot acknowledge nag findings on a missing construct")
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in findings)
    )


def _arn(construct: IConstruct) -> str:
    """How cdk-nag spells ``Fn::GetAtt [<logical id>, Arn]`` in a finding."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return f"<{Stack.of(resource).get_logical_id(resource)}.Arn>"
