"""How far a dispatch got, and who may go on with it: a job sent whole by one invocation at a time, or a part of a
large job that several ventilator invocations send side by side (tracker.dispatch_parts holds their claims).

One ventilator sends about 5,000 subtasks a second (its CPU, docs/benchmarks.md 1b), so a job of a million
would take minutes in one invocation; cut into parts, it takes that time divided by the parts sent at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.fan_in.tracker import JobTracker
from serverless_patterns.fan_in.tracker.keys import part_number
from serverless_patterns.fan_out.handovers import hand_over
from serverless_patterns.fan_out.repeats import stale_after
from serverless_patterns.shared import settings

# A claim whose invocation is alive records progress every wave (a tenth of a second or so); Lambda retries a
# failed invocation a minute later or more. Quiet for this long, a claim may be taken back by its own request id.
RETRY_QUIET_SECONDS = 30


class PartTakenOver(Exception):
    """Another invocation holds this part's claim now: this one sends nothing more of it."""


def part_count(total: int) -> int:
    """How many parts a job of `total` subtasks sent whole is cut into: one per DISPATCH_PART_SUBTASKS, at most
    MAX_DISPATCHERS (1: not cut)."""
    per_part = int(settings.positive_number("DISPATCH_PART_SUBTASKS", 100_000))
    most = int(settings.positive_number("MAX_DISPATCHERS", 10))
    return max(1, min(most, -(-total // per_part)))


@dataclass
class WholeJob:
    """A job sent by one invocation at a time: its progress is the job's `dispatched_until`."""

    tracker: JobTracker
    job_id: str
    end: int

    def record(self, sent_until: int) -> None:
        self.tracker.record_dispatch(self.job_id, sent_until)

    def finish(self) -> None:
        self.tracker.record_dispatch(self.job_id, self.end)


@dataclass
class ClaimedPart:
    """A part of a job this invocation holds the claim of: subtasks `next`..`end - 1` are still to send."""

    tracker: JobTracker
    job_id: str
    part: int
    claim: str
    next: int
    end: int
    finished: bool = field(default=False)

    def record(self, sent_until: int) -> None:
        if not self.tracker.record_part_progress(self.job_id, self.part, self.claim, sent_until):
            raise PartTakenOver(f"part {self.part} of job {self.job_id} was taken over")

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            if not self.tracker.finish_part(self.job_id, self.part, self.claim):
                raise PartTakenOver(f"part {self.part} of job {self.job_id} was taken over")

    def hand_over_request(self) -> dict[str, Any]:
        """The event that lets a new invocation go on with this part where it stands."""
        return {"dispatch_part": {"job_id": self.job_id, "part": self.part, "handed_over_by": self.claim}}


def claim_part(
    tracker: JobTracker, job_id: str, part: int, context: LambdaContext, handed_over_by: str = ""
) -> ClaimedPart | None:
    """Take the part for this invocation, or None when it is done or another live invocation holds it."""
    claim = f"{context.aws_request_id}/{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    item = tracker.claim_part(
        job_id,
        part,
        claim,
        context.aws_request_id,
        handed_over_by,
        stale_before=now - stale_after(),
        quiet_before=now - timedelta(seconds=RETRY_QUIET_SECONDS),
    )
    if item is None:
        return None
    return ClaimedPart(tracker, job_id, part, claim, int(item["next"]), int(item["end"]))


def abandoned_parts(parts: list[dict[str, Any]], registered_at: str) -> list[int]:
    """The unfinished parts whose invocation is surely gone: silent (or never claimed since the job was registered)
    for longer than a ventilator can run."""
    stale_before = (datetime.now(UTC) - stale_after()).isoformat()
    return [
        part_number(item["sk"])
        for item in parts
        if not item.get("done") and item.get("updated_at", registered_at) < stale_before
    ]


def start_parts(context: LambdaContext, job_id: str, parts: Iterable[int]) -> None:
    """Start one ventilator invocation per part, asynchronously: they send side by side."""
    for part in parts:
        hand_over(context, {"dispatch_part": {"job_id": job_id, "part": part}})
