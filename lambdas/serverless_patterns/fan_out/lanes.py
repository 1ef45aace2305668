"""A windowed job's lanes, moved on by each counted completion (the tracker's side: fan_in.tracker.lanes).

After a subtask of a windowed job is counted, by its worker or by the DLQ
handler, its lane goes on: the next subtask of its block is sent, or, after
the block's last, the job's next unstarted block is taken while the job runs no
more lanes than its max_concurrency. A stopped job's lane skips the rest of its
block and every unstarted block, so the job still ends, exactly. Each step is
claimed on the subtask's TASK item before it is done (see move_on): a
redelivered or duplicated message never does it twice nor takes a second
block, and a step whose claimer died is taken over.
"""

from __future__ import annotations

import math
import time
from typing import Any

from aws_lambda_powertools import Logger

from serverless_patterns.fan_in.consolidator_trigger import trigger_consolidator
from serverless_patterns.fan_in.tracker import NO_NEXT, JobTracker, LaneStep, configured_tracker
from serverless_patterns.fan_out import subtask_sends
from serverless_patterns.fan_out.dispatch_plans import DispatchPlan
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared import settings

logger = Logger(child=True)

# A registered job's dispatch plan never changes: read once per job and container. Keyed with the job's
# expires_at, which its messages carry: a job id registered again (after the TTL) never meets an older plan.
_plans: dict[tuple[str, int], DispatchPlan] = {}
MAX_REMEMBERED_PLANS = 100


def plan_of(tracker: JobTracker, subtask: Subtask) -> DispatchPlan:
    key = (subtask.job_id, subtask.expires_at)
    plan = _plans.get(key)
    if plan is None:
        job = tracker.get_job(subtask.job_id)
        if job is None or int(job["expires_at"]) != subtask.expires_at:
            raise LookupError(f"job {subtask.job_id} is not in the tracker as it was sent: its lane cannot go on")
        if len(_plans) >= MAX_REMEMBERED_PLANS:
            _plans.clear()
        plan = _plans[key] = DispatchPlan.of_job(job)
    return plan


class LaneStepHeld(RuntimeError):
    """Another delivery holds the claim on this lane's step and may still be doing it: this message comes back, so
    that if the claimer died, its step is taken over once the claim lapses, never lost with a deleted message."""


def claim_until(deadline: float) -> None:
    """The time (time.monotonic()) the invocation ends: no claim on a lane's step outlives it by much."""
    global _deadline
    _deadline = deadline


_deadline = math.inf
CLAIM_MARGIN_SECONDS = 5


def _claim_seconds() -> float:
    configured = settings.positive_number("LANE_CLAIM_SECONDS", 900)
    return min(configured, max(0.0, _deadline - time.monotonic())) + CLAIM_MARGIN_SECONDS


def move_on(subtask: Subtask, first: bool, runs: bool, stopped: bool) -> None:
    """Move the lane of a counted subtask on: `first` if this delivery counted it, `runs` while its run sends
    subtasks, `stopped` once its run was stopped (cancelled, past its tolerance).

    The step is claimed first, until this invocation ends: a delivery that finds
    it done does nothing, one that finds it claimed by another raises
    LaneStepHeld (its message comes back), one that finds a lapsed claim takes
    it over. One that cannot carry its step out gives its claim up and raises,
    so its message comes back and does it.
    """
    if not subtask.block_end or not (runs or stopped):
        return
    tracker = configured_tracker()
    claim_seconds = _claim_seconds()
    step = None if first else tracker.lane_step(subtask.job_id, subtask.shard, subtask.subtask_id)
    if step is None:
        step = _next_step(tracker, subtask, stopped, claim_seconds)
    if not step.mine:
        if step.done:
            return
        if step.live:
            raise LaneStepHeld(f"the lane step of subtask {subtask.subtask_id} is being done by another delivery")
        step = tracker.claim_step(subtask.job_id, subtask.shard, subtask.subtask_id, step, claim_seconds)
        if step is None:
            raise LaneStepHeld(f"another delivery took over the lane step of subtask {subtask.subtask_id} first")
    try:
        _take(tracker, subtask, step)
    except Exception:
        tracker.give_up(subtask.job_id, subtask.shard, subtask.subtask_id, step)
        raise
    try:
        tracker.lane_done(subtask.job_id, subtask.shard, subtask.subtask_id)
    except Exception:
        # Done all the same: failing the delivery now would only do the step again once the claim lapses.
        logger.exception("lane step done, but not marked done", extra=subtask.log_keys)


def _next_step(tracker: JobTracker, subtask: Subtask, stopped: bool, claim_seconds: float) -> LaneStep:
    following = subtask.subtask_id + 1
    if following < subtask.block_end and not stopped:
        return tracker.next_in_block(subtask.job_id, subtask.shard, subtask.subtask_id, claim_seconds)
    if following < subtask.block_end:
        _skip(tracker, subtask, following, subtask.block_end)
    return tracker.end_of_block(subtask.job_id, subtask.run, subtask.shard, subtask.subtask_id, stopped, claim_seconds)


def _take(tracker: JobTracker, subtask: Subtask, step: LaneStep) -> None:
    if step.next != NO_NEXT:
        [following] = plan_of(tracker, subtask).subtasks([step.next])
        subtask_sends.send_subtasks([following])
    for first, end in step.skips:
        logger.info("job stopped: the rest of its lanes is skipped", extra={"from": first, **subtask.log_keys})
        _skip(tracker, subtask, first, end)


def _skip(tracker: JobTracker, subtask: Subtask, first: int, end: int | None) -> None:
    plan = plan_of(tracker, subtask)
    for shard in tracker.skip_subtasks(subtask.job_id, plan.layout, first, plan.expires_at, end):
        trigger_consolidator(subtask.job_id, subtask.correlation_id, shard)


def start_lanes(tracker: JobTracker, plan: DispatchPlan, start: dict[str, Any]) -> int:
    """Send the first subtask of each block in `start` ({"from", "to"}), then forget the start; how many."""
    firsts = [block * plan.block_size for block in range(int(start["from"]), int(start["to"]))]
    subtask_sends.send_subtasks(plan.subtasks(firsts), senders=int(settings.positive_number("SENDER_THREADS", 8)))
    tracker.lanes_started(plan.job_id, start)
    return len(firsts)
