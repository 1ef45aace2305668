"""Starting the consolidator: a shard's reduction, or a job's final merge, as an asynchronous invocation."""

from __future__ import annotations

import json
from typing import Any

from serverless_patterns.shared import aws_clients, settings


def trigger_consolidator(job_id: str, correlation_id: str, shard: int | None = None) -> None:
    """Start the consolidator asynchronously: for one shard's reduction, or (shard None) for the final merge."""
    event: dict[str, Any] = {"job_id": job_id, "correlation_id": correlation_id}
    if shard is not None:
        event["shard"] = shard
    aws_clients.client("lambda").invoke(
        FunctionName=settings.required("CONSOLIDATOR_FUNCTION"),
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )
