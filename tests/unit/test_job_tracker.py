import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import botocore.client
import pytest

from serverless_patterns.job_tracker import (
    MAX_SHARDS,
    JobStatus,
    JobTracker,
    Outcome,
    UnknownJobError,
    expected_in_shard,
    shard_count_for,
)
from unit.conftest import STATUS_INDEX, register


@pytest.fixture
def tracker(tracker_table):
    return JobTracker(tracker_table)


def test_shard_sizes_add_up_to_the_total():
    for total in (1, 7, 100, 1001):
        for shards in (1, 3, 10):
            assert sum(expected_in_shard(total, shards, shard) for shard in range(shards)) == total


def test_small_jobs_use_one_shard_and_large_ones_are_spread():
    assert shard_count_for(total=1000, shard_threshold=1000, shards_above_threshold=10) == 1
    assert shard_count_for(total=1001, shard_threshold=1000, shards_above_threshold=10) == 10
    assert shard_count_for(total=10**6, shard_threshold=1000, shards_above_threshold=500) == MAX_SHARDS


def test_registering_twice_keeps_the_first_registration(tracker):
    assert register(tracker, total=5) is True
    assert register(tracker, total=99) is False

    assert tracker.get_job("job-1")["total"] == 5
    assert tracker.get_job("job-1")["status"] == JobStatus.RUNNING


@pytest.mark.parametrize("shards", [1, 4])
def test_only_the_last_completion_finishes_the_job(tracker, shards):
    register(tracker, total=9, shards=shards)

    finished = [tracker.record_completion("job-1", i, shards, Outcome.SUCCEEDED).finished_job for i in range(9)]

    assert finished == [False] * 8 + [True]
    progress = tracker.progress("job-1")
    assert (progress.succeeded, progress.failed, progress.completed) == (9, 0, 9)
    assert progress.job["status"] == JobStatus.COMPLETING


def test_a_duplicate_is_not_counted_and_cannot_finish_the_job_twice(tracker):
    register(tracker, total=2)
    tracker.record_completion("job-1", 0, 1, Outcome.SUCCEEDED)

    duplicate = tracker.record_completion("job-1", 0, 1, Outcome.FAILED)
    last = tracker.record_completion("job-1", 1, 1, Outcome.SUCCEEDED)
    late_duplicate = tracker.record_completion("job-1", 1, 1, Outcome.SUCCEEDED)

    assert (duplicate.first, duplicate.finished_job) == (False, False)
    assert (last.first, last.finished_job) == (True, True)
    assert (late_duplicate.first, late_duplicate.finished_job) == (False, False)
    progress = tracker.progress("job-1")
    assert (progress.succeeded, progress.failed) == (2, 0)  # the first outcome of subtask 0 stands


def test_failed_subtasks_count_towards_completion(tracker):
    register(tracker, total=3)

    tracker.record_completion("job-1", 0, 1, Outcome.SUCCEEDED)
    tracker.record_completion("job-1", 1, 1, Outcome.FAILED, {"error": "boom"})
    last = tracker.record_completion("job-1", 2, 1, Outcome.FAILED, {"error": "boom"})

    assert last.finished_job
    failed = [task["subtask_id"] for task in tracker.subtasks("job-1") if task["outcome"] == "FAILED"]
    assert failed == [1, 2]


def test_a_completion_for_an_unknown_job_is_an_error(tracker):
    with pytest.raises(UnknownJobError, match="never registered"):
        tracker.record_completion("nope", 0, 1, Outcome.SUCCEEDED)


def test_a_redelivery_completes_the_work_of_a_worker_that_crashed_after_counting(tracker, monkeypatch):
    register(tracker, total=1)
    real_advance = tracker._advance
    monkeypatch.setattr(tracker, "_advance", lambda job_id, shard: False)  # the crash: counted, never advanced
    assert tracker.record_completion("job-1", 0, 1, Outcome.SUCCEEDED).finished_job is False
    monkeypatch.setattr(tracker, "_advance", real_advance)

    redelivery = tracker.record_completion("job-1", 0, 1, Outcome.SUCCEEDED)

    assert (redelivery.first, redelivery.finished_job) == (False, True)
    assert tracker.get_job("job-1")["status"] == JobStatus.COMPLETING


@pytest.fixture
def atomic_requests(monkeypatch):
    """Each AWS request atomic, as DynamoDB guarantees; moto's backend is not thread-safe.

    Threads still interleave between requests (transaction, read, seal, flip),
    which is where the tracker's races live.
    """
    lock = threading.Lock()
    make_api_call = botocore.client.BaseClient._make_api_call

    def atomic(self, operation_name, api_params):
        with lock:
            return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", atomic)


@pytest.mark.parametrize("shards", [1, 8])
def test_concurrent_duplicate_completions_are_counted_exactly_once(tracker, shards, atomic_requests):
    total = 120
    register(tracker, total=total, shards=shards)
    deliveries = [i for i in range(total) for _ in range(3)]  # every subtask delivered three times
    random.Random(7).shuffle(deliveries)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: tracker.record_completion("job-1", i, shards, Outcome.SUCCEEDED), deliveries))

    assert sum(result.first for result in results) == total
    assert sum(result.finished_job for result in results) == 1
    progress = tracker.progress("job-1")
    assert (progress.succeeded, progress.failed) == (total, 0)
    assert len(list(tracker.subtasks("job-1"))) == total


def test_the_result_is_recorded_once(tracker):
    register(tracker, total=1)
    tracker.record_completion("job-1", 0, 1, Outcome.SUCCEEDED)

    assert tracker.record_result("job-1", JobStatus.SUCCEEDED, {"key": "a"}) is True
    assert tracker.record_result("job-1", JobStatus.SUCCEEDED, {"key": "b"}) is False
    assert tracker.get_job("job-1")["result"] == {"key": "a"}


def test_overdue_running_jobs_are_found_and_timed_out_once(tracker_table):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [start]
    tracker = JobTracker(tracker_table, clock=lambda: now[0])
    register(tracker, "short", total=2, timeout=60)
    register(tracker, "long", total=2, timeout=3600)
    now[0] = start + timedelta(minutes=5)

    overdue = tracker.jobs_in_status(JobStatus.RUNNING, STATUS_INDEX, before=now[0])

    assert [job["job_id"] for job in overdue] == ["short"]
    assert tracker.mark_timed_out("short") is True
    assert tracker.mark_timed_out("short") is False
    assert tracker.get_job("short")["status"] == JobStatus.TIMED_OUT


def test_a_rejected_spec_is_recorded_but_never_overwrites_a_job(tracker):
    tracker.mark_rejected("bad", "corr", {"field": "chunk_size_bytes", "message": "too small"}, {})
    register(tracker, "good", total=1)
    tracker.mark_rejected("good", "corr", {"field": "x", "message": "y"}, {})

    assert tracker.get_job("bad")["status"] == JobStatus.FAILED
    assert tracker.get_job("bad")["error"]["field"] == "chunk_size_bytes"
    assert tracker.get_job("good")["status"] == JobStatus.RUNNING
