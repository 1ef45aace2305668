"""The chat forwarder turns alarm notifications into chat messages and posts them to every webhook."""

from __future__ import annotations

import json

import pytest

from alert_chat_forwarder import handler
from serverless_patterns.monitoring.alerts import chat_text
from serverless_patterns.shared.settings import SettingError
from webhook_receiver import WebhookReceiver

ALARM = {
    "AlarmName": "sp-prod-ll-requests-depth",
    "AlarmDescription": "More than 1000 messages have waited in sp-prod-ll-requests. Runbook: https://example.com/runbook.md",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [1500.0] was greater than the threshold (1000.0).",
    "Region": "EU (Ireland)",
    "OldStateValue": "OK",
}

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:alerts"


def sns_event(*messages: str, subject: str | None = "ALARM: depth") -> dict:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {"MessageId": f"m{index}", "Message": message, "Subject": subject, "TopicArn": TOPIC_ARN},
            }
            for index, message in enumerate(messages)
        ]
    }


@pytest.fixture
def webhooks(monkeypatch):
    with WebhookReceiver() as first, WebhookReceiver() as second:
        monkeypatch.setenv("CHAT_WEBHOOK_URLS", json.dumps({"oncall": first.url, "team": second.url}))
        handler.webhook_urls.cache_clear()
        yield first, second
    handler.webhook_urls.cache_clear()


def test_an_alarm_reads_as_state_name_description_and_reason():
    text = chat_text(json.dumps(ALARM))

    first_line, description, reason = text.splitlines()
    assert first_line == "🔴 ALARM: sp-prod-ll-requests-depth (EU (Ireland))"
    assert description.endswith("Runbook: https://example.com/runbook.md")
    assert reason.startswith("Why: Threshold Crossed")


def test_a_recovery_is_announced_as_ok():
    assert chat_text(json.dumps({**ALARM, "NewStateValue": "OK"})).startswith("✅ OK: sp-prod-ll-requests-depth")


def test_a_message_that_is_not_an_alarm_passes_through_with_its_subject():
    assert chat_text("deploy finished", "FYI") == "FYI\ndeploy finished"
    assert chat_text('["not", "an", "alarm"]') == '["not", "an", "alarm"]'


def test_every_notification_reaches_every_webhook(webhooks, lambda_context):
    result = handler.lambda_handler(sns_event(json.dumps(ALARM), "plain text"), lambda_context)

    assert result == {"forwarded": 2}
    for receiver in webhooks:
        texts = receiver.texts()
        assert len(texts) == 2
        assert texts[0].startswith("🔴 ALARM: sp-prod-ll-requests-depth")
        assert texts[1] == "ALARM: depth\nplain text"


def test_a_failing_webhook_fails_the_invocation_after_the_others_were_served(monkeypatch, lambda_context):
    with WebhookReceiver(status=500) as broken, WebhookReceiver() as healthy:
        monkeypatch.setenv("CHAT_WEBHOOK_URLS", json.dumps({"broken": broken.url, "healthy": healthy.url}))
        handler.webhook_urls.cache_clear()

        with pytest.raises(RuntimeError, match="chat webhooks failed: broken"):
            handler.lambda_handler(sns_event(json.dumps(ALARM)), lambda_context)

        assert len(healthy.texts()) == 1
        assert len(broken.texts()) == 1
    handler.webhook_urls.cache_clear()


@pytest.mark.parametrize("value", ["", "not json", "[]", "{}", '{"oncall": 1}'])
def test_missing_or_malformed_webhook_setting_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("CHAT_WEBHOOK_URLS", value)
    handler.webhook_urls.cache_clear()

    with pytest.raises(SettingError, match="CHAT_WEBHOOK_URLS must be a JSON object"):
        handler.webhook_urls()
    handler.webhook_urls.cache_clear()
