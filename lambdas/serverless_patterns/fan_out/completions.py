"""Record a subtask's outcome, and start the consolidator when that seals a shard."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from serverless_patterns.fan_in.consolidator_trigger import trigger_consolidator
from serverless_patterns.fan_in.tracker import Completion, CompletionRequest, Outcome, configured_tracker
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared import settings

logger = Logger(child=True)


_stops: dict[tuple[str, int], tuple[float, bool]] = {}


def is_stopped(subtask: Subtask) -> bool:
    """Whether the subtask's job was cancelled or failed past its tolerance, in the run that sent it.

    Read at most once per STOP_CHECK_SECONDS per job and container, not once
    per subtask: a stop reaches every worker within that time.
    """
    key, now = (subtask.job_id, subtask.run), time.monotonic()
    cached = _stops.get(key)
    if cached is None or now - cached[0] >= settings.positive_number("STOP_CHECK_SECONDS", 5):
        stopped = configured_tracker().stop_of(subtask.job_id, subtask.run) is not None
        if len(_stops) > 1000:
            _stops.clear()
        cached = _stops[key] = (now, stopped)
    return cached[1]


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
    for (subtask, _, _), completion in zip(outcomes, completions, strict=True):
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
