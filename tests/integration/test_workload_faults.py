"""Run-time guards of a deployed stack: a workload its zips lack ends its job FAILED within a minute, with the
reason, and a source the workload does not read is refused before anything runs.

Terraform refuses at plan a workload the zips do not hold (make package's manifest), so the first test makes
the deployed functions know one through their WORKLOADS variable, and restores it afterwards.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from integration.conftest import as_job_user
from integration.test_fan_out import make_text
from serverless_patterns.fan_in.tracker import JobStatus, StopReason
from serverless_patterns_ops.fan_out_jobs import submit_job, wait_for_job
from serverless_patterns_ops.jobs_client import JobApiError, JobsClient

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

GHOST = {"process": "ghost_pkg.workload:process", "merge": None, "resumable": None, "reads": None}
FAILED_WITHIN_SECONDS = 60


def _set_workloads(lambda_client, function_name: str, workloads: str) -> None:
    variables = lambda_client.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"]
    lambda_client.update_function_configuration(
        FunctionName=function_name, Environment={"Variables": {**variables, "WORKLOADS": workloads}}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name)


@pytest.fixture
def ghost_deployed(fan_out):
    """The ventilator and the workers run a workload named "ghost" whose package is in no zip."""
    lambda_client = boto3.client("lambda")
    functions = [fan_out["ventilator_function_name"], fan_out["worker_function_name"]]
    saved = {
        name: lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]["WORKLOADS"]
        for name in functions
    }
    try:
        for name, workloads in saved.items():
            _set_workloads(lambda_client, name, json.dumps({**json.loads(workloads), "ghost": GHOST}))
        yield "ghost"
    finally:
        for name, workloads in saved.items():
            _set_workloads(lambda_client, name, workloads)


def test_a_workload_missing_from_the_zips_ends_its_job_failed_within_a_minute_with_the_reason(
    fan_out, tracker, ghost_deployed
):
    text, _ = make_text(20_000, seed=24)
    key = f"inputs/ghost-{uuid.uuid4().hex[:8]}/text.txt"
    boto3.client("s3").put_object(Bucket=fan_out["bucket_name"], Key=key, Body=text)
    spec = {
        "job_id": f"ghost-{uuid.uuid4().hex[:8]}",
        "source": {"type": "lines", "bucket": fan_out["bucket_name"], "key": key, "chunk_size_bytes": 512},
        "workload": ghost_deployed,
    }
    started = time.monotonic()

    answer = submit_job(boto3.client("lambda"), fan_out["ventilator_function_name"], spec)
    job = wait_for_job(tracker, spec["job_id"], timeout=FAILED_WITHIN_SECONDS, interval=1)

    assert answer["status"] == "RUNNING", answer
    assert time.monotonic() - started < FAILED_WITHIN_SECONDS
    assert job["status"] == JobStatus.FAILED
    assert job["stop"]["reason"] == StopReason.WORKLOAD_UNAVAILABLE
    reason = job["stop"]["error"]["message"]
    assert "workload ghost cannot run here" in reason
    assert "cannot import ghost_pkg.workload (ModuleNotFoundError" in reason
    assert "envs/<env>/workloads.auto.tfvars.json and run make package" in reason
    progress = tracker.progress(spec["job_id"])
    assert progress.succeeded == 0
    assert progress.failed + progress.skipped == progress.total > 1
    assert {failure["type"] for failure in job["result"]["failures"]} == {"WorkloadUnavailable"}


def test_a_jsonl_job_for_word_count_is_refused_naming_the_workload_and_the_source(fan_out):
    key = f"inputs/rows-{uuid.uuid4().hex[:8]}/rows.jsonl"
    boto3.client("s3").put_object(Bucket=fan_out["bucket_name"], Key=key, Body=b'{"a": 1}\n{"a": 2}\n')
    spec = {
        "job_id": f"rows-{uuid.uuid4().hex[:8]}",
        "source": {"type": "jsonl", "bucket": fan_out["bucket_name"], "key": key},
        "workload": "word_count",
    }
    expected = "workload word_count reads bytes, not a jsonl source (records)"

    answer = submit_job(boto3.client("lambda"), fan_out["ventilator_function_name"], spec)
    with pytest.raises(JobApiError) as refused:
        as_job_user(JobsClient.invoking(fan_out["job_api_function_name"])).submit(
            {**spec, "job_id": spec["job_id"] + "-api"}
        )

    assert answer["status"] == "FAILED"
    assert (answer["error"]["field"], answer["error"]["message"]) == ("workload", expected)
    assert "csv_totals" in answer["error"]["fix"]  # a deployed workload that reads records
    assert (refused.value.status, refused.value.field) == (400, "workload")
    assert expected in str(refused.value)
