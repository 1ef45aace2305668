"""Where subtasks go and how they are grouped: SendMessageBatch to the queue, or PublishBatch to the sns topic.

The retries of the entries that failed are the ventilator's (its _send_batch), one batch at a time.
"""

from __future__ import annotations

import os
from typing import Any

from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared import aws_clients, settings

BATCH_ENTRIES = 10  # SendMessageBatch and PublishBatch alike
SQS_BATCH_BYTES = 1024 * 1024
SNS_BATCH_BYTES = 256 * 1024


def subtask_destination() -> str:
    """Where subtasks go: the subtask topic with the sns transport (SUBTASK_TOPIC_ARN), else the subtask queue."""
    return os.environ.get("SUBTASK_TOPIC_ARN", "").strip() or settings.required("SUBTASK_QUEUE_URL")


def is_topic(destination: str) -> bool:
    return destination.startswith("arn:") and ":sns:" in destination


def batch_bytes(destination: str) -> int:
    """The most one batch may carry: 256 KiB for PublishBatch, 1 MiB for SendMessageBatch."""
    return SNS_BATCH_BYTES if is_topic(destination) else SQS_BATCH_BYTES


def batches(subtasks: list[Subtask], max_bytes: int = SQS_BATCH_BYTES) -> list[list[tuple[Subtask, str]]]:
    """Groups of at most 10 messages and `max_bytes`: 1 MiB for SendMessageBatch, 256 KiB for PublishBatch."""
    grouped: list[list[tuple[Subtask, str]]] = []
    size = 0
    for subtask in subtasks:
        body = subtask.to_message()
        if not grouped or len(grouped[-1]) == BATCH_ENTRIES or size + len(body.encode()) > max_bytes:
            grouped.append([])
            size = 0
        grouped[-1].append((subtask, body))
        size += len(body.encode())
    return grouped


def send_entries(destination: str, pending: dict[str, str]) -> dict[str, Any]:
    """One SendMessageBatch (or PublishBatch) of entry id -> body; the response names the entries that failed."""
    if is_topic(destination):
        return aws_clients.client("sns").publish_batch(
            TopicArn=destination,
            PublishBatchRequestEntries=[{"Id": entry_id, "Message": body} for entry_id, body in pending.items()],
        )
    return aws_clients.client("sqs").send_message_batch(
        QueueUrl=destination,
        Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
    )
