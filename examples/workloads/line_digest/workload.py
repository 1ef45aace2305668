"""Resumable: a chained SHA-256 over a subtask's items, at a cost per item, over as many invocations as it needs.

Each item stands in for a long computation (0.2 s, unless
LINE_DIGEST_SECONDS_PER_ITEM says otherwise). When the time left is shorter
than one item, it returns a Checkpoint of how far it got, and the worker
continues the subtask in a new invocation. Its result names the invocations
that did the work, so a chain can be seen: [1, 2, 3], or [1, 3, 4] when
invocation 2 died and 3 resumed from 1's checkpoint.

An item "!crash-in-invocation N" ends the process abruptly in invocation N
(and is digested like any other item in every other): the chain tests use it
to kill a chain mid-way.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from serverless_patterns.inputs import SubtaskInput
from serverless_patterns.resumable import Checkpoint, Invocation

CRASH_MARK = "!crash-in-invocation "


def digest_step(digest: str, item: Any) -> str:
    return hashlib.sha256(f"{digest}\n{item}".encode()).hexdigest()


def process(task: SubtaskInput, invocation: Invocation) -> dict[str, Any] | Checkpoint:
    seconds_per_item = float(os.environ.get("LINE_DIGEST_SECONDS_PER_ITEM", "0.2"))
    state = invocation.checkpoint or {"done": 0, "sha256": "", "invocations": []}
    done, digest = state["done"], state["sha256"]
    invocations = [*state["invocations"], invocation.number]
    for item in task.items[done:]:
        if invocation.remaining_seconds() < seconds_per_item:
            return Checkpoint({"done": done, "sha256": digest, "invocations": invocations})
        if item == f"{CRASH_MARK}{invocation.number}":
            os._exit(70)  # as a crash would: no checkpoint, no hand-over, no heartbeat from here on
        time.sleep(seconds_per_item)
        digest = digest_step(digest, item)
        done += 1
    return {"items": done, "sha256": digest, "invocations": invocations}
