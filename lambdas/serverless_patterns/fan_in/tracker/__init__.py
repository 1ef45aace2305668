"""The fan-in tracker: a job's progress in DynamoDB, counted exactly once, spread over partitions.

A job of `total` subtasks has `shard_count` shards (ShardLayout): its subtasks
go, in order, through rounds of `width` shards, and within a round subtask i
counts in shard i mod width of it. Workers take subtasks roughly in dispatch
order, so at any moment they write to about `width` shards at once, each with
a partition key of its own: the counting load spreads over `width`
partitions, and the completion rate grows with them. Each round's shards fill,
seal and are reduced while the job goes on, not all at its end.

    pk = JOB#<id>                  sk = JOB          status, total, shard_count, spec, dispatch and
                                                      consolidation progress, result
    pk = JOB#<id>#SHARD#<n>        sk = SHARD        expected, completed, succeeded, failed, sealed, reduced
                                   sk = TASK#<i>     the first recorded outcome of subtask i (and its error)
                                   sk = ERROR#<i>    the last error of subtask i while it is being retried
                                                      (the shard's `retried` counts such subtasks once each)
                                   sk = CHAIN#<i>#<r> the invocations run r of a resumable subtask i has started

Recording a completion is one transaction on the shard's partition: put the
TASK item if it is absent and add 1 to the shard's counters. A redelivered or
duplicated subtask finds its TASK item present, so nothing is counted twice.
The completion that fills a shard seals it (a conditional update only one
caller wins) and starts that shard's reduction; the reduction that makes
shards_reduced == shard_count moves the job from RUNNING to COMPLETING, again
with one winner, which runs the final merge.

Conflicting transactions (`TransactionConflict`) and throttling are retried
with bounded, jittered backoff (serverless_patterns.shared.retries). Every item
carries `expires_at`, the table's TTL attribute.

Sealed shards waiting for their reduction and COMPLETING jobs carry `status`
and `deadline` (the time of their last attempt), so the sweeper finds them in
the sparse status index and starts them again if an attempt was lost.
"""

from __future__ import annotations

from serverless_patterns.fan_in.tracker.attempts import Attempts
from serverless_patterns.fan_in.tracker.completions import Completions
from serverless_patterns.fan_in.tracker.configured import configured_tracker
from serverless_patterns.fan_in.tracker.consolidation import Consolidation
from serverless_patterns.fan_in.tracker.dispatch_parts import DispatchParts, part_range
from serverless_patterns.fan_in.tracker.keys import MAX_SHARDS, ShardLayout, layout_of
from serverless_patterns.fan_in.tracker.lanes import NO_NEXT, Lanes, LaneStep, Window
from serverless_patterns.fan_in.tracker.model import (
    FINAL_STATUSES,
    ChainStart,
    Completion,
    CompletionRequest,
    JobStatus,
    Outcome,
    Progress,
    Registration,
    Retrying,
    StopReason,
    UnitAttempt,
    UnknownJobError,
)
from serverless_patterns.fan_in.tracker.reads import Reads
from serverless_patterns.fan_in.tracker.redrive import Redrive
from serverless_patterns.fan_in.tracker.sealing import Sealing
from serverless_patterns.fan_in.tracker.stopping import Stopping

__all__ = [
    "FINAL_STATUSES",
    "MAX_SHARDS",
    "NO_NEXT",
    "ChainStart",
    "Completion",
    "CompletionRequest",
    "JobStatus",
    "JobTracker",
    "LaneStep",
    "Outcome",
    "Progress",
    "Registration",
    "Retrying",
    "ShardLayout",
    "StopReason",
    "UnitAttempt",
    "UnknownJobError",
    "Window",
    "configured_tracker",
    "layout_of",
    "part_range",
]


class JobTracker(DispatchParts, Redrive, Completions, Lanes, Consolidation, Reads, Attempts, Sealing, Stopping):
    """A job's progress in the tracker table, one part per responsibility, all on the same table (store.TrackerStore):

    - Dispatch (dispatch.py): register_job and its shards, how far dispatch got, taking over a stopped dispatch,
      and a spec rejected before any subtask existed.
    - DispatchParts (dispatch_parts.py): a large job's dispatch cut into parts sent side by side, each under one
      invocation's claim at a time.
    - Redrive (redrive.py): a finished job's failed and skipped subtasks reopened as its next run.
    - Completions (completions.py): each outcome counted once, alone or grouped; never-dispatched subtasks skipped.
    - Lanes (lanes.py): a windowed job's lanes: the block each completion takes next, a change of max_concurrency.
    - Sealing (sealing.py): the completion that fills a shard seals it, once, for its reduction.
    - Stopping (stopping.py): cancel, stop past the failure tolerance, and the stop a worker checks.
    - Consolidation (consolidation.py): shard reductions, COMPLETING, the final merge's result, publication, finish.
    - Attempts (attempts.py): errors of subtasks being retried, and a resumable subtask's invocations.
    - Reads (reads.py): jobs, shards, subtasks, progress, and what waits in the status index.

    Where a part relies on another it derives from it (Completions from Sealing and Stopping, DispatchParts from
    Dispatch, Dispatch and Redrive from Reads, Reads from Attempts); every call goes through self, so a method
    patched on JobTracker is the one every part calls.
    """
