"""What the ventilator is started with: an S3 notification's uploads, or one job spec, and where a bad one is kept."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from serverless_patterns.fan_out.jobs import JOB_ID_PATTERN, job_id_for_object
from serverless_patterns.shared import settings


def _is_s3_record(record: Any) -> bool:
    try:
        return all(isinstance(value, str) for value in (record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]))
    except (TypeError, KeyError):
        return False


def is_s3_notification(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and bool(records) and all(_is_s3_record(record) for record in records)


def specs_from_event(event: Any) -> list[Any]:
    """Job specs from an S3 notification, or the directly submitted spec (checked by parse_spec, whatever it is)."""
    if not is_s3_notification(event):
        return [event]
    specs = []
    for record in event["Records"]:
        s3 = record["s3"]
        bucket, key = s3["bucket"]["name"], unquote_plus(s3["object"]["key"])
        etag, sequencer = s3["object"].get("eTag", ""), s3["object"].get("sequencer", "")
        specs.append(
            {"input": {"bucket": bucket, "key": key}, "job_id": job_id_for_object(bucket, key, etag, sequencer)}
        )
    return specs


def rejected_job_id(document: Any, request_id: str) -> str:
    """The id a bad spec is recorded under: its own job id when it has a usable one, else one of this request."""
    hint = document.get("job_id") if isinstance(document, dict) else None
    return hint if isinstance(hint, str) and JOB_ID_PATTERN.match(hint) else "rejected-" + request_id


def retention_seconds() -> int:
    """How long a job's records are kept, rejected ones included."""
    return int(settings.positive_number("JOB_RETENTION_DAYS", 30) * 86400)
