"""Record a subtask's outcome, and start the consolidator when that seals a shard."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from serverless_patterns.fan_in.consolidator_trigger import trigger_consolidator
from serverless_patterns.fan_in.tracker import Completion, CompletionRequest, Outcome, configured_tracker
from serverless_patterns.fan_in.tracker.stopping import RunState
from serverless_patterns.fan_out import lanes
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared import settings

logger = Logger(child=True)


_states: dict[str, tuple[float, RunState]] = {}


def run_state(job_id: str, fresh: bool = False) -> RunState:
    """The job's run, status and stop, read at most once per STOP_CHECK_SECONDS per job and container, or now,
    strongly consistent (`fresh`).

    Not once per subtask: a stop reaches every worker within that time.
    """
    now = time.monotonic()
    cached = _states.get(job_id)
    if fresh or cached is None or now - cached[0] >= settings.positive_number("STOP_CHECK_SECONDS", 5):
        if len(_states) > 1000:
            _states.clear()
        cached = _states[job_id] = (now, configured_tracker().run_state(job_id, consistent=fresh))
    return cached[1]


def is_stopped(subtask: Subtask) -> bool:
    """Whether the subtask's job was cancelled or failed past its tolerance, in the run that sent it."""
    return run_state(subtask.job_id).stop_of(subtask.run) is not None


def complete_subtask(subtask: Subtask, outcome: Outcome, detail: dict[str, Any]) -> Completion:
    """Count the subtask once; the single completion that fills its shard starts the shard's reduction."""
    [answer] = complete_subtasks([(subtask, outcome, detail)])
    if isinstance(answer, Exception):
        raise answer
    return answer


def complete_subtasks(outcomes: list[tuple[Subtask, Outcome, dict[str, Any]]]) -> list[Completion | Exception]:
    """Count subtasks once each, together where the tracker can; start the reduction of each shard they seal.

    A subtask that cannot be counted is answered with its exception; the others are counted all the same.
    """
    completions = configured_tracker().record_completions(
        [
            CompletionRequest(
                subtask.job_id,
                subtask.subtask_id,
                subtask.shard,
                outcome,
                detail,
                subtask.expires_at,
                run=subtask.run,
                count_failure_on_job=subtask.tolerance,
            )
            for subtask, outcome, detail in outcomes
        ]
    )
    for index, ((subtask, _, _), completion) in enumerate(zip(outcomes, completions, strict=True)):
        if isinstance(completion, Completion) and subtask.block_end:
            completions[index] = _move_lane_on(subtask, completion)
        if isinstance(completion, Completion) and completion.sealed_shard:
            try:
                trigger_consolidator(subtask.job_id, subtask.correlation_id, completion.shard)
            except Exception:
                # The subtask is counted and its shard sealed: failing it would only redeliver a
                # duplicate, which starts nothing. The sweeper starts the reduction instead.
                logger.exception(
                    "could not start the shard's reduction; the sweeper will",
                    extra={"shard": completion.shard, **subtask.log_keys},
                )
    return completions


def _move_lane_on(subtask: Subtask, completion: Completion) -> Completion | Exception:
    """A windowed job's subtask, counted: its lane goes on. If it cannot, the subtask is answered with the error,
    so its message comes back and its redelivery finishes the step (claimed, never done twice)."""
    state = run_state(subtask.job_id)
    if not state.runs(subtask.run) and state.stop_of(subtask.run) is None:
        # Its lane would end on a read that may be stale (a job just registered, a status cached): read it again.
        state = run_state(subtask.job_id, fresh=True)
    try:
        lanes.move_on(subtask, completion.first, state.runs(subtask.run), state.stop_of(subtask.run) is not None)
    except Exception as error:
        logger.exception("counted, but its lane could not go on: the message comes back", extra=subtask.log_keys)
        return error
    return completion
