"""A job whose every consolidation run fails, on the deployed stack: it ends FAILED within its budget (issue 27).

The deployed consolidator is pointed at a fault-injecting proxy that refuses
every S3 PutObject it makes (AccessDenied, which the SDK does not retry), so
each reduction fails as a merge that always raises would, however often it
runs. The job has several shards; the consolidator's budget is set to 2. Lambda must not retry a failed
run, the sweeper retries it once, and the job must end FAILED after at most
B + C - 1 runs (modules/fan_in_tracker/README.md; C, the runs in flight at
once), every run counted and charged, and no run may follow its end. That C
does not grow with the shard count is shown in
tests/unit/test_consolidation_budget.py, which controls the runs in flight:
here the emulator's SQS delivers out of order, so all shards seal at the end.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import boto3
import pytest

from fault_injection import FaultPlan, FaultProxy
from integration.test_fan_in_faults import _set_endpoint
from integration.test_fan_out import CHUNK_SIZE, make_text
from serverless_patterns.fan_in.tracker import JobStatus, JobTracker
from serverless_patterns_ops.fan_out_jobs import submit_job, wait_for_job
from serverless_patterns_ops.load_leveling import wait_for

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

SUBTASKS = 600  # about; 4 shards on the local stack: 2 rounds of 2 (parallel_shards 2, subtasks_per_shard 250)
BUDGET = 2


@pytest.fixture(scope="module")
def failing_consolidator(fan_out):
    lambda_client = boto3.client("lambda")
    name = fan_out["consolidator_function_name"]
    plan = FaultPlan().fail("s3", "AccessDenied", 1.0, {"PutObject"})
    with FaultProxy(os.environ["AWS_ENDPOINT_URL"], plan) as proxy:
        original = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        failing = {**original, "AWS_ENDPOINT_URL": proxy.url, "CONSOLIDATION_MAX_FAILURES": str(BUDGET)}
        try:
            _set_endpoint(lambda_client, name, failing)
            yield plan
        finally:
            _set_endpoint(lambda_client, name, original)


@pytest.fixture(scope="module")
def failed_job(fan_out, failing_consolidator, dynamodb):
    tracker = JobTracker(dynamodb.Table(fan_out["tracker_table_name"]))
    text, _ = make_text(SUBTASKS * CHUNK_SIZE, seed=27)
    job_id = f"budget-{uuid.uuid4().hex[:8]}"
    key = f"inputs/{job_id}/text.txt"
    boto3.client("s3").put_object(Bucket=fan_out["bucket_name"], Key=key, Body=text)
    spec = {"job_id": job_id, "chunk_size_bytes": CHUNK_SIZE, "input": {"bucket": fan_out["bucket_name"], "key": key}}
    submit_job(boto3.client("lambda"), fan_out["ventilator_function_name"], spec)
    wait_for_job(tracker, job_id, timeout=600, interval=2)
    # Ended as soon as its budget was spent: its lanes send nothing more. Let the subtasks in flight
    # finish, and any consolidation run that began before.
    assert wait_for(lambda: settled(tracker, job_id), timeout=300, interval=0.1)
    job = tracker.get_job(job_id)
    return {"job": job, "shards": tracker.shards(job_id, int(job["shard_count"])), "plan": failing_consolidator}


def settled(tracker: JobTracker, job_id: str, quiet_seconds: float = 5) -> bool:
    """Whether the job's counts and runs stayed the same for `quiet_seconds`."""

    def snapshot() -> tuple:
        job = tracker.get_job(job_id)
        return tracker.progress(job_id).completed, runs_of(job, tracker.shards(job_id, int(job["shard_count"])))

    before = snapshot()
    time.sleep(quiet_seconds)
    return snapshot() == before


def test_the_job_ends_failed_with_its_consolidation_named(failed_job):
    job = failed_job["job"]

    assert job["status"] == JobStatus.FAILED
    assert job["error"]["field"] == "consolidation"
    assert f"(the budget is {BUDGET})" in job["error"]["message"]
    assert "AccessDenied" in job["error"]["message"]


def runs_of(job: dict, shards: list[dict]) -> int:
    """Consolidation runs begun: every attempt is counted on its shard or job before it starts."""
    return sum(int(shard.get("reduce_attempts", 0)) for shard in shards) + int(job.get("consolidation_attempts", 0))


def test_every_run_is_counted_and_charged_and_none_follows_the_end(failed_job, fan_out, dynamodb):
    job, shards, plan = failed_job["job"], failed_job["shards"], failed_job["plan"]
    runs = runs_of(job, shards)

    assert int(job["shard_count"]) > int(job["shard_width"]), "the job must have several rounds of shards"
    # On the emulator SQS does not deliver in order, so every shard seals near the end: C is the shard count.
    assert runs <= BUDGET + int(job["shard_count"]) - 1
    assert BUDGET <= int(job["consolidation_failures"]) <= runs
    # Each run ends at its first write: one refused PutObject per run, so no run went uncounted.
    assert plan.failed("s3", {"PutObject"}) == runs

    # The sweeper retries the failed reductions (due at once): each finds the job ended and runs nothing.
    swept = json.loads(boto3.client("lambda").invoke(FunctionName=fan_out["sweeper_function_name"])["Payload"].read())
    retried = [entry for entry in swept["reduction_retried"] if entry.startswith(f"{job['job_id']}#")]
    tracker = JobTracker(dynamodb.Table(fan_out["tracker_table_name"]))
    assert retried or all(shard.get("status") is None for shard in tracker.shards(job["job_id"], len(shards)))
    assert wait_for(
        lambda: all(shard.get("status") is None for shard in tracker.shards(job["job_id"], len(shards))),
        timeout=60,
        interval=1,
    ), "every sealed shard of the ended job is released by the retry that finds it ended"
    assert runs_of(tracker.get_job(job["job_id"]), tracker.shards(job["job_id"], len(shards))) == runs
    assert plan.failed("s3", {"PutObject"}) == runs
