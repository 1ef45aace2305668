"""Move messages from a dead-letter queue back to their source, or export them for inspection.

Redrive uses an SQS message-move task where the endpoint offers one, and
otherwise copies: receive a batch, send it to the destination, and delete from
the DLQ only the messages whose copy was sent. A crash between send and delete
can leave a message in both queues (at least once, never lost); the consumers
of this project are idempotent, so that copy is harmless.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from serverless_patterns.load_leveling.pacing import TokenBucket

# How endpoints without message-move tasks (older emulators) answer StartMessageMoveTask.
UNSUPPORTED_CODES = {
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
    "InvalidAction",
    "UnknownOperationException",
    "UnknownOperation",
    "NotImplemented",
    "InternalFailure",
}
FINISHED_TASK_STATES = {"COMPLETED", "FAILED", "CANCELLED"}
RECEIVE_VISIBILITY_SECONDS = 60


class RedriveError(RuntimeError):
    pass


@dataclass
class RedriveSummary:
    method: str
    found: int
    in_flight: int = 0  # received by someone when counted: neither found nor moved
    moved: int = 0
    failed_ids: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "found": self.found,
            "in_flight": self.in_flight,
            "moved": self.moved,
            "failed": len(self.failed_ids),
            "failed_message_ids": self.failed_ids,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 1),
        }


def queue_url(sqs: Any, name_or_url: str) -> str:
    if name_or_url.startswith(("http://", "https://")):
        return name_or_url
    return sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"]


def _attributes(sqs: Any, url: str, *names: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names)).get("Attributes", {})


DELETED_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def _sources_by_redrive_policy(sqs: Any, dlq_url: str) -> list[str]:
    """The queues whose redrive policy targets the DLQ, for endpoints without ListDeadLetterSourceQueues."""
    dlq_arn = _attributes(sqs, dlq_url, "QueueArn")["QueueArn"]
    sources = []
    for page in sqs.get_paginator("list_queues").paginate():
        for url in page.get("QueueUrls", []):
            try:
                policy = _attributes(sqs, url, "RedrivePolicy").get("RedrivePolicy")
            except ClientError as error:  # deleted since the listing: not a source any more
                if error.response.get("Error", {}).get("Code") not in DELETED_QUEUE_CODES:
                    raise
                continue
            if policy and json.loads(policy).get("deadLetterTargetArn") == dlq_arn:
                sources.append(url)
    return sources


def source_of(sqs: Any, dlq_url: str) -> str:
    try:
        sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in UNSUPPORTED_CODES:
            raise
        sources = _sources_by_redrive_policy(sqs, dlq_url)
    if not sources:
        raise RedriveError(
            f"{dlq_url} is not the dead-letter queue of any queue: check the name (a DLQ ends in -dlq), "
            "or name the destination with --to"
        )
    if len(sources) > 1:
        raise RedriveError(
            f"{dlq_url} is the dead-letter queue of {len(sources)} queues: name the destination with --to"
        )
    return sources[0]


def _visible(sqs: Any, url: str) -> int:
    return int(_attributes(sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"])


def in_flight(sqs: Any, queue: str) -> int:
    """Messages received by someone and not yet deleted: invisible to a receive until their timeout."""
    url = queue_url(sqs, queue)
    attribute = "ApproximateNumberOfMessagesNotVisible"
    return int(_attributes(sqs, url, attribute)[attribute])


def redrive(
    sqs: Any,
    dlq: str,
    destination: str | None = None,
    max_per_second: float | None = None,
    dry_run: bool = False,
    method: str = "auto",
    on_progress: Callable[[RedriveSummary], None] | None = None,
) -> RedriveSummary:
    """Move every message now in `dlq` to `destination` (default: the DLQ's only source queue)."""
    if method not in {"auto", "move-task", "copy"}:
        raise ValueError("method must be auto, move-task or copy")
    started = time.monotonic()
    dlq_url = queue_url(sqs, dlq)
    destination_url = queue_url(sqs, destination) if destination else source_of(sqs, dlq_url)
    summary = RedriveSummary(
        method=method, found=_visible(sqs, dlq_url), in_flight=in_flight(sqs, dlq_url), dry_run=dry_run
    )
    if dry_run or summary.found == 0:
        summary.seconds = time.monotonic() - started
        return summary
    if method in {"auto", "move-task"}:
        try:
            _move_task(sqs, dlq_url, destination_url, max_per_second, summary, on_progress)
        except ClientError as error:
            if method == "move-task" or error.response.get("Error", {}).get("Code") not in UNSUPPORTED_CODES:
                raise
            method = "copy"
    if method == "copy":
        summary.method = "copy"
        _copy(sqs, dlq_url, destination_url, max_per_second, summary, on_progress)
    summary.seconds = time.monotonic() - started
    return summary


def _move_task(sqs, dlq_url, destination_url, max_per_second, summary, on_progress) -> None:
    dlq_arn = _attributes(sqs, dlq_url, "QueueArn")["QueueArn"]
    # Named even when it is the DLQ's only source: a message that reached the
    # DLQ other than through the redrive policy (sent there by a tool or an
    # on-failure destination) has no original source queue to go back to.
    request: dict[str, Any] = {
        "SourceArn": dlq_arn,
        "DestinationArn": _attributes(sqs, destination_url, "QueueArn")["QueueArn"],
    }
    if max_per_second:
        request["MaxNumberOfMessagesPerSecond"] = int(max_per_second)
    handle = sqs.start_message_move_task(**request)["TaskHandle"]
    summary.method = "move-task"
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
        task = next((task for task in tasks if task.get("TaskHandle") == handle), tasks[0] if tasks else {})
        summary.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if on_progress:
            on_progress(summary)
        if task.get("Status") in FINISHED_TASK_STATES:
            if task["Status"] != "COMPLETED":
                raise RedriveError(
                    f"message move task {task['Status']}: {task.get('FailureReason', 'no reason given')}"
                )
            return
        time.sleep(1)


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Up to 10 messages with every attribute, hidden from others for RECEIVE_VISIBILITY_SECONDS."""
    return sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def _copy(sqs, dlq_url, destination_url, max_per_second, summary, on_progress) -> None:
    pacer = TokenBucket(max_per_second, burst=1) if max_per_second else None
    seen: set[str] = set()
    idle_receives = 0
    # Bounded by what was there at the start: messages that fail again and come
    # back to the DLQ during the redrive are left for the next one.
    while summary.moved + len(summary.failed_ids) < summary.found and idle_receives < 3:
        messages = _receive(sqs, dlq_url)
        remaining = summary.found - summary.moved - len(summary.failed_ids)
        messages = [message for message in messages if message["MessageId"] not in seen][:remaining]
        idle_receives = 0 if messages else idle_receives + 1
        if not messages:
            continue
        seen.update(message["MessageId"] for message in messages)
        if pacer:
            for _ in messages:
                pacer.acquire()
        entries = []
        for index, message in enumerate(messages):
            entry = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            if "MessageGroupId" in message.get("Attributes", {}):
                # A FIFO queue's group, or a fair queue's tenant (a standard queue refuses a deduplication id).
                entry["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
                if destination_url.endswith(".fifo"):
                    entry["MessageDeduplicationId"] = message["MessageId"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        sent_ids = {entry["Id"] for entry in sent.get("Successful", [])}
        delivered = [message for index, message in enumerate(messages) if str(index) in sent_ids]
        summary.failed_ids.extend(m["MessageId"] for i, m in enumerate(messages) if str(i) not in sent_ids)
        if delivered:
            deleted = sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(delivered)],
            )
            # A copy that was sent but not deleted stays in the DLQ too: at least once, never lost.
            summary.moved += len(deleted.get("Successful", []))
        if on_progress:
            on_progress(summary)


def export_messages(sqs: Any, dlq: str, output: TextIO, max_messages: int | None = None) -> int:
    """Write the DLQ's messages as JSON lines and leave them in place; return how many."""
    url = queue_url(sqs, dlq)
    limit = max_messages or _visible(sqs, url)
    written: set[str] = set()
    receipts: list[str] = []
    empty_receives = 0
    while len(written) < limit and empty_receives < 2:
        messages = _receive(sqs, url)
        fresh = [message for message in messages if message["MessageId"] not in written]
        empty_receives = 0 if fresh else empty_receives + 1
        receipts.extend(message["ReceiptHandle"] for message in messages)
        for message in fresh[: limit - len(written)]:
            record = {key: message.get(key) for key in ("MessageId", "Body", "Attributes", "MessageAttributes")}
            output.write(json.dumps(record) + "\n")
            written.add(message["MessageId"])
    # Make them visible again at once, so reading them hides nothing from a redrive.
    for start in range(0, len(receipts), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(receipts[start : start + 10])
            ],
        )
    return len(written)


def export_to_file(sqs: Any, dlq: str, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as output:
        return export_messages(sqs, dlq, output)
