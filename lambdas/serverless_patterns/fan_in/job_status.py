"""A job as its callers see it: status, counts by outcome, timings, the result's location and why it failed."""

from __future__ import annotations

from typing import Any

from serverless_patterns.fan_in.tracker import JobTracker

TIMINGS = ("created_at", "deadline", "finished_at")
MAX_LISTED_FAILURES = 20


def status_document(tracker: JobTracker, job: dict[str, Any]) -> dict[str, Any]:
    """What GET /jobs/{id} answers (and the jobs client reads)."""
    progress = tracker.progress_of(job)
    document: dict[str, Any] = {
        "job_id": job["job_id"],
        "status": job["status"],
        "total": progress.total,
        "counts": {
            "succeeded": progress.succeeded,
            "failed": progress.failed,
            "skipped": progress.skipped,
            "pending": max(0, progress.total - progress.completed),
        },
        "timings": {name: job[name] for name in TIMINGS if name in job},
    }
    if "workload" in job:
        document["workload"] = job["workload"]
    if progress.retrying:
        # Subtasks whose last attempt failed, waiting for SQS to deliver them again: how many, and why.
        document["retrying"] = progress.retrying.as_dict()
    if "stop" in job:
        document["stop"] = job["stop"]
    if "error" in job:
        document["error"] = job["error"]
    result = job.get("result") or {}
    if "bucket" in result and "key" in result:
        # key: the manifest (outcomes, failures); result_key: the merged result, for a workload with a merge.
        document["result"] = {name: result[name] for name in ("bucket", "key", "result_key") if name in result}
    if failures := result.get("failures"):
        document["failures"] = failures[:MAX_LISTED_FAILURES]
    return document
