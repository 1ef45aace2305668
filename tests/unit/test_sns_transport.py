"""The sns transport against moto: PublishBatch dispatch, pushed subtasks, and both of its DLQ paths.

MiniStack invokes a topic's Lambda subscribers synchronously, once, with no
retries, on-failure destination or subscription redrive (ministack's
services/sns.py), so the failure paths are proven here, with the records AWS
documents for them: the on-failure destination's invocation record, and a
dead letter SNS moves with its ErrorCode and ErrorMessage attributes.
"""

import json
import uuid

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.fan_out.dead_letters import DeadLetter, unwrap
from serverless_patterns.fan_out.jobs import InvalidSubtaskMessage
from serverless_patterns.fan_out.workload_registry import Workload
from serverless_patterns.workloads.word_count import count_words, merge_counts
from unit.conftest import sqs_event
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    CHUNK,
    EXPECTED_WORDS,
    TOTAL,
    consolidations,
    drain,
    drive_consolidator,
    fan_out_env,
    stored_result,
    submit,
)


@pytest.fixture
def pushed(fan_out_env, monkeypatch):  # noqa: F811
    """A subtask topic; a queue subscribed to it with raw delivery shows what the worker would be pushed."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="subtasks")["TopicArn"]
    seen_url = sqs.create_queue(QueueName="pushed")["QueueUrl"]
    seen_arn = sqs.get_queue_attributes(QueueUrl=seen_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=seen_arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("SUBTASK_TOPIC_ARN", topic_arn)
    published: list[int] = []
    real_publish_batch = sns.publish_batch

    def counted_publish_batch(**request):
        published.append(len(request["PublishBatchRequestEntries"]))
        return real_publish_batch(**request)

    from serverless_patterns.shared import aws_clients

    real_client = aws_clients.client

    def client(name):
        if name != "sns":
            return real_client(name)
        counted = real_client("sns")
        counted.publish_batch = counted_publish_batch
        return counted

    monkeypatch.setattr(aws_clients, "client", client)
    return {**fan_out_env, "topic_arn": topic_arn, "seen_url": seen_url, "published": published}


def sns_event(body: str, topic_arn: str) -> dict:
    """The event a topic's Lambda subscription delivers: one record."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Message": body,
                    "Timestamp": "2026-12-01T00:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def on_failure_record(event: dict, error_type: str, error_message: str) -> str:
    """What Lambda sends to the on-failure destination once an asynchronous invocation has failed its retries."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-12-01T00:00:00.000Z",
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:worker:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": error_type, "errorMessage": error_message},
        }
    )


def published_bodies(pushed) -> list[str]:
    return sorted((m["Body"] for m in drain(pushed["seen_url"])), key=lambda body: json.loads(body)["subtask_id"])


def test_the_ventilator_publishes_every_subtask_once_in_batches_of_ten(pushed, lambda_context):
    answer = submit(lambda_context, chunk_size_bytes=CHUNK)

    assert answer["total"] == TOTAL
    bodies = published_bodies(pushed)
    assert [json.loads(body)["subtask_id"] for body in bodies] == list(range(TOTAL))
    assert sum(pushed["published"]) == TOTAL and max(pushed["published"]) <= 10  # noqa: PT018
    assert drain(pushed["queue_url"]) == []  # nothing on the subtask queue


def test_pushed_subtasks_make_the_exact_result(pushed, lambda_context, consolidations):  # noqa: F811
    from fan_out_worker import handler as worker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = published_bodies(pushed)
    for body in [*bodies, bodies[0]]:  # the last one a duplicate push, counted once
        assert worker.lambda_handler(sns_event(body, pushed["topic_arn"]), lambda_context) is None

    answers = drive_consolidator(consolidations)
    assert answers[-1]["status"] == JobStatus.SUCCEEDED
    assert stored_result(pushed)["result"]["words"] == EXPECTED_WORDS
    assert pushed["tracker"].progress("job-1").succeeded == TOTAL


def test_a_failed_push_raises_for_lambda_to_retry_and_its_dead_letter_is_recorded_once(
    pushed,
    lambda_context,
    consolidations,  # noqa: F811
    monkeypatch,
):
    from fan_out_dlq_handler import handler as dlq_handler
    from fan_out_worker import handler as worker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = published_bodies(pushed)
    down = {2}

    def flaky_service(task):
        if task.subtask_id in down:
            raise ConnectionError("the remote service hung up")
        return count_words(task.data)

    monkeypatch.setattr(worker, "workload", lambda name: Workload(name, flaky_service, merge_counts))
    for body in bodies:
        event = sns_event(body, pushed["topic_arn"])
        if json.loads(body)["subtask_id"] in down:
            for _ in range(3):  # the invocation and Lambda's two retries
                with pytest.raises(ConnectionError):
                    worker.lambda_handler(event, lambda_context)
            dead = on_failure_record(event, "ConnectionError", "the remote service hung up")
        else:
            worker.lambda_handler(event, lambda_context)

    response = dlq_handler.lambda_handler(sqs_event(dead, dead), lambda_context)  # delivered twice
    assert response["batchItemFailures"] == []

    answers = drive_consolidator(consolidations)
    assert answers[-1]["status"] == JobStatus.PARTIAL
    stored = stored_result(pushed)
    assert stored["failed_subtask_ids"] == [2]
    [failure] = stored["failures"]
    assert (failure["type"], failure["message"], failure["attempts"]) == (
        "ConnectionError",
        "the remote service hung up",
        3,
    )


def test_a_delivery_sns_gave_up_on_is_recorded_with_the_reason_sns_gave(pushed, lambda_context, consolidations):  # noqa: F811
    from fan_out_dlq_handler import handler as dlq_handler
    from fan_out_worker import handler as worker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = published_bodies(pushed)
    for body in bodies[1:]:
        worker.lambda_handler(sns_event(body, pushed["topic_arn"]), lambda_context)
    envelope = json.dumps(
        {"Type": "Notification", "MessageId": "m-1", "TopicArn": pushed["topic_arn"], "Message": bodies[0]}
    )
    event = sqs_event(envelope)
    event["Records"][0]["messageAttributes"] = {
        "ErrorCode": {"stringValue": "TooManyRequestsException", "dataType": "String"},
        "ErrorMessage": {"stringValue": "Rate exceeded", "dataType": "String"},
    }

    assert dlq_handler.lambda_handler(event, lambda_context)["batchItemFailures"] == []

    drive_consolidator(consolidations)
    [failure] = stored_result(pushed)["failures"]
    assert (failure["subtask_id"], failure["type"], failure["message"]) == (
        0,
        "TooManyRequestsException",
        "Rate exceeded",
    )


def test_a_resumable_workload_pushed_by_sns_fails_with_the_fix(pushed, lambda_context, consolidations, monkeypatch):  # noqa: F811
    from fan_out_worker import handler as worker

    def steps(task, invocation):
        raise AssertionError("never run without a message to carry the chain")

    monkeypatch.setattr(worker, "workload", lambda name: Workload(name, steps, None, resumable=True))
    submit(lambda_context, chunk_size_bytes=CHUNK)
    [first, *_] = published_bodies(pushed)

    worker.lambda_handler(sns_event(first, pushed["topic_arn"]), lambda_context)  # fails at once, without retries

    tracker = pushed["tracker"]
    progress = tracker.progress("job-1")
    assert (progress.failed, progress.succeeded) == (1, 0)
    [task] = list(tracker.subtasks("job-1", tracker.get_job("job-1")["shard_count"]))
    assert 'set transport = "sqs"' in task["error"]["message"]


def test_a_dead_letter_names_the_subtask_and_the_failure_whichever_path_moved_it():
    subtask = json.dumps({"job_id": "job-1", "subtask_id": 4})
    event = sns_event(subtask, "arn:aws:sns:us-east-1:123456789012:subtasks")

    failed = unwrap(on_failure_record(event, "TimeoutError", "Task timed out after 30.00 seconds"), {})
    assert failed.message == subtask
    assert failed.error == {
        "type": "TimeoutError",
        "message": "Task timed out after 30.00 seconds (after 3 invocations)",
    }

    undelivered = unwrap(subtask, {"ErrorCode": {"stringValue": "AccessDenied", "dataType": "String"}})
    assert undelivered == DeadLetter(subtask, {"type": "AccessDenied", "message": "SNS could not deliver it"})

    assert unwrap(subtask, {}) == DeadLetter(subtask, None)  # moved by the queue's redrive policy: no reason given
    with pytest.raises(InvalidSubtaskMessage):
        unwrap(json.dumps({"requestContext": {}, "requestPayload": {"Records": []}}), {})
