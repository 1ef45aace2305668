"""Counting subtask outcomes exactly once: alone, in groups of one transaction, and the never-dispatched as SKIPPED."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.tracker.keys import ShardLayout, job_key, layout_of, shard_key, task_key
from serverless_patterns.fan_in.tracker.model import (
    OUTCOME_COUNTERS,
    Completion,
    CompletionRequest,
    Outcome,
    UnknownJobError,
)
from serverless_patterns.fan_in.tracker.sealing import Sealing
from serverless_patterns.fan_in.tracker.stopping import Stopping
from serverless_patterns.fan_in.tracker.store import TRANSACTION_LIMIT, dynamodb_value, failed_condition

# The layout each registered job was given, read once per job and container (a completion costs no job read):
# (id of the table object, job id) -> (that table object, the layout, the job's expires_at). The table object is
# held so its id names it alone while the entry lives: another table (a new one of the same name, as each unit
# test makes) never meets this one's layouts. A registration's layout never changes, and a job id is registered
# again only once the table's TTL deleted its items, which is after their expires_at: an entry is used only
# before that, so a reused id can never be checked against the layout of the job that had it before.
_registered_layouts: dict[tuple[int, str], tuple[Any, ShardLayout, int]] = {}
MAX_REMEMBERED_LAYOUTS = 1000


class Completions(Sealing, Stopping):
    """Records completions; seals the shards they fill (Sealing) and stops a job past its tolerance (Stopping).

    A subtask is counted only in the shard its job's registered layout gives it (ShardLayout.shard_of), never
    in the one its message names if that is another: a shard counts only its own subtasks, so it is sealed
    and reduced once each of them has an outcome.
    """

    def registered_layout(self, job_id: str) -> ShardLayout | None:
        """The layout `job_id` was registered with, or None for a job with no subtasks (unknown, or rejected)."""
        key = (id(self._table), job_id)
        remembered = _registered_layouts.get(key)
        if remembered is not None and self._clock().timestamp() < remembered[2]:
            return remembered[1]
        names = {"#total": "total", "#count": "shard_count", "#width": "shard_width", "#expires": "expires_at"}
        job = self._call(
            self._table.get_item,
            Key=job_key(job_id),
            ConsistentRead=True,  # written before any subtask was sent, maybe a moment ago
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ).get("Item")
        if not job or not int(job.get("total", 0)) or "shard_width" not in job:
            return None  # never registered, expired, or rejected before it had subtasks: nothing to remember
        layout = layout_of(job)
        if len(_registered_layouts) >= MAX_REMEMBERED_LAYOUTS:
            _registered_layouts.clear()
        _registered_layouts[key] = (self._table, layout, int(job.get("expires_at", 0)))
        return layout

    def _refusal(self, job_id: str, subtask_id: int, shard: int) -> UnknownJobError | None:
        """Why subtask `subtask_id` may not be counted in `shard`, by the job's registered layout; None if it may."""
        layout = self.registered_layout(job_id)
        if layout is None:
            return UnknownJobError(
                f"job {job_id} was never registered (or has expired): subtask {subtask_id} of shard {shard} "
                "is not counted; only the ventilator's messages of a registered job can be"
            )
        if not 0 <= subtask_id < layout.total:
            return UnknownJobError(
                f"job {job_id} has subtasks 0 to {layout.total - 1}: subtask {subtask_id} (shard {shard}) is "
                "outside it and is not counted; the message was not sent by the job's ventilator"
            )
        if layout.shard_of(subtask_id) != shard:
            return UnknownJobError(
                f"job {job_id} counts subtask {subtask_id} in shard {layout.shard_of(subtask_id)}, not in shard "
                f"{shard} that its message names: not counted; a message must name the shard its job's "
                "registered layout gives the subtask (ShardLayout.shard_of of the job's total, shard_count "
                "and shard_width)"
            )
        return None

    def record_completion(
        self,
        job_id: str,
        subtask_id: int,
        shard: int,
        outcome: Outcome,
        detail: dict[str, Any] | None = None,
        expires_at: int = 0,
        run: int = 0,
        count_failure_on_job: bool = False,
    ) -> Completion:
        """Count subtask `subtask_id` of shard `shard` (its ShardLayout.shard_of) once.

        `run` is the job's run that sent it: a shard reopened by a redrive
        counts only its new run, so a late duplicate of an older one is never
        counted there. A job with a failure tolerance also counts its failures
        on the job item (`count_failure_on_job`), in the same transaction.
        A subtask its job's registered layout does not put in `shard` is refused
        (UnknownJobError) and counted nowhere.
        """
        if refusal := self._refusal(job_id, subtask_id, shard):
            raise refusal
        request = CompletionRequest(job_id, subtask_id, shard, outcome, detail or {}, expires_at)
        task = self._task_item(request)
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table.name, "Item": task, "ConditionExpression": "attribute_not_exists(pk)"}},
            self._count_on_shard(job_id, shard, {OUTCOME_COUNTERS[outcome]: 1}, [subtask_id], run),
        ]
        if outcome is Outcome.FAILED and count_failure_on_job:
            # Failures are also counted on the job, in the same transaction, to hold them to its tolerance.
            actions.append(
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": job_key(job_id),
                        "UpdateExpression": "ADD failed_subtasks :one",
                        "ExpressionAttributeValues": {":one": 1},
                    }
                }
            )
        try:
            self._call(self._client.transact_write_items, TransactItems=actions)
            first = True
        except ClientError as error:
            if failed_condition(error, 0):
                first = False
            elif failed_condition(error, 1):
                if self._reopened_since(job_id, shard, run):
                    return Completion(first=False, shard=shard, sealed_shard=False)
                raise UnknownJobError(
                    f"job {job_id} has no shard {shard} holding subtask {subtask_id}: "
                    "the job was never registered, or the message names a subtask outside it"
                ) from None
            else:
                raise
        if first and outcome is Outcome.FAILED and count_failure_on_job:
            self.stop_past_tolerance(job_id)
        return Completion(first=first, shard=shard, sealed_shard=self._seal_if_full(job_id, shard))

    def _task_item(self, request: CompletionRequest) -> dict[str, Any]:
        task = {
            **task_key(request.job_id, request.shard, request.subtask_id),
            "subtask_id": request.subtask_id,
            "outcome": request.outcome.value,
            "completed_at": self._timestamp(),
            **dynamodb_value(request.detail),
        }
        if request.expires_at:
            task["expires_at"] = request.expires_at
        return task

    def record_completions(self, requests: list[CompletionRequest]) -> list[Completion | Exception]:
        """Count many subtasks once each, in one transaction where DynamoDB allows; answers in request order.

        The TASK markers of all of them and one counter update per shard go
        together, so a batch of ten costs one transaction and one shard read,
        not ten of each: 2 WCU per marker plus 2 per shard instead of 4 per
        subtask. A marker refused by its condition is a duplicate: it is left
        out and the rest sent again. What a group cannot hold (two requests
        for one item, another run of the same shard, failures counted on the
        job) and every request of a shard whose counter refused the group is
        recorded alone by record_completion, with its own answer: a request
        that cannot be counted (UnknownJobError, say: a subtask of no
        registered job, or one its job's layout puts in another shard) is
        answered with its exception, and the others are still counted.
        """
        if len(requests) > TRANSACTION_LIMIT // 2:
            raise ValueError(f"at most {TRANSACTION_LIMIT // 2} completions at once, not {len(requests)}")
        firsts: dict[int, bool] = {}
        alone: list[int] = []
        groups: dict[tuple[str, int], list[int]] = {}
        seen: set[tuple[str, int, int]] = set()
        answers: dict[int, Completion | Exception] = {}
        for index, request in enumerate(requests):
            try:
                refusal = self._refusal(request.job_id, request.subtask_id, request.shard)
            except Exception as error:  # the layout could not be read (throttled past its retries): this one only
                refusal = error
            if refusal:
                answers[index] = refusal
                continue
            key = (request.job_id, request.shard)
            group = groups.get(key)
            identity = (request.job_id, request.shard, request.subtask_id)
            if (
                identity in seen
                or (request.outcome is Outcome.FAILED and request.count_failure_on_job)
                or (group and requests[group[0]].run != request.run)
            ):
                alone.append(index)
                continue
            seen.add(identity)
            groups.setdefault(key, []).append(index)
        while groups:
            actions, owners = self._group_actions(requests, groups)
            try:
                self._call(self._client.transact_write_items, TransactItems=actions)
            except ClientError as error:
                refused = [owners[i] for i in range(len(actions)) if failed_condition(error, i)]
                if not refused:
                    raise
                for key, index in refused:
                    if index is None:  # the shard's counter: its requests get their own answers
                        alone.extend(groups.pop(key, []))
                    elif index in groups.get(key, []):  # already counted: a duplicate delivery
                        firsts[index] = False
                        groups[key].remove(index)
                        if not groups[key]:
                            del groups[key]
                continue
            for members in groups.values():
                firsts.update(dict.fromkeys(members, True))
            break
        for index in alone:
            request = requests[index]
            try:
                answers[index] = self.record_completion(
                    request.job_id,
                    request.subtask_id,
                    request.shard,
                    request.outcome,
                    request.detail,
                    request.expires_at,
                    run=request.run,
                    count_failure_on_job=request.count_failure_on_job,
                )
            except Exception as error:
                answers[index] = error
        # Every delivery re-checks its shard (see _seal_if_full); for a group, one read of all its shards.
        touched = list(dict.fromkeys((requests[index].job_id, requests[index].shard) for index in firsts))
        sealed = self._seal_full_shards(touched) if touched else {}
        for index in sorted(firsts):
            request = requests[index]
            key = (request.job_id, request.shard)
            seal = sealed.get(key, False)
            if isinstance(seal, Exception):
                # Counted, but the seal check failed: answered with the error, the message comes back, and its
                # redelivery (or, past its receives, the DLQ handler's record of it) checks the shard again.
                answers[index] = seal
                continue
            answers[index] = Completion(first=firsts[index], shard=request.shard, sealed_shard=seal)
            sealed[key] = False  # one completion starts the shard's reduction
        return [answers[index] for index in range(len(requests))]

    def _group_actions(
        self, requests: list[CompletionRequest], groups: dict[tuple[str, int], list[int]]
    ) -> tuple[list[dict[str, Any]], list[tuple[tuple[str, int], int | None]]]:
        """The transaction of the groups: each request's marker, then its shard's one counter update."""
        actions: list[dict[str, Any]] = []
        owners: list[tuple[tuple[str, int], int | None]] = []
        for key, members in groups.items():
            counts: dict[str, int] = {}
            for index in members:
                request = requests[index]
                actions.append(
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": self._task_item(request),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
                owners.append((key, index))
                counter = OUTCOME_COUNTERS[request.outcome]
                counts[counter] = counts.get(counter, 0) + 1
            ids = [requests[index].subtask_id for index in members]
            actions.append(self._count_on_shard(*key, counts, ids, requests[members[0]].run))
            owners.append((key, None))
        return actions, owners

    def _count_on_shard(
        self, job_id: str, shard: int, counts: dict[str, int], subtask_ids: list[int], run: int
    ) -> dict[str, Any]:
        """The transaction action adding completions to a shard's counters.

        Refused (ConditionalCheckFailed) unless the shard exists, holds every
        one of the subtasks, and counts `run` (a redrive's reopened shard
        counts only its new run).
        """
        added = ", ".join(f"{counter} :{counter}" for counter in sorted(counts))
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": shard_key(job_id, shard),
                "UpdateExpression": f"ADD completed :completed, {added}",
                "ConditionExpression": (
                    "attribute_exists(pk) AND (attribute_not_exists(first_subtask)"
                    " OR (:low BETWEEN first_subtask AND last_subtask"
                    " AND :high BETWEEN first_subtask AND last_subtask))"
                    " AND (attribute_not_exists(#run) OR #run = :run)"
                ),
                "ExpressionAttributeNames": {"#run": "run"},
                "ExpressionAttributeValues": {
                    ":completed": sum(counts.values()),
                    ":low": min(subtask_ids),
                    ":high": max(subtask_ids),
                    ":run": run,
                    **{f":{counter}": n for counter, n in counts.items()},
                },
            }
        }

    def _reopened_since(self, job_id: str, shard: int, run: int) -> bool:
        """Whether a redrive reopened the shard for a later run than `run`: its message is stale, not unknown."""
        item = self._read(shard_key(job_id, shard))
        return item is not None and int(item.get("run", 0)) > run

    def skip_subtasks(
        self, job_id: str, layout: ShardLayout, first: int, expires_at: int, end: int | None = None
    ) -> list[int]:
        """Count subtasks first..end-1 (end: the job's total), never dispatched, as SKIPPED, exactly once; the
        shards this sealed.

        Up to 99 of one shard's TASK items and its counters go in one
        transaction; a batch meeting a subtask counted already (a message that
        was sent after all) is counted item by item instead. `layout` must be
        the one the job was registered with (UnknownJobError otherwise).
        """
        if layout != (registered := self.registered_layout(job_id)):
            raise UnknownJobError(
                f"job {job_id} was registered with {registered}, not {layout}: "
                "nothing skipped; skip with the job's own layout (layout_of(job))"
            )
        by_shard: dict[int, list[int]] = {}
        for subtask_id in range(first, layout.total if end is None else min(end, layout.total)):
            by_shard.setdefault(layout.shard_of(subtask_id), []).append(subtask_id)
        sealed = set()
        for shard, subtask_ids in sorted(by_shard.items()):
            for start in range(0, len(subtask_ids), TRANSACTION_LIMIT - 1):
                batch = subtask_ids[start : start + TRANSACTION_LIMIT - 1]
                if not self._skip_together(job_id, shard, batch, expires_at):
                    for subtask_id in batch:
                        if self.record_completion(
                            job_id, subtask_id, shard, Outcome.SKIPPED, None, expires_at
                        ).sealed_shard:
                            sealed.add(shard)
            if self._seal_if_full(job_id, shard):
                sealed.add(shard)
        return sorted(sealed)

    def _skip_together(self, job_id: str, shard: int, subtask_ids: list[int], expires_at: int) -> bool:
        now = self._timestamp()
        puts = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {
                        **task_key(job_id, shard, subtask_id),
                        "subtask_id": subtask_id,
                        "outcome": Outcome.SKIPPED.value,
                        "completed_at": now,
                        "expires_at": expires_at,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for subtask_id in subtask_ids
        ]
        counters = {
            "Update": {
                "TableName": self._table.name,
                "Key": shard_key(job_id, shard),
                "UpdateExpression": "ADD completed :n, skipped :n",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":n": len(subtask_ids)},
            }
        }
        try:
            self._call(self._client.transact_write_items, TransactItems=[*puts, counters])
        except ClientError as error:
            if any(failed_condition(error, index) for index in range(len(puts))):
                return False
            raise
        return True
