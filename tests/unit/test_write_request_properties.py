"""Property-based: whatever the producer accepts, the consumer stores exactly; no body ever gets a 5xx."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from load_leveler_consumer import handler as consumer
from load_leveler_producer import handler as producer
from unit.conftest import http_api_event, json_body, sqs_event

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class NumberText:
    """A JSON number as written on the wire, so digits and exponents are not limited to what floats hold."""

    text: str


number_texts = st.builds(
    lambda sign, whole, fraction, exponent: NumberText(f"{sign}{whole}{fraction}{exponent}"),
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,44}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,44}", fullmatch=True)),
    st.one_of(st.just(""), st.integers(-200, 200).map(lambda e: f"E{e:+d}")),
)
# Any code point, unpaired surrogates included (json.dumps writes them as \udxxx escapes).
texts = st.text(st.characters(exclude_categories=()), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), number_texts, texts)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=25,
)


def nested(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = {"k": leaf}
    return leaf


payloads = st.one_of(
    st.dictionaries(texts, values, min_size=1, max_size=6),
    st.builds(lambda depth, leaf: {"deep": nested(depth, leaf)}, st.integers(26, 34), scalars),
)


def to_json(value: object) -> str:
    if isinstance(value, NumberText):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


def stored_item(request_id: str) -> dict | None:
    return boto3.resource("dynamodb").Table("requests").get_item(Key={"request_id": request_id}).get("Item")


@SETTINGS
@given(payload=payloads)
def test_what_the_producer_accepts_the_consumer_stores_exactly(
    queue_url, idempotency_table, table, lambda_context, payload
):
    body = to_json({"request_id": f"r-{uuid.uuid4()}", "payload": payload})
    response = producer.lambda_handler(http_api_event(body), lambda_context)

    assert response["statusCode"] in (202, 400), response
    event(f"answered {response['statusCode']}")
    if response["statusCode"] == 400:
        refusal = json_body(response)
        assert refusal["field"].startswith("body")
        assert refusal["fix"]
        return
    [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    boto3.client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    outcome = consumer.lambda_handler(sqs_event(message["Body"]), lambda_context)

    assert outcome == {"batchItemFailures": []}
    expected = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    assert stored_item(expected["request_id"])["payload"] == expected["payload"]


@SETTINGS
@given(raw=st.binary(max_size=300) | st.builds(lambda text: text.encode("utf-8", "surrogatepass"), texts))
def test_no_body_ever_gets_a_5xx(queue_url, idempotency_table, lambda_context, raw):
    event = http_api_event(base64.b64encode(raw).decode())
    event["isBase64Encoded"] = True

    response = producer.lambda_handler(event, lambda_context)

    assert response["statusCode"] in (202, 400)
    if response["statusCode"] == 400:
        assert json_body(response)["fix"]


@pytest.mark.parametrize("depth", [31, 32])
def test_the_deepest_payload_accepted_is_stored(queue_url, idempotency_table, table, lambda_context, depth):
    body = json.dumps({"request_id": f"deep-{depth}", "payload": nested(depth, 1)})

    accepted = producer.lambda_handler(http_api_event(body), lambda_context)

    assert accepted["statusCode"] == (202 if depth == 31 else 400)
    if depth == 31:
        [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url)["Messages"]
        assert consumer.lambda_handler(sqs_event(message["Body"]), lambda_context) == {"batchItemFailures": []}
        assert stored_item(f"deep-{depth}")["payload"] == json.loads(body, parse_int=Decimal)["payload"]
