"""A windowed job's lanes: at most `max_concurrency` of its subtasks in flight, each completion sending the next.

A windowed job's subtasks are cut into blocks of `block_size` consecutive
subtasks. A *lane* runs one block at a time, one subtask at a time: the
completion of a subtask sends the next of its block, and the last of a block
takes the job's next unstarted block, while the job runs no more lanes than its
`max_concurrency`. So the job never has more than that many subtasks in flight,
and the job item is written once per block, not once per subtask.

What a completion did for its lane is marked on its TASK item (`lane_next`: the
subtask it sent, or -1 for none; `lane_skip_from`: the first of the blocks it
skipped; `lane_sent` once done), so a redelivered message finishes that step
and never takes a second block. The job item holds `blocks_started`,
`lanes_active`, and `lanes_starting` while a start of new lanes is being sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import job_key, task_key
from serverless_patterns.fan_in.tracker.model import JobStatus
from serverless_patterns.fan_in.tracker.store import TrackerStore, failed_condition, plain

NO_NEXT = -1  # lane_next of a completion whose lane ended (retired, or its job stopped)
BLOCKS_PER_LANE = 8  # a job is cut into about this many blocks per lane: a window change lands within one block
WINDOW_FIELDS = ("max_concurrency", "block_size", "blocks", "blocks_started", "lanes_active", "lanes_starting")
CLAIM_ATTEMPTS = 20


@dataclass(frozen=True)
class Window:
    """A windowed job's lanes as the job item holds them."""

    max_concurrency: int
    block_size: int
    blocks: int
    total: int

    @classmethod
    def plan(cls, total: int, max_concurrency: int) -> Window:
        """About BLOCKS_PER_LANE blocks per lane, at least one subtask each."""
        block_size = max(1, -(-total // (BLOCKS_PER_LANE * max_concurrency)))
        return cls(max_concurrency, block_size, -(-total // block_size), total)

    def block_of(self, subtask_id: int) -> int:
        return subtask_id // self.block_size

    def first_of(self, block: int) -> int:
        return block * self.block_size

    def end_of(self, block: int) -> int:
        return min((block + 1) * self.block_size, self.total)

    def registration(self) -> dict[str, Any]:
        """The job item's lane fields: the first `max_concurrency` blocks started, their start still to send."""
        started = min(self.max_concurrency, self.blocks)
        return {
            "max_concurrency": self.max_concurrency,
            "block_size": self.block_size,
            "blocks": self.blocks,
            "blocks_started": started,
            "lanes_active": started,
            "lanes_starting": {"from": 0, "to": started},
        }


def window_of(job: dict[str, Any]) -> Window | None:
    """A registered job's window, or None for a job dispatched whole."""
    if "block_size" not in job:
        return None
    return Window(int(job["max_concurrency"]), int(job["block_size"]), int(job["blocks"]), int(job["total"]))


@dataclass(frozen=True)
class LaneStep:
    """What a completion did, or is to do, for its lane: send `next` (-1: nothing), skip blocks from `skip_from`."""

    next: int
    skip_from: int | None = None
    done: bool = False


class Lanes(TrackerStore):
    def lane_step(self, job_id: str, shard: int, subtask_id: int) -> LaneStep | None:
        """The step a completion recorded for its lane, or None if it recorded none yet."""
        item = self._call(
            self._table.get_item,
            Key=task_key(job_id, shard, subtask_id),
            ConsistentRead=True,
            ProjectionExpression="lane_next, lane_skip_from, lane_sent",
        ).get("Item")
        if not item or "lane_next" not in item:
            return None
        skip_from = item.get("lane_skip_from")
        return LaneStep(
            int(item["lane_next"]), None if skip_from is None else int(skip_from), bool(item.get("lane_sent"))
        )

    def lane_done(self, job_id: str, shard: int, subtask_id: int, step: LaneStep) -> None:
        """Mark a completion's lane step done (the first step recorded stays)."""
        self._call(
            self._table.update_item,
            Key=task_key(job_id, shard, subtask_id),
            UpdateExpression="SET lane_next = if_not_exists(lane_next, :next), lane_sent = :true",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":next": step.next, ":true": True},
        )

    def window_state(self, job_id: str) -> dict[str, Any]:
        """The job's lane fields, status, run and stop, read strongly consistent."""
        names = {f"#{name}": name for name in (*WINDOW_FIELDS, "status", "run", "stop", "total")}
        item = self._call(
            self._table.get_item,
            Key=job_key(job_id),
            ConsistentRead=True,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ).get("Item")
        return plain(item) if item else {}

    def end_of_block(self, job_id: str, run: int, shard: int, subtask_id: int, stopped: bool) -> LaneStep:
        """After the last subtask of a block: take the job's next block, or end the lane; recorded with the subtask.

        The lane ends when no block is left, the job runs more lanes than its
        max_concurrency (it was lowered), or the job stopped: then it takes every
        unstarted block, to be skipped (`skip_from`). A completion of an older
        run, or of a job no longer running, changes nothing. The job's counters and
        the subtask's mark change in one transaction, so however often the
        completion is delivered, it takes at most one block; the step recorded
        first is returned.
        """
        for _ in range(CLAIM_ATTEMPTS):
            job = self.window_state(job_id)
            started, blocks = int(job["blocks_started"]), int(job["blocks"])
            if int(job.get("run", 0)) != run or job.get("status") != JobStatus.RUNNING:
                return LaneStep(NO_NEXT)  # a late copy from an older run, or an ended job: its lanes are over
            if stopped or "stop" in job:
                step, job_update = self._close(job_id, started, blocks, int(job["block_size"]))
            elif started < blocks and int(job["lanes_active"]) <= int(job["max_concurrency"]):
                step = LaneStep(started * int(job["block_size"]))
                job_update = {
                    "UpdateExpression": "SET blocks_started = :next",
                    "ConditionExpression": "blocks_started = :started AND lanes_active <= max_concurrency "
                    "AND attribute_not_exists(#stop)",
                    "ExpressionAttributeNames": {"#stop": "stop"},
                    "ExpressionAttributeValues": {":started": started, ":next": started + 1},
                }
            elif started < blocks:
                # Over a lowered max_concurrency: this lane ends, unless another ended meanwhile (then read again),
                # so lanes ending at once never leave the job fewer lanes than its max_concurrency, or none.
                step = LaneStep(NO_NEXT)
                job_update = {
                    "UpdateExpression": "ADD lanes_active :minus",
                    "ConditionExpression": "lanes_active = :active",
                    "ExpressionAttributeValues": {":minus": -1, ":active": int(job["lanes_active"])},
                }
            else:
                step = LaneStep(NO_NEXT)
                job_update = {
                    "UpdateExpression": "ADD lanes_active :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }
            recorded = self._record_step(job_id, shard, subtask_id, step, job_update)
            if recorded is not None:
                return recorded
        raise RuntimeError(f"job {job_id}: the next block was taken {CLAIM_ATTEMPTS} times over by other lanes")

    def _close(self, job_id: str, started: int, blocks: int, block_size: int) -> tuple[LaneStep, dict[str, Any]]:
        """A stopped job's lane ends, taking the unstarted blocks (if any) to skip them."""
        update: dict[str, Any] = {
            "UpdateExpression": "ADD lanes_active :minus",
            "ExpressionAttributeValues": {":minus": -1},
        }
        if started >= blocks:
            return LaneStep(NO_NEXT), update
        update = {
            "UpdateExpression": "SET blocks_started = :all ADD lanes_active :minus",
            "ConditionExpression": "blocks_started = :started",
            "ExpressionAttributeValues": {":all": blocks, ":started": started, ":minus": -1},
        }
        return LaneStep(NO_NEXT, skip_from=started * block_size), update

    def _record_step(
        self, job_id: str, shard: int, subtask_id: int, step: LaneStep, job_update: dict[str, Any]
    ) -> LaneStep | None:
        """The step, recorded with the job's change; the step recorded before, if any; None if the job moved on."""
        values = {":next": step.next}
        expression = "SET lane_next = :next"
        if step.skip_from is not None:
            expression += ", lane_skip_from = :skip"
            values[":skip"] = step.skip_from
        try:
            self._call(
                self._client.transact_write_items,
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": task_key(job_id, shard, subtask_id),
                            "UpdateExpression": expression,
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(lane_next)",
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {"Update": {"TableName": self._table.name, "Key": job_key(job_id), **job_update}},
                ],
            )
        except ClientError as error:
            if failed_condition(error, 0):
                return self.lane_step(job_id, shard, subtask_id)
            if failed_condition(error, 1):
                return None
            raise
        return step

    def change_concurrency(self, job_id: str, max_concurrency: int) -> dict[str, Any] | None:
        """Set a running windowed job's max_concurrency and take the blocks of the lanes it adds (`lanes_starting`).

        The job as it is now, or None if it is not a running windowed job. A start
        left unsent by an earlier call (`lanes_starting`) is kept for the caller to send.
        """
        for _ in range(CLAIM_ATTEMPTS):
            job = self.window_state(job_id)
            if "block_size" not in job or job.get("status") != JobStatus.RUNNING or "stop" in job:
                return None
            started, active = int(job["blocks_started"]), int(job["lanes_active"])
            more = 0 if "lanes_starting" in job else max(0, min(max_concurrency - active, int(job["blocks"]) - started))
            values: dict[str, Any] = {":max": max_concurrency, ":started": started, ":active": active}
            expression = "SET max_concurrency = :max"
            if more:
                expression += ", blocks_started = :to, lanes_active = :lanes, lanes_starting = :starting"
                values.update(
                    {
                        ":to": started + more,
                        ":lanes": active + more,
                        ":starting": {"from": started, "to": started + more},
                    }
                )
            changed = self._conditional_update(
                job_key(job_id),
                UpdateExpression=expression,
                ConditionExpression="#status = :running AND attribute_not_exists(#stop) "
                "AND blocks_started = :started AND lanes_active = :active",
                ExpressionAttributeNames={"#status": "status", "#stop": "stop"},
                ExpressionAttributeValues={**values, ":running": JobStatus.RUNNING.value},
            )
            if changed is not None:
                return plain(changed)
        raise RuntimeError(f"job {job_id}: its lanes kept changing; try again")

    def lanes_started(self, job_id: str, starting: dict[str, Any]) -> None:
        """The first subtasks of the blocks in `starting` are sent: forget the start."""
        self._conditional_update(
            job_key(job_id),
            UpdateExpression="REMOVE lanes_starting",
            ConditionExpression="lanes_starting = :starting",
            ExpressionAttributeValues={":starting": starting},
        )
