"""Where subtasks go and how they are grouped: SendMessageBatch to the queue, or PublishBatch to the sns topic.

Each entry names its job as MessageGroupId unless SUBTASK_MESSAGE_GROUPS is "none" (the module's fair_queues
= false). On a standard queue that makes it an SQS fair queue: while one job holds a large share of the messages
in flight, SQS delivers the other jobs' messages first. A standard topic passes the group on only to SQS queues
subscribed to it, so with the sns transport, whose subscriber is the worker function, it has no effect. The
retries of the entries that failed are the callers', one batch at a time.
"""

from __future__ import annotations

import os
from typing import Any

from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared import aws_clients, settings
from serverless_patterns.shared.settings import SettingError

BATCH_ENTRIES = 10  # SendMessageBatch and PublishBatch alike
SQS_BATCH_BYTES = 1024 * 1024
SNS_BATCH_BYTES = 256 * 1024
MESSAGE_GROUPS = ("job", "none")  # SUBTASK_MESSAGE_GROUPS: a subtask's MessageGroupId is its job id, or absent


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


def message_group(job_id: str | None) -> str | None:
    """The MessageGroupId of a job's subtasks: its id, unless SUBTASK_MESSAGE_GROUPS is "none" (or no job is named)."""
    # Unset means "job", as fair_queues defaults to true. MiniStack, moto and LocalStack (since 4.7) accept a group on
    # a standard queue; none of them reorders deliveries by it.
    groups = os.environ.get("SUBTASK_MESSAGE_GROUPS", "").strip() or "job"
    if groups not in MESSAGE_GROUPS:
        raise SettingError(
            f'environment variable SUBTASK_MESSAGE_GROUPS={groups!r} must be "job" or "none": '
            f"the fan_out module sets it from fair_queues"
        )
    return job_id if groups == "job" else None


def send_entries(destination: str, pending: dict[str, str], job_id: str | None = None) -> dict[str, Any]:
    """One SendMessageBatch (or PublishBatch) of entry id -> body of job `job_id`; the response names failed entries.

    Without `job_id` the entries carry no MessageGroupId.
    """
    group_id = message_group(job_id)
    group = {"MessageGroupId": group_id} if group_id else {}
    if is_topic(destination):
        return aws_clients.client("sns").publish_batch(
            TopicArn=destination,
            PublishBatchRequestEntries=[
                {"Id": entry_id, "Message": body, **group} for entry_id, body in pending.items()
            ],
        )
    return aws_clients.client("sqs").send_message_batch(
        QueueUrl=destination,
        Entries=[{"Id": entry_id, "MessageBody": body, **group} for entry_id, body in pending.items()],
    )
