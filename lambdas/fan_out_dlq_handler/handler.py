"""DLQ handler: record subtasks that exhausted their retries as failed, so the job still ends.

Runs on the fan-out dead-letter queue, whichever transport and path moved a
subtask there (serverless_patterns.fan_out.dead_letters). Each failed subtask is counted once in
the tracker with the last error its worker recorded (its message is kept in
the TASK item for a later resubmission); if it was its shard's last open
subtask, the shard's reduction starts.

A message that can never be recorded (not a subtask, or a subtask of no
registered job) is quarantined at once: kept in the job bucket under
quarantine/ with the reason, counted in MessagesQuarantined (which alarms),
and removed from the DLQ. One that fails for another reason is retried, and
quarantined too after QUARANTINE_AFTER_RECEIVES receives, so no message circles
in the DLQ, unseen, until its retention ends.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.errors import describe
from serverless_patterns.fan_in.bucket_layout import QUARANTINE_PREFIX
from serverless_patterns.fan_in.tracker import Outcome, UnknownJobError
from serverless_patterns.fan_in.tracker import configured_tracker as tracker
from serverless_patterns.fan_out import lanes
from serverless_patterns.fan_out.completions import complete_subtask
from serverless_patterns.fan_out.dead_letters import DeadLetter, unwrap
from serverless_patterns.fan_out.jobs import InvalidSubtaskMessage, Subtask
from serverless_patterns.fan_out.sources import item_name
from serverless_patterns.shared import aws_clients, settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def quarantine(record: SQSRecord, error: BaseException) -> str:
    """Keep the message and why it could not be recorded in S3; the DLQ then lets it go."""
    now = datetime.now(UTC)
    reason = describe(error)
    key = f"{QUARANTINE_PREFIX}/{now:%Y-%m-%d}/{record.message_id}.json"
    aws_clients.client("s3").put_object(
        Bucket=settings.required("JOB_BUCKET"),
        Key=key,
        Body=json.dumps(
            {
                "message_id": record.message_id,
                "body": record.body,
                "receive_count": int(record.attributes.approximate_receive_count),
                "sent_at": record.attributes.sent_timestamp,
                "reason": reason,
                "quarantined_at": now.isoformat(),
            }
        ).encode(),
        ContentType="application/json",
    )
    logger.error("message quarantined", extra={"message_id": record.message_id, "key": key, "reason": reason})
    metrics.add_metric(name="MessagesQuarantined", unit=MetricUnit.Count, value=1)
    return key


@tracer.capture_method
def record_failure(record: SQSRecord) -> None:
    try:
        dead = unwrap(record.body, record.raw_event.get("messageAttributes") or {})
        subtask = Subtask.from_message(dead.message)
    except InvalidSubtaskMessage as error:
        quarantine(record, error)
        return
    with logger.append_context_keys(**subtask.log_keys):
        try:
            _record(subtask, dead)
        except UnknownJobError as error:
            quarantine(record, error)
        except Exception as error:
            if _receives_in_dlq(record) < settings.positive_number("QUARANTINE_AFTER_RECEIVES", 5):
                raise
            quarantine(record, error)


def _receives_in_dlq(record: SQSRecord) -> int:
    """Receives since the message reached the DLQ: SQS keeps counting the source queue's (max_receive_count) there."""
    receives = int(record.attributes.approximate_receive_count)
    source_receives = int(settings.positive_number("SOURCE_MAX_RECEIVE_COUNT", 1))
    return receives - source_receives if receives > source_receives else receives


def _record(subtask: Subtask, dead: DeadLetter) -> None:
    # The worker's own record of its last error is the most precise; then what the DLQ path reports.
    error = (
        tracker().last_error(subtask.job_id, subtask.subtask_id, subtask.shard)
        or dead.error
        or {
            "type": "RetriesExhausted",
            "message": "every receive failed and no error was recorded (the worker timed out or ran out of memory?)",
        }
    )
    detail = {"error": error, "item": item_name(subtask.work), "message": dead.message}
    completion = complete_subtask(subtask, Outcome.FAILED, detail)
    if completion.first:
        logger.warning("subtask failed for good")
        metrics.add_metric(name="SubtasksFailed", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    lanes.claim_until(time.monotonic() + context.get_remaining_time_in_millis() / 1000)
    return process_partial_response(event=event, record_handler=record_failure, processor=processor, context=context)
