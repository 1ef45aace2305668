"""From sealed shards to a finished job: shard reductions, COMPLETING, the final merge, its result and publication.

Each transition is a conditional update that exactly one caller wins, so a
duplicated or retried consolidator never does a step twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import job_key, shard_key
from serverless_patterns.fan_in.tracker.model import JobStatus, UnitAttempt
from serverless_patterns.fan_in.tracker.store import TrackerStore, dynamodb_value, failed_condition, plain


@dataclass(frozen=True)
class _Unit:
    """A unit of consolidation as the tracker keeps it: a shard's reduction, or the job's final merge."""

    key: dict[str, str]
    attempts: str  # the counter of its attempts
    lease: str  # until when its running attempt holds it
    condition: str  # while it is still to do
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def expression_names(self) -> dict[str, Any]:
        return {"ExpressionAttributeNames": self.names} if self.names else {}


def _unit(job_id: str, shard: int | None) -> _Unit:
    if shard is not None:
        return _Unit(
            shard_key(job_id, shard),
            "reduce_attempts",
            "running_until",
            "attribute_exists(sealed) AND attribute_not_exists(reduced)",
        )
    return _Unit(
        job_key(job_id),
        "consolidation_attempts",
        "merge_running_until",
        "#status = :completing",
        {"#status": "status"},
        {":completing": JobStatus.COMPLETING.value},
    )


class Consolidation(TrackerStore):
    def begin_reduction(self, job_id: str, shard: int, lease_until: datetime) -> UnitAttempt | None:
        """Count an attempt to reduce a sealed shard and lease it until `lease_until`; the attempt, or None.

        None when the shard needs no reduction, or another attempt holds its
        lease (a duplicate trigger while it runs): nothing is to run.
        """
        return self._begin(_unit(job_id, shard), lease_until)

    def _begin(self, unit: _Unit, lease_until: datetime) -> UnitAttempt | None:
        """Take a unit's lease (free, or lapsed: its holder died) and count the attempt; the attempt, or None.

        A lapsed lease is copied to `lapsed_<lease>` in the same update (SET reads
        the item as it was), so exactly the attempt that took it over learns of it.
        """
        lease = unit.lease
        item = self._conditional_update(
            unit.key,
            UpdateExpression=(
                f"SET deadline = :now, lapsed_{lease} = if_not_exists({lease}, :none), {lease} = :until "
                f"ADD {unit.attempts} :one"
            ),
            ConditionExpression=f"{unit.condition} AND (attribute_not_exists({lease}) OR {lease} < :now)",
            ExpressionAttributeValues={
                ":now": self._timestamp(),
                ":until": lease_until.isoformat(),
                ":none": "",
                ":one": 1,
                **unit.values,
            },
            **unit.expression_names(),
        )
        if item is None:
            return None
        return UnitAttempt(int(item[unit.attempts]), bool(item.get(f"lapsed_{lease}")))

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

    def begin_consolidation(self, job_id: str, lease_until: datetime) -> UnitAttempt | None:
        """Count an attempt at a COMPLETING job's final merge and lease it until `lease_until`; the attempt, or None.

        None when the job is not completing, or another attempt holds the lease.
        """
        return self._begin(_unit(job_id, None), lease_until)

    def record_failed_run(self, job_id: str, shard: int | None, error: dict[str, str], retry_after: datetime) -> int:
        """Charge a failed run of a shard's reduction (or, shard None, of the final merge) to the job's budget.

        The job's `consolidation_failures` counts the failed runs of all its
        units together. The unit gives its lease back (so its next attempt knows
        this one was charged) and is due for the sweeper's retry from
        `retry_after`. The job first: a run charged twice (the unit's write
        failing after it) spends the budget sooner, never later. The job's
        failures so far.
        """
        failures = self._charge_job(job_id, error)
        unit = _unit(job_id, shard)
        self._conditional_update(
            unit.key,
            UpdateExpression=f"SET deadline = :due REMOVE {unit.lease}",
            ConditionExpression=unit.condition,
            ExpressionAttributeValues={":due": retry_after.isoformat(), **unit.values},
            **unit.expression_names(),
        )
        return failures

    def charge_lost_run(self, job_id: str, error: dict[str, str]) -> int:
        """Charge the run whose lapsed lease an attempt took over (`error` says what is known); the job's failures."""
        return self._charge_job(job_id, error)

    def _charge_job(self, job_id: str, error: dict[str, str]) -> int:
        item = self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET last_consolidation_error = :error ADD consolidation_failures :one",
            ConditionExpression="attribute_exists(pk)",  # never a stray job item, without expires_at
            ExpressionAttributeValues={":error": error, ":one": 1},
        )
        if item is None:
            raise LookupError(f"job {job_id} is not in the tracker (expired?): its consolidation failure is not kept")
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
