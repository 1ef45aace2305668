"""What a message in the subtask DLQ holds, whichever path moved it there.

- sqs transport: the subtask message itself, moved by the queue's redrive
  policy after max_receive_count receives.
- sns transport, a delivery SNS gave up on: the subtask message (or its SNS
  envelope), moved by the subscription's redrive policy, with the reason in
  the ErrorCode and ErrorMessage message attributes.
- sns transport, an invocation that failed its retries: the Lambda on-failure
  destination's invocation record, whose requestPayload is the SNS event that
  carried the subtask and whose responsePayload is the last error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from serverless_patterns.fan_out.jobs import InvalidSubtaskMessage


@dataclass(frozen=True)
class DeadLetter:
    message: str  # the subtask message, as the ventilator sent it
    error: dict[str, str] | None  # what the path that moved it knows of the failure


def _document(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def unwrap(body: str, message_attributes: dict[str, Any]) -> DeadLetter:
    """The subtask message a DLQ message carries, and the failure it reports (InvalidSubtaskMessage: none)."""
    document = _document(body)
    if isinstance(document, dict) and "requestContext" in document and "requestPayload" in document:
        return _invocation_record(document)
    if (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
    ):
        body = document["Message"]
    code, reason = (_attribute(message_attributes, name) for name in ("ErrorCode", "ErrorMessage"))
    error = (
        {"type": code or "DeliveryFailed", "message": reason or "SNS could not deliver it"} if code or reason else None
    )
    return DeadLetter(body, error)


def _invocation_record(record: dict[str, Any]) -> DeadLetter:
    payload = record.get("requestPayload")
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or len(records) != 1 or not isinstance(records[0], dict):
        raise InvalidSubtaskMessage("not a subtask message: an invocation record without one SNS record")
    message = (records[0].get("Sns") or {}).get("Message")
    if not isinstance(message, str):
        raise InvalidSubtaskMessage("not a subtask message: an invocation record without an SNS message")
    context = record.get("requestContext") or {}
    response = record.get("responsePayload")
    response = response if isinstance(response, dict) else {}
    invocations = context.get("approximateInvokeCount")
    return DeadLetter(
        message,
        {
            "type": str(response.get("errorType") or context.get("condition") or "RetriesExhausted"),
            "message": str(response.get("errorMessage") or f"the invocation ended {context.get('condition')}")
            + (f" (after {invocations} invocations)" if invocations else ""),
        },
    )


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name) or {}
    text = value.get("stringValue") or value.get("StringValue") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None
