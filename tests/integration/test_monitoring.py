"""The stack's monitoring on the emulator: one dashboard for the queue inventory, alarms that reach chat."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from serverless_patterns_ops.dashboard_doc import render_markdown

DASHBOARD_DOC = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


@pytest.fixture(scope="module")
def monitoring(outputs) -> dict:
    return outputs["monitoring"]


@pytest.fixture(scope="module")
def dashboard_body(monitoring) -> dict:
    return json.loads(
        boto3.client("cloudwatch").get_dashboard(DashboardName=monitoring["dashboard_name"])["DashboardBody"]
    )


def test_the_inventory_registers_every_queue_of_the_stack(monitoring, stack_name, sqs):
    registered = {name for queue in monitoring["queues"].values() for name in (queue["queue_name"], queue["dlq_name"])}
    holding = set(monitoring["holding_queue_names"])
    deployed = {url.rsplit("/", 1)[-1] for url in sqs.list_queues(QueueNamePrefix=stack_name).get("QueueUrls", [])}

    assert deployed, f"no queue named {stack_name}* on the emulator"
    assert registered | holding == deployed
    assert not registered & holding


def test_the_dashboard_shows_every_queue_its_dlq_consumers_and_every_alarm(monitoring, dashboard_body):
    widgets = dashboard_body["widgets"]
    graphed = json.dumps([widget["properties"].get("metrics", []) for widget in widgets])
    for queue in monitoring["queues"].values():
        for name in (queue["queue_name"], queue["dlq_name"], *queue["consumer_function_names"]):
            assert f'"{name}"' in graphed, f"the dashboard does not graph {name}"
    alarm_widgets = [widget for widget in widgets if widget["type"] == "alarm"]
    assert [widget["properties"]["alarms"] for widget in alarm_widgets] == [monitoring["alarm_arns"]]


@pytest.mark.http_api  # the doc shows the stack with its HTTP APIs, whose functions the dashboard graphs
def test_docs_show_the_deployed_dashboard(dashboard_body, stack_name):
    page = render_markdown(dashboard_body, stack_name)
    if os.environ.get("UPDATE_DASHBOARD_DOC") == "1":
        DASHBOARD_DOC.write_text(page)
    assert DASHBOARD_DOC.read_text() == page, "docs/dashboard.md is out of date: run `make dashboard-doc`"


@pytest.mark.lambda_runtime  # the chat forwarder runs
def test_an_alarm_and_its_recovery_reach_the_chat_webhook(outputs, chat_webhook):
    cloudwatch = boto3.client("cloudwatch")
    alarm_name = outputs["load_leveler"]["alarm_arns"]["depth"].rsplit(":", 1)[-1]

    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="integration test: spike")
    texts = chat_webhook.wait_for(lambda texts: any(f"ALARM: {alarm_name}" in text for text in texts), 60)
    alarm_text = next((text for text in texts if f"ALARM: {alarm_name}" in text), None)
    assert alarm_text is not None, f"no ALARM message for {alarm_name}; received {texts}"
    assert alarm_text.startswith("🔴")
    assert "Runbook: https://" in alarm_text
    assert "Why: integration test: spike" in alarm_text

    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="OK", StateReason="integration test: drained")
    texts = chat_webhook.wait_for(lambda texts: any(f"OK: {alarm_name}" in text for text in texts), 60)
    assert any(text.startswith(f"✅ OK: {alarm_name}") for text in texts), f"no OK message; received {texts}"
