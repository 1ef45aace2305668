"""The fan-in's guarantees where DynamoDB conflicts and throttles and S3 fails, as on AWS under load.

The emulator answers one request at a time and never conflicts, throttles or
fails, so the deployed worker, DLQ handler and consolidator are pointed at a
fault-injecting proxy in front of it (tests/fault_injection.py) for one job of
over 2,000 subtasks, the ventilator too: at least 10% of the tracker's
transactions are cancelled with TransactionConflict, 5% of S3 calls fail with
a 5xx, some DynamoDB reads and writes are throttled and some SQS sends fail.
The job must still succeed with the exact result, count every subtask once
and announce itself once.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import boto3
import pytest

from fault_injection import FaultPlan, FaultProxy
from integration.test_fan_out import CHUNK_SIZE, make_text
from serverless_patterns.fan_in.tracker import JobStatus, JobTracker
from serverless_patterns_ops.fan_out_jobs import fetch_result, submit_job, wait_for_job
from serverless_patterns_ops.load_leveling import wait_for

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

SUBTASKS = 2_100
TRANSACTIONS = {"TransactWriteItems"}


def fault_plan() -> FaultPlan:
    return (
        FaultPlan()
        .fail("dynamodb", "TransactionConflict", 0.15, TRANSACTIONS)
        .fail("dynamodb", "ProvisionedThroughputExceeded", 0.03, {"GetItem", "UpdateItem", "Query"})
        # Few calls (the registration, the final merge), so a large share of them.
        .fail("dynamodb", "Throttling", 0.5, {"PutItem", "BatchWriteItem", "BatchGetItem"})
        .fail("s3", "InternalError", 0.04)
        .fail("s3", "SlowDown", 0.02)
        .fail("sqs", "InternalError", 0.02)
    )


def _set_endpoint(lambda_client, function: str, variables: dict[str, str]) -> None:
    lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    assert wait_for(
        lambda: (
            lambda_client.get_function_configuration(FunctionName=function).get("LastUpdateStatus", "Successful")
            == "Successful"
        ),
        timeout=60,
        interval=0.5,
    )


@pytest.fixture(scope="module")
def faults(fan_out):
    """The fan-out/fan-in functions call AWS through the fault proxy while this module runs."""
    lambda_client = boto3.client("lambda")
    functions = [
        fan_out["ventilator_function_name"],
        fan_out["worker_function_name"],
        fan_out["dlq_handler_function_name"],
        fan_out["consolidator_function_name"],
    ]
    with FaultProxy(os.environ["AWS_ENDPOINT_URL"], fault_plan()) as proxy:
        originals = {
            name: lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
            for name in functions
        }
        try:
            for name, variables in originals.items():
                _set_endpoint(lambda_client, name, {**variables, "AWS_ENDPOINT_URL": proxy.url})
            yield proxy.plan
        finally:
            for name, variables in originals.items():
                _set_endpoint(lambda_client, name, variables)


@pytest.fixture(scope="module")
def job_events(fan_out):
    """Every job-finished event, read from a queue subscribed to the topic."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName=f"job-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=fan_out["job_events_topic_arn"], Protocol="sqs", Endpoint=arn)
    seen: list[dict] = []

    def read(job_id: str, settle_seconds: float) -> list[dict]:
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                body = json.loads(message["Body"])
                seen.append(json.loads(body["Message"]) if body.get("Type") == "Notification" else body)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [event for event in seen if event.get("job_id") == job_id]

    yield read
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(scope="module")
def faulty_job(fan_out, faults, dynamodb, job_events):
    tracker = JobTracker(dynamodb.Table(fan_out["tracker_table_name"]))
    text, counts = make_text(SUBTASKS * CHUNK_SIZE, seed=10)
    s3 = boto3.client("s3")
    job_id = f"faults-{uuid.uuid4().hex[:8]}"
    key = f"inputs/{job_id}/text.txt"
    s3.put_object(Bucket=fan_out["bucket_name"], Key=key, Body=text)
    spec = {"job_id": job_id, "chunk_size_bytes": CHUNK_SIZE, "input": {"bucket": fan_out["bucket_name"], "key": key}}

    submitted = submit_job(boto3.client("lambda"), fan_out["ventilator_function_name"], spec)
    job = wait_for_job(tracker, job_id, timeout=900, interval=2)
    return {"submitted": submitted, "job": job, "expected": counts, "tracker": tracker, "s3": s3}


def test_the_job_succeeds_with_the_exact_result_despite_the_faults(faulty_job):
    submitted, job = faulty_job["submitted"], faulty_job["job"]
    result = fetch_result(faulty_job["s3"], job)

    assert submitted["total"] >= 2_000
    assert job["status"] == JobStatus.SUCCEEDED
    assert (result["succeeded"], result["failed"], result["missing"]) == (submitted["total"], 0, 0)
    assert result["result"]["words"] == dict(faulty_job["expected"])


def test_every_subtask_is_counted_once(faulty_job):
    tracker, job = faulty_job["tracker"], faulty_job["job"]
    progress = tracker.progress(job["job_id"])
    tasks = list(tracker.subtasks(job["job_id"], job["shard_count"]))

    assert (progress.succeeded, progress.failed) == (job["total"], 0)
    assert sorted(task["subtask_id"] for task in tasks) == list(range(job["total"]))
    assert job["shards_reduced"] == job["shard_count"] > 1


def test_the_faults_were_injected_at_the_required_rates(faulty_job, faults):
    transactions = faults.called("dynamodb", TRANSACTIONS)
    conflicted = faults.failed("dynamodb", TRANSACTIONS, "TransactionConflict")
    s3_calls, s3_failed = faults.called("s3"), faults.failed("s3")

    # The workers' completions went through the proxy: a transaction per batch of at most 10, at least.
    assert transactions >= faulty_job["job"]["total"] / 10
    assert conflicted >= 0.10 * transactions
    assert s3_calls >= faulty_job["job"]["total"]  # a read per subtask, at least (small results stay in the tracker)
    assert s3_failed >= 0.05 * s3_calls
    assert faults.failed("dynamodb", kind="ProvisionedThroughputExceeded") > 0
    assert faults.failed("dynamodb", kind="Throttling") > 0
    assert faults.failed("sqs", {"SendMessageBatch"}) > 0  # the ventilator's dispatch


def test_the_job_is_announced_once_and_consolidating_again_changes_nothing(faulty_job, fan_out, job_events):
    job = faulty_job["job"]
    [event] = job_events(job["job_id"], settle_seconds=5)
    assert (event["status"], event["succeeded"], event["digest"]) == (
        "SUCCEEDED",
        job["total"],
        job["result"]["digest"],
    )
    before = fetch_result(faulty_job["s3"], job)

    lambda_client = boto3.client("lambda")
    for event in ({"job_id": job["job_id"]}, {"job_id": job["job_id"], "shard": 0}):
        answer = json.loads(
            lambda_client.invoke(
                FunctionName=fan_out["consolidator_function_name"], Payload=json.dumps(event).encode()
            )["Payload"].read()
        )
        assert answer["consolidated"] is False

    assert len(job_events(job["job_id"], settle_seconds=5)) == 1
    assert fetch_result(faulty_job["s3"], job) == before
