"""Chat forwarder: posts every notification of the alert topic to the chat webhooks.

Subscribed to the stack's alert topic (SNS invokes it asynchronously). A
webhook that fails makes the invocation fail after every webhook was tried,
so Lambda retries it and the function's Errors alarm reaches the email and
HTTPS subscribers. A retry may post twice to the webhooks that had answered.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.monitoring.alerts import WebhookError, chat_text, post_text
from serverless_patterns.shared.settings import SettingError

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@cache
def webhook_urls() -> dict[str, str]:
    raw = os.environ.get("CHAT_WEBHOOK_URLS", "")
    try:
        urls = json.loads(raw)
    except ValueError:
        urls = None
    if not isinstance(urls, dict) or not urls or not all(isinstance(url, str) for url in urls.values()):
        raise SettingError(
            "environment variable CHAT_WEBHOOK_URLS must be a JSON object of webhook URLs by name, "
            'e.g. {"oncall": "https://..."}: set chat_webhook_urls on the alert_topic module'
        )
    return urls


@tracer.capture_method
def forward(text: str) -> list[str]:
    """Post to every webhook; return the names of those that failed."""
    failed = []
    for name, url in sorted(webhook_urls().items()):
        try:
            post_text(url, text)
        except WebhookError as error:
            # The URL is a secret: only its name is logged.
            logger.error("chat webhook failed", extra={"webhook": name, "error": str(error)})
            failed.append(name)
    return failed


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    failed: list[str] = []
    forwarded = 0
    for record in event.records:
        text = chat_text(record.sns.message, record.sns.subject)
        with logger.append_context_keys(sns_message_id=record.sns.message_id):
            record_failures = forward(text)
            logger.info("alert forwarded", extra={"webhooks": len(webhook_urls()), "failed": record_failures})
        failed += record_failures
        forwarded += 1
    metrics.add_metric(name="ChatWebhookFailures", unit=MetricUnit.Count, value=len(failed))
    if failed:
        raise WebhookError(f"chat webhooks failed: {', '.join(sorted(set(failed)))}")
    return {"forwarded": forwarded}
