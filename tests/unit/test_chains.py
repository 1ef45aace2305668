"""Subtasks longer than one invocation (serverless_patterns.fan_out.chains) on moto: hand-overs, heartbeats, recovery.

The worker's asynchronous self-invocations are captured instead of sent, so a
test decides which hand-overs run, run twice, or are lost.
"""

import json
import time

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.fan_out import chains, workload_registry
from serverless_patterns.shared import aws_clients
from unit.test_fan_out import consolidations, drive_consolidator, fan_out_env  # noqa: F401 (fixtures)
from unit.test_job_sources import WORKLOADS, jobs, results, submit  # noqa: F401 (fixtures)

ITEMS = list(range(1, 11))  # 10 items, 3 per invocation: 4 invocations


@pytest.fixture
def chain(jobs, monkeypatch):  # noqa: F811
    monkeypatch.setenv(
        "WORKLOADS",
        json.dumps({**WORKLOADS, "steps": {"process": "unit.sample_workloads:sum_in_steps", "resumable": True}}),
    )
    workload_registry.configured.cache_clear()
    workload_registry.workload.cache_clear()
    for name, value in {
        "AWS_LAMBDA_FUNCTION_NAME": "worker",
        "HEARTBEAT_SECONDS": "0.2",
        "LEASE_SECONDS": "1",
        "CHECKPOINT_RESERVE_SECONDS": "1",
        "MAX_CONTINUATIONS": "10",
    }.items():
        monkeypatch.setenv(name, value)
    hand_overs: list[dict] = []

    class CapturedLambda:
        def invoke(self, FunctionName, InvocationType, Payload):
            assert (FunctionName, InvocationType) == ("worker", "Event")
            hand_overs.append(json.loads(Payload))

    real_client = aws_clients.client
    monkeypatch.setattr(aws_clients, "client", lambda name: CapturedLambda() if name == "lambda" else real_client(name))
    yield {**jobs, "hand_overs": hand_overs}
    workload_registry.configured.cache_clear()
    workload_registry.workload.cache_clear()


def receive(queue_url: str) -> dict:
    """The next message as the event source mapping delivers it: a record with its real receipt handle."""
    [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"])[
        "Messages"
    ]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:subtasks",
                "awsRegion": "us-east-1",
            }
        ]
    }


def worker(event, lambda_context):
    from fan_out_worker import handler

    return handler.lambda_handler(event, lambda_context)


def messages_left(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def start(chain, lambda_context, items=ITEMS) -> dict:
    answer = submit(
        lambda_context,
        {"workload": "steps", "source": {"type": "items", "items": items, "items_per_subtask": len(items)}},
    )
    assert "error" not in answer, answer
    event = receive(chain["queue_url"])
    response = worker(event, lambda_context)
    # Handed over: the mapping must leave the message in flight, for the chain to delete.
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    return event


def run_hand_overs(chain, lambda_context) -> int:
    ran = 0
    while chain["hand_overs"]:
        assert worker(chain["hand_overs"].pop(0), lambda_context) is None
        ran += 1
    return ran


def finished(chain) -> dict:
    drive_consolidator(chain["started"])
    stored = results(chain)
    assert stored["status"] == JobStatus.SUCCEEDED
    [line] = stored["lines"]["succeeded"]
    return line["result"]


def test_a_subtask_runs_over_a_chain_of_invocations_and_is_counted_once(chain, lambda_context):
    start(chain, lambda_context)

    assert run_hand_overs(chain, lambda_context) == 3

    assert finished(chain) == {"sum": sum(ITEMS), "invocations": [1, 2, 3, 4]}
    progress = chain["tracker"].progress("job-1")
    assert (progress.succeeded, progress.failed) == (1, 0)
    assert messages_left(chain["queue_url"]) == 0  # the last invocation deleted the message


def test_a_duplicated_or_overtaken_hand_over_stops_at_once(chain, lambda_context):
    start(chain, lambda_context)
    first = chain["hand_overs"][0]
    run_hand_overs(chain, lambda_context)

    chain["hand_overs"].append(first)  # delivered again, after the chain went on
    assert run_hand_overs(chain, lambda_context) == 1
    assert chain["hand_overs"] == []  # it handed over nothing

    assert finished(chain)["invocations"] == [1, 2, 3, 4]
    assert chain["tracker"].progress("job-1").succeeded == 1


def test_a_chain_that_dies_is_resumed_from_its_last_checkpoint_by_the_next_receive(chain, lambda_context, monkeypatch):
    start(chain, lambda_context)
    monkeypatch.setenv("CRASH_IN_INVOCATION", "2")
    with pytest.raises(RuntimeError, match="crash"):
        worker(chain["hand_overs"].pop(0), lambda_context)  # invocation 2 dies: nothing hands over, nothing beats

    assert boto3.client("sqs").receive_message(QueueUrl=chain["queue_url"]).get("Messages") is None  # still leased
    time.sleep(1.2)  # the lease (1 s) runs out
    event = receive(chain["queue_url"])
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert worker(event, lambda_context)["batchItemFailures"]  # resumed, and handed over again
    run_hand_overs(chain, lambda_context)

    # Invocation 2's work was lost; 3 resumed from 1's checkpoint: every item counted once, the subtask once.
    assert finished(chain) == {"sum": sum(ITEMS), "invocations": [1, 3, 4, 5]}
    assert chain["tracker"].progress("job-1").succeeded == 1
    assert messages_left(chain["queue_url"]) == 0


def test_a_hand_over_overtaken_by_a_resumed_receive_stops(chain, lambda_context):
    start(chain, lambda_context)
    late = chain["hand_overs"].pop(0)  # delayed past its lease
    time.sleep(1.2)
    worker(receive(chain["queue_url"]), lambda_context)  # invocation 2, from the queue

    assert worker(late, lambda_context) is None
    assert len(chain["hand_overs"]) == 1  # only the resumed chain's own hand-over
    run_hand_overs(chain, lambda_context)
    assert finished(chain) == {"sum": sum(ITEMS), "invocations": [1, 2, 3, 4]}


def test_a_chain_longer_than_max_continuations_fails_the_subtask_with_the_fix(chain, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_CONTINUATIONS", "1")
    start(chain, lambda_context)
    run_hand_overs(chain, lambda_context)

    drive_consolidator(chain["started"])
    stored = results(chain)
    assert stored["status"] == JobStatus.FAILED
    [line] = stored["lines"]["failed"]
    assert line["type"] == "TooManyContinuations"
    assert "raise max_continuations" in line["message"]
    assert chain["hand_overs"] == []
    assert messages_left(chain["queue_url"]) == 0


def test_the_heartbeat_keeps_the_message_invisible_and_notices_when_it_is_lost(chain):
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="leases", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="long work")
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    settings = chains.ChainSettings(
        queue_url, "worker", heartbeat_seconds=0.2, lease_seconds=1, reserve_seconds=1, max_continuations=1
    )

    with chains.Heartbeat(message["ReceiptHandle"], settings) as heartbeat:
        time.sleep(2.5)  # over twice the visibility timeout
        assert sqs.receive_message(QueueUrl=queue_url).get("Messages") is None
    assert not heartbeat.lost

    time.sleep(1.2)
    [again] = sqs.receive_message(QueueUrl=queue_url)["Messages"]  # no heartbeat, no lease: delivered again
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=again["ReceiptHandle"])
    with pytest.raises(chains.ContinuedElsewhere), chains.Heartbeat(again["ReceiptHandle"], settings):
        pass


def test_an_invocation_overtaken_while_it_ran_neither_replaces_the_checkpoint_nor_hands_over(
    chain, lambda_context, monkeypatch
):
    from fan_out_worker import handler

    real_workload = handler.workload

    def overtaken(name):
        chosen = real_workload(name)

        def process(task, invocation):
            # Meanwhile SQS delivered the message again, and that receive started invocation 2.
            subtask = json.loads(event["Records"][0]["body"])
            chain["tracker"].start_invocation(
                subtask["job_id"], subtask["subtask_id"], subtask["shard"], subtask["run"], subtask["expires_at"], None
            )
            return chosen.process(task, invocation)

        return workload_registry.Workload(chosen.name, process, chosen.merge, chosen.resumable)

    monkeypatch.setattr(handler, "workload", overtaken)
    answer = submit(
        lambda_context, {"workload": "steps", "source": {"type": "items", "items": ITEMS, "items_per_subtask": 10}}
    )
    assert "error" not in answer, answer
    event = receive(chain["queue_url"])

    response = worker(event, lambda_context)

    assert response["batchItemFailures"]  # left to the newer invocation's receive
    assert chain["hand_overs"] == []
    subtask = json.loads(event["Records"][0]["body"])
    started = chain["tracker"].start_invocation(
        subtask["job_id"], subtask["subtask_id"], subtask["shard"], subtask["run"], subtask["expires_at"], None
    )
    assert (started.number, started.checkpointed) == (3, None)  # invocation 1's checkpoint was never made current


def test_the_heartbeat_notices_a_message_lost_while_the_workload_runs(chain):
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="lost-leases", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="long work")
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    settings = chains.ChainSettings(
        queue_url, "worker", heartbeat_seconds=0.1, lease_seconds=5, reserve_seconds=1, max_continuations=1
    )

    with chains.Heartbeat(message["ReceiptHandle"], settings) as heartbeat:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])  # taken away mid-run
        time.sleep(0.5)

    assert heartbeat.lost
