"""A CloudWatch dashboard exported as Markdown: what each widget shows, in layout order."""

from __future__ import annotations

import json
import re
from typing import Any

HEADER = """# The queue dashboard

One CloudWatch dashboard per environment (`<name>-queues`), built by
`modules/dlq_monitoring/modules/dashboard` from the stack's queue inventory.
This page is the dashboard `envs/local` deploys, exported widget by widget
with `python -m serverless_patterns_ops dashboard` (`<name>` stands for the
stack's name, `<account>` for its account). The integration tests export the
deployed dashboard again and fail if this page differs: regenerate it with
`make dashboard-doc`.

Widgets are listed top to bottom, left to right; the grid is 24 columns wide.
"""


def _metric_line(metric: list[Any]) -> str | None:
    options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
    if options.get("visible") is False:
        return None
    if "expression" in options:
        return f"{options.get('label', options.get('id'))}: `{options['expression']}`"
    namespace, name, *dimensions = [part for part in metric if not isinstance(part, dict)]
    where = ", ".join(f"{key}={value}" for key, value in zip(dimensions[::2], dimensions[1::2], strict=True))
    return f"{options.get('label', name)}: `{namespace}` `{name}` ({where})"


def _widget_rows(widget: dict[str, Any]) -> tuple[str, str]:
    properties = widget["properties"]
    if widget["type"] == "text":
        return "text", properties["markdown"].split("\n")[0].lstrip("# ")
    if widget["type"] == "alarm":
        names = [arn.rsplit(":", 1)[-1] for arn in properties["alarms"]]
        return f"alarm status: {properties.get('title', '')}", f"{len(names)} alarms: " + ", ".join(
            f"`{name}`" for name in names
        )
    lines = [line for line in map(_metric_line, properties.get("metrics", [])) if line]
    lines += [
        f"line at {annotation['value']:g}: {annotation['label']}"
        for annotation in properties.get("annotations", {}).get("horizontal", [])
    ]
    title = f"{properties['title']} ({properties.get('stat', '')}, {properties.get('period', '')} s)"
    return title, "<br>".join(lines)


def render_markdown(body: dict[str, Any] | str, stack_name: str) -> str:
    """The dashboard as a Markdown page, with the stack's name shown as <name>."""
    text = body if isinstance(body, str) else json.dumps(body)
    text = re.sub(r":\d{12}:", ":<account>:", text.replace(stack_name, "<name>"))
    widgets = sorted(json.loads(text)["widgets"], key=lambda widget: (widget["y"], widget["x"]))
    rows = ["| position (x, y, width x height) | widget | shows |", "|---|---|---|"]
    for widget in widgets:
        title, shows = _widget_rows(widget)
        position = f"{widget['x']}, {widget['y']}, {widget['width']} x {widget['height']}"
        rows.append(f"| {position} | {title} | {shows.replace('|', '&#124;')} |")
    return HEADER + "\n" + "\n".join(rows) + "\n"
