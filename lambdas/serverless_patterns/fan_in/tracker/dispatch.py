"""A job's registration and dispatch: its job and shard items, how far dispatch got, and who dispatches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import MAX_SHARDS, ShardLayout, job_key, layout_of, shard_key
from serverless_patterns.fan_in.tracker.model import JobStatus, Registration
from serverless_patterns.fan_in.tracker.reads import Reads
from serverless_patterns.fan_in.tracker.store import BATCH_WRITE_LIMIT, dynamodb_value, failed_condition, plain


class Dispatch(Reads):
    """Registers and dispatches jobs; a repeated registration reads the existing job back (Reads.get_job)."""

    def register_job(
        self,
        job_id: str,
        layout: ShardLayout,
        correlation_id: str,
        timeout_seconds: int,
        spec: dict[str, Any],
        fingerprint: str,
        retention_seconds: int,
        dispatcher: str = "",
        details: dict[str, Any] | None = None,
    ) -> Registration:
        """Create the job, then its shards, before any subtask is dispatched.

        The job item is the commit point: the first registration wins, a
        repeated one gets the existing job back (to compare its spec). Shards
        are written after it, and `shards_ready` marks them done; nothing is
        dispatched before that, so no completion can meet a missing shard.
        `dispatcher` names the invocation that dispatches (its request id): a
        retry of that invocation may resume the dispatch at once. `details`
        (the plan, the workload, the failure limit) are stored with the job.
        """
        if not 1 <= layout.shard_count <= min(layout.total, MAX_SHARDS) or layout.shard_count % layout.width:
            raise ValueError(f"need 1 <= shard_count <= min(total, {MAX_SHARDS}), a multiple of width: {layout}")
        now = self._clock()
        deadline = now + timedelta(seconds=timeout_seconds)
        job = {
            **job_key(job_id),
            "job_id": job_id,
            "status": JobStatus.RUNNING.value,
            "total": layout.total,
            "shard_count": layout.shard_count,
            "shard_width": layout.width,
            "shards_ready": False,
            "shards_reduced": 0,
            "dispatched_until": 0,
            "run": 0,
            "dispatch_updated_at": now.isoformat(),
            "dispatcher": dispatcher,
            "correlation_id": correlation_id,
            "created_at": now.isoformat(),
            "deadline": deadline.isoformat(),
            "expires_at": int((deadline + timedelta(seconds=retention_seconds)).timestamp()),
            "fingerprint": fingerprint,
            "spec": dynamodb_value(spec),
            **dynamodb_value({name: value for name, value in (details or {}).items() if value is not None}),
        }
        try:
            self._call(self._table.put_item, Item=job, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if not failed_condition(error):
                raise
            return Registration(created=False, job=self.get_job(job_id) or {})
        self.create_shards(job)
        return Registration(created=True, job=plain({**job, "shards_ready": True}))

    def create_shards(self, job: dict[str, Any]) -> None:
        """Write a registered job's shard items and mark them ready. Safe only before any dispatch."""
        job_id, layout = job["job_id"], layout_of(job)
        shards = [
            {
                **shard_key(job_id, shard),
                "expected": layout.expected(shard),
                # Bounds a completion must fall within: a subtask id outside the job is refused.
                "first_subtask": layout.first_of(shard),
                "last_subtask": layout.last_of(shard),
                "completed": 0,
                "succeeded": 0,
                "failed": 0,
                "skipped": 0,
                "expires_at": int(job["expires_at"]),
            }
            for shard in range(layout.shard_count)
        ]
        for start in range(0, len(shards), BATCH_WRITE_LIMIT):
            self._batch_write(shards[start : start + BATCH_WRITE_LIMIT])
        self._call(
            self._table.update_item,
            Key=job_key(job_id),
            UpdateExpression="SET shards_ready = :true",
            ExpressionAttributeValues={":true": True},
        )

    def record_dispatch(self, job_id: str, dispatched_until: int) -> None:
        """Remember how far dispatch got, so a repeated submission never sends the same subtasks again."""
        self._conditional_update(
            job_key(job_id),
            UpdateExpression="SET dispatched_until = :until, dispatch_updated_at = :now",
            ConditionExpression="dispatched_until < :until",
            ExpressionAttributeValues={":until": dispatched_until, ":now": self._timestamp()},
        )

    def take_over_dispatch(self, job_id: str, seen_updated_at: str, dispatcher: str) -> bool:
        """Claim a dispatch whose ventilator stopped; True for the one caller that claimed it."""
        return (
            self._conditional_update(
                job_key(job_id),
                UpdateExpression="SET dispatch_updated_at = :now, dispatcher = :dispatcher",
                ConditionExpression="dispatch_updated_at = :seen AND #status = :running",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":dispatcher": dispatcher,
                    ":now": self._timestamp(),
                    ":seen": seen_updated_at,
                    ":running": JobStatus.RUNNING.value,
                },
            )
            is not None
        )

    def mark_rejected(
        self, job_id: str, correlation_id: str, error: dict[str, str], spec: dict[str, Any], retention_seconds: int
    ) -> bool:
        """Record a job spec rejected before any subtask existed; False if the id belongs to a job already."""
        now = self._clock()
        try:
            self._call(
                self._table.put_item,
                Item={
                    **job_key(job_id),
                    "job_id": job_id,
                    "status": JobStatus.FAILED.value,
                    "total": 0,
                    "shard_count": 0,
                    "correlation_id": correlation_id,
                    "created_at": now.isoformat(),
                    "deadline": now.isoformat(),  # keeps the job in the status index
                    "finished_at": now.isoformat(),
                    "expires_at": int((now + timedelta(seconds=retention_seconds)).timestamp()),
                    "error": error,
                    "spec": dynamodb_value(spec),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as failure:
            if failed_condition(failure):
                return False
            raise
        return True
