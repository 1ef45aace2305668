"""A job's consolidation failure budget: what a failing merge costs, whatever the shard count (issue 27, point 1).

The consolidator and the sweeper run against moto as Lambda would run them:
every sealed shard triggers its reduction, Lambda never retries a
consolidation (its asynchronous retries are off), and the sweeper retries
what failed or was lost. Runs in flight at once are modelled by nesting: a
merge that starts the next reduction before it fails holds its own run open
meanwhile, as a concurrent invocation would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, Outcome, ShardLayout
from serverless_patterns.fan_in.tracker.keys import job_key
from unit.conftest import STATUS_INDEX

BUCKET = "jobs-bucket"
BUDGET = 3
GRACE_SECONDS = 60


@pytest.fixture
def env(aws, tracker_table, monkeypatch):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    sqs = boto3.client("sqs")
    events_url = sqs.create_queue(QueueName="job-events")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = boto3.client("sns").create_topic(Name="job-events")["TopicArn"]
    boto3.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=events_arn, Attributes={"RawMessageDelivery": "true"}
    )
    for name, value in {
        "JOB_BUCKET": BUCKET,
        "TRACKER_TABLE": tracker_table.name,
        "STATUS_INDEX": STATUS_INDEX,
        "JOB_EVENTS_TOPIC_ARN": topic_arn,
        "CONSOLIDATOR_FUNCTION": "consolidator",
        "CONSOLIDATION_MAX_FAILURES": str(BUDGET),
        "CONSOLIDATION_GRACE_SECONDS": str(GRACE_SECONDS),
        "READER_THREADS": "1",  # moto is not thread-safe
    }.items():
        monkeypatch.setenv(name, value)
    return {"tracker": JobTracker(tracker_table), "events_url": events_url}


@pytest.fixture
def triggers(monkeypatch) -> list[dict[str, Any]]:
    """What the consolidator and the sweeper would invoke asynchronously, kept for the test to run."""
    from fan_in_consolidator import handler as consolidator
    from fan_in_sweeper import handler as sweeper

    started: list[dict[str, Any]] = []

    def capture(job_id: str, correlation_id: str, shard: int | None = None) -> None:
        started.append({"job_id": job_id, **({} if shard is None else {"shard": shard})})

    for module in (consolidator, sweeper):
        monkeypatch.setattr(module, "trigger_consolidator", capture)
    return started


def use_merge(monkeypatch, merge: Callable[[Iterable[Any]], Any]) -> None:
    from fan_in_consolidator import handler as consolidator

    monkeypatch.setattr(consolidator, "merge_results", lambda job: merge)


def finish_subtasks(tracker: JobTracker, job_id: str, layout: ShardLayout, shards: range) -> list[dict[str, Any]]:
    """Count every subtask of `shards` as succeeded (a word count, kept inline); the reductions their seals start."""
    sealed = []
    for subtask_id in range(layout.total):
        shard = layout.shard_of(subtask_id)
        if shard not in shards:
            continue
        partial = json.dumps({"item": {"items": [subtask_id]}, "result": {"lines": 1, "words": {"w": 1}}})
        if tracker.record_completion(job_id, subtask_id, shard, Outcome.SUCCEEDED, {"partial": partial}).sealed_shard:
            sealed.append({"job_id": job_id, "shard": shard})
    return sealed


def register(tracker: JobTracker, job_id: str, shard_count: int, width: int) -> ShardLayout:
    layout = ShardLayout(total=shard_count * 2, shard_count=shard_count, width=width)
    tracker.register_job(job_id, layout, job_id, 3600, {}, "fingerprint", 86400)
    return layout


def handle(event: dict[str, Any]) -> dict[str, Any]:
    from fan_in_consolidator import handler as consolidator

    return consolidator.handle(event)


def sweep_later(seconds: float = 2 * GRACE_SECONDS) -> dict[str, list[str]]:
    from fan_in_sweeper import handler as sweeper

    return sweeper.sweep(datetime.now(UTC) + timedelta(seconds=seconds))


def job_events(events_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=events_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@pytest.mark.parametrize("shard_count", [10, 200])
def test_an_always_failing_merge_ends_the_job_failed_within_the_budget_whatever_the_shard_count(
    env, triggers, monkeypatch, shard_count
):
    """B + C - 1 merge runs at most (README: B the budget, C the runs in flight at once), not a multiple of S."""
    tracker, width = env["tracker"], 10
    layout = register(tracker, "job-1", shard_count, width)
    runs: list[int] = []
    first_round = finish_subtasks(tracker, "job-1", layout, range(width))
    waiting = list(first_round)

    def failing_merge(results: Iterable[Any]) -> Any:
        runs.append(1)
        if waiting:  # the round's next reduction starts while this one still runs
            handle(waiting.pop(0))
        raise ValueError("the merge always raises")

    use_merge(monkeypatch, failing_merge)
    handle(waiting.pop(0))  # the whole first round in flight at once: C = width
    in_flight = width
    assert tracker.get_job("job-1")["status"] == JobStatus.FAILED
    assert len(runs) <= BUDGET + in_flight - 1

    # Everything after the end runs no merge: the later rounds' seals, the sweeper's retries of what failed.
    for event in finish_subtasks(tracker, "job-1", layout, range(width, shard_count)):
        handle(event)
    sweep_later()
    while triggers:
        handle(triggers.pop(0))

    assert len(runs) <= BUDGET + in_flight - 1
    job = tracker.get_job("job-1")
    assert (job["status"], job["error"]["field"]) == (JobStatus.FAILED, "consolidation")
    assert "with ValueError: the merge always raises" in job["error"]["message"]
    [event] = job_events(env["events_url"])
    assert event["status"] == "FAILED"


def test_one_run_at_a_time_a_failing_merge_runs_exactly_the_budget(env, triggers, monkeypatch):
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 100, 10)
    runs: list[int] = []

    def failing_merge(results: Iterable[Any]) -> Any:
        runs.append(1)
        raise ValueError("the merge always raises")

    use_merge(monkeypatch, failing_merge)
    for event in finish_subtasks(tracker, "job-1", layout, range(100)):
        handle(event)
    for _ in range(3):  # the sweeper comes by again and again: nothing runs a merge any more
        sweep_later()
        while triggers:
            handle(triggers.pop(0))

    assert len(runs) == BUDGET
    assert tracker.get_job("job-1")["consolidation_failures"] == BUDGET


def test_a_transient_failure_is_retried_once_by_the_sweeper_and_the_job_succeeds(env, triggers, monkeypatch):
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 4, 2)
    calls: list[int] = []

    def flaky_merge(results: Iterable[Any]) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("S3 reset the connection")
        total = {"lines": 0}
        for result in results:
            total["lines"] += result["lines"]
        return total

    use_merge(monkeypatch, flaky_merge)
    answers = [handle(event) for event in finish_subtasks(tracker, "job-1", layout, range(4))]
    assert [answer.get("retried_by") for answer in answers].count("sweeper") == 1
    assert triggers == [], "the failed reduction is not retried by anyone but the sweeper"

    swept = sweep_later(seconds=1)  # a failure is due at the next sweep, not after the grace period
    assert len(swept["reduction_retried"]) == 1
    while triggers:
        handle(triggers.pop(0))

    job = tracker.get_job("job-1")
    assert (job["status"], job["consolidation_failures"]) == (JobStatus.SUCCEEDED, 1)
    assert len(calls) == 4 + 1 + 1  # 4 reductions, the final merge, the one retry


def test_an_attempt_that_died_without_a_word_is_charged_when_its_unit_is_retried(env, triggers, monkeypatch):
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 2, 2)
    use_merge(monkeypatch, lambda results: {"lines": sum(result["lines"] for result in results)})
    sealed = finish_subtasks(tracker, "job-1", layout, range(2))
    # A run that then timed out: nothing recorded its end, and its lease has lapsed.
    tracker.begin_reduction("job-1", 0, datetime.now(UTC))

    assert sweep_later(seconds=1)["reduction_retried"] == []  # in flight, as far as anyone knows
    assert sorted(sweep_later()["reduction_retried"]) == ["job-1#0", "job-1#1"]
    for event in sealed:
        handle(event)
    while triggers:
        handle(triggers.pop(0))

    job = tracker.get_job("job-1")
    assert (job["status"], job["consolidation_failures"]) == (JobStatus.SUCCEEDED, 1)
    assert job["last_consolidation_error"]["type"] == "AttemptLost"
    assert job["last_consolidation_error"]["unit"] == "the reduction of shard 0"


def test_a_job_of_one_shard_is_consolidated_in_one_invocation(env, triggers, monkeypatch):
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 1, 1)
    use_merge(monkeypatch, lambda results: {"lines": sum(result["lines"] for result in results)})
    [sealed] = finish_subtasks(tracker, "job-1", layout, range(1))

    answer = handle(sealed)

    assert (answer["status"], answer["consolidated"]) == ("SUCCEEDED", True)
    assert triggers == []
    assert tracker.get_job("job-1")["status"] == JobStatus.SUCCEEDED


def test_duplicate_triggers_of_a_running_reduction_neither_run_nor_charge_it(env, triggers, monkeypatch):
    """At-least-once async delivery, or a sweep while a run is queued: the copies find the unit leased."""
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 2, 2)
    runs: list[int] = []
    sealed = finish_subtasks(tracker, "job-1", layout, range(2))

    def merge_with_duplicates(results: Iterable[Any]) -> Any:
        runs.append(1)
        if len(runs) == 1:  # while the first run of shard 0 runs, its trigger arrives BUDGET more times
            copies = [handle(sealed[0]) for _ in range(BUDGET)]
            assert all(copy["consolidated"] is False for copy in copies)
        return {"lines": sum(result["lines"] for result in results)}

    use_merge(monkeypatch, merge_with_duplicates)
    for event in sealed:
        handle(event)
    while triggers:
        handle(triggers.pop(0))

    job = tracker.get_job("job-1")
    assert job["status"] == JobStatus.SUCCEEDED
    assert job.get("consolidation_failures", 0) == 0
    assert len(runs) == 2 + 1  # each shard once, the final merge once: no copy ran


def shard_statuses(tracker: JobTracker, job_id: str, shard_count: int) -> list[str | None]:
    return [shard.get("status") for shard in tracker.shards(job_id, shard_count)]


def test_a_trigger_that_finds_the_budget_spent_before_the_job_ended_releases_its_shard(
    env, triggers, monkeypatch, tracker_table
):
    """Between a run's charge and its abandon, a shard sealed then is triggered once: it must not stay waiting.

    Its seal made it due after the grace period only, so a shard left in the
    status index would wait that long for the sweeper (seen on MiniStack).
    """
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 2, 2)
    use_merge(monkeypatch, lambda results: {"lines": sum(result["lines"] for result in results)})
    sealed = finish_subtasks(tracker, "job-1", layout, range(2))
    tracker_table.update_item(  # the last charge is in; the run that made it has not yet ended the job
        Key=job_key("job-1"),
        UpdateExpression="SET consolidation_failures = :spent",
        ExpressionAttributeValues={":spent": BUDGET},
    )

    answer = handle(sealed[1])

    assert (answer["status"], tracker.get_job("job-1")["status"]) == (JobStatus.FAILED, JobStatus.FAILED)
    assert shard_statuses(tracker, "job-1", 2)[1] is None


def test_an_attempt_whose_lost_run_spends_the_budget_releases_its_shard(env, triggers, monkeypatch, tracker_table):
    tracker = env["tracker"]
    layout = register(tracker, "job-1", 2, 2)
    use_merge(monkeypatch, lambda results: {"lines": sum(result["lines"] for result in results)})
    sealed = finish_subtasks(tracker, "job-1", layout, range(2))
    tracker_table.update_item(
        Key=job_key("job-1"),
        UpdateExpression="SET consolidation_failures = :one_left",
        ExpressionAttributeValues={":one_left": BUDGET - 1},
    )
    tracker.begin_reduction("job-1", 0, datetime.now(UTC))  # a run that died: its lease has lapsed

    handle(sealed[0])

    assert tracker.get_job("job-1")["status"] == JobStatus.FAILED
    assert shard_statuses(tracker, "job-1", 2)[0] is None, "its new lease would keep it waiting until it lapses"
