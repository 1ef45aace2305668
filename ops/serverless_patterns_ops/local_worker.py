"""One subtask run locally as the deployed worker runs it: read, process, classify the failure, retry.

SubtaskRunner.run is the worker's _run without SQS and the tracker: the
worker's read_input, the workload (a resumable one invocation after
invocation, its Checkpoint state saved as JSON and given back, at most
1 + max_continuations invocations), the result stored as the worker stores
it ({"item", "result"} as compact JSON), and the worker's classification: a
PermanentSubtaskError (errors.DETERMINISTIC_ERRORS) fails the subtask at
once, any other exception is retried up to max_attempts (the queue's
max_receive_count) and then fails with its last error. A retried resumable
subtask resumes from its last checkpoint, as a new receive of a chain does.

A RunnerRecipe is what a process of a pool needs to build its own runner
(plain data: the workload's entry, the folders and whether the input is on
S3), so subtasks can run in processes as well as on threads.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serverless_patterns.errors import DETERMINISTIC_ERRORS, WorkloadUnavailable, describe
from serverless_patterns.fan_in.tracker import Outcome
from serverless_patterns.fan_out.chains import check_continuation
from serverless_patterns.fan_out.sources import item_name
from serverless_patterns.fan_out.workload_registry import Workload, from_entry
from serverless_patterns.inputs import read_input
from serverless_patterns.resumable import Checkpoint, Invocation
from serverless_patterns_ops.local_store import LocalObjectStore

# The fan_out module's defaults: max_receive_count 5; a worker invocation of 60 s keeps 10 s back from a
# resumable workload; max_continuations 10; max_line_bytes 64 KiB.
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_INVOCATION_SECONDS = 50.0
DEFAULT_MAX_CONTINUATIONS = 10
DEFAULT_MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunSettings:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    invocation_seconds: float = DEFAULT_INVOCATION_SECONDS
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


@dataclass(frozen=True)
class Finished:
    """A subtask's outcome and the detail the worker would record with it."""

    subtask_id: int
    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] | None = None  # the workload could not load (describe()): the job stops


def load_workload(name: str, entry: dict[str, Any]) -> Workload:
    """The workload's functions, imported as the worker imports them (its package's folder on sys.path first)."""
    import sys

    if package := entry.get("package"):
        parent = str(Path(package).resolve().parent)
        if parent not in sys.path:
            sys.path.insert(0, parent)
    return from_entry(name, entry, "workloads", "check its package folder and function names")


class SubtaskRunner:
    def __init__(
        self,
        job_id: str,
        workload: Workload | None,
        unavailable: WorkloadUnavailable | None,
        store: Any,
        settings: RunSettings,
    ) -> None:
        self.job_id, self.workload, self.unavailable = job_id, workload, unavailable
        self.store, self.settings = store, settings

    def _invoke(self, task: Any, state: dict[str, Any]) -> Any:
        """The workload once, or a resumable one invocation after invocation; `state` outlives a failed attempt."""
        workload = self.workload
        assert workload is not None
        if not workload.resumable:
            return workload.process(task)
        while True:
            number = state.get("number", 0) + 1  # a resumed chain goes on counting
            state["number"] = number
            deadline = time.monotonic() + self.settings.invocation_seconds
            answer = workload.process(task, Invocation(state.get("checkpoint"), number, deadline))
            if not isinstance(answer, Checkpoint):
                return answer
            check_continuation(number, self.settings.max_continuations)
            state["checkpoint"] = json.loads(json.dumps(answer.state))  # as the worker saves it to S3, as JSON

    def _attempt(self, subtask_id: int, work: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        """One receive, as the worker's _succeed: the workload loaded first, the input read, the result kept."""
        if self.unavailable is not None:
            raise self.unavailable
        task = read_input(self.store, self.job_id, subtask_id, work, self.settings.max_line_bytes)
        result = self._invoke(task, state)
        return {"partial": json.dumps({"item": item_name(work), "result": result}, separators=(",", ":"))}

    def run(self, subtask_id: int, work: dict[str, Any]) -> Finished:
        state: dict[str, Any] = {}
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return Finished(subtask_id, Outcome.SUCCEEDED, self._attempt(subtask_id, work, state))
            except DETERMINISTIC_ERRORS as error:
                # No retry can change the outcome: failed at once, with its reason.
                unavailable = describe(error) if isinstance(error, WorkloadUnavailable) else None
                return self._failed(subtask_id, work, error, 1, unavailable)
            except Exception as error:
                if attempt == self.settings.max_attempts:
                    return self._failed(subtask_id, work, error, attempt)
        raise AssertionError("unreachable: the last attempt returns")

    @staticmethod
    def _failed(
        subtask_id: int,
        work: dict[str, Any],
        error: BaseException,
        attempts: int,
        unavailable: dict[str, str] | None = None,
    ) -> Finished:
        detail = {"error": {**describe(error), "attempts": attempts}, "item": item_name(work)}
        return Finished(subtask_id, Outcome.FAILED, detail, unavailable)


@dataclass(frozen=True)
class RunnerRecipe:
    """What a process needs to build its own SubtaskRunner: plain data, sent to it once when it starts."""

    job_id: str
    workload: str
    entry: dict[str, Any]
    folders: dict[str, str]
    on_s3: bool
    settings: RunSettings

    def build(self) -> SubtaskRunner:
        fallback = None
        if self.on_s3:
            import boto3  # a client of its own: clients are not shared between processes

            fallback = boto3.client("s3")
        store = LocalObjectStore(
            folders={bucket: Path(folder) for bucket, folder in self.folders.items()}, fallback=fallback
        )
        try:
            return SubtaskRunner(self.job_id, load_workload(self.workload, self.entry), None, store, self.settings)
        except WorkloadUnavailable as error:
            return SubtaskRunner(self.job_id, None, error, store, self.settings)


_process_runner: SubtaskRunner | None = None  # this process's runner, in a process of the pool


def start_process(recipe: RunnerRecipe) -> None:
    """A pool process's initializer."""
    global _process_runner
    _process_runner = recipe.build()


def run_in_process(subtask_id: int, work: dict[str, Any]) -> Finished:
    assert _process_runner is not None, "start_process runs first in every process of the pool"
    return _process_runner.run(subtask_id, work)
