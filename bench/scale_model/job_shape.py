"""What a job is, as the model runs it: its size, its work per subtask and how it is dispatched."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_DISPATCH_PART_SUBTASKS = 100_000  # the ventilator's dispatch_part_subtasks (issue 29)
DEFAULT_MAX_DISPATCHERS = 10  # the ventilator's max_dispatchers (issue 29)


@dataclass(frozen=True)
class JobShape:
    subtasks: int
    workload_cpu_s: float | None = None  # CPU per subtask (here); None: the word count of a 256-byte chunk, measured
    workload_wait_s: float = 0.0  # waiting per subtask (a remote call), threads wait side by side
    result_bytes: int = 300  # a word count's partial result, kept inline under inline_result_max_bytes
    inline_result_max_bytes: int = 4_096
    max_concurrency: int | None = None  # None: the platform's default window (None there: whole); 0: whole
    transport: str = "sqs"  # or "sns": every message invokes a worker with one record
    dispatch_part_subtasks: int = DEFAULT_DISPATCH_PART_SUBTASKS
    max_dispatchers: int = DEFAULT_MAX_DISPATCHERS
    batch_size: int = 10
    worker_threads: int = 10
    parallel_shards: int | None = None  # None: the platform's (its stack's setting)
    subtasks_per_shard: int | None = None
    sender_threads: int = 8
    # S3 prefixes the subtasks' input is read from: a text's chunks are byte ranges of one object, so one prefix
    # (5,500 GETs/s, S3's documented floor per prefix); a job reading objects under several prefixes gets more.
    input_prefixes: int = 1

    def dispatch_parts(self) -> int:
        """Invocations dispatching a job sent whole side by side: one per dispatch_part_subtasks, at most
        max_dispatchers."""
        return max(1, min(self.max_dispatchers, math.ceil(self.subtasks / self.dispatch_part_subtasks)))

    def window(self, platform_default: int | None) -> int | None:
        """Lanes of a windowed job, None for a job sent whole (a window at least the job's size is whole)."""
        wanted = platform_default if self.max_concurrency is None else self.max_concurrency
        return wanted if wanted and wanted < self.subtasks else None
