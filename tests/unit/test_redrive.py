import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from serverless_patterns_ops.redrive import RedriveError, export_messages, redrive


@pytest.fixture
def queues(aws):
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source_url = sqs.create_queue(
        QueueName="orders",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )["QueueUrl"]
    for index in range(25):
        sqs.send_message(
            QueueUrl=dlq_url,
            MessageBody=json.dumps({"n": index}),
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )
    return sqs, source_url, dlq_url


@pytest.fixture(autouse=True)
def messages_visible_again_at_once(monkeypatch):
    """Messages received by a redrive and not deleted are visible again at once, so tests can see them."""
    monkeypatch.setattr("serverless_patterns_ops.redrive.RECEIVE_VISIBILITY_SECONDS", 0)


def received(sqs, url: str) -> list[dict]:
    """Every message in a queue, leaving them all visible."""
    found: dict[str, dict] = {}
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found.update({message["MessageId"]: message for message in batch})
    for message in found.values():
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return list(found.values())


def bodies(sqs, url: str) -> list[int]:
    return sorted(json.loads(message["Body"])["n"] for message in received(sqs, url))


def test_copy_moves_every_message_to_the_source_with_its_attributes(queues):
    sqs, source_url, dlq_url = queues

    summary = redrive(sqs, "orders-dlq", method="copy")

    assert (summary.found, summary.moved, summary.failed_ids) == (25, 25, [])
    assert bodies(sqs, dlq_url) == []
    moved = received(sqs, source_url)
    assert sorted(json.loads(message["Body"])["n"] for message in moved) == list(range(25))
    assert {message["MessageAttributes"]["origin"]["StringValue"] for message in moved} == {"test"}


def test_a_dry_run_counts_and_moves_nothing(queues):
    sqs, source_url, dlq_url = queues

    summary = redrive(sqs, dlq_url, dry_run=True)

    assert (summary.found, summary.moved, summary.dry_run) == (25, 0, True)
    assert bodies(sqs, source_url) == []


class FailingSends:
    """An SQS client whose third SendMessageBatch raises, and one that refuses single entries."""

    def __init__(self, sqs, fail_call: int | None = None, refuse_body: int | None = None) -> None:
        self._sqs = sqs
        self._fail_call = fail_call
        self._refuse_body = refuse_body
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def send_message_batch(self, QueueUrl, Entries):
        self.calls += 1
        if self.calls == self._fail_call:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "SendMessageBatch")
        refused = [e for e in Entries if json.loads(e["MessageBody"])["n"] == self._refuse_body]
        kept = [e for e in Entries if e not in refused]
        response = self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {}
        response["Failed"] = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in refused]
        return response


def test_a_failure_in_the_middle_loses_nothing_and_a_second_run_finishes(queues):
    sqs, source_url, dlq_url = queues

    with pytest.raises(ClientError):
        redrive(FailingSends(sqs, fail_call=3), dlq_url, method="copy")

    moved, left = bodies(sqs, source_url), bodies(sqs, dlq_url)
    assert len(moved) == 20  # two batches were sent and deleted before the failure
    assert sorted(moved + left) == list(range(25))  # nothing lost, nothing in both queues

    summary = redrive(sqs, dlq_url, method="copy")

    assert summary.moved == 5
    assert bodies(sqs, source_url) == list(range(25))  # each once
    assert bodies(sqs, dlq_url) == []


def test_a_message_whose_copy_was_refused_stays_in_the_dlq(queues):
    sqs, _, dlq_url = queues

    summary = redrive(FailingSends(sqs, refuse_body=7), dlq_url, method="copy")

    assert (summary.moved, len(summary.failed_ids)) == (24, 1)
    assert bodies(sqs, dlq_url) == [7]


def test_auto_falls_back_to_copying_where_move_tasks_are_unsupported(queues):
    sqs, _, dlq_url = queues

    class NoMoveTasks(FailingSends):
        def start_message_move_task(self, **kwargs):
            raise ClientError({"Error": {"Code": "UnsupportedOperation", "Message": "no"}}, "StartMessageMoveTask")

    summary = redrive(NoMoveTasks(sqs), dlq_url)

    assert (summary.method, summary.moved) == ("copy", 25)


def test_a_move_task_is_used_where_available(queues):
    sqs, _, dlq_url = queues
    started = []

    class MoveTasks(FailingSends):
        def start_message_move_task(self, **kwargs):
            started.append(kwargs)
            return {"TaskHandle": "t1"}

        def list_message_move_tasks(self, **kwargs):
            return {"Results": [{"TaskHandle": "t1", "Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 25}]}

    summary = redrive(MoveTasks(sqs), dlq_url, max_per_second=50)

    assert (summary.method, summary.moved) == ("move-task", 25)
    assert started[0]["MaxNumberOfMessagesPerSecond"] == 50
    # The DLQ's only source, named: messages sent to the DLQ directly have no original source.
    assert started[0]["DestinationArn"].endswith(":orders")


def test_a_dlq_shared_by_several_sources_needs_a_destination(queues):
    sqs, _, dlq_url = queues
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(
        QueueName="refunds",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )

    with pytest.raises(RedriveError, match="--to"):
        redrive(sqs, dlq_url, method="copy")
    assert redrive(sqs, dlq_url, destination="refunds", method="copy").moved == 25


def test_the_rate_limit_paces_the_copy(queues, monkeypatch):
    sqs, _, dlq_url = queues
    acquired = []
    monkeypatch.setattr(
        "serverless_patterns_ops.redrive.TokenBucket.acquire", lambda self: acquired.append(self.rate) or 0.0
    )

    redrive(sqs, dlq_url, max_per_second=5, method="copy")

    assert acquired == [5] * 25


def test_export_writes_every_message_and_leaves_them_in_the_queue(queues, monkeypatch):
    sqs, _, dlq_url = queues
    monkeypatch.setattr("serverless_patterns_ops.redrive.RECEIVE_VISIBILITY_SECONDS", 60)
    output = io.StringIO()

    count = export_messages(sqs, dlq_url, output)

    records = [json.loads(line) for line in output.getvalue().splitlines()]
    assert count == 25
    assert sorted(json.loads(record["Body"])["n"] for record in records) == list(range(25))
    assert bodies(sqs, dlq_url) == list(range(25))  # visible again at once


def test_the_source_is_found_by_redrive_policy_where_the_endpoint_cannot_list_it(queues):
    sqs, source_url, dlq_url = queues

    class NoSourceListing(FailingSends):
        def list_dead_letter_source_queues(self, **kwargs):
            raise ClientError({"Error": {"Code": "InvalidAction", "Message": "no"}}, "ListDeadLetterSourceQueues")

    assert redrive(NoSourceListing(sqs), dlq_url, method="copy").moved == 25
    assert bodies(sqs, source_url) == list(range(25))


def test_in_flight_messages_are_counted_and_said_so(queues, capsys):
    from serverless_patterns_ops import __main__ as cli

    sqs, _, dlq_url = queues
    sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=3, VisibilityTimeout=300)  # a consumer holds 3

    summary = redrive(sqs, dlq_url, dry_run=True)
    exit_code = cli.main(["export", "--queue", dlq_url, "--output", "/dev/null"])

    assert (summary.found, summary.in_flight) == (22, 3)
    assert exit_code == 0
    assert "3 more are in flight" in capsys.readouterr().out
