"""Sweeper: finish jobs that would otherwise hang.

Runs on a schedule. A RUNNING job past its deadline is marked TIMED_OUT and
consolidated on what exists; a job left in COMPLETING or TIMED_OUT without a
result for longer than the grace period (its consolidator trigger was lost)
is consolidated again. No polling of healthy jobs: it reads the sparse status
index only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns import aws_clients, settings
from serverless_patterns.consolidation import trigger_consolidator
from serverless_patterns.job_tracker import JobStatus, JobTracker

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@tracer.capture_method
def sweep(now: datetime) -> dict[str, list[str]]:
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    index = settings.required("STATUS_INDEX")
    grace = timedelta(seconds=settings.positive_number("CONSOLIDATION_GRACE_SECONDS", 300))
    timed_out, retried = [], []
    for job in tracker.jobs_in_status(JobStatus.RUNNING, index, before=now):
        if tracker.mark_timed_out(job["job_id"]):
            logger.warning("job timed out", extra={"job_id": job["job_id"], "correlation_id": job["correlation_id"]})
            trigger_consolidator(job["job_id"], job["correlation_id"])
            timed_out.append(job["job_id"])
    for status, since_field in ((JobStatus.COMPLETING, "completing_at"), (JobStatus.TIMED_OUT, "timed_out_at")):
        for job in tracker.jobs_in_status(status, index):
            waiting_since = datetime.fromisoformat(job.get(since_field, job["created_at"]))
            if "result" not in job and now - waiting_since > grace:
                logger.warning("consolidation overdue: retrying", extra={"job_id": job["job_id"]})
                trigger_consolidator(job["job_id"], job["correlation_id"])
                retried.append(job["job_id"])
    metrics.add_metric(name="JobsTimedOut", unit=MetricUnit.Count, value=len(timed_out))
    metrics.add_metric(name="ConsolidationsRetried", unit=MetricUnit.Count, value=len(retried))
    return {"timed_out": timed_out, "consolidation_retried": retried}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    return sweep(datetime.now(UTC))
