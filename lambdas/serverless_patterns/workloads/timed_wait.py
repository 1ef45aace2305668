"""Test and benchmark workload: waits, and says when it ran, so the subtasks in flight at once can be counted.

Each item is a number of milliseconds to wait (an `items` source). The result
holds the subtask's start and end on the worker's clock (time.time()): on the
emulator every worker runs on one machine, so the most intervals that overlap
is the most subtasks that were in flight at once.
"""

from __future__ import annotations

import time
from typing import Any

from serverless_patterns.errors import PermanentSubtaskError
from serverless_patterns.inputs import SubtaskInput

MAX_WAIT_MILLIS = 60_000


def process(task: SubtaskInput) -> dict[str, Any]:
    started = time.time()
    for item in task.items:
        if not isinstance(item, int | float) or isinstance(item, bool) or not 0 <= item <= MAX_WAIT_MILLIS:
            raise PermanentSubtaskError(f"an item must be milliseconds to wait, 0 to {MAX_WAIT_MILLIS}: got {item!r}")
        time.sleep(item / 1000)
    return {"started": started, "ended": time.time()}


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals (start, end) that hold one instant in common."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
