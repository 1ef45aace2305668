"""Redriving a finished job: its failed and skipped subtasks reopened, as the job's next run, to be sent again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import job_key, layout_of, shard_key, task_key
from serverless_patterns.fan_in.tracker.model import JobStatus, Outcome
from serverless_patterns.fan_in.tracker.reads import Reads
from serverless_patterns.fan_in.tracker.store import TRANSACTION_LIMIT, failed_condition, plain


class Redrive(Reads):
    """Claims and runs a redrive; it reads the job's shards and their outcomes (Reads) to reopen them."""

    def begin_redrive(
        self, job_id: str, max_redrives: int, timeout_seconds: int, redriver: str
    ) -> dict[str, Any] | None:
        """PARTIAL or FAILED (with a result, not timed out) -> REDRIVING, as the job's next run.

        The job for the one caller that claimed it (`redriver`, its request
        id), or None when refused.
        """
        now = self._clock()
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression=(
                "SET #status = :redriving, #run = if_not_exists(#run, :zero) + :one, "
                "redrives = if_not_exists(redrives, :zero) + :one, redriver = :redriver, "
                "deadline = :deadline, failed_subtasks = :zero, redriven_at = :now "
                "REMOVE #result, published_at, publication_claimed_at, finished_at, completing_at, #stop, "
                "consolidation_attempts, consolidation_failures, merge_running_until, lapsed_merge_running_until, "
                "last_consolidation_error"
            ),
            ConditionExpression=(
                "#status IN (:partial, :failed) AND attribute_exists(#result) AND attribute_exists(#plan) "
                "AND attribute_not_exists(timed_out_at) AND (attribute_not_exists(redrives) OR redrives < :max)"
            ),
            ExpressionAttributeNames={
                "#status": "status",
                "#run": "run",
                "#result": "result",
                "#stop": "stop",
                "#plan": "plan",
            },
            ExpressionAttributeValues={
                ":redriver": redriver,
                ":redriving": JobStatus.REDRIVING.value,
                ":partial": JobStatus.PARTIAL.value,
                ":failed": JobStatus.FAILED.value,
                ":one": 1,
                ":zero": 0,
                ":max": max_redrives,
                ":now": now.isoformat(),
                ":deadline": (now + timedelta(seconds=timeout_seconds)).isoformat(),
            },
        )
        return plain(item) if item else None

    def take_over_redrive(self, job_id: str, seen_redriven_at: str, redriver: str) -> dict[str, Any] | None:
        """Claim a REDRIVING job whose redrive stopped (its claim is `seen_redriven_at`); the job, or None."""
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET redriven_at = :now, redriver = :redriver",
            ConditionExpression="#status = :redriving AND redriven_at = :seen",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now": self._timestamp(),
                ":redriver": redriver,
                ":seen": seen_redriven_at,
                ":redriving": JobStatus.REDRIVING.value,
            },
        )
        return plain(item) if item else None

    def finish_redrive(self, job_id: str, redriver: str) -> dict[str, Any] | None:
        """REDRIVING -> RUNNING once every reopened subtask was sent; the job, or None if another took over."""
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET #status = :running",
            ConditionExpression="#status = :redriving AND redriver = :redriver",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":running": JobStatus.RUNNING.value,
                ":redriving": JobStatus.REDRIVING.value,
                ":redriver": redriver,
            },
        )
        return plain(item) if item else None

    def reopen_for_redrive(self, job: dict[str, Any]) -> list[int]:
        """Forget the failed and skipped outcomes of a REDRIVING job and unseal their shards; the open ids, sorted.

        Each batch (the TASK items gone, the shard's counters lowered, the
        shard unsealed and uncounted from shards_reduced on its first batch)
        is one transaction, so a redrive that stops midway is finished by the
        next without counting anything twice. A reopened shard counts only
        the job's new run from then on. Every subtask without an outcome is
        returned, to be sent again; the job stays REDRIVING until
        finish_redrive.
        """
        job_id, layout, run = job["job_id"], layout_of(job), int(job["run"])
        open_ids: list[int] = []
        for shard_item in self.shards(job_id, layout.shard_count):
            shard = shard_item["shard"]
            if shard_item["succeeded"] == layout.expected(shard):
                continue
            # Ids and outcomes only: succeeded items can hold their results (inline_result_max_bytes each).
            tasks = list(self.shard_tasks(job_id, shard, attributes=("subtask_id", "outcome")))
            reopen = [task for task in tasks if task["outcome"] != Outcome.SUCCEEDED.value]
            for start in range(0, len(reopen), TRANSACTION_LIMIT - 2):
                batch = reopen[start : start + TRANSACTION_LIMIT - 2]
                if not self._reopen(job_id, shard, batch, run, unseal=True):
                    self._reopen(job_id, shard, batch, run, unseal=False)
            succeeded = {task["subtask_id"] for task in tasks if task["outcome"] == Outcome.SUCCEEDED.value}
            first = layout.first_of(shard)
            shard_ids = range(first, first + layout.expected(shard) * layout.width, layout.width)
            open_ids.extend(subtask_id for subtask_id in shard_ids if subtask_id not in succeeded)
        return sorted(open_ids)

    def _reopen(self, job_id: str, shard: int, tasks: list[dict[str, Any]], run: int, unseal: bool) -> bool:
        """One batch of a shard's reopening; False when `unseal` found the shard unsealed already."""
        failed = sum(1 for task in tasks if task["outcome"] == Outcome.FAILED.value)
        skipped = len(tasks) - failed
        deletes = [
            {
                "Delete": {
                    "TableName": self._table.name,
                    "Key": task_key(job_id, shard, task["subtask_id"]),
                    "ConditionExpression": "#outcome = :outcome",
                    "ExpressionAttributeNames": {"#outcome": "outcome"},
                    "ExpressionAttributeValues": {":outcome": task["outcome"]},
                }
            }
            for task in tasks
        ]
        update = "SET #run = :run ADD completed :minus_all, failed :minus_failed, skipped :minus_skipped"
        shard_update: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": shard_key(job_id, shard),
            "UpdateExpression": update,
            "ExpressionAttributeNames": {"#run": "run"},
            "ExpressionAttributeValues": {
                ":run": run,
                ":minus_all": -len(tasks),
                ":minus_failed": -failed,
                ":minus_skipped": -skipped,
            },
        }
        actions = [*deletes]
        if unseal:
            shard_update["UpdateExpression"] = (
                update + " REMOVE sealed, sealed_at, reduced, reduce_attempts, running_until, lapsed_running_until, "
                "#status, deadline"
            )
            shard_update["ConditionExpression"] = "attribute_exists(reduced)"
            shard_update["ExpressionAttributeNames"] = {"#status": "status", "#run": "run"}
            job_update = {
                "TableName": self._table.name,
                "Key": job_key(job_id),
                "UpdateExpression": "ADD shards_reduced :minus_one",
                "ExpressionAttributeValues": {":minus_one": -1},
            }
            actions.append({"Update": job_update})
        actions.append({"Update": shard_update})
        try:
            self._call(self._client.transact_write_items, TransactItems=actions)
        except ClientError as error:
            if unseal and failed_condition(error, len(actions) - 1):
                return False
            if any(failed_condition(error, index) for index in range(len(deletes))):
                return True  # done by an earlier attempt: the batch's items are gone already
            raise
        return True
