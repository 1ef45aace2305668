"""Fan-out/fan-in end to end on the emulator: exact results, duplicates, poison, uploads, bad specs.

The jobs run concurrently on the one applied stack; each is checked against a
result computed here, independently of the code under test.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus, layout_of
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.fan_out.planning import Plan
from serverless_patterns_ops.fan_out_jobs import fetch_result, submit_job, wait_for_job
from serverless_patterns_ops.load_leveling import wait_for

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

CHUNK_SIZE = 256
JOB_TIMEOUT_SECONDS = 600
WORDS = ["alpha", "beta", "Gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
POISON_LINE = b"\xff\xfe not utf-8\n"


def make_text(size: int, seed: int, poison_chunks: frozenset[int] = frozenset()) -> tuple[bytes, Counter]:
    """A text of about `size` bytes, and its word counts without the lines of poisoned chunks.

    A poison line (not UTF-8) is placed to start inside each chunk of
    `poison_chunks`; a chunk owns the lines that start in it, so exactly those
    chunks fail.
    """
    rng = random.Random(seed)
    lines: list[bytes] = []
    offset = 0
    line_chunks: list[int] = []
    pending = set(poison_chunks)
    while offset < size:
        chunk = offset // CHUNK_SIZE
        if chunk in pending:
            line = POISON_LINE
            pending.discard(chunk)
        else:
            line = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) + "\n").encode()
        lines.append(line)
        line_chunks.append(chunk)
        offset += len(line)
    assert not pending, "the text is too short for the poison chunks"
    counts: Counter = Counter()
    for line, chunk in zip(lines, line_chunks, strict=True):
        if chunk not in poison_chunks:
            counts.update(word.lower() for word in line.decode().split())
    return b"".join(lines), counts


@pytest.fixture(scope="module")
def jobs(fan_out, tracker, sqs):
    """Submit the exact, duplicated and poisoned jobs together and wait for all of them."""
    s3 = boto3.client("s3")
    lambda_client = boto3.client("lambda")
    run = uuid.uuid4().hex[:8]
    text, counts = make_text(290_000, seed=1)
    poisoned = frozenset({17, 88, 150})
    poison_text, poison_counts = make_text(52_000, seed=2, poison_chunks=poisoned)
    s3.put_object(Bucket=fan_out["bucket_name"], Key=f"inputs/{run}/text.txt", Body=text)
    s3.put_object(Bucket=fan_out["bucket_name"], Key=f"inputs/{run}/poison.txt", Body=poison_text)

    def spec(job_id: str, name: str) -> dict:
        key = f"inputs/{run}/{name}"
        return {
            "job_id": job_id,
            "chunk_size_bytes": CHUNK_SIZE,
            "input": {"bucket": fan_out["bucket_name"], "key": key},
        }

    submitted = {
        "exact": submit_job(lambda_client, fan_out["ventilator_function_name"], spec(f"{run}-exact", "text.txt")),
        "duplicated": submit_job(lambda_client, fan_out["ventilator_function_name"], spec(f"{run}-dup", "text.txt")),
        "poisoned": submit_job(lambda_client, fan_out["ventilator_function_name"], spec(f"{run}-poison", "poison.txt")),
    }

    # Inject duplicate deliveries: a second copy of every third subtask of the duplicated job.
    duplicated = submitted["duplicated"]
    registered = tracker.get_job(duplicated["job_id"])
    plan = Plan.from_dict(registered["plan"])  # arithmetic ranges of one object: no manifest to read
    copies = [
        Subtask(
            job_id=duplicated["job_id"],
            subtask_id=subtask_id,
            shard=layout_of(registered).shard_of(subtask_id),
            correlation_id=duplicated["job_id"],
            expires_at=registered["expires_at"],
            work=next(plan.works(subtask_id, subtask_id + 1, read_part=None)),
            workload=registered["workload"],
        )
        for subtask_id in range(0, duplicated["total"], 3)
    ]
    for start in range(0, len(copies), 10):
        batch = copies[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=fan_out["queue_url"],
            Entries=[{"Id": str(i), "MessageBody": subtask.to_message()} for i, subtask in enumerate(batch)],
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        finished = dict(
            zip(
                submitted,
                pool.map(
                    lambda answer: wait_for_job(tracker, answer["job_id"], JOB_TIMEOUT_SECONDS, interval=2),
                    submitted.values(),
                ),
                strict=True,
            )
        )
    return {
        "submitted": submitted,
        "finished": finished,
        "expected": {"exact": counts, "duplicated": counts, "poisoned": poison_counts},
        "poisoned_chunks": poisoned,
        "duplicates_injected": len(copies),
        "s3": s3,
    }


def test_a_job_of_over_a_thousand_subtasks_gives_the_exact_result(jobs):
    submitted, job = jobs["submitted"]["exact"], jobs["finished"]["exact"]
    result = fetch_result(jobs["s3"], job)

    assert submitted["total"] >= 1000
    assert job["status"] == JobStatus.SUCCEEDED
    assert (result["succeeded"], result["failed_subtask_ids"], result["missing"]) == (submitted["total"], [], 0)
    assert result["result"]["words"] == dict(jobs["expected"]["exact"])


def test_small_results_are_kept_with_their_completion_and_never_written_to_s3(jobs, tracker, fan_out):
    job = jobs["finished"]["exact"]
    tasks = list(tracker.subtasks(job["job_id"], job["shard_count"]))
    listed = jobs["s3"].list_objects_v2(Bucket=fan_out["bucket_name"], Prefix="partials/")
    partial_objects = [entry["Key"] for entry in listed.get("Contents", []) if f"/{job['job_id']}/" in entry["Key"]]

    assert len(tasks) == job["total"]
    assert all("partial" in task and "result_key" not in task for task in tasks)
    assert partial_objects == []


def test_duplicate_deliveries_are_counted_once(jobs, tracker):
    submitted, job = jobs["submitted"]["duplicated"], jobs["finished"]["duplicated"]
    progress = tracker.progress(job["job_id"])
    result = fetch_result(jobs["s3"], job)

    assert jobs["duplicates_injected"] >= 300
    assert job["status"] == JobStatus.SUCCEEDED
    assert (progress.succeeded, progress.failed) == (submitted["total"], 0)
    assert len(list(tracker.subtasks(job["job_id"], job["shard_count"]))) == submitted["total"]
    assert result["result"]["words"] == dict(jobs["expected"]["duplicated"])


def test_poison_subtasks_end_the_job_partial_with_exactly_those_ids_failed_and_why(jobs):
    submitted, job = jobs["submitted"]["poisoned"], jobs["finished"]["poisoned"]
    result = fetch_result(jobs["s3"], job)

    assert job["status"] == JobStatus.PARTIAL
    assert result["failed_subtask_ids"] == sorted(jobs["poisoned_chunks"])
    assert {failure["type"] for failure in result["failures"]} == {"UnicodeDecodeError"}
    assert result["succeeded"] + len(result["failed_subtask_ids"]) == submitted["total"]
    assert result["missing"] == 0
    assert result["result"]["words"] == dict(jobs["expected"]["poisoned"])


def test_nothing_is_left_in_the_queues(jobs, fan_out, sqs):
    from serverless_patterns_ops.load_leveling import queue_depth

    assert wait_for(lambda: queue_depth(sqs, fan_out["queue_url"]) == 0, timeout=120, interval=2)
    # The DLQ handler has recorded and removed every dead subtask.
    assert wait_for(lambda: queue_depth(sqs, fan_out["dlq_url"]) == 0, timeout=120, interval=2)


def test_an_upload_to_incoming_starts_a_job(fan_out, tracker):
    key = f"{fan_out['incoming_prefix']}{uuid.uuid4().hex[:8]}.txt"
    text, counts = make_text(20_000, seed=3)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=fan_out["bucket_name"], Key=key, Body=text)

    def the_job() -> dict | None:
        for status in JobStatus:
            for job in tracker.jobs_in_status(status, "by-status"):
                if job.get("spec", {}).get("source", {}).get("key") == key:
                    return job
        return None

    assert wait_for(lambda: the_job() is not None, timeout=60, interval=1), "no job was started by the upload"
    job = wait_for_job(tracker, the_job()["job_id"], JOB_TIMEOUT_SECONDS, interval=2)

    assert job["status"] == JobStatus.SUCCEEDED
    assert fetch_result(s3, job)["result"]["words"] == dict(counts)


def test_a_bad_spec_is_rejected_with_a_failed_job_naming_the_field(fan_out, tracker):
    job_id = f"bad-{uuid.uuid4().hex[:8]}"
    spec = {"job_id": job_id, "chunk_size_bytes": 10, "input": {"bucket": fan_out["bucket_name"], "key": "x"}}

    answer = submit_job(boto3.client("lambda"), fan_out["ventilator_function_name"], spec)

    assert answer["status"] == "FAILED"
    assert answer["error"]["field"] == "chunk_size_bytes"
    assert tracker.get_job(job_id)["status"] == JobStatus.FAILED
