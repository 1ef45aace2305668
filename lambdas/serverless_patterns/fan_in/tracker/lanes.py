"""A windowed job's lanes: at most `max_concurrency` of its subtasks in flight, each completion sending the next.

A windowed job's subtasks are cut into blocks of `block_size` consecutive
subtasks. A *lane* runs one block at a time, one subtask at a time: the
completion of a subtask sends the next of its block, and the last of a block
takes the job's next unstarted block, while the job runs no more lanes than its
`max_concurrency`. So the job never has more than that many subtasks in flight,
and the job item is written once per block, not once per subtask.

Each completion claims its lane's step on its TASK item before doing it
(`lane_next`: the subtask it sends, or -1 for none; `lane_skips`: the ranges it
skips; `lane_until`: until when its claimer may still be doing it; `lane_sent`
once done). A copy of the message that finds a live claim does nothing: the
claimer does it, or, if it fails, gives the claim up and its message comes back;
one that finds a lapsed claim does the step. So a step is done once, however
often the message is delivered, and no completion takes a second block. The
job item holds `blocks_started`, `lanes_active`, and `lanes_starting` while
the first subtasks of new lanes are being sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import job_key, task_key
from serverless_patterns.fan_in.tracker.model import JobStatus
from serverless_patterns.fan_in.tracker.store import TrackerStore, failed_condition, plain

NO_NEXT = -1  # lane_next of a completion whose lane ended (retired, or its job stopped)
BLOCKS_PER_LANE = 8  # a job is cut into about this many blocks per lane: a raise finds blocks to start
MAX_BLOCK_SIZE = 100  # so a lowered max_concurrency lands within 100 subtasks of each lane
WINDOW_FIELDS = ("max_concurrency", "block_size", "blocks", "blocks_started", "lanes_active", "lanes_starting")
CLAIM_ATTEMPTS = 50


@dataclass(frozen=True)
class Window:
    """A windowed job's lanes as the job item holds them."""

    max_concurrency: int
    block_size: int
    blocks: int
    total: int

    @classmethod
    def plan(cls, total: int, max_concurrency: int) -> Window:
        """About BLOCKS_PER_LANE blocks per lane, 1 to MAX_BLOCK_SIZE subtasks each."""
        block_size = min(MAX_BLOCK_SIZE, max(1, -(-total // (BLOCKS_PER_LANE * max_concurrency))))
        return cls(max_concurrency, block_size, -(-total // block_size), total)

    def registration(self, now: datetime) -> dict[str, Any]:
        """The job item's lane fields: the first `max_concurrency` blocks started, their start still to send."""
        started = min(self.max_concurrency, self.blocks)
        return {
            "max_concurrency": self.max_concurrency,
            "block_size": self.block_size,
            "blocks": self.blocks,
            "blocks_started": started,
            "lanes_active": started,
            "lanes_starting": starting(0, started, now),
        }


def starting(first_block: int, end_block: int, now: datetime) -> dict[str, Any]:
    return {"from": first_block, "to": end_block, "at": now.isoformat()}


def start_lapsed(start: dict[str, Any], now: datetime, sender_seconds: float) -> bool:
    """Whether a start of new lanes was left unsent: its sender (a ventilator, which runs at most `sender_seconds`)
    stopped, and anyone may send it again."""
    return datetime.fromisoformat(start["at"]) + timedelta(seconds=sender_seconds) < now


@dataclass(frozen=True)
class LaneStep:
    """What a completion does for its lane: send subtask `next` (-1: nothing), skip the ranges `skips`
    ([first, end), end None: to the job's end). `mine`: claimed by this delivery; `live`: another's claim that
    its claimer may still be carrying out."""

    next: int
    skips: tuple[tuple[int, int | None], ...] = ()
    done: bool = False
    mine: bool = True
    live: bool = False
    until: str = field(default="", compare=False)


class Lanes(TrackerStore):
    def lane_step(self, job_id: str, shard: int, subtask_id: int) -> LaneStep | None:
        """The step a completion claimed for its lane (not this delivery's), or None if none was claimed."""
        item = self._call(
            self._table.get_item,
            Key=task_key(job_id, shard, subtask_id),
            ConsistentRead=True,
            ProjectionExpression="lane_next, lane_skips, lane_sent, lane_until",
        ).get("Item")
        if not item or "lane_next" not in item:
            return None
        until = str(item.get("lane_until", ""))
        return LaneStep(
            int(item["lane_next"]),
            tuple((int(first), None if end is None else int(end)) for first, end in item.get("lane_skips", [])),
            bool(item.get("lane_sent")),
            mine=False,
            live=bool(until) and until > self._timestamp(),
            until=until,
        )

    def claim_step(
        self, job_id: str, shard: int, subtask_id: int, step: LaneStep, claim_seconds: float
    ) -> LaneStep | None:
        """Take over a step claimed before whose claimer gave it up or ran out of time; the step, or None if another
        delivery took it over first."""
        until = (self._clock() + timedelta(seconds=claim_seconds)).isoformat()
        values = {":until": until}
        condition = "attribute_not_exists(lane_sent) AND attribute_not_exists(lane_until)"
        if step.until:
            condition = "attribute_not_exists(lane_sent) AND lane_until = :seen"
            values[":seen"] = step.until
        claimed = self._conditional_update(
            task_key(job_id, shard, subtask_id),
            UpdateExpression="SET lane_until = :until",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        return LaneStep(step.next, step.skips, until=until) if claimed is not None else None

    def next_in_block(self, job_id: str, shard: int, subtask_id: int, claim_seconds: float) -> LaneStep:
        """Claim sending the next subtask of the block: this delivery's step, or the one claimed before."""
        claimed = self._record_step(job_id, shard, subtask_id, LaneStep(subtask_id + 1), None, claim_seconds)
        if claimed is None:  # only a job change can conflict, and there is none here
            raise RuntimeError(f"job {job_id}: the claim of subtask {subtask_id}'s next subtask found no answer")
        return claimed

    def give_up(self, job_id: str, shard: int, subtask_id: int, step: LaneStep) -> None:
        """This delivery could not carry its claimed step out: let the next delivery do it at once."""
        self._conditional_update(
            task_key(job_id, shard, subtask_id),
            UpdateExpression="REMOVE lane_until",
            ConditionExpression="lane_until = :until",
            ExpressionAttributeValues={":until": step.until},
        )

    def lane_done(self, job_id: str, shard: int, subtask_id: int) -> None:
        """Mark a completion's lane step done."""
        self._call(
            self._table.update_item,
            Key=task_key(job_id, shard, subtask_id),
            UpdateExpression="SET lane_sent = :true",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":true": True},
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

    def end_of_block(
        self, job_id: str, run: int, shard: int, subtask_id: int, stopped: bool, claim_seconds: float
    ) -> LaneStep:
        """After the last subtask of a block: take the job's next block, or end the lane; claimed with the subtask.

        The lane ends when no block is left, the job runs more lanes than its
        max_concurrency (it was lowered), or the job stopped: then it takes every
        unstarted block, and any start of lanes not yet sent, to be skipped. A
        completion of an older run, or of a job no longer running, changes
        nothing. The job's counters and the subtask's claim change in one
        transaction, so however often the completion is delivered, it takes at
        most one block; the step claimed first is returned.
        """
        for attempt in range(CLAIM_ATTEMPTS):
            job = self.window_state(job_id)
            started, blocks = int(job["blocks_started"]), int(job["blocks"])
            if int(job.get("run", 0)) != run or job.get("status") != JobStatus.RUNNING:
                return LaneStep(NO_NEXT)  # a late copy from an older run, or an ended job: its lanes are over
            if stopped or "stop" in job:
                step, job_update = self._close(job, started, blocks, int(job["block_size"]))
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
                # Over a lowered max_concurrency: this lane ends, unless another ended, or the max changed, since
                # it read the job (then read again): lanes ending at once never leave the job under its max.
                step = LaneStep(NO_NEXT)
                job_update = {
                    "UpdateExpression": "ADD lanes_active :minus",
                    "ConditionExpression": "lanes_active = :active AND lanes_active > max_concurrency",
                    "ExpressionAttributeValues": {":minus": -1, ":active": int(job["lanes_active"])},
                }
            else:
                step = LaneStep(NO_NEXT)
                job_update = {
                    "UpdateExpression": "ADD lanes_active :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }
            claimed = self._record_step(job_id, shard, subtask_id, step, job_update, claim_seconds)
            if claimed is not None:
                return claimed
            self.backoff.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # lanes ending together: spread them
        raise RuntimeError(f"job {job_id}: the next block was taken {CLAIM_ATTEMPTS} times over by other lanes")

    def _close(
        self, job: dict[str, Any], started: int, blocks: int, block_size: int
    ) -> tuple[LaneStep, dict[str, Any]]:
        """A stopped job's lane ends, taking the unstarted blocks and any unsent start of lanes, to skip them."""
        skips: list[tuple[int, int | None]] = []
        values: dict[str, Any] = {":minus": -1, ":started": started}
        expression, condition = "ADD lanes_active :minus", "blocks_started = :started"
        if started < blocks:
            skips.append((started * block_size, None))
            expression = "SET blocks_started = :all " + expression
            values[":all"] = blocks
        if pending := job.get("lanes_starting"):
            skips.append((int(pending["from"]) * block_size, int(pending["to"]) * block_size))
            expression += " REMOVE lanes_starting"
            condition += " AND lanes_starting = :starting"
            values[":starting"] = pending
        else:
            condition += " AND attribute_not_exists(lanes_starting)"
        update = {"UpdateExpression": expression, "ConditionExpression": condition, "ExpressionAttributeValues": values}
        return LaneStep(NO_NEXT, tuple(skips)), update

    def _record_step(
        self,
        job_id: str,
        shard: int,
        subtask_id: int,
        step: LaneStep,
        job_update: dict[str, Any] | None,
        claim_seconds: float,
    ) -> LaneStep | None:
        """Claim the step, with the job's change: the step claimed (`mine`), or the step claimed before by another
        delivery, or None when the job changed since it was read."""
        until = (self._clock() + timedelta(seconds=claim_seconds)).isoformat()
        values: dict[str, Any] = {":next": step.next, ":until": until}
        expression = "SET lane_next = :next, lane_until = :until"
        if step.skips:
            expression += ", lane_skips = :skips"
            values[":skips"] = [list(skip) for skip in step.skips]
        claim = {
            "TableName": self._table.name,
            "Key": task_key(job_id, shard, subtask_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(lane_next)",
            "ExpressionAttributeValues": values,
        }
        try:
            if job_update is None:
                self._call(self._client.update_item, **claim)
            else:
                job_change = {"TableName": self._table.name, "Key": job_key(job_id), **job_update}
                self._call(self._client.transact_write_items, TransactItems=[{"Update": claim}, {"Update": job_change}])
        except ClientError as error:
            if failed_condition(error) or failed_condition(error, 0):
                recorded = self.lane_step(job_id, shard, subtask_id)
                if recorded is None:
                    raise RuntimeError(
                        f"subtask {subtask_id} of job {job_id} has no outcome to move its lane from"
                    ) from None
                return recorded
            if failed_condition(error, 1):
                return None
            raise
        return LaneStep(step.next, step.skips, until=until)

    def change_concurrency(self, job_id: str, max_concurrency: int) -> tuple[dict[str, Any], bool] | None:
        """Set a running windowed job's max_concurrency and take the blocks of the lanes it adds (`lanes_starting`).

        (the job as it is now, whether it changed); None if it is not a running
        windowed job in its first run (a redrive is sent whole). While a start of
        lanes is pending (`lanes_starting`), nothing changes: the caller sends it
        if it lapsed, and asks again.
        """
        for attempt in range(CLAIM_ATTEMPTS):
            job = self.window_state(job_id)
            running = job.get("status") == JobStatus.RUNNING and "stop" not in job and not int(job.get("run", 0))
            if "block_size" not in job or not running:
                return None
            if "lanes_starting" in job:
                return job, False
            started, active = int(job["blocks_started"]), int(job["lanes_active"])
            more = max(0, min(max_concurrency - active, int(job["blocks"]) - started))
            values: dict[str, Any] = {":max": max_concurrency, ":started": started, ":active": active}
            expression = "SET max_concurrency = :max"
            if more:
                expression += ", blocks_started = :to, lanes_active = :lanes, lanes_starting = :starting"
                values.update(
                    {
                        ":to": started + more,
                        ":lanes": active + more,
                        ":starting": starting(started, started + more, self._clock()),
                    }
                )
            changed = self._conditional_update(
                job_key(job_id),
                UpdateExpression=expression,
                ConditionExpression="#status = :running AND attribute_not_exists(#stop) "
                "AND blocks_started = :started AND lanes_active = :active AND attribute_not_exists(lanes_starting)",
                ExpressionAttributeNames={"#status": "status", "#stop": "stop"},
                ExpressionAttributeValues={**values, ":running": JobStatus.RUNNING.value},
            )
            if changed is not None:
                return plain(changed), True
            self.backoff.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise RuntimeError(f"job {job_id}: its lanes kept changing; try again")

    def lanes_started(self, job_id: str, start: dict[str, Any]) -> None:
        """The first subtasks of the blocks in `start` are sent: forget the start."""
        self._conditional_update(
            job_key(job_id),
            UpdateExpression="REMOVE lanes_starting",
            ConditionExpression="lanes_starting = :starting",
            ExpressionAttributeValues={":starting": start},
        )
