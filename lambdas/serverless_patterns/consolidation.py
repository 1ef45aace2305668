"""Start the consolidator of a finished job (asynchronously: the caller never waits)."""

from __future__ import annotations

import json

from serverless_patterns import aws_clients, settings


def trigger_consolidator(job_id: str, correlation_id: str) -> None:
    aws_clients.client("lambda").invoke(
        FunctionName=settings.required("CONSOLIDATOR_FUNCTION"),
        InvocationType="Event",
        Payload=json.dumps({"job_id": job_id, "correlation_id": correlation_id}).encode(),
    )
