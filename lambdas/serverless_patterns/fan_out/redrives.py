"""Who may redrive a job: the claim that makes a finished PARTIAL or FAILED job REDRIVING, or why it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from serverless_patterns.fan_in.tracker import FINAL_STATUSES, JobStatus, JobTracker
from serverless_patterns.fan_out.repeats import stale_after
from serverless_patterns.shared import settings

logger = Logger(child=True)

FIELD = "redrive.job_id"


def refused(field: str, message: str, fix: str) -> dict[str, Any]:
    """The answer to a request that is not carried out: what is wrong, and the fix."""
    logger.warning("request refused", extra={"field": field, "reason": message})
    return {"status": "REFUSED", "error": {"field": field, "message": message, "fix": fix}}


def claim_redrive(tracker: JobTracker, job: dict[str, Any], request_id: str) -> tuple[dict | None, dict | None]:
    """(the job claimed for this redrive, None), or (None, a refusal naming why and the fix)."""
    job_id, status = job["job_id"], job["status"]
    if status == JobStatus.REDRIVING:
        return _take_over(tracker, job, request_id)
    if status not in (JobStatus.PARTIAL, JobStatus.FAILED) or "result" not in job:
        return None, refused(
            FIELD,
            f"job {job_id} is {status}"
            + ("" if "result" in job or status not in FINAL_STATUSES else " without a result"),
            "only a finished PARTIAL or FAILED job with a result can be redriven: wait for it to finish, "
            "or submit its spec again under a new job_id",
        )
    if "timed_out_at" in job or "plan" not in job:
        return None, refused(
            FIELD,
            f"job {job_id} " + ("timed out" if "timed_out_at" in job else "was registered before redrive existed"),
            "submit the failed items (results/<job>/failed/) as a new job",
        )
    window = timedelta(days=settings.positive_number("REDRIVE_WINDOW_DAYS", 14))
    if datetime.now(UTC) - datetime.fromisoformat(job["finished_at"]) > window:
        return None, refused(
            FIELD,
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
        return None, refused(
            FIELD,
            f"job {job_id} was redriven {job.get('redrives', 0)} times, the most a job may be (or another "
            "request claimed it first)",
            "submit the failed items (results/<job>/failed/) as a new job",
        )
    return claimed, None


def _take_over(tracker: JobTracker, job: dict[str, Any], request_id: str) -> tuple[dict | None, dict | None]:
    """A redrive still REDRIVING is taken over only once it is older than a ventilator can run."""
    job_id = job["job_id"]
    if datetime.now(UTC) - datetime.fromisoformat(job["redriven_at"]) < stale_after():
        return None, refused(FIELD, f"job {job_id} is being redriven since {job['redriven_at']}", "follow its status")
    claimed = tracker.take_over_redrive(job_id, job["redriven_at"], request_id)
    if claimed is None:
        return None, refused(FIELD, f"job {job_id} is being redriven by another request", "follow its status")
    return claimed, None
