"""transport = "sns" end to end on the emulator: the ventilator publishes, the topic invokes the workers.

Applies tests/integration/terraform/fan_out_push, a small stack of its own
(fan_in_tracker and fan_out with transport = "sns") next to envs/local.
MiniStack invokes a topic's Lambda subscribers once, synchronously, with no
retries, on-failure destination or subscription redrive, so this covers
delivery; the failure paths are tested on moto (tests/unit/test_sns_transport.py)
and the module's plan tests check their wiring.
"""

from __future__ import annotations

import uuid
from collections import Counter

import boto3
import pytest

from integration.conftest import apply_stack
from serverless_patterns.fan_in.tracker import JobStatus, JobTracker
from serverless_patterns_ops.fan_out_jobs import fetch_result, sample_text, submit_job, wait_for_job

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime


@pytest.fixture(scope="module")
def push_stack(request, tmpdir_factory) -> dict:
    return apply_stack("fan_out_push", "module", request, tmpdir_factory).outputs["fan_out"]["value"]


def test_a_job_pushed_through_the_topic_is_exact_and_counted_once(push_stack):
    s3, lambda_client = boto3.client("s3"), boto3.client("lambda")
    tracker = JobTracker(boto3.resource("dynamodb").Table(push_stack["tracker_table_name"]))
    text = sample_text(24_000, seed=31)
    key = f"inputs/{uuid.uuid4().hex[:8]}/push.txt"
    s3.put_object(Bucket=push_stack["bucket_name"], Key=key, Body=text)

    answer = submit_job(
        lambda_client,
        push_stack["ventilator_function_name"],
        {"source": {"type": "lines", "bucket": push_stack["bucket_name"], "key": key, "chunk_size_bytes": 1024}},
    )
    assert "error" not in answer, answer
    job = wait_for_job(tracker, answer["job_id"], 600, 2)

    assert job["status"] == JobStatus.SUCCEEDED
    result = fetch_result(s3, job)
    assert result["result"]["words"] == dict(Counter(word.lower() for word in text.decode().split()))
    progress = tracker.progress(answer["job_id"])
    assert 20 <= answer["total"] <= 50  # fan_out_push reserves 50 workers
    assert (progress.succeeded, progress.failed, progress.completed) == (answer["total"], 0, answer["total"])
    # Pushed by the topic: no event source mapping drains a queue for this worker.
    mappings = lambda_client.list_event_source_mappings(FunctionName=push_stack["worker_function_name"])
    assert mappings["EventSourceMappings"] == []
    subscriptions = boto3.client("sns").list_subscriptions_by_topic(TopicArn=push_stack["subtask_topic_arn"])
    assert [s["Protocol"] for s in subscriptions["Subscriptions"]] == ["lambda"]
