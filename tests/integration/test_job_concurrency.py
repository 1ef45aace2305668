"""Jobs sharing the workers, end to end on the emulator (issue 28): a job's own max_concurrency, and fairness.

Every subtask runs the `timed_wait` workload, which waits and returns when it
ran: the workers run as processes of this one machine, so the most intervals
that overlap is the most subtasks of the job that were in flight at once. The
local stack runs 8 workers; a job that sets no max_concurrency gets 16.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.workloads.timed_wait import peak_overlap
from serverless_patterns_ops.fan_out_jobs import fetch_result, submit_job, wait_for_job

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

JOB_TIMEOUT_SECONDS = 900
REPOSITORY = Path(__file__).resolve().parents[2]


def submit(fan_out, job_id: str, waits: list[int], **spec) -> dict:
    answer = submit_job(
        boto3.client("lambda"),
        fan_out["ventilator_function_name"],
        {
            "job_id": job_id,
            "workload": "timed_wait",
            "source": {"type": "items", "items": waits, "items_per_subtask": 1},
            **spec,
        },
    )
    assert "error" not in answer, answer
    return answer


def intervals(fan_out, job: dict) -> list[tuple[float, float]]:
    """When each subtask of a finished job ran, from its results."""
    s3 = boto3.client("s3")
    result = fetch_result(s3, job)
    lines = [
        json.loads(line)
        for file in result["files"]["succeeded"]
        for line in s3.get_object(Bucket=fan_out["bucket_name"], Key=file["key"])["Body"].read().splitlines()
    ]
    return [(line["result"]["started"], line["result"]["ended"]) for line in lines]


def seconds(job: dict) -> float:
    return (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()


def test_a_job_never_runs_more_than_its_max_concurrency_and_a_raise_takes_effect_while_it_runs(
    fan_out, tracker, outputs, tmp_path
):
    job_id = f"capped-{uuid.uuid4().hex[:8]}"
    submit(fan_out, job_id, [300] * 60, max_concurrency=3)
    assert wait_for_job_progress(tracker, job_id, completed=20)
    # The documented command, as a user runs it: raise the running job's max_concurrency.
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    asked_at = time.time()  # the raise lands while the command runs: neither before nor after it
    raised = subprocess.run(
        [sys.executable, "-m", "serverless_patterns_ops", "--outputs", "outputs.json", "set-concurrency", job_id, "6"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(str(REPOSITORY / part) for part in ("lambdas", "ops"))},
        capture_output=True,
        text=True,
        check=False,
    )
    assert raised.returncode == 0, raised.stderr
    raised_at = time.time()
    job = wait_for_job(tracker, job_id, JOB_TIMEOUT_SECONDS, 1)

    assert (job["status"], job["result"]["succeeded"], job["result"]["failed"]) == (JobStatus.SUCCEEDED, 60, 0)
    ran = intervals(fan_out, job)
    assert len(ran) == 60
    before = [interval for interval in ran if interval[1] < asked_at]
    after = [interval for interval in ran if interval[0] > raised_at]
    assert 2 <= peak_overlap(before) <= 3, "at most 3 in flight, and more than one: the lanes run side by side"
    assert 3 < peak_overlap(after) <= 6
    assert peak_overlap(ran) <= 6


def wait_for_job_progress(tracker, job_id: str, completed: int, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = tracker.progress(job_id)
        if progress is not None and progress.completed >= completed:
            return True
        time.sleep(0.5)
    return False


def test_a_small_job_submitted_behind_a_large_one_finishes_long_before_it(fan_out, tracker):
    """The large job holds at most its window in the queue, so the small job's subtasks are not behind its backlog."""
    large_id, small_id = f"large-{uuid.uuid4().hex[:8]}", f"small-{uuid.uuid4().hex[:8]}"
    submit(fan_out, large_id, [100] * 1500)
    assert wait_for_job_progress(tracker, large_id, completed=50)
    submit(fan_out, small_id, [100] * 20)

    with ThreadPoolExecutor(max_workers=2) as pool:
        small, large = pool.map(
            lambda job_id: wait_for_job(tracker, job_id, JOB_TIMEOUT_SECONDS, 1), [small_id, large_id]
        )

    assert (small["status"], large["status"]) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)
    assert (small["result"]["succeeded"], large["result"]["succeeded"]) == (20, 1500)
    small_ended = max(end for _, end in intervals(fan_out, small))
    large_after_small = [start for start, _ in intervals(fan_out, large) if start > small_ended]
    # Dispatched whole, the large job's backlog would all have been queued before the small job's 20 subtasks.
    assert len(large_after_small) > 500, "the small job finished while most of the large one was still to run"
    assert seconds(small) < seconds(large) / 3
