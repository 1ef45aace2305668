"""Worker: run the job's workload on one subtask, store its result, record the completion.

Runs on an SQS event source mapping with ReportBatchItemFailures. The partial
result goes to S3 first (same key on every attempt, so a retry overwrites
rather than adds), then the completion is recorded exactly once in the
tracker. The one completion that fills its shard starts the shard's reduction.

A failure that no retry can fix (PermanentSubtaskError, such as a line longer
than max_line_bytes, or bytes that are not UTF-8) fails the subtask at once
with its reason. Any other failure goes back to SQS for another receive, and
its reason is kept for the DLQ handler, which records it with the subtask.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns import aws_clients, settings
from serverless_patterns.consolidation import complete_subtask, is_stopped, tracker
from serverless_patterns.errors import DETERMINISTIC_ERRORS, describe
from serverless_patterns.fan_out import InvalidSubtaskMessage, Subtask
from serverless_patterns.inputs import read_input
from serverless_patterns.job_tracker import Outcome
from serverless_patterns.sources import item_name
from serverless_patterns.workload_registry import workload

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_metrics_lock = threading.Lock()


def count(name: str) -> None:
    """Add 1 to a metric; the records of a batch run on threads, and the metric set is shared."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _succeed(subtask: Subtask) -> None:
    task = read_input(
        aws_clients.client("s3"),
        subtask.job_id,
        subtask.subtask_id,
        subtask.work,
        int(settings.positive_number("MAX_LINE_BYTES", 64 * 1024)),
    )
    result: Any = workload(subtask.workload).process(task)
    aws_clients.client("s3").put_object(
        Bucket=settings.required("JOB_BUCKET"),
        Key=subtask.partial_key,
        Body=json.dumps({"item": item_name(subtask.work), "result": result}, separators=(",", ":")).encode(),
        ContentType="application/json",
    )
    completion = complete_subtask(subtask, Outcome.SUCCEEDED, {"result_key": subtask.partial_key})
    if completion.first:
        logger.info("subtask completed", extra={"result_key": subtask.partial_key})
        count("SubtasksCompleted")
    else:
        logger.info("duplicate delivery: already counted")
        count("DuplicatesIgnored")
    if completion.sealed_shard:
        logger.info("last subtask of its shard: shard reduction started", extra={"shard": completion.shard})


@tracer.capture_method
def run_subtask(record: SQSRecord) -> None:
    try:
        subtask = Subtask.from_message(record.body)
    except InvalidSubtaskMessage as error:
        # Never counted: it goes back to SQS, then to the DLQ, whose handler quarantines it.
        logger.error("malformed subtask message", extra={"message_id": record.message_id, "reason": str(error)})
        count("MalformedSubtasks")
        raise
    # Thread-local keys: the records of a batch run side by side, each logging its own subtask.
    logger.thread_safe_append_keys(**subtask.log_keys)
    try:
        _run(subtask, record)
    finally:
        logger.thread_safe_remove_keys(subtask.log_keys)


def _run(subtask: Subtask, record: SQSRecord) -> None:
    if is_stopped(subtask):
        # Cancelled, or failed past its tolerance: counted as skipped, so the job still ends, exactly.
        if complete_subtask(subtask, Outcome.SKIPPED, {}).first:
            logger.info("job stopped: subtask skipped")
            count("SubtasksSkipped")
        return
    try:
        _succeed(subtask)
    except DETERMINISTIC_ERRORS as error:
        # No retry can change the outcome: fail now, keep the reason, spare the remaining receives.
        logger.warning("subtask input cannot be processed: failed without retries", extra={"error": describe(error)})
        detail = {"error": {**describe(error), "attempts": 1}, "item": item_name(subtask.work)}
        complete_subtask(subtask, Outcome.FAILED, detail)
        count("SubtasksFailed")
    except Exception as error:
        logger.exception(
            "subtask failed; SQS will deliver it again",
            extra={"receive_count": record.attributes.approximate_receive_count},
        )
        count("SubtaskAttemptsFailed")
        _remember_error(subtask, error)
        raise


def _remember_error(subtask: Subtask, error: Exception) -> None:
    """Keep the reason of this attempt's failure for the DLQ handler; never hide the failure itself."""
    try:
        tracker().record_attempt_error(
            subtask.job_id, subtask.subtask_id, subtask.shard, describe(error), subtask.expires_at
        )
    except Exception:
        logger.exception("could not record the subtask's error")


def record_handler(threads: int):
    """Run each record's subtask on a thread, at most `threads` at once: a subtask mostly waits on AWS calls."""
    slots = asyncio.Semaphore(threads)

    async def handle(record: SQSRecord) -> None:
        async with slots:
            await asyncio.to_thread(run_subtask, record)

    return handle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    handler = record_handler(int(settings.positive_number("WORKER_THREADS", 10)))
    return async_process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
