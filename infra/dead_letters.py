"""The dead-letter queue an EventBridge target parks undeliverable events in."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag

RETENTION = Duration.days(14)  # SQS's longest: time to notice the alarm and redrive by hand


def dead_letter_queue(scope: Construct, construct_id: str, *, parked: str) -> sqs.Queue:
    """An encrypted, TLS-only queue keeping events 14 days; `parked` says which events land
    here and why (it becomes the reason this queue has no dead-letter queue of its own)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
    )
    nag.acknowledge(queue, "SQS3", f"This queue is itself a dead-letter queue: {parked}")
    return queue
