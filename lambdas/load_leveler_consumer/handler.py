"""Load leveler consumer: drain the queue into the downstream table at a capped rate.

Runs on an SQS event source mapping with ReportBatchItemFailures. Each record
is written at most once (conditional put keyed by request_id), so redelivery
never creates a second item; a throttled or failed write is reported as a
batch item failure and SQS delivers it again later, so nothing is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from serverless_patterns import aws_clients, settings
from serverless_patterns.pacing import TokenBucket
from serverless_patterns.write_requests import InvalidWriteRequest, from_message

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
        write_pacer.acquire()
        item = {
            "request_id": request.request_id,
            "payload": request.payload,
            "received_at": request.received_at,
            "stored_at": datetime.now(UTC).isoformat(),
            "processed_by": invocation.request_id,
            "invocation_started_at": invocation.started_at,
            "receive_count": int(record.attributes.approximate_receive_count),
        }
        try:
            aws_clients.dynamodb_table(settings.required("TABLE_NAME")).put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(request_id)",
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                # Redelivery of a request already stored: the item stays as it is.
                logger.info("duplicate delivery ignored")
                metrics.add_metric(name="DuplicatesIgnored", unit=MetricUnit.Count, value=1)
                return
            if code in THROTTLING_ERRORS:
                logger.warning("downstream throttled the write; SQS will redeliver it", extra={"error_code": code})
                metrics.add_metric(name="WritesThrottled", unit=MetricUnit.Count, value=1)
            raise
        metrics.add_metric(name="RequestsStored", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    invocation.request_id = context.aws_request_id
    invocation.started_at = datetime.now(UTC).isoformat()
    return process_partial_response(event=event, record_handler=store, processor=processor, context=context)
