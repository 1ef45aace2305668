"""Ventilator: split a job into subtasks, register it, fan the subtasks out over SQS.

Started by an S3 upload under the incoming/ prefix, or invoked with a job spec
{"input": {"bucket", "key"}, "chunk_size_bytes"?, "job_id"?}. The job and its
total are registered in the tracker before the first subtask is sent, so no
worker can finish before the total exists. Subtasks go out with
SendMessageBatch (10 per call) from parallel senders; a job too large to
dispatch within one invocation continues in a new asynchronous invocation.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from serverless_patterns import aws_clients, settings
from serverless_patterns.chunks import plan_chunks
from serverless_patterns.fan_out import InvalidJobSpec, JobSpec, Limits, Subtask, job_id_for_object, parse_spec
from serverless_patterns.job_tracker import JobTracker, shard_count_for

logger = Logger()
metrics = Metrics()
tracer = Tracer()

SQS_BATCH = 10
SEND_ATTEMPTS = 5
WAVE = 500  # subtasks dispatched between two looks at the remaining time
RESERVED_MILLIS = 15_000  # kept back to hand the rest of the job over


def _limits() -> Limits:
    return Limits(
        min_chunk_size_bytes=int(settings.positive_number("MIN_CHUNK_SIZE_BYTES", 1024)),
        max_chunk_size_bytes=int(settings.positive_number("MAX_CHUNK_SIZE_BYTES", 512 * 1024 * 1024)),
        max_subtasks=int(settings.positive_number("MAX_SUBTASKS", 100_000)),
    )


def _default_chunk_size() -> int:
    return int(settings.positive_number("DEFAULT_CHUNK_SIZE_BYTES", 1024 * 1024))


def _specs_from_event(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Job specs from an S3 notification, or the directly submitted spec."""
    if "Records" not in event:
        return [event]
    specs = []
    for record in event["Records"]:
        s3 = record["s3"]
        bucket, key = s3["bucket"]["name"], unquote_plus(s3["object"]["key"])
        etag = s3["object"].get("eTag") or s3["object"].get("sequencer", "")
        specs.append({"input": {"bucket": bucket, "key": key}, "job_id": job_id_for_object(bucket, key, etag)})
    return specs


def _object_size(spec: JobSpec, limits: Limits) -> int:
    try:
        size = aws_clients.client("s3").head_object(Bucket=spec.bucket, Key=spec.key)["ContentLength"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise InvalidJobSpec("input", f"s3://{spec.bucket}/{spec.key} does not exist", "upload it first") from None
        raise
    if size == 0:
        raise InvalidJobSpec("input", f"s3://{spec.bucket}/{spec.key} is empty", "submit a non-empty object")
    subtasks = plan_chunks(size, spec.chunk_size_bytes)
    if subtasks > limits.max_subtasks:
        raise InvalidJobSpec(
            "chunk_size_bytes",
            f"{size} bytes in chunks of {spec.chunk_size_bytes} make {subtasks} subtasks "
            f"(at most {limits.max_subtasks})",
            f"use chunks of at least {-(-size // limits.max_subtasks)} bytes",
        )
    return size


def _send_batch(queue_url: str, subtasks: list[Subtask]) -> None:
    """Send up to 10 subtasks, retrying only the entries that failed."""
    pending = {str(subtask.subtask_id): subtask for subtask in subtasks}
    for attempt in range(SEND_ATTEMPTS):
        response = aws_clients.client("sqs").send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": entry_id, "MessageBody": subtask.to_message()} for entry_id, subtask in pending.items()],
        )
        pending = {failure["Id"]: pending[failure["Id"]] for failure in response.get("Failed", [])}
        if not pending:
            return
        time.sleep(0.1 * 2**attempt)
    raise RuntimeError(f"could not send subtasks {sorted(pending)} after {SEND_ATTEMPTS} attempts")


@tracer.capture_method
def dispatch(spec: JobSpec, object_size: int, shard_count: int, first: int, total: int, context: LambdaContext) -> int:
    """Send subtasks `first`..`total - 1`; return the next subtask still to send."""
    queue_url = settings.required("SUBTASK_QUEUE_URL")
    senders = int(settings.positive_number("SENDER_THREADS", 8))
    next_subtask = first
    with ThreadPoolExecutor(max_workers=senders) as pool:
        while next_subtask < total:
            if context.get_remaining_time_in_millis() < RESERVED_MILLIS:
                break
            wave_end = min(total, next_subtask + WAVE)
            wave = [
                Subtask(
                    job_id=spec.job_id,
                    subtask_id=subtask_id,
                    shard_count=shard_count,
                    correlation_id=spec.correlation_id,
                    bucket=spec.bucket,
                    key=spec.key,
                    chunk_size_bytes=spec.chunk_size_bytes,
                    object_size=object_size,
                )
                for subtask_id in range(next_subtask, wave_end)
            ]
            batches = [wave[i : i + SQS_BATCH] for i in range(0, len(wave), SQS_BATCH)]
            list(pool.map(lambda batch: _send_batch(queue_url, batch), batches))
            metrics.add_metric(name="SubtasksDispatched", unit=MetricUnit.Count, value=len(wave))
            next_subtask = wave_end
    return next_subtask


def _continue_elsewhere(spec: JobSpec, object_size: int, shard_count: int, next_subtask: int, context) -> None:
    aws_clients.client("lambda").invoke(
        FunctionName=context.invoked_function_arn,
        InvocationType="Event",
        Payload=json.dumps(
            {
                "continuation": {
                    "spec": spec.as_dict(),
                    "object_size": object_size,
                    "shard_count": shard_count,
                    "next_subtask": next_subtask,
                }
            }
        ).encode(),
    )
    logger.info("handed the rest of the job to a new invocation", extra={"next_subtask": next_subtask})


def start_job(document: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    limits = _limits()
    job_id = document.get("job_id") if isinstance(document, dict) else None
    try:
        spec = parse_spec(document, _default_chunk_size(), limits)
        logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
        object_size = _object_size(spec, limits)
    except InvalidJobSpec as error:
        job_id = job_id if isinstance(job_id, str) and job_id else "rejected-" + context.aws_request_id
        logger.warning("job spec rejected", extra={"job_id": job_id, "error": error.as_dict()})
        metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
        spec_record = document if isinstance(document, dict) else {"raw": str(document)[:1000]}
        tracker.mark_rejected(job_id, job_id, error.as_dict(), spec_record)
        return {"job_id": job_id, "status": "FAILED", "error": error.as_dict()}

    total = plan_chunks(object_size, spec.chunk_size_bytes)
    shard_count = shard_count_for(
        total,
        int(settings.positive_number("SHARD_THRESHOLD", 1000)),
        int(settings.positive_number("SHARDS_ABOVE_THRESHOLD", 10)),
    )
    timeout = int(settings.positive_number("JOB_TIMEOUT_SECONDS", 3600))
    created = tracker.register_job(spec.job_id, total, shard_count, spec.correlation_id, timeout, spec.as_dict())
    if not created:
        job = tracker.get_job(spec.job_id) or {}
        logger.info("job already registered: dispatching again, duplicates are not counted")
        shard_count = int(job.get("shard_count", shard_count))
    logger.info("job registered", extra={"total": total, "shard_count": shard_count, "object_size": object_size})
    return _dispatch_and_hand_over(spec, object_size, shard_count, 0, total, context)


def _dispatch_and_hand_over(spec, object_size, shard_count, first, total, context) -> dict[str, Any]:
    next_subtask = dispatch(spec, object_size, shard_count, first, total, context)
    if next_subtask < total:
        _continue_elsewhere(spec, object_size, shard_count, next_subtask, context)
    return {"job_id": spec.job_id, "status": "RUNNING", "total": total, "dispatched_until": next_subtask}


def continue_job(continuation: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = JobSpec(**continuation["spec"])
    logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
    object_size = continuation["object_size"]
    total = plan_chunks(object_size, spec.chunk_size_bytes)
    return _dispatch_and_hand_over(
        spec, object_size, continuation["shard_count"], continuation["next_subtask"], total, context
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | list[dict[str, Any]]:
    if isinstance(event, dict) and "continuation" in event:
        return continue_job(event["continuation"], context)
    results = [start_job(document, context) for document in _specs_from_event(event)]
    return results[0] if len(results) == 1 and "Records" not in event else results
