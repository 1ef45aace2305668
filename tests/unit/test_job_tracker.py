import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import botocore.client
import pytest
from botocore.exceptions import ClientError

from fault_injection import FaultPlan, inject
from serverless_patterns.fan_in.tracker import (
    MAX_SHARDS,
    JobStatus,
    JobTracker,
    Outcome,
    ShardLayout,
    UnitAttempt,
    UnknownJobError,
)
from serverless_patterns.shared.retries import Backoff
from unit.conftest import LEASE, STATUS_INDEX, finish_job, register


@pytest.fixture
def tracker(tracker_table):
    return JobTracker(tracker_table, backoff=Backoff(sleep=lambda seconds: None))


@pytest.mark.parametrize("total", [1, 2, 7, 100, 1001, 2100, 9_999])
@pytest.mark.parametrize(("subtasks_per_shard", "parallel_shards"), [(1, 1), (3, 2), (250, 2), (1000, 10), (7, 200)])
def test_every_subtask_has_one_shard_and_every_shard_its_expected_count(total, subtasks_per_shard, parallel_shards):
    layout = ShardLayout.plan(total, subtasks_per_shard, parallel_shards)
    counts = Counter(layout.shard_of(subtask) for subtask in range(total))

    assert set(counts) == set(range(layout.shard_count))  # no shard is empty: each one gets sealed
    assert all(counts[shard] == layout.expected(shard) for shard in range(layout.shard_count))
    members: dict[int, list[int]] = {}
    for subtask in range(total):
        members.setdefault(layout.shard_of(subtask), []).append(subtask)
    assert all(
        members[shard] == list(range(layout.first_of(shard), layout.last_of(shard) + 1, layout.width))
        for shard in range(layout.shard_count)
    )
    assert layout.shard_count % layout.width == 0
    assert layout.shard_count <= min(total, MAX_SHARDS)


def test_the_layout_bounds_the_shards_written_at_once_and_the_objects_of_the_final_merge():
    assert ShardLayout.plan(100_000, 1000, 10) == ShardLayout(100_000, 100, 10)  # 10 rounds of 10 shards of 1,000
    assert ShardLayout.plan(1_000, 1000, 10) == ShardLayout(1_000, 4, 4)  # as many as its completions need: 250 each
    assert ShardLayout.plan(3, 1000, 10) == ShardLayout(3, 1, 1)  # one shard absorbs a small job
    assert ShardLayout.plan(10**7, 100, 10).shard_count == MAX_SHARDS  # shards grow past 100 rather than exceed it


def test_subtasks_taken_in_order_write_to_a_round_of_shards_at_a_time():
    layout = ShardLayout.plan(100_000, 1000, 10)

    assert {layout.shard_of(subtask) for subtask in range(0, 5_000)} == set(range(10))
    assert {layout.shard_of(subtask) for subtask in range(10_000, 15_000)} == set(range(10, 20))
    assert layout.shard_of(99_999) // layout.width == layout.rounds - 1


@pytest.mark.parametrize("subtask_id", [10, 11, 10**9])
def test_a_subtask_outside_the_job_is_never_counted(tracker, subtask_id):
    register(tracker, total=10, shards=2)

    with pytest.raises(UnknownJobError, match="outside"):
        tracker.record_completion("job-1", subtask_id, subtask_id % 2, Outcome.SUCCEEDED)

    assert sum(int(shard["completed"]) for shard in tracker.shards("job-1", 2)) == 0


def test_registering_twice_keeps_the_first_registration_and_returns_it(tracker):
    first = register(tracker, total=5)
    second = register(tracker, total=99, fingerprint="another")

    assert (first.created, second.created) == (True, False)
    assert (second.job["total"], second.job["fingerprint"]) == (5, "fingerprint")
    assert tracker.get_job("job-1")["shards_ready"] is True


def test_every_shard_has_a_partition_key_of_its_own(tracker, tracker_table):
    register(tracker, total=40, shards=8)
    for subtask in range(40):
        tracker.record_completion("job-1", subtask, subtask % 8, Outcome.SUCCEEDED, expires_at=2_000_000_000)

    items = tracker_table.scan()["Items"]
    task_partitions = {item["pk"] for item in items if item["sk"].startswith("TASK#")}
    assert len(task_partitions) == 8
    assert {item["pk"] for item in items if item["sk"] == "SHARD"} == task_partitions
    assert all("expires_at" in item for item in items)  # every item expires (the table's TTL attribute)


@pytest.mark.parametrize("shards", [1, 4])
def test_only_the_completion_that_fills_a_shard_seals_it(tracker, shards):
    register(tracker, total=9, shards=shards)

    sealed = [tracker.record_completion("job-1", i, i % shards, Outcome.SUCCEEDED).sealed_shard for i in range(9)]

    # Shard n holds subtasks n, n + shards, ...: its last one seals it.
    last_of_each_shard = {max(i for i in range(9) if i % shards == shard) for shard in range(shards)}
    assert sealed == [i in last_of_each_shard for i in range(9)]
    progress = tracker.progress("job-1")
    assert (progress.succeeded, progress.failed, progress.completed) == (9, 0, 9)
    assert progress.job["status"] == JobStatus.RUNNING  # until every shard is reduced


def test_a_duplicate_is_not_counted_and_cannot_seal_twice(tracker):
    register(tracker, total=2)
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)

    duplicate = tracker.record_completion("job-1", 0, 0, Outcome.FAILED)
    last = tracker.record_completion("job-1", 1, 0, Outcome.SUCCEEDED)
    late_duplicate = tracker.record_completion("job-1", 1, 0, Outcome.SUCCEEDED)

    assert (duplicate.first, duplicate.sealed_shard) == (False, False)
    assert (last.first, last.sealed_shard) == (True, True)
    assert (late_duplicate.first, late_duplicate.sealed_shard) == (False, False)
    progress = tracker.progress("job-1")
    assert (progress.succeeded, progress.failed) == (2, 0)  # the first outcome of subtask 0 stands


def test_failed_subtasks_count_towards_completion_with_their_errors(tracker):
    register(tracker, total=3)

    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)
    tracker.record_completion("job-1", 1, 0, Outcome.FAILED, {"error": {"type": "E", "message": "boom"}})
    last = tracker.record_completion("job-1", 2, 0, Outcome.FAILED, {"error": {"type": "E", "message": "bang"}})

    assert last.sealed_shard
    failed = [
        (task["subtask_id"], task["error"]["message"]) for task in tracker.subtasks("job-1", 1) if "error" in task
    ]
    assert failed == [(1, "boom"), (2, "bang")]


def test_a_completion_for_an_unknown_job_is_an_error(tracker):
    with pytest.raises(UnknownJobError, match="never registered"):
        tracker.record_completion("nope", 0, 0, Outcome.SUCCEEDED)


def test_a_redelivery_seals_the_shard_of_a_worker_that_crashed_after_counting(tracker, monkeypatch):
    register(tracker, total=1)
    real_seal = tracker._seal_if_full
    monkeypatch.setattr(tracker, "_seal_if_full", lambda job_id, shard: False)  # the crash: counted, never sealed
    assert tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED).sealed_shard is False
    monkeypatch.setattr(tracker, "_seal_if_full", real_seal)

    redelivery = tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)

    assert (redelivery.first, redelivery.sealed_shard) == (False, True)


def test_the_last_error_of_a_retried_subtask_is_kept(tracker):
    register(tracker, total=2, shards=2)
    tracker.record_attempt_error("job-1", 1, 1, {"type": "TimeoutError", "message": "first"}, 2_000_000_000)
    tracker.record_attempt_error("job-1", 1, 1, {"type": "ClientError", "message": "second"}, 2_000_000_000)

    assert tracker.last_error("job-1", 1, 1) == {"type": "ClientError", "message": "second", "attempts": 2}
    assert tracker.last_error("job-1", 0, 0) is None


@pytest.fixture
def atomic_requests(monkeypatch):
    """Each AWS request atomic, as DynamoDB guarantees; moto's backend is not thread-safe.

    Threads still interleave between requests (transaction, read, seal), which
    is where the tracker's races live.
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
        results = list(
            pool.map(lambda i: tracker.record_completion("job-1", i, i % shards, Outcome.SUCCEEDED), deliveries)
        )

    assert sum(result.first for result in results) == total
    assert sum(result.sealed_shard for result in results) == shards
    progress = tracker.progress("job-1")
    assert (progress.succeeded, progress.failed) == (total, 0)
    assert len(list(tracker.subtasks("job-1", shards))) == total


def test_conflicts_and_throttling_are_retried_and_every_subtask_is_counted_once(tracker, tracker_table):
    plan = (
        FaultPlan()
        .fail("dynamodb", "TransactionConflict", 0.3, {"TransactWriteItems"})
        .fail("dynamodb", "ProvisionedThroughputExceeded", 0.1, {"GetItem", "UpdateItem"})
        .fail("dynamodb", "Throttling", 0.1, {"BatchWriteItem", "PutItem"})
    )
    inject(tracker_table.meta.client, plan)
    total, shards = 200, 4
    register(tracker, total=total, shards=shards)

    deliveries = list(range(total)) + list(range(0, total, 5))  # and some duplicates
    results = [tracker.record_completion("job-1", i, i % shards, Outcome.SUCCEEDED) for i in deliveries]

    transactions = plan.called("dynamodb", {"TransactWriteItems"})
    assert plan.failed("dynamodb", {"TransactWriteItems"}, "TransactionConflict") >= 0.29 * transactions
    assert plan.failed("dynamodb", kind="ProvisionedThroughputExceeded") > 0
    assert tracker.backoff.retried >= plan.failed("dynamodb", {"TransactWriteItems"})
    assert sum(result.first for result in results) == total
    assert sum(result.sealed_shard for result in results) == shards
    assert (tracker.progress("job-1").succeeded, len(list(tracker.subtasks("job-1", shards)))) == (total, total)


def test_retries_are_bounded_and_a_failed_condition_is_never_retried(tracker, tracker_table):
    register(tracker, total=2)
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)
    plan = FaultPlan()
    inject(tracker_table.meta.client, plan)

    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)  # a duplicate: its condition fails
    assert plan.called("dynamodb", {"TransactWriteItems"}) == 1

    plan.fail("dynamodb", "TransactionConflict", 1.0, {"TransactWriteItems"})
    with pytest.raises(ClientError, match="TransactionConflict"):
        tracker.record_completion("job-1", 1, 0, Outcome.SUCCEEDED)
    assert plan.called("dynamodb", {"TransactWriteItems"}) == 1 + tracker.backoff.attempts


def test_the_backoff_waits_grow_with_full_jitter_and_stay_under_the_cap():
    waits: list[float] = []
    backoff = Backoff(attempts=6, base_seconds=0.1, cap_seconds=0.5, sleep=waits.append, rng=random.Random(1))
    conflict = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")

    with pytest.raises(ClientError):
        backoff.call(lambda: (_ for _ in ()).throw(conflict))

    assert len(waits) == 5
    assert all(0 <= wait <= min(0.5, 0.1 * 2**n) for n, wait in enumerate(waits))


def test_a_job_completes_once_every_shard_is_reduced_and_finishes_once(tracker):
    register(tracker, total=4, shards=2)
    for i in range(4):
        tracker.record_completion("job-1", i, i % 2, Outcome.SUCCEEDED)

    assert tracker.begin_reduction("job-1", 0, LEASE) == UnitAttempt(1, lost=False)
    assert tracker.record_reduction("job-1", 0, {"result_key": "a", "succeeded": 2, "failed": 0})
    assert tracker.record_reduction("job-1", 0, {"result_key": "b", "succeeded": 2, "failed": 0}) is False
    assert tracker.begin_reduction("job-1", 0, LEASE) is None  # reduced: nothing left to do
    assert tracker.start_completing("job-1") is False  # shard 1 is not reduced yet

    assert tracker.begin_reduction("job-1", 1, LEASE) == UnitAttempt(1, lost=False)
    assert tracker.record_reduction("job-1", 1, {"result_key": "c", "succeeded": 2, "failed": 0})
    assert tracker.start_completing("job-1") is True
    assert tracker.start_completing("job-1") is False
    assert tracker.begin_consolidation("job-1", LEASE) == UnitAttempt(1, lost=False)
    assert tracker.record_result("job-1", {"key": "a"}) is True
    assert tracker.record_result("job-1", {"key": "b"}) is False
    assert tracker.finish("job-1", JobStatus.SUCCEEDED) is True
    assert tracker.finish("job-1", JobStatus.PARTIAL) is False

    job = tracker.get_job("job-1")
    assert (job["status"], job["result"], job["shards_reduced"]) == (JobStatus.SUCCEEDED, {"key": "a"}, 2)
    assert tracker.begin_consolidation("job-1", LEASE) is None


def test_sealed_shards_wait_in_the_status_index_until_reduced(tracker_table):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [start]
    tracker = JobTracker(tracker_table, clock=lambda: now[0])
    register(tracker, total=2, shards=2)
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)
    tracker.record_completion("job-1", 1, 1, Outcome.SUCCEEDED)
    now[0] = start + timedelta(minutes=10)

    assert tracker.shards_waiting_for_reduction(STATUS_INDEX, before=now[0]) == [("job-1", 0), ("job-1", 1)]
    tracker.begin_reduction("job-1", 0, LEASE)  # an attempt moves its time forward
    assert tracker.shards_waiting_for_reduction(STATUS_INDEX, before=now[0]) == [("job-1", 1)]
    tracker.record_reduction("job-1", 1, {"result_key": "k", "succeeded": 1, "failed": 0})
    tracker.release_shard("job-1", 0)
    assert tracker.shards_waiting_for_reduction(STATUS_INDEX, before=now[0] + timedelta(hours=1)) == []


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
    job = tracker.get_job("short")
    assert (job["status"], job["timed_out_at"]) == (JobStatus.COMPLETING, now[0].isoformat())


def test_an_abandoned_job_ends_failed_once(tracker):
    register(tracker, total=1)
    error = {"field": "consolidation", "message": "failed", "fix": "look"}

    assert tracker.abandon("job-1", error)["status"] == JobStatus.FAILED
    assert tracker.abandon("job-1", error) is None
    assert tracker.get_job("job-1")["error"] == error


def test_a_job_with_a_recorded_result_is_never_abandoned(tracker):
    register(tracker, total=1)
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)
    tracker.begin_reduction("job-1", 0, LEASE)
    tracker.record_reduction("job-1", 0, {"result_key": "k", "succeeded": 1, "failed": 0})
    tracker.start_completing("job-1")
    tracker.record_result("job-1", {"status": "SUCCEEDED"})

    assert tracker.abandon("job-1", {"field": "consolidation", "message": "m", "fix": "f"}) is None
    assert tracker.get_job("job-1")["status"] == JobStatus.COMPLETING


def test_a_rejected_spec_is_recorded_but_never_overwrites_a_job(tracker):
    error = {"field": "chunk_size_bytes", "message": "too small", "fix": "raise it"}
    assert tracker.mark_rejected("bad", "corr", error, {}, 86400) is True
    register(tracker, "good", total=1)
    assert tracker.mark_rejected("good", "corr", {"field": "x", "message": "y", "fix": "z"}, {}, 86400) is False

    assert tracker.get_job("bad")["status"] == JobStatus.FAILED
    assert tracker.get_job("bad")["error"]["field"] == "chunk_size_bytes"
    assert tracker.get_job("good")["status"] == JobStatus.RUNNING


def test_dispatch_progress_only_moves_forward_and_a_stalled_dispatch_is_taken_over_once(tracker):
    register(tracker, total=100)
    tracker.record_dispatch("job-1", 50)
    tracker.record_dispatch("job-1", 20)  # a late, older report
    job = tracker.get_job("job-1")
    assert job["dispatched_until"] == 50

    assert tracker.take_over_dispatch("job-1", job["dispatch_updated_at"], "request-2") is True
    assert tracker.take_over_dispatch("job-1", job["dispatch_updated_at"], "request-3") is False
    assert tracker.get_job("job-1")["dispatcher"] == "request-2"


def test_the_finish_job_helper_reaches_a_final_status(tracker):
    register(tracker, total=1)
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)

    finish_job(tracker, "job-1", JobStatus.SUCCEEDED, {"key": "k"})

    assert tracker.get_job("job-1")["status"] == JobStatus.SUCCEEDED
