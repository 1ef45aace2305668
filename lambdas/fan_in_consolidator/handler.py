"""Consolidator: merge a finished job's partial results into its final output.

Invoked asynchronously with {"job_id"} by the completion that finished the job
(or by the sweeper for a timed-out or stuck job). Safe to run twice: the
result is written to the same key, and the job record accepts only the first
result. The job-finished event is published at least once; subscribers
de-duplicate by job_id.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns import aws_clients, settings
from serverless_patterns.fan_out import result_key
from serverless_patterns.job_tracker import FINAL_STATUSES, JobStatus, JobTracker
from serverless_patterns.plugins import load_function

logger = Logger()
metrics = Metrics()
tracer = Tracer()
merge_results = load_function(
    os.environ.get("RESULT_MERGER", "serverless_patterns.workloads.word_count:merge_counts"), "RESULT_MERGER"
)
MAX_FAILED_IDS_IN_RECORD = 1000  # the full list is in the result object


def _read_partial(bucket: str, key: str) -> dict[str, Any]:
    return json.loads(aws_clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@tracer.capture_method
def consolidate(job_id: str) -> dict[str, Any]:
    tracker = JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
    job = tracker.get_job(job_id)
    if job is None:
        raise LookupError(f"job {job_id} is not in the tracker")
    logger.append_keys(job_id=job_id, correlation_id=job.get("correlation_id", job_id))
    if job["status"] in FINAL_STATUSES or "result" in job:
        logger.info("job already consolidated", extra={"status": job["status"]})
        return {"job_id": job_id, "status": job["status"], "consolidated": False}
    if job["status"] not in (JobStatus.COMPLETING, JobStatus.TIMED_OUT):
        logger.info("job is not ready to consolidate", extra={"status": job["status"]})
        return {"job_id": job_id, "status": job["status"], "consolidated": False}

    bucket = settings.required("JOB_BUCKET")
    tasks = list(tracker.subtasks(job_id))
    succeeded = sorted((task for task in tasks if task["outcome"] == "SUCCEEDED"), key=lambda t: t["subtask_id"])
    failed_ids = sorted(task["subtask_id"] for task in tasks if task["outcome"] == "FAILED")
    with ThreadPoolExecutor(max_workers=int(settings.positive_number("READER_THREADS", 16))) as pool:
        partials = list(pool.map(lambda task: _read_partial(bucket, task["result_key"]), succeeded))
    merged = merge_results(partials)

    if job["status"] == JobStatus.TIMED_OUT:
        final_status = JobStatus.TIMED_OUT
    else:
        final_status = JobStatus.PARTIAL if failed_ids else JobStatus.SUCCEEDED
    missing = job["total"] - len(succeeded) - len(failed_ids)
    created = datetime.fromisoformat(job["created_at"])
    duration = (datetime.now(created.tzinfo) - created).total_seconds()
    key = result_key(job_id)
    aws_clients.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(
            {
                "job_id": job_id,
                "status": final_status.value,
                "total": job["total"],
                "succeeded": len(succeeded),
                "failed_subtask_ids": failed_ids,
                "missing": missing,
                "result": merged,
            },
            separators=(",", ":"),
        ).encode(),
        ContentType="application/json",
    )
    summary = {
        "bucket": bucket,
        "key": key,
        "succeeded": len(succeeded),
        "failed": len(failed_ids),
        "missing": missing,
        "failed_subtask_ids": failed_ids[:MAX_FAILED_IDS_IN_RECORD],
        "duration_seconds": round(duration, 3),
    }
    aws_clients.client("sns").publish(
        TopicArn=settings.required("JOB_EVENTS_TOPIC_ARN"),
        Message=json.dumps({"event": "job-finished", "job_id": job_id, "status": final_status.value, **summary}),
        MessageAttributes={"status": {"DataType": "String", "StringValue": final_status.value}},
    )
    recorded = tracker.record_result(job_id, final_status, summary)
    if recorded:
        metrics.add_metric(name="JobsFinished", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="JobDuration", unit=MetricUnit.Seconds, value=duration)
    logger.info("job consolidated", extra={"status": final_status.value, **summary, "recorded": recorded})
    return {"job_id": job_id, "status": final_status.value, "consolidated": recorded}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consolidate(event["job_id"])
