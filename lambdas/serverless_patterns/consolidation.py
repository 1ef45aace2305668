"""Record a subtask's outcome and start the consolidator when that finishes the job."""

from __future__ import annotations

import json
from typing import Any

from serverless_patterns import aws_clients, settings
from serverless_patterns.fan_out import Subtask
from serverless_patterns.job_tracker import Completion, JobTracker, Outcome


def trigger_consolidator(job_id: str, correlation_id: str) -> None:
    aws_clients.client("lambda").invoke(
        FunctionName=settings.required("CONSOLIDATOR_FUNCTION"),
        InvocationType="Event",
        Payload=json.dumps({"job_id": job_id, "correlation_id": correlation_id}).encode(),
    )


def complete_subtask(subtask: Subtask, outcome: Outcome, detail: dict[str, Any]) -> Completion:
    """Count the subtask once; the single completion that finishes the job starts the consolidator."""
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    completion = tracker.record_completion(subtask.job_id, subtask.subtask_id, subtask.shard_count, outcome, detail)
    if completion.finished_job:
        trigger_consolidator(subtask.job_id, subtask.correlation_id)
    return completion
