"""Benchmark workload: a word count that first waits, as a subtask calling a remote service would.

The wait (SIMULATED_IO_MILLIS, default 50) is where such a subtask spends its
time: that waiting, not the bookkeeping, is what fanning out parallelizes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from serverless_patterns.inputs import SubtaskInput
from serverless_patterns.workloads import word_count


def count_words(chunk: bytes) -> dict[str, Any]:
    time.sleep(float(os.environ.get("SIMULATED_IO_MILLIS", "50")) / 1000)
    return word_count.count_words(chunk)


def process(task: SubtaskInput) -> dict[str, Any]:
    return count_words(task.data)
