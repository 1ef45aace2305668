"""A message delivered again after its subtask has its outcome is not run again (issue 27, point 4), on moto.

A chain's message can come back after the chain counted its subtask: the
chain died, or its lease ran out, before the message was deleted, or SQS kept
a copy. That receive reads the subtask's TASK item before it reads the input
or runs the workload; a subtask counted already is answered as a duplicate,
its message left for the mapping to delete. Non-resumable subtasks that SQS
delivers again (receive count above 1) are checked the same way.
"""

import time

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobTracker, Outcome
from serverless_patterns.fan_out import chains, workload_registry
from unit.test_chains import ITEMS, chain, finished, messages_left, receive, run_hand_overs, start, worker  # noqa: F401
from unit.test_fan_out import consolidations, fan_out_env  # noqa: F401 (fixtures)
from unit.test_job_sources import jobs, submit  # noqa: F401 (fixtures)

LEASE_OUT_SECONDS = 1.2  # the chain fixture leases a message for 1 s


@pytest.fixture
def runs(monkeypatch):
    """What the worker did: the workload's calls, the input reads, the metrics it counted."""
    from fan_out_worker import handler

    seen: dict[str, list] = {"process": [], "reads": [], "metrics": []}
    real_workload, real_read_input = handler.workload, handler.read_input

    def watched(name):
        chosen = real_workload(name)

        def process(*arguments):
            seen["process"].append(arguments[1].number if chosen.resumable else None)
            return chosen.process(*arguments)

        return workload_registry.Workload(chosen.name, process, chosen.merge, chosen.resumable, chosen.reads)

    def read_input(*arguments):
        seen["reads"].append(arguments[2])
        return real_read_input(*arguments)

    monkeypatch.setattr(handler, "workload", watched)
    monkeypatch.setattr(handler, "read_input", read_input)
    monkeypatch.setattr(handler, "count", seen["metrics"].append)
    return seen


@pytest.fixture
def chained(chain):  # noqa: F811
    """A job of one resumable subtask over 4 invocations (test_chains' fixture)."""
    return chain


def clear(runs: dict) -> None:
    for seen in runs.values():
        seen.clear()


def test_a_receive_after_the_chain_counted_its_subtask_but_kept_its_message_does_not_run_it_again(
    chained,
    lambda_context,
    runs,
    monkeypatch,
):
    start(chained, lambda_context)
    # The last invocation counts the subtask, then dies before it deletes the message.
    monkeypatch.setattr(chains, "release", lambda receipt_handle: None)
    run_hand_overs(chained, lambda_context)
    assert chained["tracker"].progress("job-1").succeeded == 1
    clear(runs)

    time.sleep(LEASE_OUT_SECONDS)  # no heartbeat: SQS delivers the message again
    event = receive(chained["queue_url"])
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    response = worker(event, lambda_context)

    assert runs["process"] == []
    assert runs["reads"] == []
    assert response["batchItemFailures"] == []  # a success: the mapping deletes the message
    assert chained["hand_overs"] == []
    assert "DuplicatesIgnored" in runs["metrics"]
    assert "SubtasksCompleted" not in runs["metrics"]
    progress = chained["tracker"].progress("job-1")
    assert (progress.succeeded, progress.completed) == (1, 1)
    assert finished(chained) == {"sum": sum(ITEMS), "invocations": [1, 2, 3, 4]}  # the chain's result, not a rerun's


def test_a_copy_of_the_message_received_after_the_chain_ended_does_not_run_the_subtask_again(
    chained,
    lambda_context,
    runs,
):
    event = start(chained, lambda_context)
    run_hand_overs(chained, lambda_context)
    assert messages_left(chained["queue_url"]) == 0  # the chain deleted its message
    clear(runs)

    # A copy SQS kept of the message (at-least-once delivery): received for the first time.
    boto3.client("sqs").send_message(QueueUrl=chained["queue_url"], MessageBody=event["Records"][0]["body"])
    copy = receive(chained["queue_url"])
    assert copy["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"
    response = worker(copy, lambda_context)

    assert runs["process"] == []
    assert runs["reads"] == []
    assert response["batchItemFailures"] == []
    assert "DuplicatesIgnored" in runs["metrics"]
    assert chained["tracker"].progress("job-1").completed == 1
    assert finished(chained) == {"sum": sum(ITEMS), "invocations": [1, 2, 3, 4]}


def test_a_subtask_counted_by_a_chain_that_died_before_sealing_its_shard_is_sealed_by_the_redelivery(
    chained,
    lambda_context,
    runs,
    monkeypatch,
):
    start(chained, lambda_context)
    real_seal = JobTracker._seal_full_shards

    def lost(self, shards):
        return dict.fromkeys(shards, RuntimeError("the worker died here"))

    # The last invocation counts the subtask, then fails before sealing: the message stays, nothing is reduced.
    monkeypatch.setattr(JobTracker, "_seal_full_shards", lost)
    with pytest.raises(RuntimeError, match="died here"):
        run_hand_overs(chained, lambda_context)
    assert chained["started"] == []
    monkeypatch.setattr(JobTracker, "_seal_full_shards", real_seal)
    clear(runs)

    time.sleep(LEASE_OUT_SECONDS)
    response = worker(receive(chained["queue_url"]), lambda_context)

    assert runs["process"] == []
    assert response["batchItemFailures"] == []
    assert chained["started"] == [
        {"job_id": "job-1", "shard": 0}
    ]  # sealed by the duplicate, which starts its reduction
    assert finished(chained) == {"sum": sum(ITEMS), "invocations": [1, 2, 3, 4]}


def test_a_redelivery_of_a_chain_that_has_no_outcome_yet_still_resumes_from_its_checkpoint(
    chained,
    lambda_context,
    runs,
    monkeypatch,
):
    start(chained, lambda_context)
    chained["hand_overs"].clear()  # the hand-over after invocation 1 is lost
    clear(runs)

    time.sleep(LEASE_OUT_SECONDS)
    worker(receive(chained["queue_url"]), lambda_context)

    assert runs["process"] == [2]  # checked, found running, resumed
    run_hand_overs(chained, lambda_context)
    assert finished(chained) == {"sum": sum(ITEMS), "invocations": [1, 2, 3, 4]}


def sum_job(jobs, lambda_context) -> dict:  # noqa: F811
    answer = submit(
        lambda_context, {"workload": "sum", "source": {"type": "items", "items": [1, 2, 3], "items_per_subtask": 3}}
    )
    assert "error" not in answer, answer
    return receive(jobs["queue_url"])


def test_a_counted_subtask_that_sqs_delivers_again_is_not_run_again(jobs, lambda_context, runs):  # noqa: F811
    event = sum_job(jobs, lambda_context)
    assert worker(event, lambda_context)["batchItemFailures"] == []
    assert runs["process"] == [None]
    # Counted, but the worker timed out before the mapping deleted the message: SQS delivers it again.
    sqs = boto3.client("sqs")
    sqs.change_message_visibility(
        QueueUrl=jobs["queue_url"], ReceiptHandle=event["Records"][0]["receiptHandle"], VisibilityTimeout=0
    )
    clear(runs)

    again = receive(jobs["queue_url"])
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert worker(again, lambda_context)["batchItemFailures"] == []

    assert runs["process"] == []
    assert runs["reads"] == []
    assert runs["metrics"] == ["DuplicatesIgnored"]
    progress = jobs["tracker"].progress("job-1")
    assert (progress.succeeded, progress.completed) == (1, 1)


def test_a_subtask_delivered_again_before_it_was_counted_runs(jobs, lambda_context, runs):  # noqa: F811
    event = sum_job(jobs, lambda_context)
    # The first receive died before it ran anything.
    boto3.client("sqs").change_message_visibility(
        QueueUrl=jobs["queue_url"], ReceiptHandle=event["Records"][0]["receiptHandle"], VisibilityTimeout=0
    )

    again = receive(jobs["queue_url"])
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert worker(again, lambda_context)["batchItemFailures"] == []

    assert runs["process"] == [None]
    assert runs["metrics"] == ["SubtasksCompleted"]
    assert jobs["tracker"].progress("job-1").succeeded == 1


def test_the_tracker_answers_a_subtask_s_outcome_once_it_has_one(jobs, lambda_context):  # noqa: F811
    tracker = jobs["tracker"]
    submit(lambda_context, {"workload": "sum", "source": {"type": "items", "items": [1, -2], "items_per_subtask": 1}})

    assert tracker.outcome_of("job-1", 0, 0) is None
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED, {"partial": "{}"})
    tracker.record_completion("job-1", 1, 0, Outcome.FAILED, {"error": {"type": "E", "message": "m"}})

    assert tracker.outcome_of("job-1", 0, 0) is Outcome.SUCCEEDED
    assert tracker.outcome_of("job-1", 1, 0) is Outcome.FAILED
