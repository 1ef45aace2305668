from datetime import UTC, datetime
from decimal import Decimal

import pytest

from serverless_patterns.load_leveling.write_requests import (
    MAX_BODY_BYTES,
    InvalidWriteRequest,
    from_api_body,
    from_message,
)


def test_keeps_the_callers_request_id_so_retries_are_idempotent():
    request = from_api_body('{"request_id": "order-42", "payload": {"qty": 2}}')

    assert request.request_id == "order-42"
    assert request.payload == {"qty": 2}


def test_assigns_a_request_id_when_the_caller_sends_none():
    first = from_api_body('{"payload": {"qty": 2}}')
    second = from_api_body('{"payload": {"qty": 2}}')

    assert first.request_id != second.request_id
    assert len(first.request_id) == 36


@pytest.mark.parametrize(
    ("body", "field", "fix_contains"),
    [
        (None, "body", "JSON object"),
        ("   ", "body", "JSON object"),
        ("{not json", "body", "JSON object"),
        ("[1, 2]", "body", "type"),
        ('{"request_id": "a"}', "body", "missing field"),
        ('{"payload": 3}', "body.payload", "type"),
        ('{"payload": {}}', "body.payload", "non-empty"),
        ('{"payload": {"a": 1}, "extra": true}', "body", "remove"),
        ('{"payload": {"a": 1}, "request_id": "has spaces"}', "body.request_id", "1-128 characters"),
    ],
)
def test_rejects_bad_input_naming_the_field_and_the_fix(body, field, fix_contains):
    with pytest.raises(InvalidWriteRequest) as raised:
        from_api_body(body)

    assert raised.value.field == field
    assert fix_contains in raised.value.fix
    assert raised.value.as_dict()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"payload": 3}', "body.payload must be object"),
        ('{"payload": {}}', "body.payload must contain at least 1 properties"),
        ('{"payload": {"a": 1}, "request_id": 7}', "body.request_id must be string"),
        ("[1, 2]", "body must be object"),
    ],
)
def test_the_message_names_the_field_once(body, message):
    with pytest.raises(InvalidWriteRequest) as raised:
        from_api_body(body)

    assert raised.value.message == message


def test_a_poison_message_names_its_field_once():
    with pytest.raises(InvalidWriteRequest) as raised:
        from_message('{"version": 1, "request_id": "r1", "payload": 3, "received_at": "x"}')

    assert raised.value.message == "message.payload must be object"


def test_rejects_a_body_larger_than_the_limit():
    body = '{"payload": {"blob": "' + "x" * MAX_BODY_BYTES + '"}}'

    with pytest.raises(InvalidWriteRequest, match="larger than"):
        from_api_body(body)


def test_message_round_trip_keeps_numbers_exact():
    received_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = from_api_body('{"request_id": "r1", "payload": {"price": 19.99, "n": 3}}', received_at=received_at)

    restored = from_message(request.to_message())

    assert restored == request
    assert restored.payload["price"] == Decimal("19.99")
    assert restored.received_at == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("not json", "message"),
        ('{"request_id": "r1"}', "message"),
        ('{"version": 99, "request_id": "r1", "payload": {"a": 1}, "received_at": "x"}', "message.version"),
    ],
)
def test_a_message_that_did_not_come_from_the_producer_is_poison(message, field):
    with pytest.raises(InvalidWriteRequest) as raised:
        from_message(message)

    assert raised.value.field == field


def test_a_number_of_38_significant_digits_travels_exactly():
    thirty_eight = "0.12345678901234567890123456789012345678"

    restored = from_message(from_api_body('{"payload": {"amount": ' + thirty_eight + "}}").to_message())

    assert restored.payload["amount"] == Decimal(thirty_eight)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("0.123456789012345678901234567890123456789", "39 significant digits"),
        ("1E+126", "range"),
        ("-1E-131", "range"),
    ],
)
def test_refuses_a_number_dynamodb_would_not_store(number, message):
    with pytest.raises(InvalidWriteRequest) as raised:
        from_api_body('{"payload": {"amount": ' + number + "}}")

    assert raised.value.field == "body.payload.amount"
    assert message in raised.value.message
    assert "string" in raised.value.fix


def test_trailing_zeros_do_not_count_as_digits():
    request = from_api_body('{"payload": {"n": 1' + "0" * 60 + ', "x": 2.' + "0" * 60 + "}}")

    assert from_message(request.to_message()).payload == {"n": Decimal("1E+60"), "x": 2}


def test_nesting_follows_dynamodbs_32_levels_with_the_payload_as_the_first():
    deepest = '{"payload": ' + '{"a": ' * 30 + "{}" + "}" * 30 + "}"
    too_deep = '{"payload": ' + '{"a": ' * 31 + "{}" + "}" * 31 + "}"

    assert from_api_body(deepest).payload
    with pytest.raises(InvalidWriteRequest) as raised:
        from_api_body(too_deep)
    assert "32 levels" in raised.value.message
    assert raised.value.field == "body.payload" + ".a" * 31


def test_large_integers_and_exponents_travel_exactly():
    request = from_api_body('{"payload": {"big": 123456789012345678901234567890, "tiny": 1e-7}}')

    restored = from_message(request.to_message())

    assert restored.payload == {"big": 123456789012345678901234567890, "tiny": Decimal("1E-7")}
