"""The load leveler end to end on the emulator: burst, drain, account for everything."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import boto3
import pytest

from serverless_patterns_ops.http_api import producer_client
from serverless_patterns_ops.load_leveling import peak_concurrency, queue_depth, scan_items, send_burst, wait_for

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

BURST_SIZE = 2000
DRAIN_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="session")
def stack(outputs) -> dict:
    return outputs["load_leveler"]


@pytest.fixture(scope="session")
def producer(stack):
    return producer_client(stack, boto3.client("lambda"))


def receive_all(sqs, queue_url: str) -> list[dict]:
    """Every message visible in a queue; received, not deleted, so they stay in it."""
    messages: dict[str, dict] = {}
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not batch:
            break
        messages.update({message["MessageId"]: message for message in batch})
    return list(messages.values())


@pytest.fixture(scope="module")
def burst(stack, producer, sqs, dynamodb):
    """Send the burst and a poison message, then wait until everything has settled."""
    run_id = uuid.uuid4().hex[:8]
    result = send_burst(producer, BURST_SIZE, concurrency=16, run_id=run_id)
    poison_id = f"{run_id}-poison"
    sqs.send_message(QueueUrl=stack["queue_url"], MessageBody=json.dumps({"request_id": poison_id}))
    table = dynamodb.Table(stack["table_name"])

    def settled() -> bool:
        return queue_depth(sqs, stack["queue_url"]) == 0 and queue_depth(sqs, stack["dlq_url"]) >= 1

    assert wait_for(settled, timeout=DRAIN_TIMEOUT_SECONDS, interval=2), "the queue did not drain in time"
    items = [item for item in scan_items(table) if item["request_id"].startswith(run_id)]
    return {"result": result, "items": items, "poison_id": poison_id, "run_id": run_id}


def test_every_request_of_the_burst_is_accepted_at_once(burst):
    result = burst["result"]

    assert result.rejected == []
    assert len(result.accepted) == BURST_SIZE


def test_every_accepted_request_is_stored_exactly_once(burst):
    items = burst["items"]
    stored_ids = [item["request_id"] for item in items]

    assert len(stored_ids) == len(set(stored_ids))
    assert set(stored_ids) == set(burst["result"].accepted)
    for item in items:
        assert item["payload"]["index"] == int(item["request_id"].rsplit("-", 1)[1])


def test_the_queue_is_empty_and_the_poison_message_waits_in_the_dlq(burst, stack, sqs):
    assert queue_depth(sqs, stack["queue_url"]) == 0

    dead = receive_all(sqs, stack["dlq_url"])

    poison = [message for message in dead if json.loads(message["Body"]).get("request_id") == burst["poison_id"]]
    assert len(poison) == 1
    # No good request of the burst was set aside with it.
    assert not [m for m in dead if json.loads(m["Body"]).get("request_id", "").startswith(burst["run_id"] + "-0")]


def test_consumer_concurrency_never_exceeded_the_cap(burst, stack):
    peak = peak_concurrency(burst["items"])

    print(f"peak consumer concurrency {peak} (cap {stack['maximum_concurrency']})")
    assert 1 <= peak <= stack["maximum_concurrency"]


def test_a_retried_request_is_stored_once_and_a_reused_id_is_refused(stack, producer, sqs, dynamodb):
    request_id = f"dup-{uuid.uuid4().hex[:8]}"
    body = {"request_id": request_id, "payload": {"attempt": 1}}

    # A client retry of the same request, then the same id with another payload.
    assert producer.post_json("/requests", body).status == 202
    assert producer.post_json("/requests", body).status == 202
    conflict = producer.post_json("/requests", {**body, "payload": {"attempt": 2}})

    assert conflict.status == 409
    assert conflict.body["field"] == "body.request_id"
    table = dynamodb.Table(stack["table_name"])
    assert wait_for(lambda: queue_depth(sqs, stack["queue_url"]) == 0, timeout=120)
    items = [item for item in scan_items(table) if item["request_id"] == request_id]
    assert [item["payload"] for item in items] == [{"attempt": 1}]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"payload": {"a": 1', "body"),
        (b"\xff\xfe not utf-8", "body"),
        (b'{"payload": {"n": NaN}}', "body"),
        (b'{"payload": {"n": 1, "n": 2}}', "body"),
        (b'{"payload": {"s": "\\udc00"}}', "body.payload.s"),
        (b'{"payload": {"n": 1E+126}}', "body.payload.n"),
        (b'{"payload": {"n": 0.1234567890123456789012345678901234567891}}', "body.payload.n"),
        (b'{"payload": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, "body.payload" + ".a" * 31),
        (b"[" * 30000 + b"]" * 30000, "body"),
    ],
)
def test_a_body_the_downstream_cannot_store_is_400_never_queued(stack, producer, sqs, raw, field):
    response = producer.post_raw("/requests", raw)

    assert response.status == 400, response
    assert response.body["field"] == field
    assert response.body["fix"]
    assert queue_depth(sqs, stack["queue_url"]) == 0


def test_numbers_at_dynamodbs_limits_are_stored_exactly(stack, producer, sqs, dynamodb):
    """38 digits, the smallest magnitude, trailing zeros and 31 levels, through the deployed producer and consumer.

    MiniStack hands numbers back as plain digits, which boto3 cannot read from
    1E+38 up (README, emulator quirks): the unit tests cover the largest ones.
    """
    request_id = f"limits-{uuid.uuid4().hex[:8]}"
    deep = '{"a": ' * 30 + "1" + "}" * 30
    raw = (
        f'{{"request_id": "{request_id}", "payload": {{"digits38": 0.12345678901234567890123456789012345678,'
        ' "large": 9.9999999999999999999999999999999999999E+37, "smallest": 1E-130,'
        f' "zeros": 1{"0" * 30}.{"0" * 40}, "deep": {deep}}}}}'
    ).encode()

    assert producer.post_raw("/requests", raw).status == 202

    table = dynamodb.Table(stack["table_name"])
    assert wait_for(lambda: table.get_item(Key={"request_id": request_id}).get("Item"), timeout=120)
    stored = table.get_item(Key={"request_id": request_id})["Item"]["payload"]
    assert stored == json.loads(raw, parse_float=Decimal, parse_int=Decimal)["payload"]


@pytest.fixture
def consumer_outage(stack):
    """The consumer writes to a table that does not exist (a broken deploy); restored afterwards."""
    lambda_client = boto3.client("lambda")
    name = stack["consumer_function_name"]
    variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]

    def configure(table_name: str) -> None:
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {**variables, "TABLE_NAME": table_name}}
        )
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)

    configure("table-that-does-not-exist")
    yield lambda: configure(variables["TABLE_NAME"])
    configure(variables["TABLE_NAME"])


def test_after_an_outage_redrive_returns_every_dlq_message_and_each_is_stored_once(
    stack, producer, sqs, dynamodb, consumer_outage
):
    from serverless_patterns_ops.redrive import redrive

    # Start from an empty DLQ: the burst test's poison message has been checked already.
    sqs.purge_queue(QueueUrl=stack["dlq_url"])
    assert wait_for(lambda: queue_depth(sqs, stack["dlq_url"]) == 0, timeout=60)
    run_id = uuid.uuid4().hex[:8]
    result = send_burst(producer, 30, concurrency=4, run_id=run_id)
    assert len(result.accepted) == 30

    # Every write fails, so after max_receive_count receives each request waits in the DLQ.
    assert wait_for(
        lambda: queue_depth(sqs, stack["dlq_url"]) == 30 and queue_depth(sqs, stack["queue_url"]) == 0,
        timeout=DRAIN_TIMEOUT_SECONDS,
        interval=2,
    ), "the failed requests did not all reach the DLQ"
    table = dynamodb.Table(stack["table_name"])
    assert [item for item in scan_items(table) if item["request_id"].startswith(run_id)] == []

    consumer_outage()  # the fix is deployed
    summary = redrive(sqs, stack["dlq_url"])

    assert (summary.found, summary.moved, summary.failed_ids) == (30, 30, [])
    assert wait_for(
        lambda: queue_depth(sqs, stack["queue_url"]) == 0 and queue_depth(sqs, stack["dlq_url"]) == 0,
        timeout=DRAIN_TIMEOUT_SECONDS,
        interval=2,
    )
    stored = [item["request_id"] for item in scan_items(table) if item["request_id"].startswith(run_id)]
    assert sorted(stored) == sorted(result.accepted)  # count before = count after, none twice
