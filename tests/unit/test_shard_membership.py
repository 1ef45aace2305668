"""Issue 27, point 3: a subtask is counted only in the shard its job's registered layout gives it.

Shards take turns within a round, so a shard's id range holds other shards'
subtasks: in one round of two shards over 10 subtasks, shard 0 holds 0, 2, 4,
6, 8 and its range 0..8 holds 3 as well. A message naming shard 0 for
subtask 3 must not be counted there, or shard 0 is sealed and reduced while
subtask 8 has not run.
"""

# ruff: noqa: F811 (pytest fixtures imported from test_fan_out are parameters here)

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from botocore.client import BaseClient

from serverless_patterns.fan_in.tracker import CompletionRequest, JobTracker, Outcome, ShardLayout, UnknownJobError
from serverless_patterns.shared.retries import Backoff
from unit.conftest import register
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    BUCKET,
    fan_out_env,
    run_workers,
    submit,
    subtask_bodies,
)


@pytest.fixture
def tracker(tracker_table):
    return JobTracker(tracker_table, backoff=Backoff(sleep=lambda seconds: None))


def _shard(tracker, shard: int) -> dict:
    return tracker.shard("job-1", shard)


def _count_evens_but_eight(tracker) -> None:
    """Shard 0's subtasks but its last (8): one more of its own would seal it."""
    for subtask in (0, 2, 4, 6):
        tracker.record_completion("job-1", subtask, 0, Outcome.SUCCEEDED)


def test_a_subtask_naming_a_wrong_shard_whose_range_holds_it_is_refused_and_the_shard_stays_open(tracker):
    register(tracker, total=10, shards=2)  # shard 0: 0, 2, 4, 6, 8 (range 0..8); shard 1: 1, 3, 5, 7, 9
    _count_evens_but_eight(tracker)

    with pytest.raises(UnknownJobError, match=r"job job-1 counts subtask 3 in shard 1, not in shard 0"):
        tracker.record_completion("job-1", 3, 0, Outcome.SUCCEEDED)

    shard = _shard(tracker, 0)
    assert (shard["completed"], shard.get("sealed")) == (4, None)  # not counted, not sealed: 8 has not run
    assert 3 not in {task["subtask_id"] for task in tracker.shard_tasks("job-1", 0)}
    # Nothing lost: subtask 3 is still counted where it belongs, and 8 seals shard 0.
    assert tracker.record_completion("job-1", 3, 1, Outcome.SUCCEEDED).first
    assert tracker.record_completion("job-1", 8, 0, Outcome.SUCCEEDED).sealed_shard


def test_in_a_batch_the_misnamed_subtask_is_answered_with_its_error_and_the_others_are_counted(tracker):
    register(tracker, total=10, shards=2)
    _count_evens_but_eight(tracker)
    expires_at = 2_000_000_000

    answers = tracker.record_completions(
        [
            CompletionRequest("job-1", 3, 0, Outcome.SUCCEEDED, {}, expires_at),  # shard 1's, named shard 0
            CompletionRequest("job-1", 1, 1, Outcome.SUCCEEDED, {}, expires_at),
            CompletionRequest("job-1", 5, 0, Outcome.FAILED, {}, expires_at, count_failure_on_job=True),  # alone
        ]
    )

    assert isinstance(answers[0], UnknownJobError)
    assert isinstance(answers[2], UnknownJobError)
    assert answers[1].first
    assert (_shard(tracker, 0)["completed"], _shard(tracker, 0).get("sealed")) == (4, None)
    assert _shard(tracker, 1)["completed"] == 1


def test_a_worker_batch_with_a_misnamed_subtask_hands_only_that_one_back(fan_out_env, lambda_context, monkeypatch):
    monkeypatch.setenv("SUBTASKS_PER_SHARD", "1000")
    monkeypatch.setenv("PARALLEL_SHARDS", "2")
    tracker = fan_out_env["tracker"]
    text = b"".join(f"alpha beta line{i % 7}\n".encode() for i in range(1_000))
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/longer.txt", Body=text)
    # Over 250 subtasks: two shards of one round.
    submit(lambda_context, chunk_size_bytes=64, input={"bucket": BUCKET, "key": "inputs/longer.txt"})
    job = tracker.get_job("job-1")
    assert (job["shard_count"], job["shard_width"]) == (2, 2)
    bodies = [json.loads(body) for body in subtask_bodies(fan_out_env["queue_url"])]
    forged = {**bodies[1], "shard": 0}  # subtask 1 is shard 1's; shard 0's range (0..total-2) holds it

    answer = run_workers([json.dumps(forged), *(json.dumps(body) for body in bodies[2:12])], lambda_context)

    assert len(answer["failures"]) == 1  # the forged one goes back to SQS, then to the DLQ's quarantine
    assert 1 not in {task["subtask_id"] for task in tracker.shard_tasks("job-1", 0)}
    assert tracker.progress("job-1").completed == 10


def test_a_subtask_outside_the_job_and_a_job_never_registered_are_refused(tracker):
    register(tracker, total=10, shards=2)

    with pytest.raises(UnknownJobError, match="outside"):
        tracker.record_completion("job-1", 10, 0, Outcome.SUCCEEDED)
    with pytest.raises(UnknownJobError, match="never registered"):
        tracker.record_completion("job-2", 0, 0, Outcome.SUCCEEDED)


def test_skipping_with_another_layout_than_the_registered_one_is_refused(tracker):
    register(tracker, total=10, shards=2)

    with pytest.raises(UnknownJobError, match="registered with"):
        tracker.skip_subtasks("job-1", ShardLayout(10, 1, 1), 0, 2_000_000_000)

    assert tracker.progress("job-1").completed == 0
    assert tracker.skip_subtasks("job-1", ShardLayout(10, 2, 2), 0, 2_000_000_000) == [0, 1]


def test_the_layout_is_read_once_per_job_not_once_per_completion(tracker, tracker_table, monkeypatch):
    register(tracker, total=10, shards=2)
    reads: Counter = Counter()
    original = BaseClient._make_api_call

    def counting(self, operation, params):
        if operation == "GetItem" and params["Key"]["sk"] == "JOB":
            reads["job"] += 1
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    for subtask in range(10):
        tracker.record_completion("job-1", subtask, subtask % 2, Outcome.SUCCEEDED)
    JobTracker(tracker_table).record_completion("job-1", 0, 0, Outcome.SUCCEEDED)  # a later call's own tracker

    assert reads["job"] == 1


def test_a_reused_job_id_is_checked_against_its_new_layout_never_the_old_one(tracker_table):
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    tracker = JobTracker(tracker_table, clock=lambda: now[0], backoff=Backoff(sleep=lambda seconds: None))
    register(tracker, total=10, shards=2)
    tracker.record_completion("job-1", 3, 1, Outcome.SUCCEEDED)  # remembered: shard 1 holds 3
    # The job expires and the table's TTL deletes its items; the id is registered again with one shard.
    now[0] += timedelta(seconds=int(tracker.get_job("job-1")["expires_at"]) - now[0].timestamp() + 1)
    with tracker_table.batch_writer() as batch:
        for item in tracker_table.scan()["Items"]:
            batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    register(tracker, total=10, shards=1)

    assert tracker.record_completion("job-1", 3, 0, Outcome.SUCCEEDED).first  # the new layout: all in shard 0
    with pytest.raises(UnknownJobError, match="in shard 0, not in shard 1"):
        tracker.record_completion("job-1", 5, 1, Outcome.SUCCEEDED)
