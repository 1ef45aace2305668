"""Workloads the unit tests deploy by name (WORKLOADS), as a user's package outside lambdas/ would be."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from serverless_patterns.errors import PermanentSubtaskError
from serverless_patterns.inputs import SubtaskInput
from serverless_patterns.resumable import Checkpoint, Invocation


def describe(task: SubtaskInput) -> dict[str, Any]:
    """What the subtask was given, so tests can check that every item arrives exactly once."""
    if task.source_type == "objects":
        return {"objects": {item["key"]: task.read_object(item).decode() for item in task.items}}
    if task.items:
        return {"items": task.items, "header": task.header}
    return {"data": task.data.decode("latin-1")}


def fail_marked(task: SubtaskInput) -> Any:
    """Items are numbers; a subtask holding a negative one fails for good (until NEGATIVES_FAIL=0: fixed)."""
    if os.environ.get("NEGATIVES_FAIL", "1") == "1" and any(item < 0 for item in task.items):
        raise PermanentSubtaskError(f"negative item in {task.items}")
    return sum(task.items)


def add(results: Iterable[Any]) -> Any:
    return sum(results)


def sum_in_steps(task: SubtaskInput, invocation: Invocation) -> Any:
    """Resumable: adds STEP_ITEMS items per invocation, then checkpoints; the result names the invocations that ran."""
    done, total, invocations = invocation.checkpoint or (0, 0, [])
    invocations = [*invocations, invocation.number]
    if os.environ.get("CRASH_IN_INVOCATION") == str(invocation.number):
        raise RuntimeError(f"crash in invocation {invocation.number}")
    step = int(os.environ.get("STEP_ITEMS", "3"))
    for item in task.items[done : done + step]:
        total += item
        done += 1
    if done < len(task.items):
        return Checkpoint([done, total, invocations])
    return {"sum": total, "invocations": invocations}
