"""What the tracker takes and answers: job statuses, outcomes, stop reasons and the values its calls return."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    TIMED_OUT = "TIMED_OUT"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REDRIVING = "REDRIVING"  # its failed and skipped subtasks are being reopened, before they run again


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # not run: its job was cancelled or failed past its tolerance


class StopReason(StrEnum):
    CANCELLED = "CANCELLED"
    FAILURE_TOLERANCE = "FAILURE_TOLERANCE"
    WORKLOAD_UNAVAILABLE = "WORKLOAD_UNAVAILABLE"  # the workers cannot load the job's workload: a deployment fault


FINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.TIMED_OUT, JobStatus.FAILED, JobStatus.CANCELLED}
)
OUTCOME_COUNTERS = {Outcome.SUCCEEDED: "succeeded", Outcome.FAILED: "failed", Outcome.SKIPPED: "skipped"}


class UnknownJobError(LookupError):
    pass


@dataclass(frozen=True)
class Completion:
    first: bool  # False: a duplicate delivery, not counted
    shard: int
    sealed_shard: bool  # True for exactly one completion per shard: start the shard's reduction


@dataclass(frozen=True)
class CompletionRequest:
    """One subtask's outcome to count: what record_completions takes."""

    job_id: str
    subtask_id: int
    shard: int
    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)
    expires_at: int = 0
    run: int = 0
    count_failure_on_job: bool = False


@dataclass(frozen=True)
class ChainStart:
    """An invocation of a resumable subtask: its number, and the invocation whose checkpoint it resumes from."""

    number: int
    checkpointed: int | None


@dataclass(frozen=True)
class UnitAttempt:
    """An attempt at a unit of consolidation (a shard's reduction, or the job's final merge), counted as it starts.

    `lost`: the attempt before it took the unit's lease and never gave it
    back, neither succeeding nor recording a failure: it died without a word
    (a timeout, running out of memory, a crash).
    """

    number: int
    lost: bool


@dataclass(frozen=True)
class Registration:
    created: bool  # False: a job with this id existed already; `job` is that job
    job: dict[str, Any]


@dataclass(frozen=True)
class Retrying:
    """The subtasks of a running job whose last attempt failed and that have no outcome yet: SQS retries them."""

    subtasks: int
    attempts: int  # their failed attempts so far
    last_error: dict[str, Any]  # the most recent one: type, message, subtask_id, attempts, at
    exact: bool = True  # False: more were failing than one look reads (MAX_RETRYING_READ); these are the first

    def as_dict(self) -> dict[str, Any]:
        return {
            "subtasks": self.subtasks,
            "attempts": self.attempts,
            "last_error": self.last_error,
            **({} if self.exact else {"at_least": True}),
        }


@dataclass(frozen=True)
class Progress:
    job: dict[str, Any]
    total: int
    succeeded: int
    failed: int
    skipped: int = 0
    retrying: Retrying | None = None  # RUNNING jobs only

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed + self.skipped
