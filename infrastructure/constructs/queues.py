"""The queues where picks parks what failed (dead letters, failed invocations) for someone to look at."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs

if TYPE_CHECKING:
    from constructs import Construct

RETENTION = Duration.days(14)  # SQS's maximum: time to notice the alarm and re-drive


def failure_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that keeps its messages as long as SQS allows."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
    )
