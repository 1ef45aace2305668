"""The tracker of this function's table, as its settings name it (TRACKER_TABLE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serverless_patterns.shared import aws_clients, settings

if TYPE_CHECKING:
    from serverless_patterns.fan_in.tracker import JobTracker


def configured_tracker() -> JobTracker:
    # Imported here, not above: the package's __init__ assembles JobTracker and imports this module.
    from serverless_patterns.fan_in.tracker import JobTracker

    return JobTracker(aws_clients.dynamodb_table(settings.required("TRACKER_TABLE")))
