"""Consolidator: reduce a sealed shard, or merge a finished job's shard results into its output.

Invoked asynchronously:
- {"job_id", "shard"} by the completion that sealed the shard (or by the
  sweeper when that reduction was lost or failed): the shard's partial
  results are merged into one shard result; the reduction that completes the
  job's set moves it to COMPLETING and starts the final merge (runs it, for a
  job of one shard: one invocation in all);
- {"job_id"} for the final merge (or by the sweeper, for a timed-out job or a
  lost or failed final merge): the shard results are merged into
  results/<job_id>/: manifest.json, and result.json when the job's workload
  has a merge.

A job has one failure budget for its whole consolidation
(CONSOLIDATION_MAX_FAILURES failed runs, reductions and final merge
together), whatever its number of shards. Every attempt is counted on its
unit before it starts and leases the unit until this invocation times out,
so a duplicate trigger runs nothing; a run that fails is charged when it
fails, one that died without a word (a timeout, out of memory) by the
attempt that takes its lapsed lease over. The job ends FAILED, with an alarm, when the budget is spent, and
no new run of it starts after that. A failed run is never retried by Lambda
(the consolidator's asynchronous retries are off) but by the sweeper, once:
at its next sweep for a failure, after the grace period for a lost attempt.
Once a result is recorded, the job ends with it. One result and one
job-finished event per job: the result is staged under a key of its own, the
tracker records the first attempt's, and only the attempt that recorded it
(or, if that one stopped, the one that takes over once the grace period
passed) copies it to results/<job_id>/, publishes (noting that it did)
and sets the final status.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.errors import WorkloadUnavailable, describe
from serverless_patterns.fan_in.bucket_layout import manifest_key, result_key, staged_result_key
from serverless_patterns.fan_in.consolidator_trigger import trigger_consolidator
from serverless_patterns.fan_in.reduction import (
    MAX_FAILED_IDS_IN_RECORD,
    MAX_FAILURES_IN_RECORD,
    Merge,
    Reader,
    consolidate,
    digest,
    reduce_shard,
)
from serverless_patterns.fan_in.tracker import FINAL_STATUSES, JobStatus, JobTracker, UnitAttempt
from serverless_patterns.fan_in.tracker import configured_tracker as job_tracker
from serverless_patterns.fan_out.workload_registry import workload
from serverless_patterns.shared import aws_clients, settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
LEASE_MARGIN_SECONDS = 5


def merge_results(job: dict[str, Any]) -> Merge | None:
    """The merge of the job's workload, or None: its results are then written, not merged."""
    try:
        return workload(job.get("workload", "")).merge
    except WorkloadUnavailable:
        if job.get("stop"):
            # The workers could not load it either, and stopped the job (or it had stopped already: cancelled,
            # past its tolerance): there is nothing to merge, and the job must still end, with its stop's
            # reason, rather than retry its consolidation.
            return None
        raise


def _failure_budget() -> int:
    return int(settings.positive_number("CONSOLIDATION_MAX_FAILURES", 5))


def _grace() -> timedelta:
    return timedelta(seconds=settings.positive_number("CONSOLIDATION_GRACE_SECONDS", 900))


def _reader() -> Reader:
    threads = int(settings.positive_number("READER_THREADS", 16))
    return Reader(aws_clients.client("s3"), settings.required("JOB_BUCKET"), threads=threads, window=2 * threads)


def _publish(job: dict[str, Any]) -> None:
    summary = {key: value for key, value in job["result"].items() if not key.startswith("staged")}
    aws_clients.client("sns").publish(
        TopicArn=settings.required("JOB_EVENTS_TOPIC_ARN"),
        Message=json.dumps({"event": "job-finished", "job_id": job["job_id"], **summary}),
        MessageAttributes={"status": {"DataType": "String", "StringValue": summary["status"]}},
    )


def _unit(shard: int | None) -> str:
    return "the final merge" if shard is None else f"the reduction of shard {shard}"


def abandon(tracker: JobTracker, job_id: str, shard: int | None) -> dict[str, Any]:
    """End a job whose consolidation spent its failure budget: FAILED, announced once, alarmed on.

    The shard this run was for leaves the status index now: nobody reduces it
    any more, and left there it would wait for the sweeper's grace period.
    """
    if shard is not None:
        tracker.release_shard(job_id, shard)
    job = tracker.get_job(job_id) or {"job_id": job_id, "status": JobStatus.FAILED.value}
    last = job.get("last_consolidation_error") or {"type": "Unknown", "message": "no error was recorded"}
    error = {
        "field": "consolidation",
        "message": f"consolidation failed {job.get('consolidation_failures', 0)} times (the budget is "
        f"{_failure_budget()}), last in {last.get('unit', 'a run')} with {last['type']}: {last['message']}",
        "fix": "see the runbook (ConsolidationsAbandoned): raise consolidator_memory_size or "
        "consolidator_timeout_seconds, or fix the merge function, then submit the job again under a new job_id",
    }
    ended = tracker.abandon(job_id, error)
    if ended is None:
        return {"job_id": job_id, "status": job["status"], "consolidated": False}
    logger.error("consolidation abandoned", extra={"error": error})
    metrics.add_metric(name="ConsolidationsAbandoned", unit=MetricUnit.Count, value=1)
    _publish({**ended, "result": {"status": JobStatus.FAILED.value, "error": error}})
    return {"job_id": job_id, "status": JobStatus.FAILED.value, "consolidated": False}


def _charge_lost(tracker: JobTracker, job_id: str, shard: int | None, attempt: UnitAttempt) -> bool:
    """Charge the run whose lapsed lease this attempt took over; False when that spent the job's budget."""
    if not attempt.lost:
        return True
    lost = {
        "type": "AttemptLost",
        "message": "a run ended without recording an error: a timeout, out of memory, or a crash",
        "unit": _unit(shard),
    }
    failures = tracker.charge_lost_run(job_id, lost)
    logger.warning("the previous run ended without an error", extra={"failures": failures})
    return failures < _failure_budget()


def _failed(tracker: JobTracker, job: dict[str, Any], shard: int | None, error: Exception) -> dict[str, Any]:
    """Charge a failed run to the job's budget: the sweeper retries the unit, or the job ends FAILED when it is spent.

    Never re-raised: Lambda does not retry the consolidator (its asynchronous
    retries are off), so each failure is retried once, by the sweeper.
    """
    job_id = job["job_id"]
    described = {**describe(error), "unit": _unit(shard)}
    failures = tracker.record_failed_run(job_id, shard, described, retry_after=datetime.now(UTC) - _grace())
    logger.exception("consolidation run failed", extra={"failures": failures, "budget": _failure_budget()})
    metrics.add_metric(name="ConsolidationFailures", unit=MetricUnit.Count, value=1)
    if failures >= _failure_budget():
        return abandon(tracker, job_id, shard)
    return {"job_id": job_id, "shard": shard, "status": job["status"], "consolidated": False, "retried_by": "sweeper"}


@tracer.capture_method
def reduce(tracker: JobTracker, job: dict[str, Any], shard: int, lease_until: datetime) -> dict[str, Any]:
    job_id = job["job_id"]
    if job["status"] not in (JobStatus.RUNNING, JobStatus.REDRIVING):
        # A timed-out job: its final merge reduces what is left of every shard itself.
        tracker.release_shard(job_id, shard)
        return {"job_id": job_id, "shard": shard, "status": job["status"], "consolidated": False}
    attempt = tracker.begin_reduction(job_id, shard, lease_until)
    if attempt is not None:
        if not _charge_lost(tracker, job_id, shard, attempt):
            return abandon(tracker, job_id, shard)
        try:
            summary = reduce_shard(tracker, _reader(), merge_results(job), job_id, shard)
        except Exception as error:
            return _failed(tracker, job, shard, error)
        if tracker.record_reduction(job_id, shard, summary):
            logger.info("shard reduced", extra={"shard": shard, **summary})
            metrics.add_metric(name="ShardsReduced", unit=MetricUnit.Count, value=1)
    job = tracker.get_job(job_id) or job
    if job["shards_reduced"] >= job["shard_count"] and tracker.start_completing(job_id):
        if job["shard_count"] == 1:
            # The final merge of one shard reads one object: it runs here, not in one more invocation.
            logger.info("the only shard reduced: final merge")
            return finish(tracker, tracker.get_job(job_id) or job, lease_until)
        logger.info("every shard reduced: final merge started")
        trigger_consolidator(job_id, job["correlation_id"])
    return {"job_id": job_id, "shard": shard, "status": job["status"], "consolidated": False}


@tracer.capture_method
def finish(tracker: JobTracker, job: dict[str, Any], lease_until: datetime) -> dict[str, Any]:
    """The final merge of a COMPLETING job, its one result and its one event."""
    job_id = job["job_id"]
    if "result" in job:
        # Recorded by an earlier attempt that stopped before finishing the job: only the
        # publication is left, taken over once that attempt's claim is older than the grace period.
        if not tracker.reclaim_publication(job_id, datetime.now(UTC) - _grace()):
            return {"job_id": job_id, "status": job["status"], "consolidated": False}
        return _publish_result(tracker, tracker.get_job(job_id) or job)
    attempt = tracker.begin_consolidation(job_id, lease_until)
    if attempt is None:
        return {"job_id": job_id, "status": job["status"], "consolidated": False}
    if not _charge_lost(tracker, job_id, None, attempt):
        return abandon(tracker, job_id, None)
    try:
        recorded = _record_result(tracker, job)
    except Exception as error:
        return _failed(tracker, job, None, error)
    if not recorded:
        logger.info("another consolidation recorded the result first")
        return {"job_id": job_id, "status": job["status"], "consolidated": False}
    return _publish_result(tracker, tracker.get_job(job_id) or job)


def _publish_result(tracker: JobTracker, job: dict[str, Any]) -> dict[str, Any]:
    """Copy the recorded result to its key, announce it (once), and set the job's final status."""
    job_id, result = job["job_id"], job["result"]
    bucket = settings.required("JOB_BUCKET")
    s3 = aws_clients.client("s3")
    if "result_key" in result:
        s3.copy_object(
            Bucket=bucket, Key=result["result_key"], CopySource={"Bucket": bucket, "Key": result["staged_result"]}
        )
    # The manifest last: once it exists, everything it names does.
    s3.copy_object(Bucket=bucket, Key=result["key"], CopySource={"Bucket": bucket, "Key": result["staged_key"]})
    if "published_at" not in job:
        _publish(job)
        tracker.mark_published(job_id)
    finished = tracker.finish(job_id, JobStatus(result["status"]))
    if finished:
        metrics.add_metric(name="JobsFinished", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobDuration", unit=MetricUnit.Seconds, value=result["duration_seconds"])
    summary = {key: result[key] for key in ("status", "key", "succeeded", "failed", "skipped", "duration_seconds")}
    logger.info("job consolidated", extra={**summary, "recorded": finished})
    return {"job_id": job_id, "status": result["status"], "consolidated": finished}


def _record_result(tracker: JobTracker, job: dict[str, Any]) -> bool:
    job_id = job["job_id"]
    reader = _reader()
    merge = merge_results(job)
    manifest, merged = consolidate(tracker, reader, merge, job)
    attempt = uuid.uuid4().hex
    staged: dict[str, str] = {}
    if merge is not None:
        manifest["result_key"] = result_key(job_id)
        staged = {"result_key": result_key(job_id), "staged_result": staged_result_key(job_id, f"{attempt}-result")}
        reader.write(staged["staged_result"], merged)
    staged_key = staged_result_key(job_id, attempt)
    body = reader.write(staged_key, manifest)
    created = datetime.fromisoformat(job["created_at"])
    summary = {
        "bucket": reader.bucket,
        "key": manifest_key(job_id),
        "staged_key": staged_key,
        **staged,
        "digest": digest(body),
        "status": manifest["status"],
        "succeeded": manifest["succeeded"],
        "failed": manifest["failed"],
        "skipped": manifest["skipped"],
        "missing": manifest["missing"],
        "failed_subtask_ids": manifest["failed_subtask_ids"][:MAX_FAILED_IDS_IN_RECORD],
        "failures": [
            {key: value for key, value in failure.items() if key != "item"}
            for failure in manifest["failures"][:MAX_FAILURES_IN_RECORD]
        ],
        "duration_seconds": round((datetime.now(created.tzinfo) - created).total_seconds(), 3),
    }
    return tracker.record_result(job_id, summary)


def handle(event: dict[str, Any], seconds_left: float = 900) -> dict[str, Any]:
    """One consolidator invocation; `seconds_left` before it times out bound the lease its run takes."""
    # A run's lease outlives the invocation a little: a duplicate trigger never runs beside it.
    lease_until = datetime.now(UTC) + timedelta(seconds=seconds_left + LEASE_MARGIN_SECONDS)
    tracker = job_tracker()
    job_id = event["job_id"]
    job = tracker.get_job(job_id)
    if job is None:
        raise LookupError(f"job {job_id} is not in the tracker")
    shard = None if event.get("shard") is None else int(event["shard"])
    with logger.append_context_keys(job_id=job_id, correlation_id=job.get("correlation_id", job_id), shard=shard):
        if job["status"] in FINAL_STATUSES:
            if shard is not None:
                tracker.release_shard(job_id, shard)
            logger.info("job already finished", extra={"status": job["status"]})
            return {"job_id": job_id, "status": job["status"], "consolidated": False}
        if int(job.get("consolidation_failures", 0)) >= _failure_budget() and "result" not in job:
            return abandon(tracker, job_id, shard)
        if shard is not None:
            return reduce(tracker, job, shard, lease_until)
        return finish(tracker, job, lease_until)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context.get_remaining_time_in_millis() / 1000)
