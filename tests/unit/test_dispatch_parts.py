"""A large job dispatched whole, in parts sent side by side by several ventilator invocations (issue 29).

The 10-subtask test job is cut into 3 parts here (DISPATCH_PART_SUBTASKS=4); the asynchronous invocations the
ventilator starts are captured and run by the tests, in any order, twice, or after a crash.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from serverless_patterns.fan_in.tracker import JobStatus, StopReason, part_range
from serverless_patterns.fan_in.tracker.keys import part_key
from serverless_patterns.fan_out import dispatch_parts
from serverless_patterns.shared import aws_clients
from unit.conftest import FakeLambdaContext
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    CHUNK,
    EXPECTED_WORDS,
    TOTAL,
    consolidations,
    drain,
    drive_consolidator,
    fan_out_env,
    run_workers,
    stored_result,
    submit,
)

PARTS = 3


@pytest.fixture
def env(fan_out_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DISPATCH_PART_SUBTASKS", "4")
    monkeypatch.setenv("MAX_DISPATCHERS", str(PARTS))
    return fan_out_env


@pytest.fixture
def invocations(monkeypatch) -> list[dict]:
    """The asynchronous invocations of the ventilator (its parts, its hand-overs), captured to be run by the test."""
    invoked: list[dict] = []

    class CapturingLambda:
        def invoke(self, **kwargs):
            if kwargs["FunctionName"] == FakeLambdaContext.invoked_function_arn:  # the ventilator, not a reduction
                invoked.append(json.loads(kwargs["Payload"]))

    real = aws_clients.client
    monkeypatch.setattr(aws_clients, "client", lambda name: CapturingLambda() if name == "lambda" else real(name))
    return invoked


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Every subtask id the ventilator sends, in order, duplicates included."""
    from fan_out_ventilator import handler as ventilator

    ids: list[int] = []
    real_send = ventilator._send_batch

    def counting(destination, batch):
        real_send(destination, batch)
        ids.extend(subtask.subtask_id for subtask, _ in batch)

    monkeypatch.setattr(ventilator, "_send_batch", counting)
    return ids


def invoke(event: dict, context: FakeLambdaContext | None = None) -> dict:
    from fan_out_ventilator import handler as ventilator

    return ventilator.lambda_handler(event, context or FakeLambdaContext())


def test_a_large_job_is_registered_with_its_parts_then_sent_by_one_invocation_per_part(
    env, lambda_context, invocations, sent, monkeypatch
):
    from fan_out_ventilator import handler as ventilator

    seen_before_sending = []
    real_send = ventilator._send_batch

    def first_look(destination, batch):
        if not seen_before_sending:
            seen_before_sending.append(env["tracker"].parts_of("job-1"))
        real_send(destination, batch)

    monkeypatch.setattr(ventilator, "_send_batch", first_look)

    answer = submit(lambda_context, chunk_size_bytes=CHUNK)

    assert answer["dispatch_parts"] == PARTS
    assert [item["end"] for item in seen_before_sending[0]] == [part_range(TOTAL, PARTS, p)[1] for p in range(PARTS)]
    assert invocations == [{"dispatch_part": {"job_id": "job-1", "part": part}} for part in (1, 2)]
    assert answer["part_0"]["dispatched_until"] == part_range(TOTAL, PARTS, 0)[1]
    assert env["tracker"].get_job("job-1")["dispatched_until"] == 0, "the job is dispatched once every part is"

    for event in reversed(invocations):  # side by side: in any order
        assert invoke(event)["sent"] is True

    job = env["tracker"].get_job("job-1")
    assert (job["dispatched_until"], job["parts_done"]) == (TOTAL, PARTS)
    bodies = [message["Body"] for message in drain(env["queue_url"])]
    assert sorted(json.loads(body)["subtask_id"] for body in bodies) == list(range(TOTAL))


def test_parts_sent_side_by_side_add_up_to_the_exact_result(
    env,
    lambda_context,
    invocations,
    consolidations,  # noqa: F811
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    for event in invocations:
        invoke(event)
    bodies = [message["Body"] for message in drain(env["queue_url"])]

    assert run_workers(bodies, lambda_context)["failures"] == []
    drive_consolidator(consolidations)

    stored = stored_result(env)
    assert stored["status"] == JobStatus.SUCCEEDED.value
    assert (stored["succeeded"], stored["result"]["words"]) == (TOTAL, EXPECTED_WORDS)


def test_duplicated_part_invocations_send_each_subtask_once(env, lambda_context, invocations, sent, monkeypatch):
    """Lambda may deliver an asynchronous event more than once, even while the first copy runs."""
    from fan_out_ventilator import handler as ventilator

    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_1, part_2 = invocations
    answers = []
    real_send = ventilator._send_batch

    def copy_arrives_meanwhile(destination, batch):
        if not answers:
            answers.append(invoke(part_1))  # the copy starts while the first holds the part's claim
        real_send(destination, batch)

    monkeypatch.setattr(ventilator, "_send_batch", copy_arrives_meanwhile)
    assert invoke(part_1)["sent"] is True
    assert answers == [{"job_id": "job-1", "part": 1, "sent": False}]
    monkeypatch.setattr(ventilator, "_send_batch", real_send)
    assert invoke(part_2)["sent"] is True
    assert [invoke(event)["sent"] for event in (part_1, part_2)] == [False, False], "copies after the end send nothing"

    assert sorted(sent) == list(range(TOTAL)), "each subtask sent exactly once"
    assert env["tracker"].get_job("job-1")["parts_done"] == PARTS


def test_a_retried_part_invocation_resumes_its_part_where_its_progress_stands(
    env, lambda_context, invocations, sent, monkeypatch
):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setattr(ventilator, "WAVE", 1)
    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_2 = invocations[1]
    start, end = part_range(TOTAL, PARTS, 2)
    real_send = ventilator._send_batch
    calls = []

    def crash_after_two_waves(destination, batch):
        calls.append(batch)
        if len(calls) > 2:
            raise RuntimeError("the invocation dies")
        real_send(destination, batch)

    monkeypatch.setattr(ventilator, "_send_batch", crash_after_two_waves)
    context = FakeLambdaContext()
    with pytest.raises(RuntimeError):
        invoke(part_2, context)
    recorded = env["tracker"].parts_of("job-1")[2]["next"]
    assert start < recorded < end
    monkeypatch.setattr(ventilator, "_send_batch", real_send)

    assert invoke(part_2, FakeLambdaContext())["sent"] is False, "another request: the claim is alive"
    assert invoke(part_2, context)["sent"] is False, "a copy with the same request id, while the claim is fresh"
    age_part(env, 2, seconds=dispatch_parts.RETRY_QUIET_SECONDS + 30)  # Lambda retries a minute later or more
    assert invoke(part_2, context)["sent"] is True, "Lambda's retry keeps the request id: it resumes where it stood"

    part_ids = [subtask for subtask in sent if start <= subtask < end]
    assert sorted(set(part_ids)) == list(range(start, end))
    assert all(count == 1 for subtask, count in Counter(part_ids).items() if subtask < recorded - 1)
    assert len(part_ids) - (end - start) <= 1, "only the wave sent but not recorded is sent again"


def age_part(env, part: int, seconds: float) -> None:
    """The part's claim last reported `seconds` ago."""
    env["tracker"]._table.update_item(
        Key=part_key("job-1", part),
        UpdateExpression="SET updated_at = :then",
        ExpressionAttributeValues={":then": (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()},
    )


def test_a_part_out_of_time_is_handed_over_once_and_a_stale_claim_is_taken_over(
    env, lambda_context, invocations, sent, monkeypatch
):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setattr(ventilator, "WAVE", 1)
    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_1 = invocations[0]
    short = FakeLambdaContext()
    remaining = iter([60_000, 1_000])  # one wave, then too little time
    monkeypatch.setattr(short, "get_remaining_time_in_millis", lambda: next(remaining))

    assert invoke(part_1, short)["dispatched_until"] == part_range(TOTAL, PARTS, 1)[0] + 1
    handed_over = invocations[-1]
    assert handed_over["dispatch_part"]["handed_over_by"].startswith(short.aws_request_id)

    assert invoke(handed_over)["sent"] is True
    assert invoke(handed_over)["sent"] is False, "a copy of the hand-over finds the part done"
    assert invoke(invocations[1])["sent"] is True

    assert sorted(sent) == list(range(TOTAL))


def test_a_claimer_that_was_taken_over_stops_at_its_next_wave(env, lambda_context, invocations, sent, monkeypatch):
    from fan_out_ventilator import handler as ventilator
    from serverless_patterns.fan_in.tracker import JobTracker

    monkeypatch.setattr(ventilator, "WAVE", 1)
    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_2 = invocations[1]
    tracker = env["tracker"]
    real_record = JobTracker.record_part_progress
    taken: list[dict] = []

    def silent_for_long(self, job_id, part, claim, sent_until):
        if not taken:
            taken.append({})
            # The claimer went quiet for longer than a ventilator runs: the next invocation takes the part over.
            age_part(env, 2, seconds=3600)
            taken[0] = invoke(part_2, FakeLambdaContext())
        return real_record(self, job_id, part, claim, sent_until)

    monkeypatch.setattr(JobTracker, "record_part_progress", silent_for_long)
    answer = invoke(part_2, FakeLambdaContext())

    assert taken[0]["sent"] is True
    assert answer == {"job_id": "job-1", "part": 2, "sent": False, "taken_over": True}
    start, end = part_range(TOTAL, PARTS, 2)
    part_ids = [subtask for subtask in sent if subtask >= start]
    assert sorted(set(part_ids)) == list(range(start, end))
    # The old claimer sends no more than the two waves it had under way (one sent, the next one started):
    assert len(part_ids) - (end - start) <= 2
    assert tracker.get_job("job-1")["parts_done"] == 2, "parts 0 and 2, each once"


def test_a_job_cancelled_during_its_parts_skips_what_each_part_had_not_sent(
    env,
    lambda_context,
    invocations,
    sent,
    consolidations,  # noqa: F811
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    env["tracker"].request_stop("job-1", StopReason.CANCELLED)
    for event in invocations:
        invoke(event)

    assert sent == list(range(part_range(TOTAL, PARTS, 0)[1])), "only part 0 was sent before the cancel"
    job = env["tracker"].get_job("job-1")
    assert (job["dispatched_until"], job["parts_done"]) == (TOTAL, PARTS)
    progress = env["tracker"].progress("job-1")
    assert progress.skipped == TOTAL - len(sent)


def test_a_retried_registration_starts_the_parts_it_had_not_started(
    env, lambda_context, invocations, sent, monkeypatch
):
    """The registering invocation died after registering, before starting any part: Lambda's retry resumes."""
    from fan_out_ventilator import handler as ventilator

    with monkeypatch.context() as dying:
        dying.setattr(ventilator, "start_parts", _dies)
        with pytest.raises(RuntimeError):
            submit(lambda_context, chunk_size_bytes=CHUNK)
    assert sent == []
    assert invocations == []

    retried = submit(lambda_context, chunk_size_bytes=CHUNK)

    assert retried["repeated"] is True
    assert retried["part_0"]["sent"] is True
    assert [event["dispatch_part"]["part"] for event in invocations] == [1, 2]
    for event in invocations:
        invoke(event)
    assert sorted(sent) == list(range(TOTAL))


def _dies(*args, **kwargs):
    raise RuntimeError("the invocation dies")


@pytest.mark.parametrize(
    ("total", "per_part", "most", "parts"),
    [(10, 4, 3, 3), (10, 100_000, 10, 1), (1_000_000, 100_000, 10, 10), (10_000_000, 100_000, 10, 10), (8, 4, 9, 2)],
)
def test_the_part_count_grows_with_the_job_up_to_max_dispatchers(monkeypatch, total, per_part, most, parts):
    monkeypatch.setenv("DISPATCH_PART_SUBTASKS", str(per_part))
    monkeypatch.setenv("MAX_DISPATCHERS", str(most))
    assert dispatch_parts.part_count(total) == parts


def test_a_windowed_job_is_not_cut_into_parts(env, lambda_context, invocations):
    answer = submit(lambda_context, chunk_size_bytes=CHUNK, max_concurrency=2)

    assert answer["lanes_started"] == 2
    assert "dispatch_parts" not in env["tracker"].get_job("job-1")
    assert invocations == []


@pytest.mark.parametrize("event", [{"dispatch_part": {"job_id": "job-1"}}, {"dispatch_part": "x"}])
def test_a_malformed_part_request_is_refused_in_an_answer(env, event):
    assert invoke(event)["error"]["field"] == "continuation"


def test_a_finisher_that_dies_after_its_transaction_leaves_the_job_dispatched_by_its_retry(
    env, lambda_context, invocations, monkeypatch
):
    from serverless_patterns.fan_in.tracker import JobTracker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_1, part_2 = invocations
    invoke(part_1)
    context = FakeLambdaContext()
    with monkeypatch.context() as dying:
        dying.setattr(JobTracker, "record_dispatch", _dies)
        with pytest.raises(RuntimeError):
            invoke(part_2, context)
    assert env["tracker"].get_job("job-1")["dispatched_until"] == 0

    assert invoke(part_2, context)["sent"] is False, "Lambda's retry finds the part done"
    job = env["tracker"].get_job("job-1")
    assert (job["parts_done"], job["dispatched_until"]) == (PARTS, TOTAL)


def test_a_finish_whose_answer_was_lost_is_not_read_as_a_takeover(env, lambda_context, invocations, monkeypatch):
    """The part's transaction commits, its answer is lost (a 500), and the retried call finds the part done."""
    from botocore.exceptions import ClientError

    from serverless_patterns.fan_in.tracker import JobTracker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_1, part_2 = invocations
    invoke(part_1)
    real_call = JobTracker._call
    lost: list[bool] = []

    def answer_lost_once(self, operation, **kwargs):
        if getattr(operation, "__name__", "") == "transact_write_items" and "PART#" in str(kwargs) and not lost:
            lost.append(True)
            operation(**kwargs)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "lost"}}, "TransactWriteItems")
        return real_call(self, operation, **kwargs)

    monkeypatch.setattr(JobTracker, "_call", answer_lost_once)
    with pytest.raises(ClientError):
        invoke(part_2)  # the first call's answer is lost: the invocation fails, as with any 500 it gave up on
    monkeypatch.setattr(JobTracker, "_call", real_call)
    retried = JobTracker.finish_part(env["tracker"], "job-1", 2, env["tracker"].parts_of("job-1")[2]["dispatcher"])

    assert lost
    assert retried is True
    job = env["tracker"].get_job("job-1")
    assert (job["parts_done"], job["dispatched_until"]) == (PARTS, TOTAL), "counted once, and dispatched"


def test_a_stopped_part_starts_the_reductions_it_sealed_before_it_finishes(
    env, lambda_context, invocations, monkeypatch
):
    from fan_out_ventilator import handler as ventilator
    from serverless_patterns.fan_in.tracker import JobTracker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    env["tracker"].request_stop("job-1", StopReason.CANCELLED)
    triggered: list[int] = []
    monkeypatch.setattr(
        ventilator, "trigger_consolidator", lambda job_id, correlation_id, shard: triggered.append(shard)
    )
    with monkeypatch.context() as failing:
        failing.setattr(JobTracker, "finish_part", _dies)
        with pytest.raises(RuntimeError):
            invoke(invocations[1])

    assert triggered, "the shards its skip sealed were triggered before the finish failed"


def test_a_repeat_restarts_only_the_parts_whose_invocations_are_gone(env, lambda_context, invocations, sent):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    part_1, part_2 = invocations
    invoke(part_1)
    invocations.clear()

    assert submit(FakeLambdaContext(), chunk_size_bytes=CHUNK)["parts_done"] == 2
    assert invocations == [], "part 2's invocation may still be on its way: nothing started again"

    env["tracker"]._table.update_item(
        Key={"pk": "JOB#job-1", "sk": "JOB"},
        UpdateExpression="SET created_at = :then, dispatch_updated_at = :then",
        ExpressionAttributeValues={":then": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
    )
    repeated = submit(FakeLambdaContext(), chunk_size_bytes=CHUNK)

    assert repeated["repeated"] is True
    assert invocations == [part_2], "the part never claimed since registration, an hour ago, is started again"
    invoke(invocations[0])
    assert sorted(sent) == list(range(TOTAL))
    assert env["tracker"].get_job("job-1")["dispatched_until"] == TOTAL


def test_a_late_part_event_after_a_redrive_sends_nothing(env, lambda_context, invocations, sent):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    env["tracker"]._table.update_item(
        Key={"pk": "JOB#job-1", "sk": "JOB"}, UpdateExpression="SET run = :one", ExpressionAttributeValues={":one": 1}
    )
    sent.clear()

    assert invoke(invocations[0])["sent"] is False
    assert sent == []


@pytest.mark.parametrize("part", [True, "1", 1.0])
def test_a_part_number_that_is_not_a_whole_number_is_refused(env, lambda_context, invocations, part):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    assert invoke({"dispatch_part": {"job_id": "job-1", "part": part}})["error"]["field"] == "continuation"
