"""Per-object statistics over an `objects` source: no merge, so each subtask's result is written as it is.

The job's results/<job>/succeeded/*.jsonl then hold one line per subtask,
naming its objects and their statistics.
"""

from __future__ import annotations

import hashlib
from typing import Any

from serverless_patterns.inputs import SubtaskInput


def process(task: SubtaskInput) -> list[dict[str, Any]]:
    stats = []
    for item in task.items:
        content = task.read_object(item)
        stats.append(
            {
                "key": item["key"],
                "size": len(content),
                "lines": content.count(b"\n"),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )
    return stats
