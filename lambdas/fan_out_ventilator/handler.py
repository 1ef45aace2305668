"""Ventilator: split a job into subtasks, register it, fan the subtasks out over SQS.

Started by an S3 upload under the incoming/ prefix, or invoked with a job spec
{"input": {"bucket", "key"}, "chunk_size_bytes"?, "job_id"?}. The job and its
total are registered in the tracker before the first subtask is sent, so no
worker can finish before the total exists. Subtasks go out with
SendMessageBatch (10 per call) from parallel senders, and the tracker records
how far dispatch got; a job too large to dispatch within one invocation
continues in a new asynchronous invocation.

A job id names one job: the same spec again (same input, same content, same
chunk size) is answered with the job's status and dispatches nothing twice
(it resumes a dispatch only when its ventilator stopped reporting); another
spec under the id, or the id of a finished or rejected job, is refused with an
error naming the fix.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from serverless_patterns import aws_clients, settings
from serverless_patterns.chunks import plan_chunks
from serverless_patterns.fan_out import (
    JOB_ID_PATTERN,
    InvalidJobSpec,
    JobSpec,
    Limits,
    Subtask,
    job_id_for_object,
    parse_spec,
    spec_fingerprint,
    submitted_text,
)
from serverless_patterns.job_tracker import FINAL_STATUSES, JobStatus, JobTracker, ShardLayout, layout_of

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


def _is_s3_record(record: Any) -> bool:
    try:
        return all(isinstance(value, str) for value in (record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]))
    except (TypeError, KeyError):
        return False


def _is_s3_notification(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and bool(records) and all(_is_s3_record(record) for record in records)


def _specs_from_event(event: Any) -> list[Any]:
    """Job specs from an S3 notification, or the directly submitted spec (checked by parse_spec, whatever it is)."""
    if not _is_s3_notification(event):
        return [event]
    specs = []
    for record in event["Records"]:
        s3 = record["s3"]
        bucket, key = s3["bucket"]["name"], unquote_plus(s3["object"]["key"])
        etag, sequencer = s3["object"].get("eTag", ""), s3["object"].get("sequencer", "")
        specs.append(
            {"input": {"bucket": bucket, "key": key}, "job_id": job_id_for_object(bucket, key, etag, sequencer)}
        )
    return specs


def _inspect_input(spec: JobSpec, limits: Limits) -> tuple[int, str]:
    """The input's size and ETag; a missing, empty or too large input is a bad spec."""
    try:
        head = aws_clients.client("s3").head_object(Bucket=spec.bucket, Key=spec.key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}:
            raise InvalidJobSpec("input", f"s3://{spec.bucket}/{spec.key} does not exist", "upload it first") from None
        if code in {"403", "AccessDenied", "Forbidden"}:
            # The ventilator may list its own bucket, so S3 answers 404 there for a missing key: 403 is a refusal.
            raise InvalidJobSpec(
                "input",
                f"the ventilator may not read s3://{spec.bucket}/{spec.key}",
                "put the input in the job bucket under inputs/ (make submit does), or grant the ventilator and "
                "worker roles s3:GetObject on it",
            ) from None
        raise
    size = head["ContentLength"]
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
    return size, head.get("ETag", "")


@dataclass(frozen=True)
class DispatchPlan:
    """Everything needed to send a registered job's subtasks, in this invocation or the next."""

    spec: JobSpec
    object_size: int
    layout: ShardLayout
    expires_at: int
    input_etag: str = ""

    @property
    def total(self) -> int:
        return self.layout.total

    def subtask(self, subtask_id: int) -> Subtask:
        return Subtask(
            job_id=self.spec.job_id,
            subtask_id=subtask_id,
            shard=self.layout.shard_of(subtask_id),
            correlation_id=self.spec.correlation_id,
            bucket=self.spec.bucket,
            key=self.spec.key,
            chunk_size_bytes=self.spec.chunk_size_bytes,
            object_size=self.object_size,
            expires_at=self.expires_at,
            etag=self.input_etag,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DispatchPlan:
        return cls(**{**document, "spec": JobSpec(**document["spec"]), "layout": ShardLayout(**document["layout"])})


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
def dispatch(tracker: JobTracker, plan: DispatchPlan, first: int, context: LambdaContext) -> int:
    """Send subtasks `first`..`total - 1`, recording progress per wave; return the next subtask still to send."""
    queue_url = settings.required("SUBTASK_QUEUE_URL")
    senders = int(settings.positive_number("SENDER_THREADS", 8))
    next_subtask = first
    with ThreadPoolExecutor(max_workers=senders) as pool:
        while next_subtask < plan.total:
            if context.get_remaining_time_in_millis() < RESERVED_MILLIS:
                break
            wave_end = min(plan.total, next_subtask + WAVE)
            wave = [plan.subtask(subtask_id) for subtask_id in range(next_subtask, wave_end)]
            batches = [wave[i : i + SQS_BATCH] for i in range(0, len(wave), SQS_BATCH)]
            list(pool.map(lambda batch: _send_batch(queue_url, batch), batches))
            tracker.record_dispatch(plan.spec.job_id, wave_end)
            metrics.add_metric(name="SubtasksDispatched", unit=MetricUnit.Count, value=len(wave))
            next_subtask = wave_end
    return next_subtask


def _continue_elsewhere(plan: DispatchPlan, next_subtask: int, context: LambdaContext) -> None:
    aws_clients.client("lambda").invoke(
        FunctionName=context.invoked_function_arn,
        InvocationType="Event",
        Payload=json.dumps({"continuation": {"plan": plan.as_dict(), "next_subtask": next_subtask}}).encode(),
    )
    logger.info("handed the rest of the job to a new invocation", extra={"next_subtask": next_subtask})


def _dispatch_and_hand_over(tracker: JobTracker, plan: DispatchPlan, first: int, context) -> dict[str, Any]:
    next_subtask = dispatch(tracker, plan, first, context)
    if next_subtask < plan.total:
        _continue_elsewhere(plan, next_subtask, context)
    return {"job_id": plan.spec.job_id, "status": "RUNNING", "total": plan.total, "dispatched_until": next_subtask}


def _reject(tracker: JobTracker, document: Any, error: InvalidJobSpec, context: LambdaContext) -> dict[str, Any]:
    """Record a bad spec as a FAILED job, under its own job id when it has a usable one."""
    hint = document.get("job_id") if isinstance(document, dict) else None
    job_id = hint if isinstance(hint, str) and JOB_ID_PATTERN.match(hint) else "rejected-" + context.aws_request_id
    logger.warning("job spec rejected", extra={"job_id": job_id, "error": error.as_dict()})
    metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    spec_record = {"submitted": submitted_text(document)}
    if not tracker.mark_rejected(job_id, job_id, error.as_dict(), spec_record, _retention_seconds()):
        existing = tracker.get_job(job_id) or {}
        logger.warning("the rejected spec named an existing job, which stays as it was")
        return {"job_id": job_id, "status": existing.get("status", "FAILED"), "error": error.as_dict()}
    return {"job_id": job_id, "status": "FAILED", "error": error.as_dict()}


def _refusal(job: dict[str, Any], fingerprint: str) -> dict[str, str] | None:
    """Why a submission under an existing job id must not run, or None for the same job again."""
    job_id, status = job["job_id"], job["status"]
    if status == JobStatus.FAILED and "fingerprint" not in job:
        return {
            "field": "job_id",
            "message": f"job {job_id} was rejected: {job.get('error', {}).get('message', 'bad spec')}",
            "fix": "submit the corrected spec under a new job_id",
        }
    if job.get("fingerprint") != fingerprint:
        return {
            "field": "job_id",
            "message": f"job {job_id} exists with another spec (another input, input content or chunk size)",
            "fix": "submit under a new job_id, or resubmit exactly the spec and input of that job",
        }
    if status in FINAL_STATUSES:
        return {
            "field": "job_id",
            "message": f"job {job_id} has finished ({status})",
            "fix": "read its result (job-result), or submit under a new job_id to run it again",
        }
    return None


def _answer_repeat(tracker: JobTracker, job: dict[str, Any], plan: DispatchPlan, context) -> dict[str, Any]:
    """The same spec again: report the job, and resume its dispatch only if its ventilator is gone.

    It is gone when this is a retry of the invocation that dispatched (Lambda
    retries a failed asynchronous invocation with its request id), or when it
    stopped reporting progress for longer than a ventilator can run.
    """
    answer = {
        "job_id": job["job_id"],
        "status": job["status"],
        "total": job["total"],
        "dispatched_until": job["dispatched_until"],
        "repeated": True,
    }
    last_report = datetime.fromisoformat(job["dispatch_updated_at"])
    stale = datetime.now(UTC) - last_report > timedelta(seconds=settings.positive_number("DISPATCH_STALE_SECONDS", 960))
    retried = job.get("dispatcher") == context.aws_request_id
    if job["dispatched_until"] >= job["total"] or not (stale or retried):
        logger.info("job already registered and dispatching or dispatched: nothing sent again")
        return answer
    if not tracker.take_over_dispatch(job["job_id"], job["dispatch_updated_at"], context.aws_request_id):
        return answer
    logger.warning("dispatch of this job had stopped: resuming it", extra={"from": job["dispatched_until"]})
    if not job.get("shards_ready"):
        tracker.create_shards(job)
    return {**_dispatch_and_hand_over(tracker, plan, job["dispatched_until"], context), "repeated": True}


def _retention_seconds() -> int:
    return int(settings.positive_number("JOB_RETENTION_DAYS", 30) * 86400)


def start_job(document: Any, context: LambdaContext) -> dict[str, Any]:
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    limits = _limits()
    try:
        spec = parse_spec(document, _default_chunk_size(), limits)
        logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
        object_size, etag = _inspect_input(spec, limits)
    except InvalidJobSpec as error:
        return _reject(tracker, document, error, context)

    layout = ShardLayout.plan(
        plan_chunks(object_size, spec.chunk_size_bytes),
        int(settings.positive_number("SUBTASKS_PER_SHARD", 1000)),
        int(settings.positive_number("PARALLEL_SHARDS", 1)),
    )
    fingerprint = spec_fingerprint(spec, etag)
    registration = tracker.register_job(
        spec.job_id,
        layout,
        spec.correlation_id,
        int(settings.positive_number("JOB_TIMEOUT_SECONDS", 3600)),
        spec.as_dict(),
        fingerprint,
        _retention_seconds(),
        dispatcher=context.aws_request_id,
    )
    job = registration.job
    if not registration.created and (refusal := _refusal(job, fingerprint)):
        logger.warning("submission refused", extra={"error": refusal})
        metrics.add_metric(name="SubmissionsRefused", unit=MetricUnit.Count, value=1)
        return {"job_id": spec.job_id, "status": job["status"], "error": refusal}
    # The registered job's layout and expiry: a repeat keeps the first registration's.
    plan = DispatchPlan(spec, object_size, layout_of(job), int(job["expires_at"]), etag)
    if not registration.created:
        return _answer_repeat(tracker, job, plan, context)
    logger.info("job registered", extra={**asdict(layout), "object_size": object_size})
    return _dispatch_and_hand_over(tracker, plan, 0, context)


def continue_job(continuation: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = DispatchPlan.from_dict(continuation["plan"])
    logger.append_keys(job_id=plan.spec.job_id, correlation_id=plan.spec.correlation_id)
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    return _dispatch_and_hand_over(tracker, plan, continuation["next_subtask"], context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any] | list[dict[str, Any]]:
    if isinstance(event, dict) and "continuation" in event:
        try:
            return continue_job(event["continuation"], context)
        except (TypeError, KeyError, ValueError) as error:
            # Only a ventilator hands a job over; anything else under this key is refused, not retried.
            logger.error("malformed continuation refused", extra={"reason": repr(error)[:500]})
            return {
                "status": "FAILED",
                "error": {
                    "field": "continuation",
                    "message": "is not a hand-over written by the ventilator",
                    "fix": "submit a job spec (without continuation)",
                },
            }
    results = [start_job(document, context) for document in _specs_from_event(event)]
    return results if _is_s3_notification(event) else results[0]
