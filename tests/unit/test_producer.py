import json

import boto3
import pytest

from load_leveler_producer import handler as producer
from unit.conftest import http_api_event, json_body


@pytest.fixture(autouse=True)
def _request_ids(idempotency_table):
    """Every producer test runs with its request-id table."""


def received(queue_url: str) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_accepts_a_valid_request_with_202_and_queues_it(queue_url, lambda_context):
    event = http_api_event('{"request_id": "order-1", "payload": {"sku": "A-1", "qty": 3}}')

    response = producer.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 202
    assert json_body(response) == {"request_id": "order-1", "status": "queued"}
    [message] = received(queue_url)
    assert message["request_id"] == "order-1"
    assert message["payload"] == {"sku": "A-1", "qty": 3}
    assert message["version"] == 1


def test_decodes_a_base64_body(queue_url, lambda_context):
    import base64

    event = http_api_event(base64.b64encode(b'{"payload": {"a": 1}}').decode())
    event["isBase64Encoded"] = True

    response = producer.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 202
    assert received(queue_url)[0]["payload"] == {"a": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [("{oops", "body"), ('{"payload": "x"}', "body.payload"), ('{"payload": {"a": 1}, "nope": 1}', "body")],
)
def test_rejects_bad_input_with_400_naming_the_field_and_queues_nothing(queue_url, lambda_context, body, field):
    response = producer.lambda_handler(http_api_event(body), lambda_context)

    assert response["statusCode"] == 400
    error = json_body(response)
    assert error["field"] == field
    assert error["fix"]
    assert received(queue_url) == []


def test_answers_503_with_retry_after_when_the_queue_is_unavailable(aws, monkeypatch, lambda_context):
    monkeypatch.setenv("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/does-not-exist")

    response = producer.lambda_handler(http_api_event('{"payload": {"a": 1}}'), lambda_context)

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert "retry" in json_body(response)["message"]


def test_unknown_routes_are_404(queue_url, lambda_context):
    response = producer.lambda_handler(http_api_event("{}", path="/elsewhere"), lambda_context)

    assert response["statusCode"] == 404
    assert received(queue_url) == []


def test_the_same_request_again_is_202_and_queued_once(queue_url, lambda_context):
    body = '{"request_id": "order-7", "payload": {"qty": 1.50, "sku": "A"}}'
    respelled = '{"payload": {"sku": "A", "qty": 15E-1}, "request_id": "order-7"}'

    first = producer.lambda_handler(http_api_event(body), lambda_context)
    second = producer.lambda_handler(http_api_event(respelled), lambda_context)

    assert (first["statusCode"], second["statusCode"]) == (202, 202)
    assert json_body(second) == {"request_id": "order-7", "status": "queued"}
    assert len(received(queue_url)) == 1


def test_the_same_request_id_with_another_payload_is_409_and_not_queued(queue_url, lambda_context):
    producer.lambda_handler(http_api_event('{"request_id": "order-8", "payload": {"qty": 1}}'), lambda_context)

    reused = http_api_event('{"request_id": "order-8", "payload": {"qty": 2}}')

    response = producer.lambda_handler(reused, lambda_context)

    assert response["statusCode"] == 409
    error = json_body(response)
    assert error["field"] == "body.request_id"
    assert "another payload" in error["message"]
    assert "new request_id" in error["fix"]
    assert [message["payload"] for message in received(queue_url)] == [{"qty": 1}]


def test_a_request_that_could_not_be_queued_can_be_sent_again(aws, queue_url, monkeypatch, lambda_context):
    body = '{"request_id": "order-9", "payload": {"qty": 1}}'
    monkeypatch.setenv("QUEUE_URL", queue_url + "-missing")
    assert producer.lambda_handler(http_api_event(body), lambda_context)["statusCode"] == 503

    monkeypatch.setenv("QUEUE_URL", queue_url)
    response = producer.lambda_handler(http_api_event(body), lambda_context)

    assert response["statusCode"] == 202
    assert len(received(queue_url)) == 1


def test_a_slow_queue_answers_503_with_the_request_id_within_the_sdk_budget(queue_url, monkeypatch, lambda_context):
    import socket

    from botocore.config import Config

    from serverless_patterns.shared import aws_clients

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    # A queue endpoint that accepts connections and never answers.
    slow_sqs = aws_clients.boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"mode": "standard", "max_attempts": 1}),
    )
    real_client = aws_clients.client
    monkeypatch.setattr(aws_clients, "client", lambda name: slow_sqs if name == "sqs" else real_client(name))
    try:
        response = producer.lambda_handler(
            http_api_event('{"request_id": "order-10", "payload": {"qty": 1}}'), lambda_context
        )
    finally:
        silent.close()

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert json_body(response)["request_id"] == "order-10"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\xff\xfe{}", "body"),
        (b'{"payload": {"a": NaN}}', "body"),
        (b'{"payload": {"a": 1, "a": 2}}', "body"),
        (b'{"payload": {"a": "\\ud800"}}', "body.payload.a"),
        (b'{"payload": {"a": 1e400}}', "body.payload.a"),
        (b'{"payload": {"": 1}}', "body.payload"),
        (b"[" * 20000 + b"]" * 20000, "body"),
    ],
)
def test_a_body_that_cannot_be_stored_is_400_never_5xx(queue_url, lambda_context, raw, field):
    import base64

    event = http_api_event(base64.b64encode(raw).decode())
    event["isBase64Encoded"] = True

    response = producer.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 400
    assert json_body(response)["field"] == field
    assert received(queue_url) == []
