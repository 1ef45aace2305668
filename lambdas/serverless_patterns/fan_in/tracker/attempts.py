"""Attempts at a subtask before its outcome: errors of those being retried, a resumable subtask's invocations,
and whether a redelivered subtask has its outcome already."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import (
    ERROR_PREFIX,
    TASK_PREFIX,
    chain_key,
    error_key,
    shard_key,
    shard_pk,
    subtask_number,
    task_key,
)
from serverless_patterns.fan_in.tracker.model import ChainStart, Outcome, Retrying
from serverless_patterns.fan_in.tracker.store import TrackerStore, failed_condition, plain, projection_of

MAX_RETRYING_READ = 1000  # the attempt errors one status read looks at (no messages): a few requests
ERROR_BRIEF = ("sk", "attempts", "failed_at")  # what a status reads of each attempt error


class Attempts(TrackerStore):
    def record_attempt_error(
        self, job_id: str, subtask_id: int, shard: int, error: dict[str, str], expires_at: int
    ) -> None:
        """Keep the last error of a subtask that will be retried, for the record of its final failure.

        A subtask's first recorded error also counts it in its shard's
        `retried`, once (a transaction with the error item's `counted` mark),
        so a job's status finds its retried subtasks in the few shards that
        have any: one UpdateItem per failed attempt, one transaction more per
        subtask that fails at all.
        """
        item = self._call(
            self._table.update_item,
            Key=error_key(job_id, shard, subtask_id),
            UpdateExpression="SET #error = :error, failed_at = :now, expires_at = :expires ADD attempts :one",
            ExpressionAttributeNames={"#error": "error"},
            ExpressionAttributeValues={
                ":error": error,
                ":now": self._timestamp(),
                ":expires": expires_at,
                ":one": 1,
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
        if "counted" in item:
            return
        try:
            self._call(
                self._client.transact_write_items,
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": error_key(job_id, shard, subtask_id),
                            "UpdateExpression": "SET counted = :true",
                            "ConditionExpression": "attribute_not_exists(counted)",
                            "ExpressionAttributeValues": {":true": True},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": shard_key(job_id, shard),
                            "UpdateExpression": "ADD retried :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ],
            )
        except ClientError as failure:
            # Counted by a concurrent attempt already, or a shard that does not exist: nothing to count.
            if not (failed_condition(failure, 0) or failed_condition(failure, 1)):
                raise

    def last_error(self, job_id: str, subtask_id: int, shard: int) -> dict[str, Any] | None:
        item = self._read(error_key(job_id, shard, subtask_id))
        return {**item["error"], "attempts": int(item.get("attempts", 0))} if item else None

    def retrying(self, job: dict[str, Any], shards: list[dict[str, Any]]) -> Retrying | None:
        """The subtasks of a job (its shard items read already) being retried now, or None when there are none.

        Only shards that counted a retried subtask and are not sealed yet
        (a sealed shard has every outcome) are read: their attempt errors,
        then whether those subtasks have an outcome. Errors of a run before
        the job's last redrive are left out.
        """
        candidates = [shard["shard"] for shard in shards if shard.get("retried") and not shard.get("sealed")]
        if not candidates:
            return None
        job_id, since = job["job_id"], job.get("redriven_at", "")
        # Errors of subtasks that succeeded later stay behind: they are read too (small: no message), so
        # that many of them can never hide the subtasks failing now.
        errors: list[dict[str, Any]] = []
        for shard in candidates:
            if len(errors) >= MAX_RETRYING_READ:
                break
            brief = self._attempt_errors(job_id, shard, MAX_RETRYING_READ - len(errors), ERROR_BRIEF)
            errors.extend({**item, "shard": shard} for item in brief if item.get("failed_at", "") >= since)
        keys = [task_key(job_id, item["shard"], subtask_number(item["sk"])) for item in errors]
        finished = {item["sk"].removeprefix(TASK_PREFIX) for item in self._read_together(keys, ("pk", "sk"))}
        open_errors = [item for item in errors if item["sk"].removeprefix(ERROR_PREFIX) not in finished]
        if not open_errors:
            return None
        last = max(open_errors, key=lambda item: item.get("failed_at", ""))
        [latest] = self._read_together([error_key(job_id, last["shard"], subtask_number(last["sk"]))]) or [{}]
        return Retrying(
            subtasks=len(open_errors),
            attempts=sum(int(item.get("attempts", 0)) for item in open_errors),
            last_error={
                **plain(latest).get("error", {"type": "unknown", "message": "not recorded"}),
                "subtask_id": subtask_number(last["sk"]),
                "attempts": int(last.get("attempts", 0)),
                "at": last.get("failed_at", ""),
            },
            exact=len(errors) < MAX_RETRYING_READ,
        )

    def _attempt_errors(
        self, job_id: str, shard: int, limit: int, attributes: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Up to `limit` ERROR items of one shard, only `attributes` of them if named (eventually consistent:
        a status, not a decision)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :error)",
            "ExpressionAttributeValues": {":pk": shard_pk(job_id, shard), ":error": ERROR_PREFIX},
            "Limit": limit,
        }
        kwargs.update(projection_of(attributes))
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = self._call(self._table.query, **kwargs)
            items.extend(plain(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs.update(ExclusiveStartKey=page["LastEvaluatedKey"], Limit=limit - len(items))
        return items[:limit]

    def start_invocation(
        self, job_id: str, subtask_id: int, shard: int, run: int, expires_at: int, after: int | None
    ) -> ChainStart | None:
        """Number an invocation of a resumable subtask (1, 2...), and name its checkpoint: None when it must not run.

        `after` None is a receive from the queue: SQS gave this invocation the
        message, so it runs whatever ran before. `after` n is the continuation
        invocation n handed over to: it runs only if nothing started since
        invocation n, so a duplicated hand-over, or one overtaken by a chain
        resumed from the queue, stops at once.
        """
        key = chain_key(job_id, shard, subtask_id, run)
        if after is None:
            attributes = self._call(
                self._table.update_item,
                Key=key,
                UpdateExpression="SET expires_at = :expires ADD invocations :one",
                ExpressionAttributeValues={":expires": expires_at, ":one": 1},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        else:
            attributes = self._conditional_update(
                key,
                UpdateExpression="SET invocations = :next, expires_at = :expires",
                ConditionExpression="invocations = :after",
                ExpressionAttributeValues={":next": after + 1, ":after": after, ":expires": expires_at},
            )
        if attributes is None:
            return None
        checkpointed = attributes.get("checkpointed")
        return ChainStart(int(attributes["invocations"]), None if checkpointed is None else int(checkpointed))

    def outcome_of(self, job_id: str, subtask_id: int, shard: int) -> Outcome | None:
        """The outcome recorded for a subtask, or None while it has none: what a redelivery asks before running again.

        One strongly consistent GetItem of the TASK item's outcome alone, so a
        result kept inline (up to inline_result_max_bytes) is not sent back;
        DynamoDB still charges the read by the whole item's size, 1 RCU per 4 KB.
        """
        item = self._call(
            self._table.get_item,
            Key=task_key(job_id, shard, subtask_id),
            ConsistentRead=True,
            **projection_of(("outcome",)),
        ).get("Item")
        return None if item is None else Outcome(item["outcome"])

    def record_checkpoint(
        self, job_id: str, subtask_id: int, shard: int, run: int, expires_at: int, invocation: int
    ) -> bool:
        """Make invocation `invocation`'s checkpoint the one to resume from; False once a newer invocation started.

        A resumed chain then reads it without probing S3, and an invocation
        overtaken while it ran never replaces the live chain's checkpoint.
        """
        return (
            self._conditional_update(
                chain_key(job_id, shard, subtask_id, run),
                UpdateExpression="SET checkpointed = :invocation, expires_at = :expires",
                ConditionExpression="invocations = :invocation",
                ExpressionAttributeValues={":invocation": invocation, ":expires": expires_at},
            )
            is not None
        )
