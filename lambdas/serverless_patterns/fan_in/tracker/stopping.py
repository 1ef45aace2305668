"""Stopping a running job, cancelled or failed past its tolerance, and the stop a worker checks before it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serverless_patterns.fan_in.tracker.keys import job_key
from serverless_patterns.fan_in.tracker.model import JobStatus, StopReason
from serverless_patterns.fan_in.tracker.store import TrackerStore, plain


@dataclass(frozen=True)
class RunState:
    run: int
    status: str
    stop: dict[str, Any] | None

    def stop_of(self, run: int) -> dict[str, Any] | None:
        return self.stop if self.run == run else None

    def runs(self, run: int) -> bool:
        """Whether run `run` is the job's current run and still sends subtasks (not stopped, not ended)."""
        return self.run == run and self.status == JobStatus.RUNNING and self.stop is None


class Stopping(TrackerStore):
    def request_stop(
        self, job_id: str, reason: StopReason, error: dict[str, str] | None = None, run: int | None = None
    ) -> dict[str, Any] | None:
        """Stop a RUNNING job: nothing more is dispatched and workers skip what is left.

        `error` (type, message) says why, where the job's status and manifest
        show the stop; `run`, if given, stops only that run of the job (a worker's
        subtask from an older run must not stop a redrive). The job for the one
        caller that stopped it; None if it was not running or stopped already.
        """
        stop: dict[str, Any] = {"reason": reason.value, "at": self._timestamp()}
        if error:
            stop["error"] = error
        condition = "#status = :running AND attribute_not_exists(#stop)"
        values: dict[str, Any] = {":stop": stop, ":running": JobStatus.RUNNING.value}
        if run is not None:
            condition += " AND (#run = :run OR (attribute_not_exists(#run) AND :run = :zero))"
            values.update({":run": run, ":zero": 0})
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET #stop = :stop",
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#status": "status",
                "#stop": "stop",
                **({"#run": "run"} if run is not None else {}),
            },
            ExpressionAttributeValues=values,
        )
        return plain(item) if item else None

    def stop_past_tolerance(self, job_id: str) -> bool:
        """Stop a job whose failed subtasks went past its failure_limit; True for the one caller that stopped it."""
        return (
            self._conditional_update(
                job_key(job_id),
                UpdateExpression="SET #stop = :stop",
                ConditionExpression=(
                    "#status = :running AND attribute_not_exists(#stop) AND failed_subtasks > failure_limit"
                ),
                ExpressionAttributeNames={"#status": "status", "#stop": "stop"},
                ExpressionAttributeValues={
                    ":stop": {"reason": StopReason.FAILURE_TOLERANCE.value, "at": self._timestamp()},
                    ":running": JobStatus.RUNNING.value,
                },
            )
            is not None
        )

    def stop_of(self, job_id: str, run: int = 0) -> dict[str, Any] | None:
        """Why run `run` of a job was stopped, or None: what a worker checks before it runs a subtask.

        A redrive starts a new run without the stop, so subtasks it sends are never skipped for an older one.
        """
        return self.run_state(job_id).stop_of(run)

    def run_state(self, job_id: str, consistent: bool = False) -> RunState:
        """The job's current run, status and stop (by default eventually consistent: a stop reaches workers within
        seconds)."""
        item = (
            self._call(
                self._table.get_item,
                Key=job_key(job_id),
                ConsistentRead=consistent,
                ProjectionExpression="#stop, #run, #status",
                ExpressionAttributeNames={"#stop": "stop", "#run": "run", "#status": "status"},
            ).get("Item")
            or {}
        )
        return RunState(int(item.get("run", 0)), item.get("status", ""), item.get("stop"))
