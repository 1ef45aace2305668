"""Sweeper: finish jobs that would otherwise hang.

Runs on a schedule and reads the sparse status index only, never healthy
subtasks:
- a RUNNING job past its deadline times out: it moves to COMPLETING and is
  consolidated on what exists (its final status is TIMED_OUT); one whose
  shards are all reduced, though no reduction moved it on, is consolidated;
- a COMPLETING job, or a sealed shard waiting for its reduction, whose last
  attempt started more than the grace period ago (its trigger was lost, or
  the attempt died) is started again, and so is one whose last run failed
  (the consolidator makes it due at once). The sweeper is the only retrier
  of consolidation runs (Lambda's retries of the consolidator are off);
  every attempt moves that time forward and is counted, and the consolidator
  ends the job once its failure budget is spent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.fan_in.consolidator_trigger import trigger_consolidator
from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.fan_in.tracker import configured_tracker as job_tracker
from serverless_patterns.shared import settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@tracer.capture_method
def sweep(now: datetime) -> dict[str, list[str]]:
    tracker = job_tracker()
    index = settings.required("STATUS_INDEX")
    stale = now - timedelta(seconds=settings.positive_number("CONSOLIDATION_GRACE_SECONDS", 900))
    timed_out, retried, shards_retried = [], [], []
    for job in tracker.jobs_in_status(JobStatus.RUNNING, index):
        if job.get("shards_reduced", 0) >= job["shard_count"] and tracker.start_completing(job["job_id"]):
            # Every shard was reduced, but the reduction that should have said so stopped first.
            logger.warning("job complete but not consolidating: final merge started", extra={"job_id": job["job_id"]})
            trigger_consolidator(job["job_id"], job["correlation_id"])
            retried.append(job["job_id"])
        elif datetime.fromisoformat(job["deadline"]) < now and tracker.mark_timed_out(job["job_id"]):
            logger.warning("job timed out", extra={"job_id": job["job_id"], "correlation_id": job["correlation_id"]})
            trigger_consolidator(job["job_id"], job["correlation_id"])
            timed_out.append(job["job_id"])
    for job in tracker.jobs_in_status(JobStatus.COMPLETING, index, before=stale):
        logger.warning("consolidation overdue: retrying", extra={"job_id": job["job_id"]})
        trigger_consolidator(job["job_id"], job["correlation_id"])
        retried.append(job["job_id"])
    for job_id, shard in tracker.shards_waiting_for_reduction(index, before=stale):
        logger.warning("shard reduction overdue: retrying", extra={"job_id": job_id, "shard": shard})
        trigger_consolidator(job_id, job_id, shard)
        shards_retried.append(f"{job_id}#{shard}")
    metrics.add_metric(name="JobsTimedOut", unit=MetricUnit.Count, value=len(timed_out))
    metrics.add_metric(name="ConsolidationsRetried", unit=MetricUnit.Count, value=len(retried) + len(shards_retried))
    return {"timed_out": timed_out, "consolidation_retried": retried, "reduction_retried": shards_retried}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    return sweep(datetime.now(UTC))
