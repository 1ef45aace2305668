"""A job's own max_concurrency, enforced by windowed dispatch (issue 28), against moto.

The queue is read as the event source mapping would: every message received
is in flight until its worker is done, so the messages of a windowed job in the
queue plus those being run are its subtasks in flight.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from serverless_patterns.fan_in.tracker import JobStatus, StopReason
from serverless_patterns.fan_out import subtask_sends
from unit.conftest import sqs_event
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    CHUNK,
    TOTAL,
    consolidations,
    drain,
    drive_consolidator,
    fan_out_env,
    run_workers,
    stored_result,
    submit,
)


@pytest.fixture
def env(fan_out_env):  # noqa: F811
    return fan_out_env


@pytest.fixture
def started(consolidations, monkeypatch):  # noqa: F811
    """The consolidator's triggers, captured; a lane's skips seal shards and start their reductions too."""
    from serverless_patterns.fan_out import lanes

    def capture(job_id: str, correlation_id: str, shard: int | None = None) -> None:
        consolidations.append({"job_id": job_id, **({} if shard is None else {"shard": shard})})

    monkeypatch.setattr(lanes, "trigger_consolidator", capture)
    return consolidations


def run_until_done(env, lambda_context, rounds: int = 100) -> list[int]:
    """Receive everything queued, run it, again until the queue is empty; the count in flight at each round."""
    in_flight = []
    for _ in range(rounds):
        bodies = [message["Body"] for message in drain(env["queue_url"])]
        if not bodies:
            return in_flight
        in_flight.append(len(bodies))
        assert run_workers(bodies, lambda_context)["failures"] == []
    raise AssertionError("the job never stopped sending subtasks")


def ids_of(bodies: list[str]) -> list[int]:
    return sorted(json.loads(body)["subtask_id"] for body in bodies)


@pytest.mark.parametrize("max_concurrency", [1, 2, 3])
def test_a_job_never_has_more_than_its_max_concurrency_in_flight_and_counts_exactly(
    env,
    lambda_context,
    started,
    max_concurrency,
):
    answer = submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=max_concurrency)
    assert answer["lanes_started"] == max_concurrency

    in_flight = run_until_done(env, lambda_context)

    assert max(in_flight) == max_concurrency
    assert sum(in_flight) == TOTAL, "every subtask sent exactly once"
    drive_consolidator(started)
    stored = stored_result(env)
    assert (stored["status"], stored["succeeded"], stored["failed"]) == ("SUCCEEDED", TOTAL, 0)


def test_a_job_whose_max_concurrency_covers_it_is_sent_whole(env, lambda_context):
    answer = submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=TOTAL)

    assert answer["dispatched_until"] == TOTAL
    assert len(drain(env["queue_url"])) == TOTAL
    assert "block_size" not in env["tracker"].get_job("job-1")


def test_the_deployment_default_windows_a_job_that_sets_none(env, lambda_context, monkeypatch):
    monkeypatch.setenv("DEFAULT_JOB_MAX_CONCURRENCY", "2")

    submit(lambda_context, chunk_size_bytes=CHUNK)

    assert len(drain(env["queue_url"])) == 2


@pytest.mark.parametrize("value", [0, -1, "3", 2.5, True, 1001])
def test_a_bad_max_concurrency_is_refused_naming_the_field_and_the_fix(env, lambda_context, value):
    answer = submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=value)

    assert answer["status"] == "FAILED"
    assert answer["error"]["field"] == "max_concurrency"
    assert "1 to 1000" in answer["error"]["message"]
    assert "job_max_concurrency_limit" in answer["error"]["fix"]
    assert drain(env["queue_url"]) == []


def test_a_duplicate_delivery_moves_its_lane_on_once(env, lambda_context, started):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=2)
    first = [message["Body"] for message in drain(env["queue_url"])]
    assert run_workers(first, lambda_context)["failures"] == []
    following = [message["Body"] for message in drain(env["queue_url"])]

    assert run_workers(first + first, lambda_context)["failures"] == []  # two more copies of each

    assert drain(env["queue_url"]) == [], "a copy of a counted subtask sends nothing"
    assert len(following) == 2
    assert run_workers(following, lambda_context)["failures"] == []
    assert sum(run_until_done(env, lambda_context)) == TOTAL - 4


def test_a_lane_step_that_failed_is_finished_by_the_redelivery_and_never_done_twice(
    env,
    lambda_context,
    started,
    monkeypatch,
):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)
    [body] = [message["Body"] for message in drain(env["queue_url"])]
    real_send = subtask_sends.send_subtasks

    def queue_down(subtasks, senders=1):
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(subtask_sends, "send_subtasks", queue_down)
    assert len(run_workers([body], lambda_context)["failures"]) == 1  # counted, but its successor not sent
    assert env["tracker"].progress("job-1").succeeded == 1
    monkeypatch.setattr(subtask_sends, "send_subtasks", real_send)

    assert run_workers([body, body], lambda_context)["failures"] == []  # the redelivery, and a copy of it

    assert ids_of([message["Body"] for message in drain(env["queue_url"])]) == [1]


def test_a_cancelled_windowed_job_skips_every_unsent_subtask_and_ends_exactly(
    env,
    lambda_context,
    started,
):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=2)
    first = [message["Body"] for message in drain(env["queue_url"])]
    assert run_workers(first, lambda_context)["failures"] == []
    env["tracker"].request_stop("job-1", StopReason.CANCELLED)
    from serverless_patterns.fan_out import completions

    completions._states.clear()  # the stop reaches workers within STOP_CHECK_SECONDS

    run_until_done(env, lambda_context)
    drive_consolidator(started)

    progress = env["tracker"].progress("job-1")
    assert (progress.succeeded, progress.skipped, progress.completed) == (2, TOTAL - 2, TOTAL)
    assert env["tracker"].get_job("job-1")["status"] == JobStatus.CANCELLED


def change(lambda_context, max_concurrency) -> dict:
    from fan_out_ventilator import handler as ventilator

    return ventilator.lambda_handler(
        {"concurrency": {"job_id": "job-1", "max_concurrency": max_concurrency}}, lambda_context
    )


def test_max_concurrency_raised_on_a_running_job_starts_more_lanes_at_once(env, lambda_context, started):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)
    assert len(drain(env["queue_url"])) == 1

    answer = change(lambda_context, 3)

    assert (answer["max_concurrency"], answer["lanes_active"]) == (3, 3)
    assert len(drain(env["queue_url"])) == 2
    assert "lanes_starting" not in env["tracker"].get_job("job-1"), "the start is sent, and forgotten"
    assert change(lambda_context, 4)["lanes_active"] == 4, "so the next raise starts lanes again"
    assert len(drain(env["queue_url"])) == 1


def test_max_concurrency_lowered_on_a_running_job_ends_lanes_as_their_blocks_end(
    env,
    lambda_context,
    started,
):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=3)
    change(lambda_context, 1)

    in_flight = run_until_done(env, lambda_context)

    # Every lane finishes the block it runs (blocks of one subtask here), then only one goes on.
    assert in_flight[0] == 3
    assert max(in_flight[1:]) == 1
    assert sum(in_flight) == TOTAL
    assert env["tracker"].get_job("job-1")["lanes_active"] == 0


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"job_id": "job-1", "max_concurrency": 0}, "concurrency.max_concurrency"),
        ({"job_id": "../x", "max_concurrency": 2}, "concurrency.job_id"),
        ({"job_id": "nope", "max_concurrency": 2}, "concurrency.job_id"),
    ],
)
def test_a_bad_concurrency_change_is_refused_naming_the_field(env, lambda_context, request_, field):
    from fan_out_ventilator import handler as ventilator

    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=2)

    answer = ventilator.lambda_handler({"concurrency": request_}, lambda_context)

    assert (answer["status"], answer["error"]["field"]) == ("REFUSED", field)


def test_a_failure_recorded_by_the_dlq_handler_moves_its_lane_on(env, lambda_context, started):
    from fan_out_dlq_handler import handler as dlq_handler

    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)
    [body] = [message["Body"] for message in drain(env["queue_url"])]

    assert dlq_handler.lambda_handler(sqs_event(body), lambda_context)["batchItemFailures"] == []

    assert ids_of([message["Body"] for message in drain(env["queue_url"])]) == [1]
    assert env["tracker"].progress("job-1").failed == 1


def test_lanes_ending_at_once_over_a_lowered_max_concurrency_leave_the_job_exactly_its_max(tracker_table, monkeypatch):
    """Three lanes end their blocks at the same moment, each having read 3 lanes running against a max of 1."""
    from serverless_patterns.fan_in.tracker import JobTracker, Outcome, ShardLayout, Window

    tracker = JobTracker(tracker_table)
    layout = ShardLayout(total=100, shard_count=1, width=1)
    window = Window(max_concurrency=3, block_size=1, blocks=100, total=100)
    tracker.register_job(
        "job-1", layout, "job-1", 3600, {}, "fingerprint", 86400, details=window.registration(datetime.now(UTC))
    )
    tracker.lanes_started("job-1", tracker.get_job("job-1")["lanes_starting"])  # its three lanes were sent
    for subtask_id in range(3):
        tracker.record_completion("job-1", subtask_id, 0, Outcome.SUCCEEDED, {})
    changed, _ = tracker.change_concurrency("job-1", 1)
    assert (changed["max_concurrency"], changed["lanes_active"]) == (1, 3)
    seen_together = tracker.window_state("job-1")
    reads = iter([seen_together] * 3)
    real_read = tracker.window_state
    monkeypatch.setattr(tracker, "window_state", lambda job_id: next(reads, None) or real_read(job_id))

    steps = [tracker.end_of_block("job-1", 0, 0, subtask_id, False, 60) for subtask_id in range(3)]

    assert [step.next for step in steps] == [-1, -1, 3], "two lanes end, the third goes on with the next block"
    assert tracker.window_state("job-1")["lanes_active"] == 1


# What a review found (issue 28): each of these lost a lane, sent one twice, or left a job under its max.


def test_a_raise_left_unsent_then_a_cancel_still_ends_the_job_exactly(env, lambda_context, started, monkeypatch):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)  # blocks of 2 subtasks, 5 blocks
    first = [message["Body"] for message in drain(env["queue_url"])]
    real_send = subtask_sends.send_subtasks

    def queue_down(subtasks, senders=1):
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(subtask_sends, "send_subtasks", queue_down)
    with pytest.raises(ConnectionError):
        change(lambda_context, 3)  # its two new lanes are counted as started, and never sent
    monkeypatch.setattr(subtask_sends, "send_subtasks", real_send)
    env["tracker"].request_stop("job-1", StopReason.CANCELLED)
    from serverless_patterns.fan_out import completions

    completions._states.clear()

    assert run_workers(first, lambda_context)["failures"] == []
    run_until_done(env, lambda_context)
    drive_consolidator(started)

    progress = env["tracker"].progress("job-1")
    # The cancel came before the one lane sent ran: everything is skipped, the unsent lanes' blocks too.
    assert (progress.skipped, progress.completed) == (TOTAL, TOTAL)
    assert env["tracker"].get_job("job-1")["status"] == JobStatus.CANCELLED


def test_a_change_while_lanes_are_being_started_is_refused_and_sends_nothing_twice(
    env, lambda_context, started, monkeypatch
):
    real_send = subtask_sends.send_subtasks
    answers = []

    def send_while_a_change_arrives(subtasks, senders=1):
        if not answers:
            answers.append(change(lambda_context, 5))
        real_send(subtasks)

    monkeypatch.setattr(subtask_sends, "send_subtasks", send_while_a_change_arrives)
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=2)

    [refusal] = answers
    assert (refusal["status"], refusal["error"]["fix"]) == ("REFUSED", "try again in a few seconds, once they are sent")
    assert ids_of([message["Body"] for message in drain(env["queue_url"])]) == [0, 1]


def test_a_start_left_unsent_is_sent_by_the_next_change_once_it_lapsed(env, lambda_context, started, monkeypatch):
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)
    assert len(drain(env["queue_url"])) == 1
    real_send = subtask_sends.send_subtasks

    def queue_down(subtasks, senders=1):
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(subtask_sends, "send_subtasks", queue_down)
    with pytest.raises(ConnectionError):
        change(lambda_context, 2)
    monkeypatch.setattr(subtask_sends, "send_subtasks", real_send)
    monkeypatch.setenv("DISPATCH_STALE_SECONDS", "0.01")  # the ventilator that was sending them has stopped
    time.sleep(0.05)

    answer = change(lambda_context, 3)

    assert (answer["max_concurrency"], answer["lanes_active"]) == (3, 3)
    assert len(drain(env["queue_url"])) == 2, "the lost start's lane, and the new one"


def test_a_lane_ending_over_a_lowered_max_goes_on_if_the_max_was_raised_back_meanwhile(tracker_table, monkeypatch):
    from serverless_patterns.fan_in.tracker import JobTracker, Outcome, ShardLayout, Window

    tracker = JobTracker(tracker_table)
    window = Window(max_concurrency=3, block_size=1, blocks=100, total=100)
    layout = ShardLayout(total=100, shard_count=1, width=1)
    tracker.register_job(
        "job-1", layout, "job-1", 3600, {}, "fp", 86400, details=window.registration(datetime.now(UTC))
    )
    tracker.lanes_started("job-1", tracker.get_job("job-1")["lanes_starting"])
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED, {})
    tracker.change_concurrency("job-1", 1)
    stale, real_read = tracker.window_state("job-1"), tracker.window_state
    reads = iter([stale])
    monkeypatch.setattr(tracker, "window_state", lambda job_id: next(reads, None) or real_read(job_id))
    real_record = tracker._record_step

    def raised_back_meanwhile(*args):
        monkeypatch.setattr(tracker, "_record_step", real_record)
        tracker.change_concurrency("job-1", 3)
        return real_record(*args)

    monkeypatch.setattr(tracker, "_record_step", raised_back_meanwhile)

    step = tracker.end_of_block("job-1", 0, 0, 0, False, 60)

    assert step.next == 3, "the lane takes the next block"
    assert (real_read("job-1")["max_concurrency"], real_read("job-1")["lanes_active"]) == (3, 3)


def test_a_stale_read_of_a_job_just_registered_never_ends_its_lane(env, lambda_context, started, monkeypatch):
    from serverless_patterns.fan_in.tracker.stopping import RunState, Stopping

    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)
    [body] = [message["Body"] for message in drain(env["queue_url"])]
    real_state = Stopping.run_state
    missed = iter([RunState(0, "", None)])  # an eventually consistent read that missed the new job item
    monkeypatch.setattr(
        Stopping, "run_state", lambda self, job_id, consistent=False: next(missed, None) or real_state(self, job_id)
    )

    assert run_workers([body], lambda_context)["failures"] == []

    assert ids_of([message["Body"] for message in drain(env["queue_url"])]) == [1]


def test_two_copies_counted_at_the_same_moment_send_the_next_subtask_once(env, lambda_context, started, monkeypatch):
    from serverless_patterns.fan_in.tracker import JobTracker
    from serverless_patterns.fan_out import lanes
    from serverless_patterns.fan_out.jobs import Subtask

    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)  # subtask 0's next is 1, in its block
    [body] = [message["Body"] for message in drain(env["queue_url"])]
    real_done = JobTracker.lane_done
    copies: list[BaseException] = []

    def the_other_copy_meanwhile(self, *args):
        if not copies:  # counted as a duplicate on another worker, before this one marked its step done
            with pytest.raises(lanes.LaneStepHeld) as held:
                lanes.move_on(Subtask.from_message(body), first=False, runs=True, stopped=False)
            copies.append(held.value)
        return real_done(self, *args)

    monkeypatch.setattr(JobTracker, "lane_done", the_other_copy_meanwhile)
    assert run_workers([body], lambda_context)["failures"] == []

    assert copies, "the copy found the step claimed: it fails, and its message comes back"
    assert ids_of([message["Body"] for message in drain(env["queue_url"])]) == [1]
    assert run_workers([body], lambda_context)["failures"] == [], "back, it finds the step done"
    assert drain(env["queue_url"]) == []


def test_a_claim_whose_claimer_died_is_taken_over_by_its_message_when_it_comes_back(
    env, lambda_context, started, monkeypatch
):
    """A worker killed (timeout, out of memory) after claiming its lane's step: no give-up, the claim just lapses."""
    from serverless_patterns.fan_out import lanes

    monkeypatch.setenv("LANE_CLAIM_SECONDS", "0.5")  # a short invocation
    monkeypatch.setattr(lanes, "CLAIM_MARGIN_SECONDS", 0)
    submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=1)
    [body] = [message["Body"] for message in drain(env["queue_url"])]

    def killed(*args):
        raise SystemExit("the invocation timed out")

    real_take = lanes._take
    monkeypatch.setattr(lanes, "_take", killed)
    with pytest.raises(SystemExit):
        run_workers([body], lambda_context)
    monkeypatch.setattr(lanes, "_take", real_take)

    assert len(run_workers([body], lambda_context)["failures"]) == 1, "too soon: the claim may still be held"
    time.sleep(0.6)  # the dead invocation's end, and its claim's

    assert run_workers([body], lambda_context)["failures"] == []
    assert ids_of([message["Body"] for message in drain(env["queue_url"])]) == [1]


def test_a_jobs_first_lanes_are_sent_by_several_senders_each_once(monkeypatch):
    """A job's first lanes may be thousands: their batches go out side by side, each subtask once."""
    import threading

    from serverless_patterns.fan_out.jobs import Subtask

    monkeypatch.setenv("SUBTASK_QUEUE_URL", "https://queue.example/subtasks")
    in_flight, peak, sent, lock = [0], [0], [], threading.Lock()

    def send_batch(destination, batch):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
            sent.extend(subtask.subtask_id for subtask, _ in batch)

    monkeypatch.setattr(subtask_sends, "send_batch", send_batch)
    subtasks = [Subtask("job-1", i, 0, "job-1", 0, {"type": "items", "items": [i]}) for i in range(95)]

    subtask_sends.send_subtasks(subtasks, senders=4)

    assert sorted(sent) == list(range(95))
    assert 1 < peak[0] <= 4
