"""Exporting a dashboard as Markdown: layout order, metrics, math, lines, and the stack name hidden."""

from __future__ import annotations

from serverless_patterns_ops.dashboard_doc import render_markdown

BODY = {
    "widgets": [
        {
            "type": "metric",
            "x": 8,
            "y": 1,
            "width": 8,
            "height": 6,
            "properties": {
                "title": "orders: sent, received, deleted per period",
                "stat": "Sum",
                "period": 60,
                "metrics": [
                    ["AWS/SQS", "NumberOfMessagesSent", "QueueName", "shop7-orders", {"id": "sent", "label": "Sent"}],
                    [
                        "AWS/SQS",
                        "NumberOfMessagesDeleted",
                        "QueueName",
                        "shop7-orders",
                        {"id": "deleted", "visible": False},
                    ],
                    [{"expression": "sent - deleted", "id": "growth", "label": "Growth"}],
                ],
                "annotations": {"horizontal": [{"label": "Growth alarm", "value": 500}]},
            },
        },
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 1,
            "properties": {"markdown": "# shop7-queues\n\nmore"},
        },
        {
            "type": "alarm",
            "x": 0,
            "y": 1,
            "width": 8,
            "height": 6,
            "properties": {
                "title": "Alarms",
                "alarms": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shop7-orders-depth"],
            },
        },
    ]
}


def test_widgets_are_listed_top_to_bottom_then_left_to_right():
    rows = [
        line for line in render_markdown(BODY, "shop7").splitlines() if line.startswith("| 0") or line.startswith("| 8")
    ]

    assert [row.split(" | ")[1] for row in rows] == [
        "text",
        "alarm status: Alarms",
        "orders: sent, received, deleted per period (Sum, 60 s)",
    ]


def test_metrics_math_and_threshold_lines_are_spelled_out_with_the_stack_name_hidden():
    page = render_markdown(BODY, "shop7")

    assert "Sent: `AWS/SQS` `NumberOfMessagesSent` (QueueName=<name>-orders)" in page
    assert "Growth: `sent - deleted`" in page
    assert "line at 500: Growth alarm" in page
    assert "NumberOfMessagesDeleted" not in page, "hidden metrics feed the math only"
    assert "1 alarms: `<name>-orders-depth`" in page
    assert "| <name>-queues |" in page
    assert "shop7" not in page
    assert "123456789012" not in page
