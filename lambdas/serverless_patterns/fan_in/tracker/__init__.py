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

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.shared.retries import Backoff, cancellation_reasons

MAX_SHARDS = 1000  # bounds the objects the final merge reads
MAX_RETRYING_READ = 1000  # the attempt errors one status read looks at (no messages): a few requests
ERROR_BRIEF = ("sk", "attempts", "failed_at")  # what a status reads of each attempt error
BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
SHARD_REDUCING = "REDUCING"  # the status a sealed, not yet reduced shard shows in the status index


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    TIMED_OUT = "TIMED_OUT"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REDRIVING = "REDRIVING"  # its failed and skipped subtasks are being reopened, before they run again


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # not run: its job was cancelled or failed past its tolerance


class StopReason(StrEnum):
    CANCELLED = "CANCELLED"
    FAILURE_TOLERANCE = "FAILURE_TOLERANCE"
    WORKLOAD_UNAVAILABLE = "WORKLOAD_UNAVAILABLE"  # the workers cannot load the job's workload: a deployment fault


FINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.TIMED_OUT, JobStatus.FAILED, JobStatus.CANCELLED}
)
OUTCOME_COUNTERS = {Outcome.SUCCEEDED: "succeeded", Outcome.FAILED: "failed", Outcome.SKIPPED: "skipped"}


class UnknownJobError(LookupError):
    pass


@dataclass(frozen=True)
class Completion:
    first: bool  # False: a duplicate delivery, not counted
    shard: int
    sealed_shard: bool  # True for exactly one completion per shard: start the shard's reduction


@dataclass(frozen=True)
class CompletionRequest:
    """One subtask's outcome to count: what record_completions takes."""

    job_id: str
    subtask_id: int
    shard: int
    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)
    expires_at: int = 0
    run: int = 0
    count_failure_on_job: bool = False


@dataclass(frozen=True)
class ChainStart:
    """An invocation of a resumable subtask: its number, and the invocation whose checkpoint it resumes from."""

    number: int
    checkpointed: int | None


@dataclass(frozen=True)
class Registration:
    created: bool  # False: a job with this id existed already; `job` is that job
    job: dict[str, Any]


@dataclass(frozen=True)
class Retrying:
    """The subtasks of a running job whose last attempt failed and that have no outcome yet: SQS retries them."""

    subtasks: int
    attempts: int  # their failed attempts so far
    last_error: dict[str, Any]  # the most recent one: type, message, subtask_id, attempts, at
    exact: bool = True  # False: more were failing than one look reads (MAX_RETRYING_READ); these are the first

    def as_dict(self) -> dict[str, Any]:
        return {
            "subtasks": self.subtasks,
            "attempts": self.attempts,
            "last_error": self.last_error,
            **({} if self.exact else {"at_least": True}),
        }


@dataclass(frozen=True)
class Progress:
    job: dict[str, Any]
    total: int
    succeeded: int
    failed: int
    skipped: int = 0
    retrying: Retrying | None = None  # RUNNING jobs only

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed + self.skipped


@dataclass(frozen=True)
class ShardLayout:
    """Which shard counts which subtask: `rounds` consecutive runs of subtasks, `width` shards each.

    Rounds differ by one subtask at most and hold at least `width` subtasks,
    so no shard is ever empty (an empty shard would never be sealed).
    """

    total: int
    shard_count: int  # a multiple of width
    width: int  # shards written at once

    @classmethod
    def plan(cls, total: int, subtasks_per_shard: int, parallel_shards: int) -> ShardLayout:
        """`parallel_shards` shards at a time (fewer for a smaller job), none over subtasks_per_shard
        unless that takes more than MAX_SHARDS in all."""
        width = max(1, min(parallel_shards, total, MAX_SHARDS))
        shards_needed = _ceil_div(total, subtasks_per_shard)
        rounds = max(1, min(_ceil_div(shards_needed, width), MAX_SHARDS // width, total // width))
        return cls(total, width * rounds, width)

    @property
    def rounds(self) -> int:
        return self.shard_count // self.width

    def _round_size(self, round_index: int) -> int:
        return self.total // self.rounds + (1 if round_index < self.total % self.rounds else 0)

    def shard_of(self, subtask_id: int) -> int:
        base, longer = divmod(self.total, self.rounds)  # the first `longer` rounds hold base + 1
        if subtask_id < longer * (base + 1):
            round_index, offset = divmod(subtask_id, base + 1)
        else:
            round_index, offset = divmod(subtask_id - longer * (base + 1), base)
            round_index += longer
        return round_index * self.width + offset % self.width

    def expected(self, shard: int) -> int:
        round_index, position = divmod(shard, self.width)
        size = self._round_size(round_index)
        return size // self.width + (1 if position < size % self.width else 0)

    def first_of(self, shard: int) -> int:
        """The shard's first subtask; the others follow it `width` apart."""
        round_index, position = divmod(shard, self.width)
        base, longer = divmod(self.total, self.rounds)
        return round_index * base + min(round_index, longer) + position

    def last_of(self, shard: int) -> int:
        return self.first_of(shard) + (self.expected(shard) - 1) * self.width


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def layout_of(job: dict[str, Any]) -> ShardLayout:
    """The shard layout a registered job was given."""
    return ShardLayout(int(job["total"]), int(job["shard_count"]), int(job["shard_width"]))


def _now() -> datetime:
    return datetime.now(UTC)


def _job_key(job_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job_id}", "sk": "JOB"}


def _shard_pk(job_id: str, shard: int) -> str:
    return f"JOB#{job_id}#SHARD#{shard:04d}"


def _subtask_number(sort_key: str) -> int:
    """The subtask id in a TASK#<i> or ERROR#<i> sort key."""
    return int(sort_key.partition("#")[2])


def _shard_number(shard_pk: str) -> int:
    return int(shard_pk.rpartition("#SHARD#")[2])


def _shard_key(job_id: str, shard: int) -> dict[str, str]:
    return {"pk": _shard_pk(job_id, shard), "sk": "SHARD"}


def _task_key(job_id: str, shard: int, subtask_id: int) -> dict[str, str]:
    return {"pk": _shard_pk(job_id, shard), "sk": f"TASK#{subtask_id:09d}"}


def _projection(attributes: tuple[str, ...]) -> dict[str, Any]:
    """The read parameters that return only `attributes` of each item (all of them when none are named)."""
    if not attributes:
        return {}
    names = {f"#a{index}": name for index, name in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def _error_key(job_id: str, shard: int, subtask_id: int) -> dict[str, str]:
    return {"pk": _shard_pk(job_id, shard), "sk": f"ERROR#{subtask_id:09d}"}


def _chain_key(job_id: str, shard: int, subtask_id: int, run: int) -> dict[str, str]:
    return {"pk": _shard_pk(job_id, shard), "sk": f"CHAIN#{subtask_id:09d}#{run}"}


def _failed_condition(error: ClientError, index: int | None = None) -> bool:
    """Whether a request (or item `index` of a transaction) was refused by its condition."""
    code = error.response.get("Error", {}).get("Code")
    if index is None:
        return code == "ConditionalCheckFailedException"
    if code != "TransactionCanceledException":
        return False
    reasons = cancellation_reasons(error)
    return index < len(reasons) and reasons[index] == "ConditionalCheckFailed"


def dynamodb_value(document: Any) -> Any:
    """A JSON-able value as DynamoDB stores it (it takes no floats)."""
    return json.loads(json.dumps(document), parse_float=Decimal)


class JobTracker:
    def __init__(self, table: Any, clock: Callable[[], datetime] = _now, backoff: Backoff | None = None) -> None:
        self._table = table
        self._client = table.meta.client  # the resource's client: takes and returns plain Python values
        self._clock = clock
        self.backoff = backoff or Backoff()

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        return self.backoff.call(lambda: operation(**kwargs))

    def _read(self, key: dict[str, str]) -> dict[str, Any] | None:
        """One item, strongly consistent, or None."""
        return self._call(self._table.get_item, Key=key, ConsistentRead=True).get("Item")

    def _conditional_update(self, key: dict[str, str], **kwargs: Any) -> dict[str, Any] | None:
        """An UpdateItem returning the new values, or None when its condition failed."""
        try:
            return self._call(self._table.update_item, Key=key, ReturnValues="ALL_NEW", **kwargs)["Attributes"]
        except ClientError as error:
            if _failed_condition(error):
                return None
            raise

    def _timestamp(self) -> str:
        return self._clock().isoformat()

    # -- registration -----------------------------------------------------------------

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
            **_job_key(job_id),
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
            if not _failed_condition(error):
                raise
            return Registration(created=False, job=self.get_job(job_id) or {})
        self.create_shards(job)
        return Registration(created=True, job=_plain({**job, "shards_ready": True}))

    def create_shards(self, job: dict[str, Any]) -> None:
        """Write a registered job's shard items and mark them ready. Safe only before any dispatch."""
        job_id, layout = job["job_id"], layout_of(job)
        shards = [
            {
                **_shard_key(job_id, shard),
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
            Key=_job_key(job_id),
            UpdateExpression="SET shards_ready = :true",
            ExpressionAttributeValues={":true": True},
        )

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table.name: [{"PutRequest": {"Item": item}} for item in items]}
        for _ in range(self.backoff.attempts):
            answer = self._call(self._client.batch_write_item, RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            self.backoff.sleep(self.backoff.cap_seconds / 4)
        raise RuntimeError(f"DynamoDB left {len(pending[self._table.name])} shard items unwritten: retry the job")

    def record_dispatch(self, job_id: str, dispatched_until: int) -> None:
        """Remember how far dispatch got, so a repeated submission never sends the same subtasks again."""
        self._conditional_update(
            _job_key(job_id),
            UpdateExpression="SET dispatched_until = :until, dispatch_updated_at = :now",
            ConditionExpression="dispatched_until < :until",
            ExpressionAttributeValues={":until": dispatched_until, ":now": self._timestamp()},
        )

    def take_over_dispatch(self, job_id: str, seen_updated_at: str, dispatcher: str) -> bool:
        """Claim a dispatch whose ventilator stopped; True for the one caller that claimed it."""
        return (
            self._conditional_update(
                _job_key(job_id),
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
                    **_job_key(job_id),
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
            if _failed_condition(failure):
                return False
            raise
        return True

    # -- completions --------------------------------------------------------------------

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
        """
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
                        "Key": _job_key(job_id),
                        "UpdateExpression": "ADD failed_subtasks :one",
                        "ExpressionAttributeValues": {":one": 1},
                    }
                }
            )
        try:
            self._call(self._client.transact_write_items, TransactItems=actions)
            first = True
        except ClientError as error:
            if _failed_condition(error, 0):
                first = False
            elif _failed_condition(error, 1):
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
            **_task_key(request.job_id, request.shard, request.subtask_id),
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
        that cannot be counted (UnknownJobError, say) is answered with its
        exception, and the others are still counted.
        """
        if len(requests) > TRANSACTION_LIMIT // 2:
            raise ValueError(f"at most {TRANSACTION_LIMIT // 2} completions at once, not {len(requests)}")
        firsts: dict[int, bool] = {}
        alone: list[int] = []
        groups: dict[tuple[str, int], list[int]] = {}
        seen: set[tuple[str, int, int]] = set()
        for index, request in enumerate(requests):
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
                refused = [owners[i] for i in range(len(actions)) if _failed_condition(error, i)]
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
        answers: dict[int, Completion | Exception] = {}
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
                # Counted, but the seal check failed: a redelivery checks again (the sweeper, if none comes).
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
                "Key": _shard_key(job_id, shard),
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
        item = self._read(_shard_key(job_id, shard))
        return item is not None and int(item.get("run", 0)) > run

    def skip_subtasks(self, job_id: str, layout: ShardLayout, first: int, expires_at: int) -> list[int]:
        """Count subtasks first..total-1, never dispatched, as SKIPPED, exactly once; the shards this sealed.

        Up to 99 of one shard's TASK items and its counters go in one
        transaction; a batch meeting a subtask counted already (a message that
        was sent after all) is counted item by item instead.
        """
        by_shard: dict[int, list[int]] = {}
        for subtask_id in range(first, layout.total):
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
                        **_task_key(job_id, shard, subtask_id),
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
                "Key": _shard_key(job_id, shard),
                "UpdateExpression": "ADD completed :n, skipped :n",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":n": len(subtask_ids)},
            }
        }
        try:
            self._call(self._client.transact_write_items, TransactItems=[*puts, counters])
        except ClientError as error:
            if any(_failed_condition(error, index) for index in range(len(puts))):
                return False
            raise
        return True

    # -- redrive -------------------------------------------------------------------------

    def begin_redrive(
        self, job_id: str, max_redrives: int, timeout_seconds: int, redriver: str
    ) -> dict[str, Any] | None:
        """PARTIAL or FAILED (with a result, not timed out) -> REDRIVING, as the job's next run.

        The job for the one caller that claimed it (`redriver`, its request
        id), or None when refused.
        """
        now = self._clock()
        item = self._conditional_update(
            _job_key(job_id),
            UpdateExpression=(
                "SET #status = :redriving, #run = if_not_exists(#run, :zero) + :one, "
                "redrives = if_not_exists(redrives, :zero) + :one, redriver = :redriver, "
                "deadline = :deadline, failed_subtasks = :zero, redriven_at = :now "
                "REMOVE #result, published_at, publication_claimed_at, finished_at, completing_at, #stop, "
                "consolidation_attempts, last_consolidation_error"
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
        return _plain(item) if item else None

    def take_over_redrive(self, job_id: str, seen_redriven_at: str, redriver: str) -> dict[str, Any] | None:
        """Claim a REDRIVING job whose redrive stopped (its claim is `seen_redriven_at`); the job, or None."""
        item = self._conditional_update(
            _job_key(job_id),
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
        return _plain(item) if item else None

    def finish_redrive(self, job_id: str, redriver: str) -> dict[str, Any] | None:
        """REDRIVING -> RUNNING once every reopened subtask was sent; the job, or None if another took over."""
        item = self._conditional_update(
            _job_key(job_id),
            UpdateExpression="SET #status = :running",
            ConditionExpression="#status = :redriving AND redriver = :redriver",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":running": JobStatus.RUNNING.value,
                ":redriving": JobStatus.REDRIVING.value,
                ":redriver": redriver,
            },
        )
        return _plain(item) if item else None

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
                    "Key": _task_key(job_id, shard, task["subtask_id"]),
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
            "Key": _shard_key(job_id, shard),
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
                update + " REMOVE sealed, sealed_at, reduced, reduce_attempts, #status, deadline"
            )
            shard_update["ConditionExpression"] = "attribute_exists(reduced)"
            shard_update["ExpressionAttributeNames"] = {"#status": "status", "#run": "run"}
            job_update = {
                "TableName": self._table.name,
                "Key": _job_key(job_id),
                "UpdateExpression": "ADD shards_reduced :minus_one",
                "ExpressionAttributeValues": {":minus_one": -1},
            }
            actions.append({"Update": job_update})
        actions.append({"Update": shard_update})
        try:
            self._call(self._client.transact_write_items, TransactItems=actions)
        except ClientError as error:
            if unseal and _failed_condition(error, len(actions) - 1):
                return False
            if any(_failed_condition(error, index) for index in range(len(deletes))):
                return True  # done by an earlier attempt: the batch's items are gone already
            raise
        return True

    # -- stopping: cancel and failure tolerance -------------------------------------------

    def request_stop(
        self, job_id: str, reason: StopReason, error: dict[str, str] | None = None, run: int | None = None
    ) -> dict[str, Any] | None:
        """Stop a RUNNING job: nothing more is dispatched and workers skip what is left.

        `error` (type, message) says why, where the job's status and manifest
        show the stop; `run`, if given, stops only that run of the job (a worker's
        subtask from an older run must not stop a redrive). The job for the one
        caller that stopped it; None if it was not running or stopped already.
        """
        stop: dict[str, Any] = {"reason": reason.value, "at": self._timestamp()}
        if error:
            stop["error"] = error
        condition = "#status = :running AND attribute_not_exists(#stop)"
        values: dict[str, Any] = {":stop": stop, ":running": JobStatus.RUNNING.value}
        if run is not None:
            condition += " AND (#run = :run OR (attribute_not_exists(#run) AND :run = :zero))"
            values.update({":run": run, ":zero": 0})
        item = self._conditional_update(
            _job_key(job_id),
            UpdateExpression="SET #stop = :stop",
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#status": "status",
                "#stop": "stop",
                **({"#run": "run"} if run is not None else {}),
            },
            ExpressionAttributeValues=values,
        )
        return _plain(item) if item else None

    def stop_past_tolerance(self, job_id: str) -> bool:
        """Stop a job whose failed subtasks went past its failure_limit; True for the one caller that stopped it."""
        return (
            self._conditional_update(
                _job_key(job_id),
                UpdateExpression="SET #stop = :stop",
                ConditionExpression=(
                    "#status = :running AND attribute_not_exists(#stop) AND failed_subtasks > failure_limit"
                ),
                ExpressionAttributeNames={"#status": "status", "#stop": "stop"},
                ExpressionAttributeValues={
                    ":stop": {"reason": StopReason.FAILURE_TOLERANCE.value, "at": self._timestamp()},
                    ":running": JobStatus.RUNNING.value,
                },
            )
            is not None
        )

    def stop_of(self, job_id: str, run: int = 0) -> dict[str, Any] | None:
        """Why run `run` of a job was stopped, or None: what a worker checks before it runs a subtask.

        A redrive starts a new run without the stop, so subtasks it sends are never skipped for an older one.
        """
        item = (
            self._call(
                self._table.get_item,
                Key=_job_key(job_id),
                ProjectionExpression="#stop, #run",
                ExpressionAttributeNames={"#stop": "stop", "#run": "run"},
            ).get("Item")
            or {}
        )
        return item.get("stop") if int(item.get("run", 0)) == run else None

    def _seal_if_full(self, job_id: str, shard: int) -> bool:
        """Seal a full shard for its reduction; True for the one caller that sealed it.

        Re-checked on every delivery, duplicates included, so a worker that
        crashed between counting and sealing is completed by a redelivery.
        """
        return self._seal_if_filled(self._read(_shard_key(job_id, shard)) or {})

    def _seal_full_shards(self, shards: list[tuple[str, int]]) -> dict[tuple[str, int], bool | Exception]:
        """_seal_if_full for many shards, read in one request: whether this caller sealed each, or why it could not.

        A failure is kept for its own shard, so a shard sealed here still starts its reduction.
        """
        keys = [_shard_key(job_id, shard) for job_id, shard in shards]
        try:
            # One shard (a subtask counted alone) is one GetItem, as record_completion's own check.
            items = [self._read(keys[0])] if len(keys) == 1 else self._read_together(keys)
        except Exception as error:
            return dict.fromkeys(shards, error)
        by_pk = {item["pk"]: item for item in items if item}
        outcomes: dict[tuple[str, int], bool | Exception] = {}
        for job_id, shard in shards:
            try:
                outcomes[(job_id, shard)] = self._seal_if_filled(by_pk.get(_shard_pk(job_id, shard), {}))
            except Exception as error:
                outcomes[(job_id, shard)] = error
        return outcomes

    def _seal_if_filled(self, item: dict[str, Any]) -> bool:
        if not item or item.get("sealed") or int(item.get("completed", 0)) < int(item.get("expected", 1)):
            return False
        key = {"pk": item["pk"], "sk": item["sk"]}
        now = self._timestamp()
        return (
            self._conditional_update(
                key,
                UpdateExpression="SET sealed = :true, sealed_at = :now, #status = :reducing, deadline = :now",
                ConditionExpression="attribute_not_exists(sealed)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":true": True, ":now": now, ":reducing": SHARD_REDUCING},
            )
            is not None
        )

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
            Key=_error_key(job_id, shard, subtask_id),
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
                            "Key": _error_key(job_id, shard, subtask_id),
                            "UpdateExpression": "SET counted = :true",
                            "ConditionExpression": "attribute_not_exists(counted)",
                            "ExpressionAttributeValues": {":true": True},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": _shard_key(job_id, shard),
                            "UpdateExpression": "ADD retried :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ],
            )
        except ClientError as failure:
            # Counted by a concurrent attempt already, or a shard that does not exist: nothing to count.
            if not (_failed_condition(failure, 0) or _failed_condition(failure, 1)):
                raise

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
        keys = [_task_key(job_id, item["shard"], _subtask_number(item["sk"])) for item in errors]
        finished = {item["sk"].removeprefix("TASK#") for item in self._read_together(keys, ("pk", "sk"))}
        open_errors = [item for item in errors if item["sk"].removeprefix("ERROR#") not in finished]
        if not open_errors:
            return None
        last = max(open_errors, key=lambda item: item.get("failed_at", ""))
        [latest] = self._read_together([_error_key(job_id, last["shard"], _subtask_number(last["sk"]))]) or [{}]
        return Retrying(
            subtasks=len(open_errors),
            attempts=sum(int(item.get("attempts", 0)) for item in open_errors),
            last_error={
                **_plain(latest).get("error", {"type": "unknown", "message": "not recorded"}),
                "subtask_id": _subtask_number(last["sk"]),
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
            "ExpressionAttributeValues": {":pk": _shard_pk(job_id, shard), ":error": "ERROR#"},
            "Limit": limit,
        }
        kwargs.update(_projection(attributes))
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = self._call(self._table.query, **kwargs)
            items.extend(_plain(item) for item in page["Items"])
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
        key = _chain_key(job_id, shard, subtask_id, run)
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

    def record_checkpoint(
        self, job_id: str, subtask_id: int, shard: int, run: int, expires_at: int, invocation: int
    ) -> bool:
        """Make invocation `invocation`'s checkpoint the one to resume from; False once a newer invocation started.

        A resumed chain then reads it without probing S3, and an invocation
        overtaken while it ran never replaces the live chain's checkpoint.
        """
        return (
            self._conditional_update(
                _chain_key(job_id, shard, subtask_id, run),
                UpdateExpression="SET checkpointed = :invocation, expires_at = :expires",
                ConditionExpression="invocations = :invocation",
                ExpressionAttributeValues={":invocation": invocation, ":expires": expires_at},
            )
            is not None
        )

    def last_error(self, job_id: str, subtask_id: int, shard: int) -> dict[str, Any] | None:
        item = self._read(_error_key(job_id, shard, subtask_id))
        return {**item["error"], "attempts": int(item.get("attempts", 0))} if item else None

    # -- reductions ---------------------------------------------------------------------

    def shard(self, job_id: str, shard: int) -> dict[str, Any] | None:
        item = self._read(_shard_key(job_id, shard))
        return _plain(item) if item else None

    def shards(self, job_id: str, shard_count: int) -> list[dict[str, Any]]:
        """Every shard item of a job that exists, with its number as `shard`, in shard order (BatchGetItem)."""
        found = self._read_together([_shard_key(job_id, shard) for shard in range(shard_count)])
        return sorted(
            ({**_plain(item), "shard": _shard_number(item["pk"])} for item in found), key=lambda i: i["shard"]
        )

    def _read_together(self, keys: list[dict[str, str]], attributes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The items of these keys that exist (only `attributes` of them, if named), read with BatchGetItem,
        strongly consistent, in no given order."""
        found: list[dict[str, Any]] = []
        projection = _projection(attributes)
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table.name: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True, **projection}
            }
            for _ in range(self.backoff.attempts):
                answer = self._call(self._client.batch_get_item, RequestItems=request)
                found.extend(answer.get("Responses", {}).get(self._table.name, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                self.backoff.sleep(self.backoff.cap_seconds / 4)
            else:
                raise RuntimeError(
                    f"DynamoDB kept {len(keys)} reads unprocessed after {self.backoff.attempts} attempts"
                )
        return found

    def shard_tasks(self, job_id: str, shard: int, attributes: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        """The TASK items of one shard (only `attributes` of them, if named), page by page."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :task)",
            "ExpressionAttributeValues": {":pk": _shard_pk(job_id, shard), ":task": "TASK#"},
            "ConsistentRead": True,
        }
        kwargs.update(_projection(attributes))
        while True:
            page = self._call(self._table.query, **kwargs)
            yield from (_plain(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def subtasks(self, job_id: str, shard_count: int) -> Iterator[dict[str, Any]]:
        for shard in range(shard_count):
            yield from self.shard_tasks(job_id, shard)

    def begin_reduction(self, job_id: str, shard: int) -> int | None:
        """Count an attempt to reduce a sealed shard; its number, or None if the shard needs none."""
        item = self._conditional_update(
            _shard_key(job_id, shard),
            UpdateExpression="SET deadline = :now ADD reduce_attempts :one",
            ConditionExpression="attribute_exists(sealed) AND attribute_not_exists(reduced)",
            ExpressionAttributeValues={":now": self._timestamp(), ":one": 1},
        )
        return int(item["reduce_attempts"]) if item else None

    def record_reduction(self, job_id: str, shard: int, summary: dict[str, Any]) -> bool:
        """Mark a shard reduced and count it on the job, atomically; False if it was reduced already."""
        try:
            self._call(
                self._client.transact_write_items,
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": _shard_key(job_id, shard),
                            "UpdateExpression": "SET reduced = :summary REMOVE #status, deadline",
                            "ConditionExpression": "attribute_not_exists(reduced)",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {":summary": dynamodb_value(summary)},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": _job_key(job_id),
                            "UpdateExpression": "ADD shards_reduced :one",
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ],
            )
        except ClientError as error:
            if _failed_condition(error, 0):
                return False
            raise
        return True

    def release_shard(self, job_id: str, shard: int) -> None:
        """Take a shard of a finished job out of the status index: nobody will reduce it any more."""
        self._call(
            self._table.update_item,
            Key=_shard_key(job_id, shard),
            UpdateExpression="REMOVE #status, deadline",
            ExpressionAttributeNames={"#status": "status"},
        )

    # -- status transitions ---------------------------------------------------------------

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
                _job_key(job_id),
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

    def begin_consolidation(self, job_id: str) -> int | None:
        """Count an attempt at a COMPLETING job's final merge; its number, or None if the job is not completing."""
        item = self._conditional_update(
            _job_key(job_id),
            UpdateExpression="SET deadline = :now ADD consolidation_attempts :one",
            ConditionExpression="#status = :completing",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now": self._timestamp(),
                ":one": 1,
                ":completing": JobStatus.COMPLETING.value,
            },
        )
        return int(item["consolidation_attempts"]) if item else None

    def record_consolidation_error(self, job_id: str, error: dict[str, str]) -> None:
        self._conditional_update(
            _job_key(job_id),
            UpdateExpression="SET last_consolidation_error = :error",
            ConditionExpression=(
                "attribute_exists(pk) AND NOT #status IN (:succeeded, :partial, :timed_out, :failed, :cancelled)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":error": error,
                **{f":{status.value.lower()}": status.value for status in FINAL_STATUSES},
            },
        )

    def record_result(self, job_id: str, result: dict[str, Any]) -> bool:
        """Store the consolidated result once; True for the one caller that stored it, which then publishes it."""
        return (
            self._conditional_update(
                _job_key(job_id),
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
                _job_key(job_id),
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
            _job_key(job_id),
            UpdateExpression="SET published_at = :now",
            ConditionExpression="#status = :completing",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":now": self._timestamp(), ":completing": JobStatus.COMPLETING.value},
        )

    def finish(self, job_id: str, final_status: JobStatus) -> bool:
        """COMPLETING (with its result recorded) -> its final status; True for the one caller that made it."""
        return (
            self._conditional_update(
                _job_key(job_id),
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
            _job_key(job_id),
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
        return _plain(item) if item else None

    # -- reads -------------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        item = self._read(_job_key(job_id))
        return _plain(item) if item else None

    def progress(self, job_id: str) -> Progress | None:
        job = self.get_job(job_id)
        return None if job is None else self.progress_of(job)

    def progress_of(self, job: dict[str, Any]) -> Progress:
        """The counts of a job read already: its shards, read together."""
        shards = self.shards(job["job_id"], int(job.get("shard_count", 0)))
        running = job.get("status") in (JobStatus.RUNNING, JobStatus.REDRIVING)
        return Progress(
            job=job,
            total=int(job.get("total", 0)),
            succeeded=sum(shard["succeeded"] for shard in shards),
            failed=sum(shard["failed"] for shard in shards),
            skipped=sum(shard.get("skipped", 0) for shard in shards),
            retrying=self.retrying(job, shards) if running else None,
        )

    def in_status(self, status: str, index_name: str, before: datetime | None = None) -> list[dict]:
        """Items in a status (through the sparse status index), optionally with a deadline before a time."""
        condition = "#status = :status"
        values: dict[str, Any] = {":status": status}
        if before is not None:
            condition += " AND deadline < :before"
            values[":before"] = before.isoformat()
        kwargs: dict[str, Any] = {
            "IndexName": index_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
        items: list[dict] = []
        while True:
            page = self._call(self._table.query, **kwargs)
            items.extend(_plain(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def jobs_in_status(self, status: JobStatus, index_name: str, before: datetime | None = None) -> list[dict]:
        return self.in_status(status.value, index_name, before)

    def shards_waiting_for_reduction(self, index_name: str, before: datetime) -> list[tuple[str, int]]:
        """(job id, shard) of sealed shards whose last reduction attempt started before a time."""
        return [
            (item["pk"].removeprefix("JOB#").rpartition("#SHARD#")[0], _shard_number(item["pk"]))
            for item in self.in_status(SHARD_REDUCING, index_name, before)
        ]


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
