"""Fewer calls per subtask: small results kept in the tracker, a batch's completions counted in one transaction."""
# ruff: noqa: F811 (pytest fixtures imported from test_fan_out are parameters here)

import json
from collections import Counter

import pytest
from botocore.client import BaseClient

from fault_injection import FaultPlan, inject
from serverless_patterns.fan_in.tracker import CompletionRequest, Outcome, UnknownJobError
from serverless_patterns.fan_out import completions
from serverless_patterns.shared import aws_clients
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    BUCKET,
    EXPECTED_WORDS,
    TOTAL,
    consolidations,
    drive_consolidator,
    fan_out_env,
    run_workers,
    stored_result,
    submit,
    subtask_bodies,
)

CHUNK = 512


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Every AWS call any client makes, by (service, operation); the job's stop is read afresh."""
    monkeypatch.setattr(completions, "_states", {})
    counted: Counter = Counter()
    original = BaseClient._make_api_call

    def counting(self, operation, params):
        counted[(self.meta.service_model.service_name, operation)] += 1
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return counted


def failing_every(fan_out_env, operation: str) -> FaultPlan:
    """Every call of a DynamoDB operation the handlers make fails (until the plan's rules are cleared)."""
    plan = FaultPlan().fail("dynamodb", "InternalError", 1.0, {operation})
    inject(aws_clients.dynamodb_table(fan_out_env["table"].name).meta.client, plan)
    return plan


def partial_objects(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="partials/")
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_small_results_stay_in_the_tracker_and_a_batch_is_counted_in_one_transaction(
    fan_out_env, lambda_context, consolidations, calls
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    assert len(bodies) == TOTAL == 10
    calls.clear()

    assert run_workers(bodies, lambda_context)["failures"] == []

    # Ten subtasks in four shards: one transaction, one read of the four shards, no S3 write.
    assert calls[("dynamodb", "TransactWriteItems")] == 1
    assert calls[("dynamodb", "GetItem")] == 2  # the job's stop, and its layout (once per job and container)
    assert calls[("dynamodb", "BatchGetItem")] == 1  # the four shards, to seal the full ones
    assert calls[("s3", "PutObject")] == 0
    assert partial_objects(fan_out_env["s3"]) == []
    drive_consolidator(consolidations)
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS


def test_results_over_the_inline_limit_go_to_s3_and_one_completion_per_transaction_can_be_asked(
    fan_out_env, lambda_context, consolidations, calls, monkeypatch
):
    monkeypatch.setenv("INLINE_RESULT_MAX_BYTES", "0")
    monkeypatch.setenv("COMPLETIONS_PER_TRANSACTION", "1")
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    calls.clear()

    assert run_workers(bodies, lambda_context)["failures"] == []

    # The call pattern before grouping: a PutObject, a transaction and a shard read for every subtask.
    assert calls[("s3", "PutObject")] == TOTAL
    assert calls[("dynamodb", "TransactWriteItems")] == TOTAL
    assert calls[("dynamodb", "GetItem")] == 2 + TOTAL  # the job's stop and layout, then a shard read each
    assert len(partial_objects(fan_out_env["s3"])) == TOTAL
    drive_consolidator(consolidations)
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS


def test_a_message_twice_in_one_batch_and_a_redelivered_one_are_counted_once(
    fan_out_env, lambda_context, consolidations
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])

    first = run_workers([bodies[0], bodies[0], bodies[1], bodies[2]], lambda_context)
    second = run_workers(bodies[1:], lambda_context)  # 1 and 2 again, with the rest

    assert first["failures"] == second["failures"] == []
    progress = fan_out_env["tracker"].progress("job-1")
    assert (progress.completed, progress.succeeded) == (TOTAL, TOTAL)
    assert sorted(event["shard"] for event in consolidations) == [0, 1, 2, 3]  # each sealed once
    drive_consolidator(consolidations)
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS


def test_a_forged_subtask_in_a_batch_fails_alone_and_the_others_are_counted(fan_out_env, lambda_context):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    last = json.loads(bodies[-1])
    # Subtask 0 claimed for the last subtask's shard: the shard's counter refuses the group it is in.
    forged = json.dumps({**json.loads(bodies[0]), "shard": last["shard"]})

    result = run_workers([bodies[-1], forged, bodies[1]], lambda_context)

    assert len(result["failures"]) == 1
    progress = fan_out_env["tracker"].progress("job-1")
    assert progress.succeeded == 2
    assert {task["subtask_id"] for task in fan_out_env["tracker"].subtasks("job-1", 4)} == {1, last["subtask_id"]}


def test_a_group_that_cannot_be_counted_goes_back_to_sqs_whole_and_is_counted_once_later(
    fan_out_env, lambda_context, consolidations
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    plan = failing_every(fan_out_env, "TransactWriteItems")

    failed = run_workers(bodies, lambda_context)["failures"]

    assert len(failed) == TOTAL
    assert plan.failed("dynamodb") >= 1
    assert fan_out_env["tracker"].progress("job-1").completed == 0
    plan.rules.clear()
    assert run_workers(bodies, lambda_context)["failures"] == []
    progress = fan_out_env["tracker"].progress("job-1")
    assert (progress.completed, progress.succeeded) == (TOTAL, TOTAL)
    drive_consolidator(consolidations)
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS


def test_a_group_takes_what_one_transaction_can_hold_and_refuses_more(fan_out_env):
    tracker = fan_out_env["tracker"]
    too_many = [CompletionRequest("job-1", i, 0, Outcome.SUCCEEDED) for i in range(51)]

    with pytest.raises(ValueError, match="at most 50"):
        tracker.record_completions(too_many)


def test_a_request_that_cannot_be_counted_is_answered_with_its_error_and_the_rest_are_counted(
    fan_out_env, lambda_context
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    tracker = fan_out_env["tracker"]

    answers = tracker.record_completions(
        [CompletionRequest("nobody", 0, 0, Outcome.SUCCEEDED), CompletionRequest("job-1", 0, 0, Outcome.SUCCEEDED)]
    )

    assert isinstance(answers[0], UnknownJobError)
    assert answers[1].first
    assert tracker.progress("job-1").succeeded == 1


def test_counted_subtasks_whose_seal_check_failed_go_back_and_their_redelivery_seals_once(
    fan_out_env, lambda_context, consolidations
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    plan = failing_every(fan_out_env, "BatchGetItem")

    failed = run_workers(bodies, lambda_context)["failures"]

    assert len(failed) == TOTAL  # counted, but none could tell whether it filled its shard
    assert fan_out_env["tracker"].progress("job-1").succeeded == TOTAL
    assert consolidations == []
    plan.rules.clear()
    assert run_workers(bodies, lambda_context)["failures"] == []
    assert fan_out_env["tracker"].progress("job-1").succeeded == TOTAL
    assert sorted(event["shard"] for event in consolidations) == [0, 1, 2, 3]
    drive_consolidator(consolidations)
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS
