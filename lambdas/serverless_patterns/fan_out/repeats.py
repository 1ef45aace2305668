"""A job spec submitted under a job id the tracker holds already: refused, answered, or its dispatch resumed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from serverless_patterns.fan_in.tracker import FINAL_STATUSES
from serverless_patterns.fan_out.jobs import identity_refusal
from serverless_patterns.shared import settings


def refusal(job: dict[str, Any], fingerprint: str) -> dict[str, str] | None:
    """Why a submission under an existing job id must not run, or None for the same job again."""
    if refused := identity_refusal(job, same_spec=job.get("fingerprint") == fingerprint):
        return refused
    job_id, status = job["job_id"], job["status"]
    if status in FINAL_STATUSES:
        return {
            "field": "job_id",
            "message": f"job {job_id} has finished ({status})",
            "fix": "read its result (job-result), or submit under a new job_id to run it again",
        }
    return None


def repeat_answer(job: dict[str, Any]) -> dict[str, Any]:
    """What the same spec again is answered with: the job as it is."""
    return {
        "job_id": job["job_id"],
        "status": job["status"],
        "total": job["total"],
        "dispatched_until": job["dispatched_until"],
        **(
            {"dispatch_parts": job["dispatch_parts"], "parts_done": job.get("parts_done", 0)}
            if "dispatch_parts" in job
            else {}
        ),
        "repeated": True,
    }


def stale_after() -> timedelta:
    """How long a ventilator may go without a word before its dispatch, or its redrive, is taken over."""
    return timedelta(seconds=settings.positive_number("DISPATCH_STALE_SECONDS", 960))


def dispatch_abandoned(job: dict[str, Any], request_id: str) -> bool:
    """Whether the job's dispatch is unfinished and its ventilator gone, so this request should resume it.

    It is gone when this is a retry of the invocation that dispatched (Lambda
    retries a failed asynchronous invocation with its request id), or when it
    stopped reporting progress for longer than a ventilator can run.
    """
    stale = datetime.now(UTC) - datetime.fromisoformat(job["dispatch_updated_at"]) > stale_after()
    retried = job.get("dispatcher") == request_id
    return job["dispatched_until"] < job["total"] and (stale or retried)
