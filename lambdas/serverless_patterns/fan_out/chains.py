"""Subtasks longer than one invocation: a chain of invocations carries one SQS message to the end.

While a resumable workload runs, a heartbeat keeps its message invisible for
LEASE_SECONDS more every HEARTBEAT_SECONDS. When the workload returns a
Checkpoint, the worker saves it to S3 with the subtask, extends the lease
once more and invokes itself asynchronously with the message's receipt
handle (a hand-over); the invocation that received the message reports it
as a batch item failure, so the event source mapping leaves it in flight.
The invocation in which the workload returns a result counts the subtask and
deletes the message.

A chain that dies (a crash, a hand-over lost: the worker's asynchronous
invocations are not retried) stops its heartbeat; the lease runs out, SQS
delivers the message again, and that receive resumes from the last
checkpoint. The tracker numbers every invocation of the subtask
(JobTracker.start_invocation), so a hand-over that something newer overtook,
or a duplicated one, stops at once; an invocation overtaken while it ran
keeps its checkpoint (one S3 object per invocation) but may not make it the
one to resume from, nor hand over. A chain is bounded: the invocation
numbered 1 + MAX_CONTINUATIONS may not hand over again. Counting stays the
tracker's, exactly once.

A message can come back from the queue after its subtask has its outcome:
SQS delivered a copy, or the chain counted the subtask and died (or its lease
ran out) before the message was deleted. Such a receive is numbered above 1,
so it reads the subtask's TASK item (one GetItem) before it reads the input
or runs the workload, and a subtask counted already ends there as a
duplicate (AlreadyCounted): the worker records it as the chain's end would,
where the tracker refuses it, and deletes the message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from serverless_patterns.errors import PermanentSubtaskError
from serverless_patterns.fan_in.tracker import Outcome
from serverless_patterns.fan_in.tracker import configured_tracker as tracker
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.fan_out.workload_registry import Workload
from serverless_patterns.inputs import SubtaskInput
from serverless_patterns.resumable import Checkpoint, Invocation
from serverless_patterns.shared import aws_clients, settings

logger = Logger(child=True)
HAND_OVER_EVENT = "continue_subtask"  # the key of a hand-over event to the worker
# The receipt handle no longer holds the message: SQS delivered it again, or it was deleted.
LOST_MESSAGE_CODES = frozenset(
    {"ReceiptHandleIsInvalid", "InvalidParameterValue", "AWS.SimpleQueueService.MessageNotInflight"}
)


class ContinuedElsewhere(Exception):
    """The message stays in flight: another invocation carries the subtask on; this one neither counts nor deletes."""


class TooManyContinuations(PermanentSubtaskError):
    """The workload asked for one more invocation than the chain may have."""


class AlreadyCounted(Exception):
    """A redelivered subtask has its outcome already: its workload is not run again, and its message goes."""

    def __init__(self, subtask: Subtask, outcome: Outcome) -> None:
        super().__init__(f"subtask {subtask.subtask_id} of job {subtask.job_id} is counted {outcome.value} already")
        self.outcome = outcome


def check_not_counted(subtask: Subtask) -> None:
    """Raise AlreadyCounted when the subtask has an outcome: one strongly consistent GetItem of its TASK item.

    For redeliveries only: a first delivery cannot have been counted, and would pay the read for nothing.
    """
    outcome = tracker().outcome_of(subtask.job_id, subtask.subtask_id, subtask.shard)
    if outcome is not None:
        raise AlreadyCounted(subtask, outcome)


@dataclass(frozen=True)
class ChainSettings:
    queue_url: str
    function_name: str
    heartbeat_seconds: float
    lease_seconds: int
    reserve_seconds: float
    max_continuations: int

    @classmethod
    def from_environment(cls) -> ChainSettings:
        heartbeat = settings.positive_number("HEARTBEAT_SECONDS", 30)
        return cls(
            queue_url=settings.required("SUBTASK_QUEUE_URL"),
            function_name=settings.required("AWS_LAMBDA_FUNCTION_NAME"),
            heartbeat_seconds=heartbeat,
            # Three heartbeats: one late or failed call never lets the message go.
            lease_seconds=int(settings.positive_number("LEASE_SECONDS", 3 * heartbeat)),
            reserve_seconds=settings.positive_number("CHECKPOINT_RESERVE_SECONDS", 10),
            max_continuations=settings.non_negative_int("MAX_CONTINUATIONS", 10),
        )


@dataclass(frozen=True)
class Lease:
    """The message an invocation holds, and when the invocation ends."""

    receipt_handle: str
    deadline: float  # time.monotonic() when the function times out
    after: int | None = None  # the invocation that handed over to this one; None for a receive from the queue


def extend(receipt_handle: str, chain: ChainSettings) -> bool:
    """Keep the message invisible for a lease from now; False when the receipt handle no longer holds it."""
    try:
        aws_clients.client("sqs").change_message_visibility(
            QueueUrl=chain.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=chain.lease_seconds
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in LOST_MESSAGE_CODES:
            return False
        raise
    return True


class Heartbeat:
    """Extends the message's lease every heartbeat while the workload runs, on a thread of its own."""

    def __init__(self, receipt_handle: str, chain: ChainSettings) -> None:
        self._receipt_handle = receipt_handle
        self._chain = chain
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        # At once: a hand-over's lease may be nearly out, and a receive's visibility is longer than a lease needs.
        if not extend(self._receipt_handle, self._chain):
            raise ContinuedElsewhere("the message was delivered again before this invocation started")
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._chain.heartbeat_seconds):
            try:
                if not extend(self._receipt_handle, self._chain):
                    logger.warning("the message was delivered again: this chain is superseded")
                    self.lost = True
                    return
            except Exception:
                # The next beat tries again; three beats fit in a lease.
                logger.exception("heartbeat failed")


def hand_over_event(checkpoint_key: str, receipt_handle: str, after: int) -> dict[str, Any]:
    return {HAND_OVER_EVENT: {"checkpoint_key": checkpoint_key, "receipt_handle": receipt_handle, "after": after}}


def load_checkpoint(key: str) -> dict[str, Any] | None:
    """The saved checkpoint, or None (read only where one was saved: without s3:ListBucket a missing key is a 403)."""
    try:
        body = aws_clients.client("s3").get_object(Bucket=settings.required("JOB_BUCKET"), Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "AccessDenied"):
            return None
        raise
    return json.loads(body)


def save_checkpoint(subtask: Subtask, invocation: int, state: Any) -> None:
    """The state with the subtask's message: a hand-over event carries only the key, well under 256 KB."""
    body = json.dumps({"invocation": invocation, "state": state, "subtask": subtask.to_message()})
    aws_clients.client("s3").put_object(
        Bucket=settings.required("JOB_BUCKET"),
        Key=subtask.checkpoint_key(invocation),
        Body=body.encode(),
        ContentType="application/json",
    )


def subtask_of_hand_over(event: dict[str, Any], deadline: float) -> tuple[Subtask, Lease]:
    """The subtask a hand-over event continues, and the lease it passes on to an invocation ending at `deadline`."""
    hand_over = event[HAND_OVER_EVENT]
    saved = load_checkpoint(hand_over["checkpoint_key"])
    if saved is None:
        # Its job's checkpoints expired, or the event was forged: the message, if any, comes back from SQS.
        raise ContinuedElsewhere(f"no checkpoint at {hand_over['checkpoint_key']}")
    return Subtask.from_message(saved["subtask"]), Lease(hand_over["receipt_handle"], deadline, int(hand_over["after"]))


def check_continuation(number: int, max_continuations: int) -> None:
    """Refuse a Checkpoint from invocation `number` when the chain may not have one more (the local runner's too)."""
    if number > max_continuations:
        raise TooManyContinuations(
            f"the workload asked for invocation {number + 1}, and a subtask may have {max_continuations + 1} "
            "(1 + max_continuations): raise max_continuations, or cut the job into smaller chunks"
        )


def run_resumable(subtask: Subtask, read_task: Callable[[], SubtaskInput], workload: Workload, lease: Lease) -> Any:
    """Run one invocation of a resumable workload: its result, or ContinuedElsewhere once it is handed over.

    `read_task` reads the subtask's input, called only once this invocation is to run the workload:
    not for a hand-over something overtook, nor for a redelivery of a subtask counted already (AlreadyCounted).
    """
    chain = ChainSettings.from_environment()
    chain_key = (subtask.job_id, subtask.subtask_id, subtask.shard, subtask.run, subtask.expires_at)
    started = tracker().start_invocation(*chain_key, lease.after)
    if started is None:
        raise ContinuedElsewhere(f"a newer invocation than {lease.after} runs this subtask")
    number, saved = started.number, None
    # A receive numbered above 1 is the only invocation that may find its subtask counted: an invocation of
    # this run started before it, and may have counted the subtask without deleting the message. The number
    # says so exactly, where SQS's approximate receive count can miss a copy, and counts receives that failed
    # before any invocation started; a checkpoint would miss a chain counted in its first invocation. A
    # hand-over (lease.after set) needs no read: it runs only if nothing started since the invocation that
    # handed over, and that one saved a checkpoint rather than a result.
    if lease.after is None and number > 1:
        check_not_counted(subtask)
    if started.checkpointed is not None:
        saved = load_checkpoint(subtask.checkpoint_key(started.checkpointed))
        if saved is None:
            # Expired with the job's intermediate objects: no retry brings it back.
            raise PermanentSubtaskError(f"the checkpoint of invocation {started.checkpointed} is gone from S3")
        logger.info("resuming from a checkpoint", extra={"invocation": number, "checkpoint_of": saved["invocation"]})
    invocation = Invocation(
        checkpoint=saved["state"] if saved else None,
        number=number,
        deadline=lease.deadline - chain.reserve_seconds,
    )
    with Heartbeat(lease.receipt_handle, chain) as heartbeat:
        answer = workload.process(read_task(), invocation)
    if heartbeat.lost:
        raise ContinuedElsewhere("the message was delivered again while this invocation ran")
    if not isinstance(answer, Checkpoint):
        return answer
    check_continuation(number, chain.max_continuations)
    save_checkpoint(subtask, number, answer.state)
    if not tracker().record_checkpoint(*chain_key, number):
        raise ContinuedElsewhere(f"a newer invocation than {number} runs this subtask: its checkpoint is kept")
    if not extend(lease.receipt_handle, chain):
        raise ContinuedElsewhere("the message was delivered again before the hand-over")
    aws_clients.client("lambda").invoke(
        FunctionName=chain.function_name,
        InvocationType="Event",
        Payload=json.dumps(hand_over_event(subtask.checkpoint_key(number), lease.receipt_handle, number)).encode(),
    )
    logger.info("checkpoint saved: the subtask continues in a new invocation", extra={"invocation": number})
    raise ContinuedElsewhere(f"handed over after invocation {number}")


def release(receipt_handle: str) -> None:
    """Delete the message a chain carried, once its subtask is counted (a stale handle deletes nothing)."""
    try:
        aws_clients.client("sqs").delete_message(
            QueueUrl=ChainSettings.from_environment().queue_url, ReceiptHandle=receipt_handle
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in LOST_MESSAGE_CODES:
            raise
        # SQS delivered it again: that receive finds the subtask counted and ends as a duplicate.
        logger.info("the message was delivered again: left to that receive")
