"""SQS fair queues: each subtask names its job as MessageGroupId, unless SUBTASK_MESSAGE_GROUPS is "none".

moto 5.2.5 accepts a MessageGroupId on a standard queue, keeps it and returns it when asked, and passes it from a
standard topic to a subscribed queue, as AWS documents for fair queues; so these tests send through moto and read
back what a consumer receives. No emulator reorders deliveries by group: fairness itself is AWS's.
"""

from __future__ import annotations

import boto3
import pytest

from serverless_patterns.fan_out import sending
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared.settings import SettingError


def subtasks_of(job_id: str, count: int) -> list[Subtask]:
    return [
        Subtask(
            job_id=job_id,
            subtask_id=index,
            shard=0,
            correlation_id="c",
            expires_at=0,
            work={"type": "items", "items": [index], "first_item": index},
        )
        for index in range(count)
    ]


def send(destination: str, subtasks: list[Subtask], job_id: str | None) -> None:
    """Send as the senders do: one batch of entry id -> body, every entry sent."""
    pending = {f"{subtask.job_id}-{subtask.subtask_id}": subtask.to_message() for subtask in subtasks}
    response = sending.send_entries(destination, pending, job_id=job_id)
    assert not response.get("Failed")
    assert len(response["Successful"]) == len(subtasks)


def received(queue_url: str) -> list[tuple[Subtask, str | None]]:
    """Every message in the queue, as a consumer receives it: the subtask, and the MessageGroupId SQS kept, if any."""
    sqs = boto3.client("sqs")
    messages: list[tuple[Subtask, str | None]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    ).get("Messages", []):
        for message in batch:
            messages.append(
                (Subtask.from_message(message["Body"]), message.get("Attributes", {}).get("MessageGroupId"))
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


@pytest.fixture
def subtask_queue(aws) -> str:
    """A standard queue, as the fan_out module's subtask queue is."""
    return boto3.client("sqs").create_queue(QueueName="subtasks")["QueueUrl"]


@pytest.fixture
def subtask_topic(subtask_queue) -> str:
    """A standard topic; a queue subscribed to it with raw delivery shows what SNS passes on to an SQS subscriber."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="subtasks")["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=subtask_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return topic_arn


def test_each_job_is_its_own_message_group_on_a_standard_queue(subtask_queue, monkeypatch):
    monkeypatch.setenv("SUBTASK_MESSAGE_GROUPS", "job")
    send(subtask_queue, subtasks_of("big-job", 10), job_id="big-job")
    send(subtask_queue, subtasks_of("small-job", 2), job_id="small-job")

    messages = received(subtask_queue)

    assert sorted((subtask.job_id, subtask.subtask_id, group) for subtask, group in messages) == sorted(
        [("big-job", index, "big-job") for index in range(10)]
        + [("small-job", index, "small-job") for index in range(2)]
    )


def test_unset_means_groups_as_fair_queues_defaults_to_true(subtask_queue, monkeypatch):
    monkeypatch.delenv("SUBTASK_MESSAGE_GROUPS", raising=False)
    send(subtask_queue, subtasks_of("job-1", 3), job_id="job-1")

    assert {group for _, group in received(subtask_queue)} == {"job-1"}


def test_fair_queues_off_sends_no_message_group(subtask_queue, monkeypatch):
    monkeypatch.setenv("SUBTASK_MESSAGE_GROUPS", "none")
    send(subtask_queue, subtasks_of("job-1", 3), job_id="job-1")

    messages = received(subtask_queue)

    assert [(subtask.subtask_id, group) for subtask, group in sorted(messages, key=lambda m: m[0].subtask_id)] == [
        (0, None),
        (1, None),
        (2, None),
    ]


def test_a_call_that_names_no_job_sends_no_message_group(subtask_queue, monkeypatch):
    monkeypatch.setenv("SUBTASK_MESSAGE_GROUPS", "job")
    subtask = subtasks_of("job-1", 1)[0]

    response = sending.send_entries(subtask_queue, {"0": subtask.to_message()})

    assert [entry["Id"] for entry in response["Successful"]] == ["0"]
    assert received(subtask_queue) == [(subtask, None)]


def test_a_standard_topic_passes_the_job_group_to_a_subscribed_queue(subtask_topic, subtask_queue, monkeypatch):
    monkeypatch.setenv("SUBTASK_MESSAGE_GROUPS", "job")
    send(subtask_topic, subtasks_of("job-1", 4), job_id="job-1")

    messages = received(subtask_queue)

    assert sorted((subtask.subtask_id, group) for subtask, group in messages) == [
        (index, "job-1") for index in range(4)
    ]


def test_a_standard_topic_gets_no_group_when_fair_queues_are_off(subtask_topic, subtask_queue, monkeypatch):
    monkeypatch.setenv("SUBTASK_MESSAGE_GROUPS", "none")
    send(subtask_topic, subtasks_of("job-1", 2), job_id="job-1")

    assert {group for _, group in received(subtask_queue)} == {None}


@pytest.mark.parametrize("value", ["jobs", "true", "JOB"])
def test_an_unknown_setting_is_refused_naming_the_variable_and_its_values(value, monkeypatch):
    monkeypatch.setenv("SUBTASK_MESSAGE_GROUPS", value)

    with pytest.raises(SettingError, match=r'SUBTASK_MESSAGE_GROUPS=.* must be "job" or "none".*fair_queues'):
        sending.message_group("job-1")
