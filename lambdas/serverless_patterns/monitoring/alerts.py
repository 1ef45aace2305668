"""Alarm notifications as chat messages, and their delivery to incoming webhooks."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

STATE_MARKERS = {"ALARM": "🔴", "OK": "✅", "INSUFFICIENT_DATA": "⚪"}


class WebhookError(RuntimeError):
    pass


def chat_text(message: str, subject: str | None = None) -> str:
    """One readable message for a CloudWatch alarm notification; other messages pass through."""
    try:
        alarm: Any = json.loads(message)
    except ValueError:
        alarm = None
    if not isinstance(alarm, dict) or "AlarmName" not in alarm:
        return f"{subject}\n{message}" if subject else message
    state = str(alarm.get("NewStateValue", "UNKNOWN"))
    marker = STATE_MARKERS.get(state, "❔")
    lines = [f"{marker} {state}: {alarm['AlarmName']} ({alarm.get('Region', 'unknown region')})"]
    if alarm.get("AlarmDescription"):
        lines.append(str(alarm["AlarmDescription"]))
    if alarm.get("NewStateReason"):
        lines.append(f"Why: {alarm['NewStateReason']}")
    return "\n".join(lines)


def post_text(url: str, text: str, timeout_seconds: float = 5.0) -> None:
    """POST {"text": ...}, the payload Slack, Teams, Google Chat and Mattermost webhooks accept."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            status = response.status
    except OSError as error:
        raise WebhookError(f"webhook POST failed: {error}") from error
    if not 200 <= status < 300:
        raise WebhookError(f"webhook answered HTTP {status}")
