"""Load leveler consumer: drain the queue into the downstream table at a capped rate.

Runs on an SQS event source mapping with ReportBatchItemFailures. Each record
is written at most once (conditional put keyed by request_id), so redelivery
never creates a second item; a throttled or failed write is reported as a
batch item failure and SQS delivers it again later, so nothing is dropped.
Writes are paced in capacity units, not requests: an item over 1 KB costs one
unit per started KB, and the units DynamoDB reports consumed are what counts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from serverless_patterns.errors import FieldError
from serverless_patterns.load_leveling import storable
from serverless_patterns.load_leveling.pacing import TokenBucket
from serverless_patterns.load_leveling.write_requests import InvalidWriteRequest, WriteRequest, from_message
from serverless_patterns.shared import aws_clients, settings

THROTTLING_ERRORS = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}

logger = Logger()
metrics = Metrics()
tracer = Tracer()
# A batch whose every record failed is reported record by record too, rather
# than as a function error: SQS retries exactly the same messages either way.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
write_pacer = TokenBucket(settings.positive_number("WRITES_PER_SECOND_PER_CONSUMER", default=50.0))
WRITE_UNIT_BYTES = 1024


class RequestConflict(FieldError):
    """A request id already stored with another payload: kept in the DLQ, never written over."""


class _Invocation:
    """Who is processing the current batch, stored with each item for auditing."""

    request_id = ""
    started_at = ""


invocation = _Invocation()


@tracer.capture_method
def store(record: SQSRecord) -> None:
    try:
        request = from_message(record.body)
    except InvalidWriteRequest as error:
        logger.error("poison message", extra={"message_id": record.message_id, "reason": str(error)})
        metrics.add_metric(name="PoisonMessages", unit=MetricUnit.Count, value=1)
        raise

    with logger.append_context_keys(request_id=request.request_id):
        item = {
            "request_id": request.request_id,
            "payload": request.payload,
            "payload_digest": request.payload_digest,
            "received_at": request.received_at,
            "stored_at": datetime.now(UTC).isoformat(),
            "processed_by": invocation.request_id,
            "invocation_started_at": invocation.started_at,
            "receive_count": int(record.attributes.approximate_receive_count),
        }
        table = aws_clients.dynamodb_table(settings.required("TABLE_NAME"))
        expected_units = math.ceil(storable.item_size(item) / WRITE_UNIT_BYTES)
        write_pacer.acquire(expected_units)
        try:
            response = table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(request_id)",
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                _ignore_duplicate(table, request)
                return
            if code in THROTTLING_ERRORS:
                logger.warning("downstream throttled the write; SQS will redeliver it", extra={"error_code": code})
                metrics.add_metric(name="WritesThrottled", unit=MetricUnit.Count, value=1)
            raise
        consumed_units = response.get("ConsumedCapacity", {}).get("CapacityUnits") or expected_units
        if consumed_units > expected_units:
            write_pacer.acquire(float(consumed_units) - expected_units)
        metrics.add_metric(name="RequestsStored", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="WriteUnitsConsumed", unit=MetricUnit.Count, value=float(consumed_units))


def _ignore_duplicate(table: Any, request: WriteRequest) -> None:
    """A redelivery of a stored request is dropped; the same id with another payload is refused."""
    stored = table.get_item(Key={"request_id": request.request_id}, ProjectionExpression="payload_digest")
    stored_digest = stored.get("Item", {}).get("payload_digest", request.payload_digest)
    if stored_digest != request.payload_digest:
        logger.error("request id already stored with another payload")
        metrics.add_metric(name="RequestConflicts", unit=MetricUnit.Count, value=1)
        raise RequestConflict(
            "message.payload",
            f"request_id {request.request_id!r} is stored with another payload",
            "send the new payload under a new request_id; this message stays in the DLQ",
        )
    logger.info("duplicate delivery ignored")
    metrics.add_metric(name="DuplicatesIgnored", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    invocation.request_id = context.aws_request_id
    invocation.started_at = datetime.now(UTC).isoformat()
    return process_partial_response(event=event, record_handler=store, processor=processor, context=context)
