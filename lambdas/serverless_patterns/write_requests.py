"""The load leveler's write request: its schema, its API form and its queue form.

The producer validates a request before it is queued; the consumer validates
the queued message again, because anything with sqs:SendMessage can put a
message on the queue. A message that fails here is a poison message: it is
reported as failed, retried up to the queue's maxReceiveCount and then kept
in the dead-letter queue.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from serverless_patterns.errors import FieldError

MAX_BODY_BYTES = 64 * 1024
REQUEST_ID_PATTERN = "^[A-Za-z0-9_.:-]{1,128}$"
MESSAGE_VERSION = 1

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payload"],
    "additionalProperties": False,
    "properties": {
        "request_id": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        "payload": {"type": "object", "minProperties": 1},
    },
}

MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "request_id", "payload", "received_at"],
    "properties": {
        "version": {"const": MESSAGE_VERSION},
        "request_id": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        "payload": {"type": "object", "minProperties": 1},
        "received_at": {"type": "string", "minLength": 1},
    },
}

_FIXES = {
    "required": "add the missing field",
    "additionalProperties": "remove the fields that are not 'request_id' or 'payload'",
    "type": "send a value of the type named",
    "pattern": "use 1-128 characters from A-Z a-z 0-9 _ . : -",
    "minProperties": "send a non-empty JSON object",
    "const": "re-send the request through the producer API",
}


class InvalidWriteRequest(FieldError):
    """A request or message that can never be processed as it is."""

    def as_dict(self) -> dict[str, str]:
        return {"error": "invalid_request", **super().as_dict()}


def _exact_json_number(value: Any) -> int | float:
    """JSON encoding of a Decimal that decodes back to the same Decimal."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise InvalidWriteRequest(
            "body.payload",
            f"the number {value} has more significant digits than can be carried exactly",
            "send it as a string, or with at most 17 significant digits",
        )
    return as_float


@dataclass(frozen=True)
class WriteRequest:
    request_id: str
    payload: dict[str, Any]
    received_at: str

    def to_message(self) -> str:
        return json.dumps(
            {
                "version": MESSAGE_VERSION,
                "request_id": self.request_id,
                "payload": self.payload,
                "received_at": self.received_at,
            },
            separators=(",", ":"),
            default=_exact_json_number,
        )


def _validated(document: Any, schema: dict[str, Any], root: str) -> None:
    try:
        validate(event=document, schema=schema)
    except SchemaValidationError as error:
        field = ".".join([root, *(error.path or ["data"])[1:]])
        message = (error.validation_message or "is invalid").replace("data", field, 1)
        raise InvalidWriteRequest(field, message, _FIXES.get(error.rule or "", "see the API schema")) from None


def _parse_json(raw: str | None, root: str) -> Any:
    if raw is None or not raw.strip():
        raise InvalidWriteRequest(root, f"{root} is empty", 'send a JSON object such as {"payload": {...}}')
    try:
        # Decimal keeps numbers exact and is what the DynamoDB resource API expects.
        return json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise InvalidWriteRequest(root, f"{root} is not valid JSON ({error.msg})", "send a JSON object") from None


def from_api_body(raw_body: str | None, received_at: datetime | None = None) -> WriteRequest:
    """Validate an HTTP request body; the caller's request_id makes retries idempotent."""
    if raw_body is not None and len(raw_body.encode()) > MAX_BODY_BYTES:
        raise InvalidWriteRequest("body", f"body is larger than {MAX_BODY_BYTES} bytes", "send a smaller payload")
    document = _parse_json(raw_body, "body")
    _validated(document, REQUEST_SCHEMA, "body")
    request = WriteRequest(
        request_id=document.get("request_id") or str(uuid.uuid4()),
        payload=document["payload"],
        received_at=(received_at or datetime.now(UTC)).isoformat(),
    )
    request.to_message()  # rejects, here, a payload the queue could not carry exactly
    return request


def from_message(raw_message: str) -> WriteRequest:
    document = _parse_json(raw_message, "message")
    _validated(document, MESSAGE_SCHEMA, "message")
    return WriteRequest(
        request_id=document["request_id"],
        payload=document["payload"],
        received_at=document["received_at"],
    )
