import json

import boto3
import pytest

from load_leveler_producer import handler as producer
from unit.conftest import http_api_event, json_body


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
