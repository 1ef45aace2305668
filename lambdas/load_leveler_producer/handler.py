"""Load leveler producer: validate a write request, queue it, answer 202 at once.

Served by an API Gateway HTTP API (POST /requests). The request is durable as
soon as SendMessage returns, so the caller never waits for the downstream.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from serverless_patterns import aws_clients, settings
from serverless_patterns.write_requests import InvalidWriteRequest, from_api_body

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


@app.post("/requests")
@tracer.capture_method
def accept_write_request() -> Response:
    try:
        request = from_api_body(app.current_event.decoded_body)
    except InvalidWriteRequest as error:
        logger.info("rejected write request", extra={"field": error.field, "reason": error.message})
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        return _json_response(HTTPStatus.BAD_REQUEST, error.as_dict())

    logger.append_keys(request_id=request.request_id)
    try:
        aws_clients.client("sqs").send_message(
            QueueUrl=settings.required("QUEUE_URL"),
            MessageBody=request.to_message(),
            MessageAttributes={"request_id": {"DataType": "String", "StringValue": request.request_id}},
        )
    except (BotoCoreError, ClientError):
        # Nothing was accepted, so nothing is lost: the client is told to retry.
        logger.exception("could not queue write request")
        metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
        return _json_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {
                "error": "queue_unavailable",
                "message": "the request was not accepted; retry it with the same request_id",
            },
            headers={"Retry-After": "1"},
        )

    metrics.add_metric(name="RequestsAccepted", unit=MetricUnit.Count, value=1)
    return _json_response(HTTPStatus.ACCEPTED, {"request_id": request.request_id, "status": "queued"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
