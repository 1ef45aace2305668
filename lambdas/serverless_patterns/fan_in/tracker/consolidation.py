"""From sealed shards to a finished job: shard reductions, COMPLETING, the final merge, its result and publication.

Each transition is a conditional update that exactly one caller wins, so a
duplicated or retried consolidator never does a step twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import job_key, shard_key
from serverless_patterns.fan_in.tracker.model import JobStatus, UnitAttempt
from serverless_patterns.fan_in.tracker.store import TrackerStore, dynamodb_value, failed_condition, plain


class Consolidation(TrackerStore):
    def begin_reduction(self, job_id: str, shard: int) -> UnitAttempt | None:
        """Count an attempt to reduce a sealed shard; the attempt, or None if the shard needs none."""
        item = self._conditional_update(
            shard_key(job_id, shard),
            UpdateExpression="SET deadline = :now ADD reduce_attempts :one",
            ConditionExpression="attribute_exists(sealed) AND attribute_not_exists(reduced)",
            ExpressionAttributeValues={":now": self._timestamp(), ":one": 1},
        )
        return UnitAttempt(int(item["reduce_attempts"]), int(item.get("reduce_failures", 0))) if item else None

    def record_reduction(self, job_id: str, shard: int, summary: dict[str, Any]) -> bool:
        """Mark a shard reduced and count it on the job, atomically; False if it was reduced already."""
        try:
            self._call(
                self._client.transact_write_items,
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": shard_key(job_id, shard),
                            "UpdateExpression": "SET reduced = :summary REMOVE #status, deadline",
                            "ConditionExpression": "attribute_not_exists(reduced)",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {":summary": dynamodb_value(summary)},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": job_key(job_id),
                            "UpdateExpression": "ADD shards_reduced :one",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ],
            )
        except ClientError as error:
            if failed_condition(error, 0):
                return False
            raise
        return True

    def release_shard(self, job_id: str, shard: int) -> None:
        """Take a shard of a finished job out of the status index: nobody will reduce it any more."""
        self._call(
            self._table.update_item,
            Key=shard_key(job_id, shard),
            UpdateExpression="REMOVE #status, deadline",
            ExpressionAttributeNames={"#status": "status"},
        )

    def start_completing(self, job_id: str) -> bool:
        """RUNNING -> COMPLETING once every shard is reduced; True for the one caller that made the change."""
        return self._enter_completing(job_id, "shards_reduced = shard_count", "completing_at")

    def mark_timed_out(self, job_id: str) -> bool:
        """RUNNING -> COMPLETING (timed out): consolidate what exists; True for the one caller that made it."""
        return self._enter_completing(job_id, None, "timed_out_at")

    def _enter_completing(self, job_id: str, extra_condition: str | None, timestamp_field: str) -> bool:
        condition = "#status = :running" + (f" AND {extra_condition}" if extra_condition else "")
        now = self._timestamp()
        return (
            self._conditional_update(
                job_key(job_id),
                UpdateExpression=f"SET #status = :completing, {timestamp_field} = :now, deadline = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":running": JobStatus.RUNNING.value,
                    ":completing": JobStatus.COMPLETING.value,
                    ":now": now,
                },
            )
            is not None
        )

    def begin_consolidation(self, job_id: str) -> UnitAttempt | None:
        """Count an attempt at a COMPLETING job's final merge; the attempt, or None if the job is not completing."""
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET deadline = :now ADD consolidation_attempts :one",
            ConditionExpression="#status = :completing",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now": self._timestamp(),
                ":one": 1,
                ":completing": JobStatus.COMPLETING.value,
            },
        )
        if not item:
            return None
        return UnitAttempt(int(item["consolidation_attempts"]), int(item.get("final_merge_failures", 0)))

    def record_failed_run(self, job_id: str, shard: int | None, error: dict[str, str], retry_after: datetime) -> int:
        """Charge a failed run of a shard's reduction (or, shard None, of the final merge) to the job's budget.

        The job's `consolidation_failures` counts the failed runs of all its
        units together; the unit counts its own, so its next attempt knows this
        one was charged, and is due for the sweeper's retry from `retry_after`.
        The job first: a run charged twice (the unit's write failing after it)
        spends the budget sooner, never later. The job's failures so far.
        """
        failures = self._charge_job(job_id, 1, error)
        due = retry_after.isoformat()
        if shard is None:
            self._conditional_update(
                job_key(job_id),
                UpdateExpression="SET deadline = :due ADD final_merge_failures :one",
                ConditionExpression="#status = :completing",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":due": due, ":one": 1, ":completing": JobStatus.COMPLETING.value},
            )
        else:
            self._conditional_update(
                shard_key(job_id, shard),
                UpdateExpression="SET deadline = :due ADD reduce_failures :one",
                ConditionExpression="attribute_exists(sealed) AND attribute_not_exists(reduced)",
                ExpressionAttributeValues={":due": due, ":one": 1},
            )
        return failures

    def charge_lost_runs(
        self, job_id: str, shard: int | None, attempt: UnitAttempt, error: dict[str, str]
    ) -> int | None:
        """Charge the unit's earlier attempts that ended without recording a failure (`error` says so);
        the job's failures, or None.

        None when there were none, or another attempt charged them first (the
        unit's failure count is moved to them conditionally, so once).
        """
        if not attempt.lost:
            return None
        counter = "final_merge_failures" if shard is None else "reduce_failures"
        moved = self._conditional_update(
            job_key(job_id) if shard is None else shard_key(job_id, shard),
            UpdateExpression=f"SET {counter} = :charged",
            ConditionExpression=f"{counter} = :before OR (attribute_not_exists({counter}) AND :before = :zero)",
            ExpressionAttributeValues={":charged": attempt.number - 1, ":before": attempt.failures, ":zero": 0},
        )
        if moved is None:
            return None
        return self._charge_job(job_id, attempt.lost, error)

    def _charge_job(self, job_id: str, failures: int, error: dict[str, str]) -> int:
        item = self._call(
            self._table.update_item,
            Key=job_key(job_id),
            UpdateExpression="SET last_consolidation_error = :error ADD consolidation_failures :failures",
            ExpressionAttributeValues={":error": error, ":failures": failures},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]
        return int(item["consolidation_failures"])

    def record_result(self, job_id: str, result: dict[str, Any]) -> bool:
        """Store the consolidated result once; True for the one caller that stored it, which then publishes it."""
        return (
            self._conditional_update(
                job_key(job_id),
                UpdateExpression="SET #result = :result, publication_claimed_at = :now",
                ConditionExpression="#status = :completing AND attribute_not_exists(#result)",
                ExpressionAttributeNames={"#status": "status", "#result": "result"},
                ExpressionAttributeValues={
                    ":result": dynamodb_value(result),
                    ":completing": JobStatus.COMPLETING.value,
                    ":now": self._timestamp(),
                },
            )
            is not None
        )

    def reclaim_publication(self, job_id: str, claimed_before: datetime) -> bool:
        """Take over publishing a recorded result whose publisher stopped before finishing the job."""
        return (
            self._conditional_update(
                job_key(job_id),
                UpdateExpression="SET publication_claimed_at = :now, deadline = :now",
                ConditionExpression="#status = :completing AND publication_claimed_at < :before",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":now": self._timestamp(),
                    ":before": claimed_before.isoformat(),
                    ":completing": JobStatus.COMPLETING.value,
                },
            )
            is not None
        )

    def mark_published(self, job_id: str) -> None:
        """Note that the job-finished event went out, so a takeover after a failure never sends it again."""
        self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET published_at = :now",
            ConditionExpression="#status = :completing",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":now": self._timestamp(), ":completing": JobStatus.COMPLETING.value},
        )

    def finish(self, job_id: str, final_status: JobStatus) -> bool:
        """COMPLETING (with its result recorded) -> its final status; True for the one caller that made it."""
        return (
            self._conditional_update(
                job_key(job_id),
                UpdateExpression="SET #status = :final, finished_at = :now",
                ConditionExpression="#status = :completing AND attribute_exists(#result)",
                ExpressionAttributeNames={"#status": "status", "#result": "result"},
                ExpressionAttributeValues={
                    ":final": final_status.value,
                    ":now": self._timestamp(),
                    ":completing": JobStatus.COMPLETING.value,
                },
            )
            is not None
        )

    def abandon(self, job_id: str, error: dict[str, str]) -> dict[str, Any] | None:
        """End a job whose consolidation keeps failing as FAILED; the job for the one caller that ended it.

        Never once a result is recorded: that job ends with its result.
        """
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET #status = :failed, finished_at = :now, #error = :error",
            ConditionExpression="#status IN (:running, :completing) AND attribute_not_exists(#result)",
            ExpressionAttributeNames={"#status": "status", "#error": "error", "#result": "result"},
            ExpressionAttributeValues={
                ":failed": JobStatus.FAILED.value,
                ":now": self._timestamp(),
                ":error": error,
                ":running": JobStatus.RUNNING.value,
                ":completing": JobStatus.COMPLETING.value,
            },
        )
        return plain(item) if item else None
