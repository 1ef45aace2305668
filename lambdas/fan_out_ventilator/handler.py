"""Ventilator: plan a job into subtasks, register it, fan the subtasks out over SQS (or SNS).

Started by an S3 upload under the incoming/ prefix, or invoked with a job spec
{"source": {...}, "workload"?, "tolerated_failure_*"?, "job_id"?} (see
serverless_patterns.fan_out.sources; the first format {"input": {"bucket", "key"},
"chunk_size_bytes"?} is a `lines` source). The plan is made first (a listing
of millions of objects may take several invocations, each handing the rest
over), then the job and its total are registered in the tracker before the
first subtask is sent, so no worker can finish before the total exists.
Subtasks go out with SendMessageBatch (10 per call, 1 MiB at most), or with
the sns transport PublishBatch (10 per call, 256 KiB at most), from
parallel senders, and the tracker records how far dispatch got; a job too
large to dispatch within one invocation continues in a new asynchronous
invocation.

A job id names one job: the same spec again (same source, same content, same
cut and workload) is answered with the job's status and dispatches nothing
twice (it resumes a dispatch only when its ventilator stopped reporting);
another spec under the id, or the id of a finished or rejected job, is refused
with an error naming the fix.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ParamValidationError

from serverless_patterns.fan_in.tracker import FINAL_STATUSES, JobStatus, JobTracker, ShardLayout, layout_of
from serverless_patterns.fan_out import planning, workload_registry
from serverless_patterns.fan_out.completions import trigger_consolidator
from serverless_patterns.fan_out.jobs import (
    JOB_ID_PATTERN,
    InvalidJobSpec,
    JobSpec,
    Limits,
    Subtask,
    configured_chunk_size,
    configured_limits,
    identity_refusal,
    in_first_format,
    is_first_format,
    job_id_for_object,
    parse_spec,
    spec_fingerprint,
    submitted_text,
)
from serverless_patterns.fan_out.planning import Listing, ManifestWriter, Plan
from serverless_patterns.shared import aws_clients, settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()

BATCH_ENTRIES = 10  # SendMessageBatch and PublishBatch alike
SQS_BATCH_BYTES = 1024 * 1024
SNS_BATCH_BYTES = 256 * 1024
SEND_ATTEMPTS = 5
WAVE = 500  # subtasks dispatched between two looks at the remaining time
# Kept back to hand the rest of the job over; after the last look, up to two waves (the one in flight and
# the next) are still sent, seconds at most.
RESERVED_MILLIS = 15_000


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


@dataclass(frozen=True)
class DispatchPlan:
    """Everything needed to send a registered job's subtasks, in this invocation or the next."""

    job_id: str
    correlation_id: str
    workload: str
    plan: Plan
    layout: ShardLayout
    expires_at: int
    run: int = 0
    tolerance: bool = False

    @classmethod
    def of_job(cls, job: dict[str, Any]) -> DispatchPlan:
        """The plan of a registered job, as the tracker holds it."""
        return cls(
            job_id=job["job_id"],
            correlation_id=job["correlation_id"],
            workload=job.get("workload", ""),
            plan=Plan.from_dict(job["plan"]),
            layout=layout_of(job),
            expires_at=int(job["expires_at"]),
            run=int(job.get("run", 0)),
            tolerance=job.get("failure_limit") is not None,
        )

    @property
    def total(self) -> int:
        return self.layout.total

    def subtasks(self, ids: Iterable[int]) -> list[Subtask]:
        # Ids come sorted: the parts they need follow one another, so two in memory suffice.
        read_part = lru_cache(maxsize=2)(planning.read_part(aws_clients.client("s3"), settings.required("JOB_BUCKET")))
        return [
            Subtask(
                job_id=self.job_id,
                subtask_id=subtask_id,
                shard=self.layout.shard_of(subtask_id),
                correlation_id=self.correlation_id,
                expires_at=self.expires_at,
                work=work,
                workload=self.workload,
                run=self.run,
                tolerance=self.tolerance,
            )
            for run_start, run_end in _runs(ids)
            for subtask_id, work in enumerate(self.plan.works(run_start, run_end, read_part), start=run_start)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "plan": self.plan.as_dict()}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DispatchPlan:
        return cls(
            **{**document, "plan": Plan.from_dict(document["plan"]), "layout": ShardLayout(**document["layout"])}
        )


def _runs(ids: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Consecutive ids as [start, end) ranges: 3,4,5,9 -> (3, 6), (9, 10)."""
    start = end = None
    for subtask_id in ids:
        if start is not None and subtask_id == end:
            end += 1
            continue
        if start is not None:
            yield start, end
        start, end = subtask_id, subtask_id + 1
    if start is not None:
        yield start, end


def subtask_destination() -> str:
    """Where subtasks go: the subtask topic with the sns transport (SUBTASK_TOPIC_ARN), else the subtask queue."""
    return os.environ.get("SUBTASK_TOPIC_ARN", "").strip() or settings.required("SUBTASK_QUEUE_URL")


def _is_topic(destination: str) -> bool:
    return destination.startswith("arn:") and ":sns:" in destination


def _batches(subtasks: list[Subtask], max_bytes: int = SQS_BATCH_BYTES) -> list[list[tuple[Subtask, str]]]:
    """Groups of at most 10 messages and `max_bytes`: 1 MiB for SendMessageBatch, 256 KiB for PublishBatch."""
    batches: list[list[tuple[Subtask, str]]] = []
    size = 0
    for subtask in subtasks:
        body = subtask.to_message()
        if not batches or len(batches[-1]) == BATCH_ENTRIES or size + len(body.encode()) > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append((subtask, body))
        size += len(body.encode())
    return batches


def _send(destination: str, pending: dict[str, str]) -> dict[str, Any]:
    if _is_topic(destination):
        return aws_clients.client("sns").publish_batch(
            TopicArn=destination,
            PublishBatchRequestEntries=[{"Id": entry_id, "Message": body} for entry_id, body in pending.items()],
        )
    return aws_clients.client("sqs").send_message_batch(
        QueueUrl=destination,
        Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
    )


def _send_batch(destination: str, batch: list[tuple[Subtask, str]]) -> None:
    """Send (or publish) up to 10 subtasks, retrying only the entries that failed."""
    pending = {str(subtask.subtask_id): body for subtask, body in batch}
    for attempt in range(SEND_ATTEMPTS):
        response = _send(destination, pending)
        pending = {failure["Id"]: pending[failure["Id"]] for failure in response.get("Failed", [])}
        if not pending:
            return
        time.sleep(0.1 * 2**attempt)
    raise RuntimeError(f"could not send subtasks {sorted(pending)} after {SEND_ATTEMPTS} attempts")


def _start_wave(pool: ThreadPoolExecutor, destination: str, wave: list[Subtask]) -> list[Future[None]]:
    """Start sending subtasks in batch-sized groups, several at once."""
    max_bytes = SNS_BATCH_BYTES if _is_topic(destination) else SQS_BATCH_BYTES
    return [pool.submit(_send_batch, destination, batch) for batch in _batches(wave, max_bytes)]


def _send_wave(pool: ThreadPoolExecutor, destination: str, wave: list[Subtask]) -> None:
    """Send subtasks in batch-sized groups, several at once; raise if any could not be sent."""
    for sending in _start_wave(pool, destination, wave):
        sending.result()


@tracer.capture_method
def dispatch(tracker: JobTracker, plan: DispatchPlan, first: int, context: LambdaContext) -> int:
    """Send subtasks `first`..`total - 1`, recording progress per wave; return the next subtask still to send."""
    destination = subtask_destination()
    senders = int(settings.positive_number("SENDER_THREADS", 8))
    next_subtask = sent_until = first
    in_flight: list[Future[None]] = []  # the wave being sent while the next one is built
    with ThreadPoolExecutor(max_workers=senders) as pool:
        while next_subtask < plan.total:
            if context.get_remaining_time_in_millis() < RESERVED_MILLIS:
                break
            if tracker.stop_of(plan.job_id, plan.run):
                _finish_wave(tracker, plan, in_flight, sent_until, next_subtask)
                return _skip_the_rest(tracker, plan, next_subtask)
            wave_end = min(plan.total, next_subtask + WAVE)
            sending = _start_wave(pool, destination, plan.subtasks(range(next_subtask, wave_end)))
            # Progress is recorded only for waves wholly sent, in order, so a takeover resumes without a gap.
            sent_until = _finish_wave(tracker, plan, in_flight, sent_until, next_subtask)
            in_flight, next_subtask = sending, wave_end
        _finish_wave(tracker, plan, in_flight, sent_until, next_subtask)
    return next_subtask


def _finish_wave(tracker: JobTracker, plan: DispatchPlan, in_flight: list[Future[None]], start: int, end: int) -> int:
    """Wait for the batches of wave start..end-1 (raising if one could not be sent), record it; where sending is."""
    if not in_flight:
        return start
    for sending in in_flight:
        sending.result()
    tracker.record_dispatch(plan.job_id, end)
    metrics.add_metric(name="SubtasksDispatched", unit=MetricUnit.Count, value=end - start)
    in_flight.clear()
    return end


def _skip_the_rest(tracker: JobTracker, plan: DispatchPlan, first: int) -> int:
    """A stopped job dispatches nothing more: what was not sent is counted as skipped, so the job still ends."""
    logger.info("job stopped: the subtasks not sent yet are skipped", extra={"from": first})
    sealed = tracker.skip_subtasks(plan.job_id, plan.layout, first, plan.expires_at)
    tracker.record_dispatch(plan.job_id, plan.total)
    metrics.add_metric(name="SubtasksSkipped", unit=MetricUnit.Count, value=plan.total - first)
    for shard in sealed:
        trigger_consolidator(plan.job_id, plan.correlation_id, shard)
    return plan.total


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
    return {"job_id": plan.job_id, "status": "RUNNING", "total": plan.total, "dispatched_until": next_subtask}


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
    if refusal := identity_refusal(job, same_spec=job.get("fingerprint") == fingerprint):
        return refusal
    job_id, status = job["job_id"], job["status"]
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


def _plan(spec: JobSpec, limits: Limits, context: LambdaContext) -> Plan | None:
    """The job's plan, or None when a listing goes on in another invocation."""
    s3, bucket = aws_clients.client("s3"), settings.required("JOB_BUCKET")
    writer = ManifestWriter(s3, bucket, planning.manifest_prefix(spec.job_id, context.aws_request_id))
    if spec.source.type == "items":
        return planning.plan_items(spec.source, limits, writer)
    if spec.source.type == "objects":
        return _list(spec, Listing(manifest=writer.prefix), limits, context)
    return planning.plan_object(s3, spec.source, limits, writer)


def _list(spec: JobSpec, listing: Listing, limits: Limits, context: LambdaContext) -> Plan | None:
    """List the source's prefix until done, or hand the listing over before this invocation's time runs out."""
    listing = planning.list_objects(
        aws_clients.client("s3"),
        spec.source,
        limits,
        listing,
        settings.required("JOB_BUCKET"),
        lambda: context.get_remaining_time_in_millis() > RESERVED_MILLIS,
    )
    if listing.done:
        return planning.listing_plan(spec.source, listing)
    aws_clients.client("lambda").invoke(
        FunctionName=context.invoked_function_arn,
        InvocationType="Event",
        Payload=json.dumps({"listing": {"spec": spec.as_dict(), "state": listing.as_dict()}}).encode(),
    )
    logger.info("listing handed over to a new invocation", extra={"objects_in_subtasks": listing.count})
    return None


def start_job(document: Any, context: LambdaContext) -> dict[str, Any]:
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    limits = configured_limits()
    try:
        spec = parse_spec(
            document, configured_chunk_size(), limits, workload_registry.names(), workload_registry.reads_by_name()
        )
        logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
        plan = _plan(spec, limits, context)
    except InvalidJobSpec as error:
        return _reject(tracker, document, in_first_format(error) if is_first_format(document) else error, context)
    if plan is None:
        return {"job_id": spec.job_id, "status": "LISTING"}
    return register_and_dispatch(tracker, spec, plan, context)


def continue_listing(handover: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = JobSpec.from_dict(handover["spec"])
    logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    try:
        plan = _list(spec, Listing(**handover["state"]), configured_limits(), context)
    except InvalidJobSpec as error:
        return _reject(tracker, spec.as_dict(), error, context)
    if plan is None:
        return {"job_id": spec.job_id, "status": "LISTING"}
    return register_and_dispatch(tracker, spec, plan, context)


def register_and_dispatch(tracker: JobTracker, spec: JobSpec, plan: Plan, context: LambdaContext) -> dict[str, Any]:
    layout = ShardLayout.plan(
        plan.total,
        int(settings.positive_number("SUBTASKS_PER_SHARD", 1000)),
        int(settings.positive_number("PARALLEL_SHARDS", 1)),
    )
    fingerprint = spec_fingerprint(spec, plan.identity)
    registration = tracker.register_job(
        spec.job_id,
        layout,
        spec.correlation_id,
        int(settings.positive_number("JOB_TIMEOUT_SECONDS", 3600)),
        spec.as_record(),
        fingerprint,
        _retention_seconds(),
        dispatcher=context.aws_request_id,
        details={"plan": plan.as_dict(), "workload": spec.workload, "failure_limit": spec.failure_limit(plan.total)},
    )
    job = registration.job
    if not registration.created and (refusal := _refusal(job, fingerprint)):
        logger.warning("submission refused", extra={"error": refusal})
        metrics.add_metric(name="SubmissionsRefused", unit=MetricUnit.Count, value=1)
        return {"job_id": spec.job_id, "status": job["status"], "error": refusal}
    # The registered job's plan, layout and expiry: a repeat keeps the first registration's.
    dispatch_plan = DispatchPlan.of_job(job)
    if not registration.created:
        return _answer_repeat(tracker, job, dispatch_plan, context)
    logger.info("job registered", extra={**asdict(layout), "source": spec.source.type})
    return _dispatch_and_hand_over(tracker, dispatch_plan, 0, context)


def redrive(request: Any, context: LambdaContext) -> dict[str, Any]:
    """Run the failed and skipped subtasks of a PARTIAL or FAILED job again, as its next run.

    The job is REDRIVING while its subtasks are reopened and sent, and RUNNING
    once all are; a redrive that stopped midway is taken over by the next
    request once it is older than a ventilator can run.
    """
    job_id = request.get("job_id") if isinstance(request, dict) else None
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        return _refused("redrive.job_id", "is not a job id", 'send {"redrive": {"job_id": "..."}}')
    logger.append_keys(job_id=job_id)
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    job = tracker.get_job(job_id)
    if job is None:
        return _refused("redrive.job_id", f"job {job_id} does not exist", "name a job the tracker holds")
    claimed, refusal = _claim_redrive(tracker, job, context.aws_request_id)
    if claimed is None:
        return refusal
    open_ids = tracker.reopen_for_redrive(claimed)
    plan = DispatchPlan.of_job(claimed)
    destination = subtask_destination()
    with ThreadPoolExecutor(max_workers=int(settings.positive_number("SENDER_THREADS", 8))) as pool:
        for start in range(0, len(open_ids), WAVE):
            wave = plan.subtasks(open_ids[start : start + WAVE])
            _send_wave(pool, destination, wave)
    running = tracker.finish_redrive(job_id, context.aws_request_id)
    if running is None:
        return _refused("redrive.job_id", f"another redrive of job {job_id} took over", "follow the job's status")
    # Subtasks that finished while it was REDRIVING may have reduced every shard: move it on, once.
    if running["shards_reduced"] >= running["shard_count"] and tracker.start_completing(job_id):
        trigger_consolidator(job_id, running["correlation_id"])
    logger.info("job redriven", extra={"run": plan.run, "subtasks": len(open_ids)})
    metrics.add_metric(name="JobsRedriven", unit=MetricUnit.Count, value=1)
    return {"job_id": job_id, "status": JobStatus.RUNNING.value, "run": plan.run, "redriven": len(open_ids)}


def _claim_redrive(tracker: JobTracker, job: dict[str, Any], request_id: str) -> tuple[dict | None, dict | None]:
    """(the job claimed for this redrive, None), or (None, a refusal naming why and the fix)."""
    job_id, status = job["job_id"], job["status"]
    field = "redrive.job_id"
    if status == JobStatus.REDRIVING:
        stale = timedelta(seconds=settings.positive_number("DISPATCH_STALE_SECONDS", 960))
        if datetime.now(UTC) - datetime.fromisoformat(job["redriven_at"]) < stale:
            return None, _refused(
                field, f"job {job_id} is being redriven since {job['redriven_at']}", "follow its status"
            )
        claimed = tracker.take_over_redrive(job_id, job["redriven_at"], request_id)
        if claimed is None:
            return None, _refused(field, f"job {job_id} is being redriven by another request", "follow its status")
        return claimed, None
    if status not in (JobStatus.PARTIAL, JobStatus.FAILED) or "result" not in job:
        return None, _refused(
            field,
            f"job {job_id} is {status}"
            + ("" if "result" in job or status not in FINAL_STATUSES else " without a result"),
            "only a finished PARTIAL or FAILED job with a result can be redriven: wait for it to finish, "
            "or submit its spec again under a new job_id",
        )
    if "timed_out_at" in job or "plan" not in job:
        return None, _refused(
            field,
            f"job {job_id} " + ("timed out" if "timed_out_at" in job else "was registered before redrive existed"),
            "submit the failed items (results/<job>/failed/) as a new job",
        )
    window = timedelta(days=settings.positive_number("REDRIVE_WINDOW_DAYS", 14))
    if datetime.now(UTC) - datetime.fromisoformat(job["finished_at"]) > window:
        return None, _refused(
            field,
            f"job {job_id} finished more than {window.days} days ago: its partial results have expired",
            "submit the failed items (results/<job>/failed/) as a new job",
        )
    claimed = tracker.begin_redrive(
        job_id,
        int(settings.positive_number("MAX_REDRIVES", 3)),
        int(settings.positive_number("JOB_TIMEOUT_SECONDS", 3600)),
        request_id,
    )
    if claimed is None:
        return None, _refused(
            field,
            f"job {job_id} was redriven {job.get('redrives', 0)} times, the most a job may be (or another "
            "request claimed it first)",
            "submit the failed items (results/<job>/failed/) as a new job",
        )
    return claimed, None


def _refused(field: str, message: str, fix: str) -> dict[str, Any]:
    logger.warning("request refused", extra={"field": field, "reason": message})
    return {"status": "REFUSED", "error": {"field": field, "message": message, "fix": fix}}


def continue_job(continuation: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = DispatchPlan.from_dict(continuation["plan"])
    logger.append_keys(job_id=plan.job_id, correlation_id=plan.correlation_id)
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    return _dispatch_and_hand_over(tracker, plan, continuation["next_subtask"], context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any] | list[dict[str, Any]]:
    if isinstance(event, dict) and "redrive" in event:
        return redrive(event["redrive"], context)
    if isinstance(event, dict) and ("continuation" in event or "listing" in event):
        try:
            if "listing" in event:
                return continue_listing(event["listing"], context)
            return continue_job(event["continuation"], context)
        except (TypeError, KeyError, ValueError, AttributeError, ParamValidationError) as error:
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
