"""The interface of a resumable workload: one that may need more than one Lambda invocation per subtask.

A workload registered with `"resumable": true` is
`process(task: SubtaskInput, invocation: Invocation) -> result | Checkpoint`.
It works until `invocation.remaining_seconds()` gets short, then returns
`Checkpoint(state)` (any JSON value): the worker saves it, and the subtask
continues in a new invocation whose `invocation.checkpoint` is that state.
When it returns anything else, that is the subtask's result.

    def process(task, invocation):
        done, total = invocation.checkpoint or (0, 0)
        for line in task.data.splitlines()[done:]:
            if invocation.remaining_seconds() < 5:
                return Checkpoint([done, total])
            total += slow_score(line)
            done += 1
        return total

The same state may be given to more than one invocation (a chain that died is
resumed from its last checkpoint), so a workload must not depend on side
effects it made after its last checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Checkpoint:
    """What a resumable workload returns to continue in a new invocation: `state` is any JSON value."""

    state: Any


@dataclass(frozen=True)
class Invocation:
    """What a resumable workload knows of the invocation that runs it."""

    checkpoint: Any  # the state of the last Checkpoint, None when the subtask starts
    number: int  # 1 for the subtask's first invocation, then 2, 3... (a resumed chain goes on counting)
    deadline: float = field(repr=False)  # time.monotonic() by which the workload must have returned

    def remaining_seconds(self) -> float:
        """Seconds left before the workload must return (a result or a Checkpoint); the worker keeps its own reserve."""
        return max(0.0, self.deadline - time.monotonic())
