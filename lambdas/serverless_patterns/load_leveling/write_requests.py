"""The load leveler's write request: its schema, its API form and its queue form.

The producer validates a request before it is queued; the consumer validates
the queued message again, because anything with sqs:SendMessage can put a
message on the queue. A message that fails here is a poison message: it is
reported as failed, retried up to the queue's maxReceiveCount and then kept
in the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from serverless_patterns.errors import FieldError
from serverless_patterns.load_leveling import storable

# A stored payload takes at most about twice the bytes of its JSON (a list of
# one-digit numbers is the worst case), so this keeps every item far below
# DynamoDB's 400 KB and every message below SQS's 1 MiB.
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
        "version": {"type": "number"},
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


@dataclass(frozen=True)
class WriteRequest:
    request_id: str
    payload: dict[str, Any]
    received_at: str

    def to_message(self) -> str:
        return storable.dumps(
            {
                "version": MESSAGE_VERSION,
                "request_id": self.request_id,
                "payload": self.payload,
                "received_at": self.received_at,
            }
        )

    @property
    def payload_digest(self) -> str:
        """The same for every spelling of the same payload, different for any other payload."""
        return hashlib.sha256(storable.canonical(self.payload).encode()).hexdigest()


def _validated(document: Any, schema: dict[str, Any], root: str) -> None:
    try:
        validate(event=document, schema=schema)
    except SchemaValidationError as error:
        field = ".".join([root, *(error.path or ["data"])[1:]])
        # fastjsonschema names the failing value by its whole path from `data` ("data.payload must be object"):
        # only that root is renamed, so the field is said once ("body.payload must be object").
        message = error.validation_message or f"{field} is invalid"
        if message.startswith("data"):
            message = root + message.removeprefix("data")
        raise InvalidWriteRequest(field, message, _FIXES.get(error.rule or "", "see the API schema")) from None


def _parse_json(raw: str | bytes | None, root: str) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidWriteRequest(
                root, f"{root} is not valid UTF-8 (byte {error.start})", "send the body encoded as UTF-8"
            ) from None
    if raw is None or not raw.strip():
        raise InvalidWriteRequest(root, f"{root} is empty", 'send a JSON object such as {"payload": {...}}')
    try:
        return storable.parse(raw, root)
    except storable.UnstorableValue as error:
        raise InvalidWriteRequest(error.field, error.message, error.fix) from None


def _storable_payload(document: dict[str, Any], root: str) -> dict[str, Any]:
    try:
        # The payload is one attribute of the stored item.
        return storable.storable(document["payload"], f"{root}.payload")
    except storable.UnstorableValue as error:
        raise InvalidWriteRequest(error.field, error.message, error.fix) from None


def from_api_body(raw_body: str | bytes | None, received_at: datetime | None = None) -> WriteRequest:
    """Validate an HTTP request body; the caller's request_id makes retries idempotent."""
    size = len(raw_body.encode("utf-8", "surrogatepass") if isinstance(raw_body, str) else raw_body or b"")
    if size > MAX_BODY_BYTES:
        raise InvalidWriteRequest("body", f"body is larger than {MAX_BODY_BYTES} bytes", "send a smaller payload")
    document = _parse_json(raw_body, "body")
    _validated(document, REQUEST_SCHEMA, "body")
    return WriteRequest(
        request_id=document.get("request_id") or str(uuid.uuid4()),
        payload=_storable_payload(document, "body"),
        received_at=(received_at or datetime.now(UTC)).isoformat(),
    )


def from_message(raw_message: str) -> WriteRequest:
    document = _parse_json(raw_message, "message")
    _validated(document, MESSAGE_SCHEMA, "message")
    if document["version"] != MESSAGE_VERSION:
        raise InvalidWriteRequest(
            "message.version",
            f"message.version is {document['version']}, this consumer reads version {MESSAGE_VERSION}",
            _FIXES["const"],
        )
    return WriteRequest(
        request_id=document["request_id"],
        payload=_storable_payload(document, "message"),
        received_at=document["received_at"],
    )
