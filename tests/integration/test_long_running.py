"""Subtasks longer than one invocation, end to end on the emulator: chains of invocations, and a chain killed mid-way.

The local stack gives a resumable workload 4 s per worker invocation
(checkpoint_reserve_seconds = 26 of 30) and leases its message for 9 s
(heartbeat 3 s). The example workload line_digest spends 0.2 s per item, so
a subtask of 60 items needs at least three invocations. Each expected digest
is computed here, from the items, without the workload's code.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from serverless_patterns.fan_in.bucket_layout import CHECKPOINTS_PREFIX, work_key
from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.fan_in.tracker.keys import chain_key
from serverless_patterns_ops.fan_out_jobs import fetch_result, submit_job, wait_for_job

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

ITEMS_PER_SUBTASK = 60
JOB_TIMEOUT_SECONDS = 600


def chained_sha256(items: list[str]) -> str:
    digest = ""
    for item in items:
        digest = hashlib.sha256(f"{digest}\n{item}".encode()).hexdigest()
    return digest


def run_jobs(fan_out, tracker, item_lists: dict[str, list[str]]) -> dict[str, dict]:
    """Submit one line_digest job per list, wait for them together: each job's result, with its subtask lines."""
    s3, lambda_client, run = boto3.client("s3"), boto3.client("lambda"), uuid.uuid4().hex[:8]
    answers = {
        name: submit_job(
            lambda_client,
            fan_out["ventilator_function_name"],
            {
                "job_id": f"{run}-{name}",
                "workload": "line_digest",
                "source": {"type": "items", "items": items, "items_per_subtask": ITEMS_PER_SUBTASK},
            },
        )
        for name, items in item_lists.items()
    }
    refused = {name: answer["error"] for name, answer in answers.items() if "error" in answer}
    assert not refused, refused

    def wait(answer: dict) -> dict:
        return wait_for_job(tracker, answer["job_id"], JOB_TIMEOUT_SECONDS, 2)

    with ThreadPoolExecutor(max_workers=len(answers)) as pool:
        jobs = dict(zip(answers, pool.map(wait, answers.values()), strict=True))
    finished = {}
    for name, job in jobs.items():
        assert job["status"] == JobStatus.SUCCEEDED, job
        result = fetch_result(s3, job)
        lines = [
            json.loads(line)
            for file in result["files"]["succeeded"]
            for line in s3.get_object(Bucket=fan_out["bucket_name"], Key=file["key"])["Body"].read().splitlines()
        ]
        lines.sort(key=lambda line: line["subtask_id"])
        finished[name] = {**result, "job_id": job["job_id"], "lines": lines}
    return finished


@pytest.fixture(scope="module")
def chains(fan_out, tracker) -> dict:
    items = [f"frame {i:04d}" for i in range(2 * ITEMS_PER_SUBTASK)]
    killed = [f"frame {i:04d}" for i in range(ITEMS_PER_SUBTASK)]
    # Invocation 1 digests about 19 items, 2 starts from its checkpoint and dies on this one.
    killed[30] = "!crash-in-invocation 2"
    return {"items": items, "killed_items": killed, **run_jobs(fan_out, tracker, {"long": items, "killed": killed})}


def test_a_subtask_longer_than_an_invocation_runs_over_a_chain_and_is_exact(chains):
    job = chains["long"]
    assert (job["total"], job["succeeded"], job["failed"]) == (2, 2, 0)
    for line in job["lines"]:
        first, last = line["item"]["items"]
        assert line["result"]["items"] == last - first == ITEMS_PER_SUBTASK
        assert line["result"]["sha256"] == chained_sha256(chains["items"][first:last])
        # Numbered 1, 2, 3... by the tracker: no invocation lost, none ran twice.
        invocations = line["result"]["invocations"]
        assert len(invocations) >= 3, invocations
        assert invocations == list(range(1, len(invocations) + 1))


def test_a_chain_killed_mid_way_resumes_from_its_checkpoint_exact_and_counted_once(chains, tracker):
    job = chains["killed"]
    assert (job["total"], job["succeeded"], job["failed"]) == (1, 1, 0)
    [line] = job["lines"]
    # Invocation 2 died: its work is not in the result. The receive after its lease ran out resumed from 1's checkpoint.
    invocations = line["result"]["invocations"]
    assert invocations[:2] == [1, 3], invocations
    # Every item digested once, in order: nothing of the dead invocation's work kept, nothing skipped.
    assert line["result"]["sha256"] == chained_sha256(chains["killed_items"])
    assert line["result"]["items"] == ITEMS_PER_SUBTASK
    progress = tracker.progress(job["job_id"])
    assert (progress.succeeded, progress.completed) == (1, 1)  # counted once


def test_a_copy_of_a_counted_chain_s_message_is_not_run_again(chains, fan_out, tracker, sqs, dynamodb):
    """A copy SQS kept of a finished chain's message (delivery is at least once) is a receive numbered above 1:
    it reads the subtask's outcome, finds it counted, and ends as a duplicate without running the workload.

    The copy carries more items than its chain had, so a run of the workload would be seen: resumed from the
    chain's last checkpoint, it would need more than one invocation, and save a checkpoint of its own.
    """
    s3, job_id = boto3.client("s3"), chains["long"]["job_id"]
    first = work_key(CHECKPOINTS_PREFIX, job_id, "00000000.run0.1.json")
    subtask = json.loads(json.loads(s3.get_object(Bucket=fan_out["bucket_name"], Key=first)["Body"].read())["subtask"])
    table = dynamodb.Table(fan_out["tracker_table_name"])

    def invocations() -> int:
        key = chain_key(job_id, subtask["shard"], subtask["subtask_id"], subtask["run"])
        return int(table.get_item(Key=key, ConsistentRead=True)["Item"]["invocations"])

    started = invocations()
    longer = [*subtask["work"]["items"], *(f"extra {i}" for i in range(ITEMS_PER_SUBTASK))]
    sqs.send_message(
        QueueUrl=fan_out["queue_url"], MessageBody=json.dumps({**subtask, "work": {**subtask["work"], "items": longer}})
    )
    deadline = time.monotonic() + 120
    while invocations() == started:
        assert time.monotonic() < deadline, "the copy was never received"
        time.sleep(1)
    time.sleep(10)  # more than a worker invocation's 4 s of work: a run would have saved its checkpoint by now

    assert invocations() == started + 1  # received once, numbered, and not handed over
    resumed = work_key(CHECKPOINTS_PREFIX, job_id, f"00000000.run0.{started + 1}.json")
    assert "Contents" not in s3.list_objects_v2(Bucket=fan_out["bucket_name"], Prefix=resumed)
    progress = tracker.progress(job_id)
    assert (progress.succeeded, progress.completed) == (2, 2)
    assert progress.job["status"] == JobStatus.SUCCEEDED
