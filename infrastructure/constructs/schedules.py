"""EventBridge Scheduler schedules for ``picks.workflows.declaration.SCHEDULES`` (a rate -> a function
invoked with the schedule's payload), and the queue where invocations that could not be delivered end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from infrastructure import constants
from infrastructure.constructs import queues

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_lambda as lambda_
    from picks.workflows.declaration import Schedule


class Schedules(Construct):
    """One schedule per declaration, invoking its function with ``Schedule.payload()``.

    Each target gets its own role that may only invoke that function (EventBridge Scheduler assumes
    it). A tick that misses is harmless (the next one finds the same work due: the tick decides by
    stored times), so retries are few and short; what cannot be delivered lands in
    ``dead_letter_queue`` so that a scheduler that stopped working is noticed (an alarm watches it).

    Attributes: ``schedules`` (declaration name -> ``scheduler.Schedule``), ``roles`` (function name ->
    the role the schedules assume to invoke it), ``dead_letter_queue``.
    """

    RETRY_ATTEMPTS = 2
    MAX_EVENT_AGE = Duration.minutes(10)  # past this the next tick is as good

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declarations: Sequence[Schedule],
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = queues.failure_queue(self, "DeadLetters")
        # One role per scheduled function, under this construct (not the stack-wide singleton the
        # target would create): EventBridge Scheduler assumes it to invoke that function only.
        self.roles: dict[str, iam.Role] = {
            name: iam.Role(
                self,
                constants.construct_id(name, "InvokeRole"),
                assumed_by=iam.ServicePrincipal(
                    "scheduler.amazonaws.com",
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                ),
                description=f"picks: EventBridge Scheduler invokes the {name} function",
            )
            for name in dict.fromkeys(declaration.function for declaration in declarations)
        }
        self.schedules: dict[str, scheduler.Schedule] = {
            declaration.name: scheduler.Schedule(
                self,
                constants.construct_id(declaration.name),
                description=f"picks: {declaration.action} on {declaration.function} "
                f"every {declaration.every_minutes} minutes",
                schedule=scheduler.ScheduleExpression.rate(Duration.minutes(declaration.every_minutes)),
                target=scheduler_targets.LambdaInvoke(
                    functions[declaration.function],
                    role=self.roles[declaration.function],
                    input=scheduler.ScheduleTargetInput.from_object(declaration.payload()),
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=self.RETRY_ATTEMPTS,
                    max_event_age=self.MAX_EVENT_AGE,
                ),
            )
            for declaration in declarations
        }
