"""The fan-in tracker: a job's progress in DynamoDB, counted exactly once.

One table, one partition per job (pk = "JOB#<job_id>"):

    sk = "JOB"            status, total, shard_count, shards_completed, timings, spec
    sk = "SHARD#<n>"      expected, completed, succeeded, failed, sealed
    sk = "TASK#<id>"      the first recorded outcome of one subtask

Subtask i counts in shard i % shard_count. Recording a completion is one
transaction: put the TASK item if it is absent and add 1 to its shard. A
redelivered or duplicated subtask finds its TASK item present, so the
transaction is cancelled and nothing is counted twice.

The completion that fills a shard seals it and adds 1 to the job's
shards_completed (one transaction, conditional on the shard not being sealed);
the one that makes shards_completed == shard_count flips the job from RUNNING to
COMPLETING with a conditional update. Exactly one caller wins that flip, and
only it triggers the consolidator. Every step is re-checked on duplicates, so a
worker that crashed half-way is completed by the redelivery of its message.

Write cost per subtask: a 2-item transaction (4 WCU) and one strongly
consistent read of its shard (1 RCU); per shard, another 2-item transaction
and a read; per job, one conditional update. No item takes more than
max(total / shard_count, shard_count) counter updates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

MAX_SHARDS = 50  # the registration transaction holds the job item and every shard item (limit 100)


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    TIMED_OUT = "TIMED_OUT"
    FAILED = "FAILED"


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


FINAL_STATUSES = {JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED}


@dataclass(frozen=True)
class Completion:
    first: bool  # False: a duplicate delivery, not counted
    finished_job: bool  # True for exactly one completion per job: trigger the consolidator


@dataclass(frozen=True)
class Progress:
    job: dict[str, Any]
    total: int
    succeeded: int
    failed: int

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed


def shard_count_for(total: int, shard_threshold: int, shards_above_threshold: int) -> int:
    if total <= shard_threshold:
        return 1
    return max(1, min(shards_above_threshold, MAX_SHARDS, total))


def expected_in_shard(total: int, shard_count: int, shard: int) -> int:
    return total // shard_count + (1 if shard < total % shard_count else 0)


def _now() -> datetime:
    return datetime.now(UTC)


def _job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _shard_sk(shard: int) -> str:
    return f"SHARD#{shard:04d}"


def _task_sk(subtask_id: int) -> str:
    return f"TASK#{subtask_id:08d}"


def _cancelled_by_condition(error: ClientError, index: int) -> bool:
    """Whether transaction item `index` failed its condition."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    if reasons:
        return index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed"
    # Some emulators omit the reasons; the message still names them in order.
    message = error.response.get("Error", {}).get("Message", "")
    listed = message.split("[", 1)[-1].rstrip("]").split(",")
    return index < len(listed) and listed[index].strip() == "ConditionalCheckFailed"


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class JobTracker:
    def __init__(self, table: Any, clock: Callable[[], datetime] = _now) -> None:
        self._table = table
        self._client = table.meta.client
        self._clock = clock

    # -- registration -----------------------------------------------------------------

    def register_job(
        self,
        job_id: str,
        total: int,
        shard_count: int,
        correlation_id: str,
        timeout_seconds: int,
        spec: dict[str, Any],
    ) -> bool:
        """Create the job and its shards before any subtask is dispatched.

        Returns False when the job already exists (a repeated submission), so
        the caller can carry on dispatching idempotently.
        """
        if not 1 <= shard_count <= MAX_SHARDS or total < 1:
            raise ValueError(f"need total >= 1 and 1 <= shard_count <= {MAX_SHARDS}")
        now = self._clock()
        job = {
            "pk": _job_pk(job_id),
            "sk": "JOB",
            "job_id": job_id,
            "status": JobStatus.RUNNING.value,
            "total": total,
            "shard_count": shard_count,
            "shards_completed": 0,
            "correlation_id": correlation_id,
            "created_at": now.isoformat(),
            "deadline": (now + timedelta(seconds=timeout_seconds)).isoformat(),
            "spec": spec,
        }
        items = [
            {"Put": {"TableName": self._table.name, "Item": job, "ConditionExpression": "attribute_not_exists(pk)"}}
        ]
        for shard in range(shard_count):
            shard_item = {
                "pk": _job_pk(job_id),
                "sk": _shard_sk(shard),
                "expected": expected_in_shard(total, shard_count, shard),
                "completed": 0,
                "succeeded": 0,
                "failed": 0,
            }
            items.append({"Put": {"TableName": self._table.name, "Item": shard_item}})
        try:
            self._resource_transaction(items)
        except ClientError as error:
            if _cancelled_by_condition(error, 0):
                return False
            raise
        return True

    def mark_rejected(self, job_id: str, correlation_id: str, error: dict[str, str], spec: dict[str, Any]) -> None:
        """Record a job spec that was rejected before any subtask existed."""
        now = self._clock().isoformat()
        try:
            self._table.put_item(
                Item={
                    "pk": _job_pk(job_id),
                    "sk": "JOB",
                    "job_id": job_id,
                    "status": JobStatus.FAILED.value,
                    "total": 0,
                    "correlation_id": correlation_id,
                    "created_at": now,
                    "deadline": now,  # keeps the job in the status index
                    "finished_at": now,
                    "error": error,
                    "spec": spec,
                },
                ConditionExpression="attribute_not_exists(pk) OR #status = :failed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":failed": JobStatus.FAILED.value},
            )
        except ClientError as failure:
            # A job registered under this id already: never overwrite it.
            if not _is_condition_failure(failure):
                raise

    # -- completions --------------------------------------------------------------------

    def record_completion(
        self,
        job_id: str,
        subtask_id: int,
        shard_count: int,
        outcome: Outcome,
        detail: dict[str, Any] | None = None,
    ) -> Completion:
        shard = subtask_id % shard_count
        task = {
            "pk": _job_pk(job_id),
            "sk": _task_sk(subtask_id),
            "subtask_id": subtask_id,
            "outcome": outcome.value,
            "completed_at": self._clock().isoformat(),
            **(detail or {}),
        }
        outcome_counter = "succeeded" if outcome is Outcome.SUCCEEDED else "failed"
        try:
            self._resource_transaction(
                [
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": task,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"pk": _job_pk(job_id), "sk": _shard_sk(shard)},
                            "UpdateExpression": f"ADD completed :one, {outcome_counter} :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ]
            )
            first = True
        except ClientError as error:
            if _cancelled_by_condition(error, 0):
                first = False
            elif _cancelled_by_condition(error, 1):
                raise UnknownJobError(f"job {job_id} has no shard {shard}: it was never registered") from None
            else:
                raise
        return Completion(first=first, finished_job=self._advance(job_id, shard))

    def _advance(self, job_id: str, shard: int) -> bool:
        """Seal a full shard and finish a job whose shards are all sealed; idempotent."""
        shard_key = {"pk": _job_pk(job_id), "sk": _shard_sk(shard)}
        shard_item = self._table.get_item(Key=shard_key, ConsistentRead=True).get("Item", {})
        if int(shard_item.get("completed", 0)) < int(shard_item.get("expected", 1)):
            return False
        if not shard_item.get("sealed"):
            try:
                self._resource_transaction(
                    [
                        {
                            "Update": {
                                "TableName": self._table.name,
                                "Key": shard_key,
                                "UpdateExpression": "SET sealed = :true",
                                "ConditionExpression": "attribute_not_exists(sealed)",
                                "ExpressionAttributeValues": {":true": True},
                            }
                        },
                        {
                            "Update": {
                                "TableName": self._table.name,
                                "Key": {"pk": _job_pk(job_id), "sk": "JOB"},
                                "UpdateExpression": "ADD shards_completed :one",
                                "ExpressionAttributeValues": {":one": 1},
                            }
                        },
                    ]
                )
            except ClientError as error:
                if not _cancelled_by_condition(error, 0):
                    raise  # sealed meanwhile by a concurrent completion: fine
        job = self.get_job(job_id)
        if not job or job["status"] != JobStatus.RUNNING or job["shards_completed"] < job["shard_count"]:
            return False
        return self._transition(job_id, JobStatus.RUNNING, JobStatus.COMPLETING, "completing_at")

    # -- status transitions ---------------------------------------------------------------

    def _transition(self, job_id: str, expected: JobStatus, new: JobStatus, timestamp_field: str) -> bool:
        condition = "#status = :expected"
        if new is JobStatus.COMPLETING:
            condition += " AND shards_completed = shard_count"
        try:
            self._table.update_item(
                Key={"pk": _job_pk(job_id), "sk": "JOB"},
                UpdateExpression=f"SET #status = :new, {timestamp_field} = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":expected": expected.value,
                    ":new": new.value,
                    ":now": self._clock().isoformat(),
                },
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def mark_timed_out(self, job_id: str) -> bool:
        """RUNNING -> TIMED_OUT; True for the single caller that made the change."""
        return self._transition(job_id, JobStatus.RUNNING, JobStatus.TIMED_OUT, "timed_out_at")

    def record_result(self, job_id: str, final_status: JobStatus, result: dict[str, Any]) -> bool:
        """Store the consolidated result once; False if it was stored already."""
        result = json.loads(json.dumps(result), parse_float=Decimal)  # DynamoDB takes no floats
        try:
            self._table.update_item(
                Key={"pk": _job_pk(job_id), "sk": "JOB"},
                UpdateExpression="SET #status = :final, finished_at = :now, #result = :result",
                ConditionExpression="#status IN (:completing, :timed_out) AND attribute_not_exists(#result)",
                ExpressionAttributeNames={"#status": "status", "#result": "result"},
                ExpressionAttributeValues={
                    ":final": final_status.value,
                    ":now": self._clock().isoformat(),
                    ":result": result,
                    ":completing": JobStatus.COMPLETING.value,
                    ":timed_out": JobStatus.TIMED_OUT.value,
                },
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    # -- reads -------------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": _job_pk(job_id), "sk": "JOB"}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def _query(self, job_id: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _job_pk(job_id), ":prefix": prefix},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                yield _plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def subtasks(self, job_id: str) -> Iterator[dict[str, Any]]:
        return self._query(job_id, "TASK#")

    def progress(self, job_id: str) -> Progress | None:
        job = self.get_job(job_id)
        if job is None:
            return None
        shards = list(self._query(job_id, "SHARD#"))
        return Progress(
            job=job,
            total=int(job.get("total", 0)),
            succeeded=sum(shard["succeeded"] for shard in shards),
            failed=sum(shard["failed"] for shard in shards),
        )

    def jobs_in_status(self, status: JobStatus, index_name: str, before: datetime | None = None) -> list[dict]:
        """Jobs in a status (through the sparse status index), optionally with a deadline before a time."""
        condition = "#status = :status"
        values: dict[str, Any] = {":status": status.value}
        if before is not None:
            condition += " AND deadline < :before"
            values[":before"] = before.isoformat()
        kwargs: dict[str, Any] = {
            "IndexName": index_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
        jobs: list[dict] = []
        while True:
            page = self._table.query(**kwargs)
            jobs.extend(_plain(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return jobs
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _resource_transaction(self, items: list[dict[str, Any]]) -> None:
        # The table resource's client serializes plain Python values itself.
        self._client.transact_write_items(TransactItems=items)


class UnknownJobError(LookupError):
    pass


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's Decimals back to ints where they are whole numbers."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: convert(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [convert(inner) for inner in value]
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return value

    return convert(item)
