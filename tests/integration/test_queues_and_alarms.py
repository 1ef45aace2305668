"""The deployed queues, alarms and alert topic as AWS would hold them, and the DLQ tools an operator runs.

Nothing here needs a function to run, so these tests prove the monitoring on
every emulator, LocalStack without Docker included (`make test-localstack`).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest

from serverless_patterns_ops.load_leveling import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def monitoring(outputs) -> dict:
    return outputs["monitoring"]


def _attributes(sqs, name: str) -> dict[str, str]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def _encrypted(attributes: dict[str, str]) -> bool:
    return attributes.get("SqsManagedSseEnabled") == "true" or bool(attributes.get("KmsMasterKeyId"))


def test_every_queue_redrives_to_its_own_encrypted_dlq_that_keeps_messages_longer(monitoring, sqs):
    lambda_client = boto3.client("lambda")
    for key, queue in monitoring["queues"].items():
        source, dlq = _attributes(sqs, queue["queue_name"]), _attributes(sqs, queue["dlq_name"])
        redrive_policy = json.loads(source["RedrivePolicy"])
        allow_policy = json.loads(dlq["RedriveAllowPolicy"])

        assert redrive_policy["deadLetterTargetArn"] == dlq["QueueArn"], key
        assert int(redrive_policy["maxReceiveCount"]) >= 5, key
        assert allow_policy == {"redrivePermission": "byQueue", "sourceQueueArns": [source["QueueArn"]]}, key
        assert int(dlq["MessageRetentionPeriod"]) > int(source["MessageRetentionPeriod"]), key
        assert _encrypted(source), key
        assert _encrypted(dlq), key
        for function_name in queue["consumer_function_names"]:
            timeout = lambda_client.get_function_configuration(FunctionName=function_name)["Timeout"]
            assert int(source["VisibilityTimeout"]) >= 6 * timeout, f"{key}: {function_name}"


def test_every_alarm_of_the_stack_notifies_the_alert_topic_of_trouble_and_recovery(monitoring):
    cloudwatch = boto3.client("cloudwatch")
    arns = monitoring["alarm_arns"]
    alarms = []
    for start in range(0, len(arns), 100):
        names = [arn.rsplit(":alarm:", 1)[-1] for arn in arns[start : start + 100]]
        alarms += cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])["MetricAlarms"]

    assert sorted(alarm["AlarmArn"] for alarm in alarms) == sorted(arns)
    for alarm in alarms:
        assert alarm["AlarmActions"] == [monitoring["alert_topic_arn"]], alarm["AlarmName"]
        assert alarm["OKActions"] == [monitoring["alert_topic_arn"]], alarm["AlarmName"]
        assert "runbook" in alarm.get("AlarmDescription", "").lower(), alarm["AlarmName"]


def test_the_alert_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_feeds_the_chat_forwarder(monitoring):
    sns, kms = boto3.client("sns"), boto3.client("kms")
    topic_arn = monitoring["alert_topic_arn"]
    key_id = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["KmsMasterKeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]

    assert not key_id.startswith("alias/aws/"), "alarms cannot publish to a topic under the AWS managed key"
    assert any(
        "cloudwatch.amazonaws.com" in json.dumps(statement.get("Principal")) for statement in policy["Statement"]
    )
    forwarder = monitoring["chat_forwarder_function_name"]
    assert [s["Endpoint"].rsplit(":", 1)[-1] for s in subscriptions if s["Protocol"] == "lambda"] == [forwarder]


@pytest.fixture
def paused_consumers(outputs):
    """The load leveler's consumer mapping paused, so what a redrive moves stays in the queue to be counted."""
    lambda_client = boto3.client("lambda")
    function_name = outputs["load_leveler"]["consumer_function_name"]
    [mapping] = lambda_client.list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"]
    lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    yield
    lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)


def _make(*arguments: str) -> str:
    # The make targets reach the emulator this session uses through AWS_ENDPOINT_URL, inherited.
    completed = subprocess.run(
        ["make", "--no-print-directory", *arguments], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def _queue_bodies(sqs, url: str, expected: int) -> list[str]:
    """Receive until `expected` distinct messages were seen (or the queue stays empty), deleting them."""
    bodies: dict[str, str] = {}
    empty = 0
    while len(bodies) < expected and empty < 3:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        empty = 0 if messages else empty + 1
        for message in messages:
            bodies[message["MessageId"]] = message["Body"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(bodies.values())


def _waiting(sqs, name: str) -> int:
    return int(_attributes(sqs, name)["ApproximateNumberOfMessages"])


def _receive_until_dead_lettered(sqs, queue_url: str, dlq_name: str, expected: int) -> None:
    """Fail every message as a consumer would (receive, never delete) until the redrive policy moves them all."""

    def fail_once_more() -> bool:
        sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0)
        return _waiting(sqs, dlq_name) >= expected

    assert wait_for(fail_once_more, timeout=180, interval=0), "the redrive policy did not move the failed messages"


def test_failed_messages_reach_the_dlq_where_export_keeps_them_and_redrive_returns_each_once(
    outputs, sqs, paused_consumers, tmp_path
):
    stack = outputs["load_leveler"]
    dlq_name = stack["dlq_url"].rsplit("/", 1)[-1]
    sqs.purge_queue(QueueUrl=stack["dlq_url"])
    bodies = sorted(json.dumps({"request_id": f"redrive-{uuid.uuid4().hex}", "n": n}) for n in range(25))
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=stack["queue_url"],
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])],
        )
    _receive_until_dead_lettered(sqs, stack["queue_url"], dlq_name, len(bodies))

    export = tmp_path / "dlq.jsonl"
    _make("dlq-export", f"QUEUE={dlq_name}", f"OUT={export}")
    exported = sorted(json.loads(line)["Body"] for line in export.read_text().splitlines())
    assert exported == bodies
    assert _waiting(sqs, dlq_name) == len(bodies), "export must leave them"

    _make("redrive", f"QUEUE={dlq_name}")

    assert _queue_bodies(sqs, stack["queue_url"], len(bodies)) == bodies
    assert _waiting(sqs, dlq_name) == 0
