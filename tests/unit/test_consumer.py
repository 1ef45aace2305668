import json

import pytest
from botocore.exceptions import ClientError

from load_leveler_consumer import handler as consumer
from serverless_patterns.load_leveling.pacing import TokenBucket
from serverless_patterns.load_leveling.write_requests import from_api_body
from serverless_patterns.shared import aws_clients
from unit.conftest import sqs_event


@pytest.fixture(autouse=True)
def unpaced(monkeypatch):
    monkeypatch.setattr(consumer, "write_pacer", TokenBucket(rate_per_second=1_000_000))


def message(request_id: str, **payload) -> str:
    body = json.dumps({"request_id": request_id, "payload": payload or {"n": 1}})
    return from_api_body(body).to_message()


def failures(response: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def stored(table) -> dict[str, dict]:
    return {item["request_id"]: item for item in table.scan()["Items"]}


def test_stores_every_record_of_a_batch(table, lambda_context):
    event = sqs_event(message("r1", n=1), message("r2", n=2), message("r3", n=3))

    response = consumer.lambda_handler(event, lambda_context)

    assert failures(response) == []
    items = stored(table)
    assert set(items) == {"r1", "r2", "r3"}
    assert items["r2"]["payload"] == {"n": 2}
    assert items["r2"]["processed_by"] == lambda_context.aws_request_id
    assert items["r2"]["receive_count"] == 1


def test_a_redelivered_message_does_not_create_a_second_item(table, lambda_context):
    body = message("r1", n=1)
    consumer.lambda_handler(sqs_event(body), lambda_context)
    first = stored(table)["r1"]

    response = consumer.lambda_handler(sqs_event(body, receive_count=2), lambda_context)

    assert failures(response) == []
    items = stored(table)
    assert len(items) == 1
    assert items["r1"] == first  # the redelivery did not overwrite the stored item


def test_a_duplicate_inside_one_batch_is_stored_once(table, lambda_context):
    body = message("r1")

    response = consumer.lambda_handler(sqs_event(body, body), lambda_context)

    assert failures(response) == []
    assert list(stored(table)) == ["r1"]


def test_a_poison_message_fails_alone_and_the_rest_of_the_batch_is_stored(table, lambda_context):
    event = sqs_event(message("r1"), '{"request_id": "no-payload"}', message("r3"), message_ids=["m1", "m2", "m3"])

    response = consumer.lambda_handler(event, lambda_context)

    assert failures(response) == ["m2"]
    assert set(stored(table)) == {"r1", "r3"}


class ThrottlingTable:
    """Wraps the real table and throttles writes of the chosen requests."""

    def __init__(self, table, throttled: set[str]) -> None:
        self._table = table
        self.throttled = throttled
        self.attempts = 0

    def put_item(self, **kwargs):
        self.attempts += 1
        if kwargs["Item"]["request_id"] in self.throttled:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "PutItem")
        return self._table.put_item(**kwargs)


def test_a_throttled_write_is_reported_as_a_batch_item_failure_never_dropped(table, lambda_context, monkeypatch):
    throttling = ThrottlingTable(table, throttled={"r2"})
    monkeypatch.setattr(aws_clients, "dynamodb_table", lambda name: throttling)
    event = sqs_event(message("r1"), message("r2"), message("r3"), message_ids=["m1", "m2", "m3"])

    response = consumer.lambda_handler(event, lambda_context)

    assert failures(response) == ["m2"]
    assert set(stored(table)) == {"r1", "r3"}

    # SQS redelivers m2 once the downstream has capacity again.
    throttling.throttled.clear()
    retry = consumer.lambda_handler(sqs_event(message("r2"), receive_count=2), lambda_context)
    assert failures(retry) == []
    assert set(stored(table)) == {"r1", "r2", "r3"}


def test_writes_are_paced_in_capacity_units_not_requests(table, lambda_context, monkeypatch):
    acquired = []
    monkeypatch.setattr(consumer.write_pacer, "acquire", lambda units=1.0: acquired.append(units) or 0.0)

    consumer.lambda_handler(sqs_event(message("small"), message("large", blob="x" * 5000)), lambda_context)

    # About 300 bytes cost one unit; 5 KB of payload, five started KB plus the rest of the item: six.
    assert acquired == [1, 6]


def test_units_consumed_beyond_the_estimate_are_paid_before_the_next_write(table, lambda_context, monkeypatch):
    acquired = []
    monkeypatch.setattr(consumer.write_pacer, "acquire", lambda units=1.0: acquired.append(units) or 0.0)
    real_put = table.put_item

    def put_reporting_more(**kwargs):
        response = real_put(**kwargs)
        return {**response, "ConsumedCapacity": {"TableName": "requests", "CapacityUnits": 4.0}}

    monkeypatch.setattr(aws_clients.dynamodb_table("requests"), "put_item", put_reporting_more)

    consumer.lambda_handler(sqs_event(message("r1")), lambda_context)

    assert acquired == [1, 3.0]


def test_the_same_request_id_with_another_payload_is_refused_and_never_overwrites(table, lambda_context):
    consumer.lambda_handler(sqs_event(message("r1", n=1)), lambda_context)

    response = consumer.lambda_handler(sqs_event(message("r1", n=2), message_ids=["m2"]), lambda_context)

    assert failures(response) == ["m2"]
    assert stored(table)["r1"]["payload"] == {"n": 1}


def test_other_downstream_errors_fail_the_record(table, lambda_context, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "no-such-table")

    response = consumer.lambda_handler(sqs_event(message("r1"), message_ids=["m1"]), lambda_context)

    assert failures(response) == ["m1"]
