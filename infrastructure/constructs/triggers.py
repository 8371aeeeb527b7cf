"""EventBridge rules for ``picks.workflows.declaration.TRIGGERS`` (S3 Object Created -> function), and the
queues where the events of those asynchronous invocations end when they cannot be processed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from constructs import Construct

from infrastructure import constants
from infrastructure.constructs import queues

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_s3 as s3
    from picks.workflows.declaration import ObjectCreatedTrigger


class ObjectCreatedTriggers(Construct):
    """One rule per trigger on the default event bus, matching the bucket's EventBridge notifications
    (the bucket must have ``event_bridge_enabled``) for keys under the trigger's prefix.

    EventBridge invokes the function asynchronously, so an event can be lost at two points, and each
    has its own queue: a dropped file that was never imported should be findable.

    * ``dead_letter_queue``: events EventBridge could not hand to Lambda after ``RETRY_ATTEMPTS``
      retries within ``MAX_EVENT_AGE`` (the original event, with EventBridge's error attributes).
    * ``failed_invocation_queue``: the on-failure destination of the function's asynchronous
      invocations, for events Lambda accepted but the function failed on ``FUNCTION_RETRY_ATTEMPTS``
      more times, or could not run within ``FUNCTION_MAX_EVENT_AGE`` (an invocation record: the
      event, the error and the function's response).

    Attributes: ``rules`` (one per trigger, in order), ``dead_letter_queue``,
    ``failed_invocation_queue``, ``invoke_configs`` (function name -> its ``EventInvokeConfig``).
    """

    MAX_EVENT_AGE = Duration.hours(2)
    RETRY_ATTEMPTS = 4
    # Lambda's asynchronous retries (at most 2) and how long an event may wait in its queue (at most 6 h).
    FUNCTION_MAX_EVENT_AGE = Duration.hours(2)
    FUNCTION_RETRY_ATTEMPTS = 2

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declarations: Sequence[ObjectCreatedTrigger],
        bucket: s3.IBucket,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = queues.failure_queue(self, "DeadLetters")
        self.failed_invocation_queue = queues.failure_queue(self, "FailedInvocations")
        # One per function (several triggers may share one); the destination grants sqs:SendMessage on
        # this queue to the function's role.
        self.invoke_configs: dict[str, lambda_.EventInvokeConfig] = {
            name: lambda_.EventInvokeConfig(
                self,
                constants.construct_id(name, "AsyncInvoke"),
                function=functions[name],
                on_failure=destinations.SqsDestination(self.failed_invocation_queue),
                retry_attempts=self.FUNCTION_RETRY_ATTEMPTS,
                max_event_age=self.FUNCTION_MAX_EVENT_AGE,
            )
            for name in dict.fromkeys(trigger.function for trigger in declarations)
        }
        self.rules: list[events.Rule] = [
            events.Rule(
                self,
                constants.construct_id(trigger.prefix, "to", trigger.function),
                description=f"picks: s3://<data bucket>/{trigger.prefix}* created -> {trigger.function}",
                event_pattern=events.EventPattern(
                    source=["aws.s3"],
                    detail_type=["Object Created"],
                    detail={
                        "bucket": {"name": [bucket.bucket_name]},
                        "object": {"key": [{"prefix": trigger.prefix}]},
                    },
                ),
                targets=[
                    targets.LambdaFunction(
                        functions[trigger.function],
                        dead_letter_queue=self.dead_letter_queue,
                        retry_attempts=self.RETRY_ATTEMPTS,
                        max_event_age=self.MAX_EVENT_AGE,
                    )
                ],
            )
            for trigger in declarations
        ]
