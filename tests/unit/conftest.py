"""Unit tests run the handlers in-process against moto; no emulator, no network."""

from __future__ import annotations

import os

# Powertools reads these when the handler modules are imported.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "ServerlessPatterns/Tests",
        "POWERTOOLS_SERVICE_NAME": "unit-tests",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
# moto intercepts requests to AWS's own endpoints only.
for variable in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[variable]

import json  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from moto import mock_aws  # noqa: E402

from serverless_patterns.shared import aws_clients  # noqa: E402

# Property tests draw the same examples on every run, so `make test` never
# flips on a fresh draw; HYPOTHESIS_PROFILE=explore searches anew (and keeps
# what it finds in .hypothesis/, replayed by later runs).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@dataclass
class FakeLambdaContext:
    function_name: str = "unit-test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:unit-test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


# Held here because tests may monkeypatch the module attributes.
_CACHED_FACTORIES = (aws_clients.client, aws_clients.dynamodb_table)


def _forget_cached_state() -> None:
    """What a warm container keeps between invocations: its clients, and what it read of jobs (a stop, a layout)."""
    from serverless_patterns.fan_in.tracker import completions as tracker_completions
    from serverless_patterns.fan_out import completions, dispatch_plans, lanes

    for factory in _CACHED_FACTORIES:
        factory.cache_clear()
    completions._states.clear()
    lanes._plans.clear()
    dispatch_plans._manifest_part.cache_clear()
    tracker_completions._registered_layouts.clear()


@pytest.fixture
def aws():
    """A fresh moto account, with the handlers' cached clients bound to it and nothing cached from another test."""
    _forget_cached_state()
    with mock_aws():
        yield
    _forget_cached_state()


@pytest.fixture
def queue_url(aws, monkeypatch) -> str:
    url = boto3.client("sqs").create_queue(QueueName="requests")["QueueUrl"]
    monkeypatch.setenv("QUEUE_URL", url)
    return url


@pytest.fixture
def idempotency_table(aws, monkeypatch) -> str:
    """The producer's request-id records, shaped as modules/load_leveler creates them."""
    boto3.client("dynamodb").create_table(
        TableName="request-ids",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "request-ids")
    return "request-ids"


@pytest.fixture
def table(aws, monkeypatch):
    resource = boto3.resource("dynamodb")
    created = resource.create_table(
        TableName="requests",
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    monkeypatch.setenv("TABLE_NAME", "requests")
    return created


def http_api_event(body: str | None, path: str = "/requests", method: str = "POST") -> dict:
    """An API Gateway HTTP API (payload format 2.0) event."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def sqs_event(*bodies: str, receive_count: int = 1, message_ids: list[str] | None = None) -> dict:
    message_ids = message_ids or [str(uuid.uuid4()) for _ in bodies]
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1700000000001",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:requests",
                "awsRegion": "us-east-1",
            }
            for message_id, body in zip(message_ids, bodies, strict=True)
        ]
    }


def json_body(response: dict) -> dict:
    return json.loads(response["body"])


STATUS_INDEX = "by-status"
# A consolidation run's lease that outlasts every test: begin_reduction / begin_consolidation need one.
LEASE = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def tracker_table(aws):
    return boto3.resource("dynamodb").create_table(
        TableName="jobs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "deadline", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "deadline", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def register(tracker, job_id="job-1", total=10, shards=1, timeout=3600, fingerprint="fingerprint"):
    """Register a job as the ventilator does, in one round of `shards` shards (subtask i in shard i % shards)."""
    from serverless_patterns.fan_in.tracker import ShardLayout

    return tracker.register_job(
        job_id,
        ShardLayout(total, shards, shards),
        correlation_id=f"corr-{job_id}",
        timeout_seconds=timeout,
        spec={},
        fingerprint=fingerprint,
        retention_seconds=86400,
    )


def finish_job(tracker, job_id: str, status, result: dict) -> None:
    """Walk a registered job whose subtasks are all recorded through its reductions to a final status."""
    job = tracker.get_job(job_id)
    for shard in range(job["shard_count"]):
        if tracker.begin_reduction(job_id, shard, LEASE) is not None:
            tracker.record_reduction(job_id, shard, {"result_key": f"shard-{shard}", "succeeded": 0, "failed": 0})
    assert tracker.start_completing(job_id)
    assert tracker.begin_consolidation(job_id, LEASE).number == 1
    assert tracker.record_result(job_id, {"status": status.value, **result})
    assert tracker.finish(job_id, status)
