"""EventBridge rules for ``picks.workflows.declaration.TRIGGERS`` (S3 Object Created -> function)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3
    from picks.workflows.declaration import ObjectCreatedTrigger


class ObjectCreatedTriggers(Construct):
    """One rule per trigger on the default event bus, matching the bucket's EventBridge notifications
    (the bucket must have ``event_bridge_enabled``) for keys under the trigger's prefix.

    Events EventBridge cannot deliver after its retries go to ``dead_letter_queue`` rather than
    vanishing: a dropped file that was never imported should be findable.

    Attributes: ``rules`` (one per trigger, in order), ``dead_letter_queue``.
    """

    MAX_EVENT_AGE = Duration.hours(2)
    RETRY_ATTEMPTS = 4

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
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
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
