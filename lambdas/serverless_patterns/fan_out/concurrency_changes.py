"""A running windowed job's max_concurrency changed: more lanes start at once, fewer end as their blocks end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, configured_tracker
from serverless_patterns.fan_in.tracker.lanes import start_lapsed
from serverless_patterns.fan_out import lanes
from serverless_patterns.fan_out.dispatch_plans import DispatchPlan
from serverless_patterns.fan_out.jobs import (
    JOB_ID_PATTERN,
    InvalidJobSpec,
    check_max_concurrency,
    configured_limits,
)
from serverless_patterns.fan_out.redrives import refused
from serverless_patterns.shared import settings

logger = Logger(child=True)


def change_concurrency(request: Any) -> dict[str, Any]:
    """Set a running job's max_concurrency: more lanes start at once, fewer end as their blocks end."""
    job_id = request.get("job_id") if isinstance(request, dict) else None
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        return refused("concurrency.job_id", "is not a job id", 'send {"concurrency": {"job_id": "...", ...}}')
    logger.append_keys(job_id=job_id)
    try:
        wanted = check_max_concurrency(
            request.get("max_concurrency"), configured_limits().max_job_concurrency, "concurrency.max_concurrency"
        )
    except InvalidJobSpec as error:
        return {"job_id": job_id, "status": "REFUSED", "error": error.as_dict()}
    tracker = configured_tracker()
    answer = tracker.change_concurrency(job_id, wanted)
    sender_seconds = settings.positive_number("DISPATCH_STALE_SECONDS", 960)  # a ventilator's timeout, and a minute
    if (
        answer is not None
        and not answer[1]
        and start_lapsed(answer[0]["lanes_starting"], datetime.now(UTC), sender_seconds)
    ):
        # An earlier change's new lanes were never sent (its ventilator stopped): send them, then change.
        logger.warning("an earlier start of lanes was left unsent: sending it", extra=answer[0]["lanes_starting"])
        lanes.start_lanes(tracker, _registered_plan(tracker, job_id), answer[0]["lanes_starting"])
        answer = tracker.change_concurrency(job_id, wanted)
    if answer is None:
        return _not_changeable(tracker, job_id)
    job, changed = answer
    if not changed:
        return refused(
            "concurrency.job_id",
            f"job {job_id} is starting the lanes of an earlier change",
            "try again in a few seconds, once they are sent",
        )
    if "lanes_starting" in job:
        lanes.start_lanes(tracker, _registered_plan(tracker, job_id), job["lanes_starting"])
    logger.info("max_concurrency changed", extra={"max_concurrency": wanted, "lanes": job["lanes_active"]})
    return {
        "job_id": job_id,
        "status": job["status"],
        "max_concurrency": wanted,
        "lanes_active": int(job["lanes_active"]),
    }


def _registered_plan(tracker: JobTracker, job_id: str) -> DispatchPlan:
    job = tracker.get_job(job_id)
    if job is None:
        raise LookupError(f"job {job_id} left the tracker while its lanes were being started")
    return DispatchPlan.of_job(job)


def _not_changeable(tracker: JobTracker, job_id: str) -> dict[str, Any]:
    current = tracker.get_job(job_id)
    if current is None:
        why = "does not exist"
    elif current["status"] != JobStatus.RUNNING:
        why = f"is {current['status']}"
    elif "block_size" not in current or int(current.get("run", 0)):
        why = "is sent whole (its max_concurrency covers it, or it is a redrive)"
    else:
        why = "is stopping"
    return refused("concurrency.job_id", f"job {job_id} {why}", "change max_concurrency of a running windowed job")
