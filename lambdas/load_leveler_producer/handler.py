"""Load leveler producer: validate a write request, queue it, answer 202 at once.

Served by an API Gateway HTTP API (POST /requests). The request is durable as
soon as SendMessage returns, so the caller never waits for the downstream.
A request id is recorded (Powertools idempotency, in its own table) with a
digest of its payload: the same request again is answered 202 without a second
message, the same id with another payload is refused with 409.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from serverless_patterns.load_leveling.write_requests import InvalidWriteRequest, WriteRequest, from_api_body
from serverless_patterns.shared import aws_clients, settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayHttpResolver()


def _json_response(status: HTTPStatus, body: dict, headers: dict | None = None) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


idempotency = IdempotencyConfig(
    event_key_jmespath="request_id",
    payload_validation_jmespath="payload_digest",
    expires_after_seconds=int(settings.positive_number("IDEMPOTENCY_WINDOW_SECONDS", default=86400)),
)


@cache
def _enqueue_once(table_name: str, dynamodb: Any) -> Callable[..., dict]:
    """SendMessage guarded by the idempotency record of its request id (one per table and client)."""

    @idempotent_function(
        data_keyword_argument="request",
        config=idempotency,
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb),
    )
    def enqueue(request: dict) -> dict:
        aws_clients.client("sqs").send_message(
            QueueUrl=settings.required("QUEUE_URL"),
            MessageBody=request["message"],
            MessageAttributes={"request_id": {"DataType": "String", "StringValue": request["request_id"]}},
        )
        return {"request_id": request["request_id"], "status": "queued"}

    return enqueue


def _raw_body() -> str | bytes | None:
    event = app.current_event
    if event.is_base64_encoded and event.body:
        try:
            return base64.b64decode(event.body, validate=True)
        except binascii.Error:
            raise InvalidWriteRequest("body", "body is marked base64 but is not", "send the body as sent") from None
    return event.body


def _refused(error: InvalidWriteRequest) -> Response:
    logger.info("rejected write request", extra={"field": error.field, "reason": error.message})
    metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
    return _json_response(HTTPStatus.BAD_REQUEST, error.as_dict())


def _unavailable(request: WriteRequest) -> Response:
    # Nothing was accepted, so nothing is lost: the client is told to retry.
    logger.exception("could not queue write request")
    metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
    return _json_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        {
            "error": "queue_unavailable",
            "request_id": request.request_id,
            "message": "the request was not accepted; retry it with the same request_id",
        },
        headers={"Retry-After": "1"},
    )


def _conflict(request: WriteRequest, in_progress: bool) -> Response:
    metrics.add_metric(name="RequestConflicts", unit=MetricUnit.Count, value=1)
    if in_progress:
        message = f"request_id {request.request_id!r} is being queued by another request right now"
        fix = "retry in a second: the same payload is then answered 202, another one 409"
    else:
        message = f"request_id {request.request_id!r} was already accepted with another payload"
        fix = "send a new request_id for a different payload, or resend the original payload"
    logger.info("request id conflict", extra={"in_progress": in_progress})
    return _json_response(
        HTTPStatus.CONFLICT,
        {"error": "request_id_conflict", "field": "body.request_id", "message": message, "fix": fix},
        headers={"Retry-After": "1"} if in_progress else None,
    )


@app.post("/requests")
@tracer.capture_method
def accept_write_request() -> Response:
    try:
        request = from_api_body(_raw_body())
    except InvalidWriteRequest as error:
        return _refused(error)

    logger.append_keys(request_id=request.request_id)
    enqueue = _enqueue_once(settings.required("IDEMPOTENCY_TABLE_NAME"), aws_clients.client("dynamodb"))
    try:
        accepted = enqueue(
            request={
                "request_id": request.request_id,
                "payload_digest": request.payload_digest,
                "message": request.to_message(),
            }
        )
    except IdempotencyValidationError:
        return _conflict(request, in_progress=False)
    except IdempotencyAlreadyInProgressError:
        return _conflict(request, in_progress=True)
    except (BotoCoreError, ClientError, IdempotencyPersistenceLayerError):
        return _unavailable(request)

    metrics.add_metric(name="RequestsAccepted", unit=MetricUnit.Count, value=1)
    return _json_response(HTTPStatus.ACCEPTED, accepted)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)
