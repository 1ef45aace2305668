"""What the integration suite left behind: the recorded calls and the dumps of the stacks it applied."""

from __future__ import annotations

import json
from pathlib import Path

from iam_check.model import RecordedCall
from iam_check.stack import Stack


def load_calls(directory: Path) -> list[RecordedCall]:
    """Every call of every process's log (one JSON object per line; a torn last line is skipped)."""
    calls = []
    for log in sorted(directory.glob("*.jsonl")):
        lines = log.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                calls.append(RecordedCall.from_json(json.loads(line)))
            except json.JSONDecodeError:
                if number < len(lines):
                    raise ValueError(f"{log}:{number}: not a JSON call record") from None
                # a process killed mid-write (a function timed out on purpose) tears only its last line
    return calls


def load_stacks(directory: Path) -> list[Stack]:
    return [Stack.load(dump) for dump in sorted(directory.glob("*.json"))]
