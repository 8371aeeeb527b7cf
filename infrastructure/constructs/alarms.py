"""CloudWatch alarms on what should never happen in a healthy picks, and the SNS topic they notify."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs
    from aws_cdk import aws_stepfunctions as sfn

_CLOUDWATCH = iam.ServicePrincipal("cloudwatch.amazonaws.com")


class OperationalAlarms(Construct):
    """One alarm per signal, each ``> 0`` over ``PERIOD`` (one evaluation period, missing data is OK):

    * every API function: Lambda ``Errors`` and ``Throttles`` (Sum);
    * the API stage: ``5XXError`` (Sum);
    * each given table: DynamoDB ``ThrottledRequests`` and ``SystemErrors``, summed over ``operations``;
    * each dead-letter queue: ``ApproximateNumberOfMessagesVisible`` (Maximum);
    * each state machine: ``ExecutionsFailed`` (Sum).

    Every alarm notifies ``topic``, encrypted with its own customer-managed key (CloudWatch cannot
    publish to a topic under the AWS-managed SNS key) and refusing publishes without TLS. Alarm names
    are ``<stack name>-<construct id>``, so the topic policy can admit exactly this stack's alarms.

    Attributes: ``key``, ``topic``, ``alarms`` (construct id -> ``cloudwatch.Alarm``).
    """

    PERIOD = Duration.minutes(5)
    THRESHOLD = 0

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_functions: Mapping[str, lambda_.IFunction],
        api_stage: apigw.Stage,
        tables: Mapping[str, dynamodb.Table],
        operations: Sequence[dynamodb.Operation],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        state_machines: Mapping[str, sfn.IStateMachine],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._prefix = f"{stack.stack_name}-"

        # A key of its own: CloudWatch needs kms:Decrypt/GenerateDataKey* on it to publish, which
        # must not extend to the key protecting picks' data.
        self.key = kms.Key(
            self,
            "TopicKey",
            description="picks: encrypts the alarm notifications topic",
            enable_key_rotation=True,
            # Notifications are transient; the key goes (after KMS's waiting period) with the topic.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishEncrypted",
                principals=[_CLOUDWATCH],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="picks alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The topic policy replaces SNS's default one, so CloudWatch must be admitted explicitly: only
        # the alarms of this stack (names start with the stack name), in this account and region.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[_CLOUDWATCH],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=f"{self._prefix}*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,  # ...:alarm:<name>
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for name, function in api_functions.items():
            self._alarm(
                constants.construct_id(name, "Errors"),
                function.metric_errors(period=self.PERIOD, statistic="Sum"),
                f"picks {name} function: invocations ended in an unhandled error",
            )
            self._alarm(
                constants.construct_id(name, "Throttles"),
                function.metric_throttles(period=self.PERIOD, statistic="Sum"),
                f"picks {name} function: invocations were throttled (concurrency limit)",
            )
        self._alarm(
            "Api5XXErrors",
            api_stage.metric_server_error(period=self.PERIOD, statistic="Sum"),
            "picks API: requests answered with a 5XX (function failure, timeout or integration error)",
        )
        for name, table in tables.items():
            self._alarm(
                constants.construct_id(name, "Throttles"),
                _filled_sum(
                    table.metric_throttled_requests_for_operations(operations=operations, period=self.PERIOD)
                ),
                f"picks {name} table: DynamoDB throttled requests",
            )
            self._alarm(
                constants.construct_id(name, "SystemErrors"),
                _filled_sum(
                    table.metric_system_errors_for_operations(operations=operations, period=self.PERIOD)
                ),
                f"picks {name} table: DynamoDB system errors (HTTP 500)",
            )
        for name, queue in dead_letter_queues.items():
            self._alarm(
                constants.construct_id(name, "Messages"),
                queue.metric_approximate_number_of_messages_visible(period=self.PERIOD, statistic="Maximum"),
                f"picks {name}: messages waiting, events that were never processed; inspect and re-drive",
            )
        for name, machine in state_machines.items():
            self._alarm(
                constants.construct_id(name, "ExecutionsFailed"),
                machine.metric_failed(period=self.PERIOD, statistic="Sum"),
                f"picks {name} workflow: executions failed (the resource was marked FAILED)",
            )

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=self.THRESHOLD,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[construct_id] = alarm


def _filled_sum(expression: cloudwatch.IMetric) -> cloudwatch.MathExpression:
    """The per-operation sum of a DynamoDB ``...ForOperations`` helper, with each operation's missing
    data points read as 0.

    DynamoDB only reports ThrottledRequests/SystemErrors for an operation when it has some, and in
    metric math ``a + b`` has no value where either is missing: one throttled operation would never
    raise the alarm while the others are quiet.
    """
    if not isinstance(expression, cloudwatch.MathExpression):
        raise TypeError(f"expected the helper's MathExpression, got {type(expression).__name__}")
    metrics = expression.using_metrics
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
        using_metrics=metrics,
        label=expression.label,
        period=expression.period,
    )
