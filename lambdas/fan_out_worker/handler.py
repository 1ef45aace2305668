"""Worker: run the job's workload on one subtask, keep its result, record the completion.

Runs on an SQS event source mapping with ReportBatchItemFailures (with the
sns transport, on one subtask per invocation pushed by the topic). The records
of a batch run side by side on threads (WORKER_THREADS). A small result
(INLINE_RESULT_MAX_BYTES) is kept in the subtask's tracker item; a larger one
goes to S3 first (same key on every attempt, so a retry overwrites rather than
adds) and the item keeps its key. The successful completions of a batch are
then counted together, exactly once, in one tracker transaction
(COMPLETIONS_PER_TRANSACTION). The one completion that fills its shard starts
the shard's reduction.

A failure that no retry can fix (PermanentSubtaskError, such as a line longer
than max_line_bytes, or bytes that are not UTF-8) fails the subtask at once
with its reason. A workload this zip cannot load (WorkloadUnavailable: its
package not bundled, an import error, a missing function) is such a failure
for every subtask of the job, so it also stops the job: the rest is skipped
and the job ends FAILED within seconds, its stop naming the reason. Any other
failure goes back to SQS for another receive, and its reason is kept, for the
job's status (retrying subtasks, the last error) and for the DLQ handler,
which records it with the subtask.

A resumable workload's subtask may continue in a chain of invocations
(serverless_patterns.fan_out.chains): the worker then also runs on hand-over events,
which it sends itself, counts the subtask when its workload returns a result,
and deletes the message the chain carried.

A message SQS delivers again (a receive count above 1; for a chain, an
invocation numbered above 1) first reads whether its subtask has its outcome:
one counted already is not run again, only answered as a duplicate and deleted.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.errors import DETERMINISTIC_ERRORS, PermanentSubtaskError, WorkloadUnavailable, describe
from serverless_patterns.fan_in.tracker import Completion, Outcome, StopReason
from serverless_patterns.fan_in.tracker import configured_tracker as tracker
from serverless_patterns.fan_out import chains, lanes
from serverless_patterns.fan_out.chains import ContinuedElsewhere, Lease
from serverless_patterns.fan_out.completions import complete_subtask, complete_subtasks, is_stopped
from serverless_patterns.fan_out.jobs import InvalidSubtaskMessage, Subtask
from serverless_patterns.fan_out.sources import SOURCE_READS, item_name
from serverless_patterns.fan_out.workload_registry import Workload, workload
from serverless_patterns.inputs import SubtaskInput, read_input
from serverless_patterns.shared import aws_clients, settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_metrics_lock = threading.Lock()
_stopped_here: set[tuple[str, int]] = set()  # (job, run) this container stopped for an unavailable workload
# Up to this size a result costs less in its tracker item (2 WCU per KB) than as an S3 object (a PUT and a GET).
DEFAULT_INLINE_RESULT_MAX_BYTES = 4096
MAX_COMPLETIONS_PER_TRANSACTION = 50  # JobTracker.record_completions' most: 100 actions per transaction


def count(name: str) -> None:
    """Add 1 to a metric; the records of a batch run on threads, and the metric set is shared."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _succeed(subtask: Subtask, lease: Lease, receive_count: str) -> dict[str, Any]:
    """Run the workload; the completion's detail: the result itself if it is small, else the key it went to in S3.

    A redelivered subtask that has its outcome already raises chains.AlreadyCounted before its input is read.
    """
    chosen = workload(subtask.workload)  # first: a workload that cannot load needs no input read
    _check_reads(subtask, chosen)
    if chosen.resumable and not lease.receipt_handle:
        raise PermanentSubtaskError(
            f"workload {chosen.name} is resumable, and a chain needs the message of the sqs transport: "
            'set transport = "sqs" on the fan_out module'
        )

    def read_task() -> SubtaskInput:
        return read_input(
            aws_clients.client("s3"),
            subtask.job_id,
            subtask.subtask_id,
            subtask.work,
            int(settings.positive_number("MAX_LINE_BYTES", 64 * 1024)),
        )

    if chosen.resumable:
        result: Any = chains.run_resumable(subtask, read_task, chosen, lease)  # checks redeliveries by its numbering
    else:
        if _redelivered(receive_count):
            chains.check_not_counted(subtask)
        result = chosen.process(read_task())
    body = json.dumps({"item": item_name(subtask.work), "result": result}, separators=(",", ":"))
    if len(body.encode()) <= settings.non_negative_int("INLINE_RESULT_MAX_BYTES", DEFAULT_INLINE_RESULT_MAX_BYTES):
        return {"partial": body}
    aws_clients.client("s3").put_object(
        Bucket=settings.required("JOB_BUCKET"),
        Key=subtask.partial_key,
        Body=body.encode(),
        ContentType="application/json",
    )
    return {"result_key": subtask.partial_key}


def _redelivered(receive_count: str) -> bool:
    """Whether SQS delivered the message before (a hand-over or a push has no receive count).

    Most such receives retry a failed attempt and find no outcome, for one GetItem each; one that follows a
    batch counted but never deleted (its worker timed out, say) is spared its workload's run. A duplicated copy
    received for the first time still runs, and is found a duplicate when counted, as before.
    """
    return receive_count.isdigit() and int(receive_count) > 1


def _check_reads(subtask: Subtask, chosen: Workload) -> None:
    """The ventilator sends no source the workload does not read; a deployment may have changed `reads` since."""
    kind = SOURCE_READS[subtask.work["type"]]
    if chosen.reads is not None and kind not in chosen.reads:
        raise WorkloadUnavailable(
            f"workload {chosen.name} reads {', '.join(chosen.reads)}, not the {kind} of this job's "
            f"{subtask.work['type']} source (deployed with another `reads` since the job started): "
            f"submit the job again with a workload that reads {kind}"
        )


def _report(subtask: Subtask, detail: dict[str, Any], completion: Completion) -> None:
    where = {"result_key": detail["result_key"]} if "result_key" in detail else {"result": "in the tracker"}
    if completion.first:
        logger.info("subtask completed", extra={**subtask.log_keys, **where})
        count("SubtasksCompleted")
    else:
        logger.info("duplicate delivery: already counted", extra=subtask.log_keys)
        count("DuplicatesIgnored")
    if completion.sealed_shard:
        logger.info(
            "last subtask of its shard: shard reduction started", extra={**subtask.log_keys, "shard": completion.shard}
        )


@tracer.capture_method
def run_subtask(
    record: SQSRecord, deadline: float = math.inf
) -> tuple[Subtask, dict[str, Any]] | ContinuedElsewhere | None:
    """Run a record's subtask: the subtask and its detail when it succeeded and waits to be counted, else None.

    `deadline` (time.monotonic()) is when the invocation times out, for resumable workloads. A subtask
    handed over to another invocation answers ContinuedElsewhere, returned rather than raised: it is no error.
    """
    try:
        subtask = Subtask.from_message(record.body)
    except InvalidSubtaskMessage as error:
        # Never counted: it goes back to SQS, then to the DLQ, whose handler quarantines it.
        logger.error("malformed subtask message", extra={"message_id": record.message_id, "reason": str(error)})
        count("MalformedSubtasks")
        raise
    # Thread-local keys: the records of a batch run side by side, each logging its own subtask.
    logger.thread_safe_append_keys(**subtask.log_keys)
    try:
        detail = _run(subtask, Lease(record.receipt_handle, deadline), record.attributes.approximate_receive_count)
    except ContinuedElsewhere as continued:
        return continued
    finally:
        logger.thread_safe_remove_keys(subtask.log_keys)
    return (subtask, detail) if detail is not None else None


def _run(subtask: Subtask, lease: Lease, receive_count: str) -> dict[str, Any] | None:
    if is_stopped(subtask):
        # Cancelled, or failed past its tolerance: counted as skipped, so the job still ends, exactly.
        if complete_subtask(subtask, Outcome.SKIPPED, {}).first:
            logger.info("job stopped: subtask skipped")
            count("SubtasksSkipped")
        return None
    try:
        return _succeed(subtask, lease, receive_count)
    except chains.AlreadyCounted as counted:
        # Recorded again as a rerun would be, without the rerun: its TASK item refuses it, so it is answered as a
        # duplicate, and its shard is checked for sealing, so a worker that died between counting and sealing
        # is still completed by this redelivery. The message then goes, as at the end of the subtask's chain.
        _report(subtask, {}, complete_subtask(subtask, counted.outcome, {}))
        return None
    except ContinuedElsewhere as reason:
        logger.info("subtask continues in another invocation", extra={"reason": str(reason)})
        count("SubtasksContinued")
        raise
    except DETERMINISTIC_ERRORS as error:
        # No retry can change the outcome: fail now, keep the reason, spare the remaining receives.
        logger.warning("subtask input cannot be processed: failed without retries", extra={"error": describe(error)})
        if isinstance(error, WorkloadUnavailable):
            _stop_job(subtask, error)
        detail = {"error": {**describe(error), "attempts": 1}, "item": item_name(subtask.work)}
        complete_subtask(subtask, Outcome.FAILED, detail)
        count("SubtasksFailed")
        return None
    except Exception as error:
        logger.exception(
            "subtask failed; it will be delivered again",
            extra={"receive_count": receive_count},
        )
        count("SubtaskAttemptsFailed")
        _remember_error(subtask, error)
        raise


def _stop_job(subtask: Subtask, error: WorkloadUnavailable) -> None:
    """Stop the job: its workload is missing from this deployment, so every other subtask would fail alike.

    Before this subtask is counted, so the stop is recorded when its failure
    completes the job. Once per job run and container; the tracker keeps the
    first stop, and a stop that cannot be recorded leaves the subtask failed all the same.
    """
    key = (subtask.job_id, subtask.run)
    if key in _stopped_here:
        return
    try:
        stopped = tracker().request_stop(
            subtask.job_id, StopReason.WORKLOAD_UNAVAILABLE, describe(error), run=subtask.run
        )
    except Exception:
        logger.exception("could not stop the job of an unavailable workload; its subtasks fail one by one")
        return
    if stopped is not None:
        # Remembered only once recorded: a job that could not be stopped yet (still dispatching a redrive)
        # is asked again by its next failing subtask.
        if len(_stopped_here) > 1000:
            _stopped_here.clear()
        _stopped_here.add(key)
        logger.error(
            "workload unavailable: job stopped, its other subtasks are skipped", extra={"error": describe(error)}
        )
        count("JobsStoppedWorkloadUnavailable")


def _remember_error(subtask: Subtask, error: Exception) -> None:
    """Keep the reason of this attempt's failure for the DLQ handler; never hide the failure itself."""
    try:
        tracker().record_attempt_error(
            subtask.job_id, subtask.subtask_id, subtask.shard, describe(error), subtask.expires_at
        )
    except Exception:
        logger.exception("could not record the subtask's error")


class CompletionGroup:
    """The successful completions of one batch, counted together once every record has got this far.

    A record that ends any other way (skipped, failed, raised) leaves the
    group, so the group never waits for it. A group is counted as soon as it
    holds `size` completions, so size 1 counts each subtask on its own.
    """

    def __init__(self, records: int, size: int, pool: ThreadPoolExecutor) -> None:
        self._running = records
        self._size = min(size, MAX_COMPLETIONS_PER_TRANSACTION)
        self._pool = pool
        self._waiting: list[tuple[Subtask, dict[str, Any], asyncio.Future[Completion]]] = []

    async def complete(self, subtask: Subtask, detail: dict[str, Any]) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._waiting.append((subtask, detail, future))
        self._running -= 1
        await self._count_if_ready()
        return await future

    async def leave(self) -> None:
        self._running -= 1
        await self._count_if_ready()

    async def _count_if_ready(self) -> None:
        if not self._waiting or (self._running > 0 and len(self._waiting) < self._size):
            return
        waiting, self._waiting = self._waiting, []
        try:
            completions = await asyncio.get_running_loop().run_in_executor(
                self._pool, complete_subtasks, [(subtask, Outcome.SUCCEEDED, detail) for subtask, detail, _ in waiting]
            )
            for (subtask, _, future), answer in zip(waiting, completions, strict=True):
                if isinstance(answer, Exception):
                    logger.error("subtask not counted", extra={**subtask.log_keys, "error": describe(answer)})
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        except BaseException as error:
            # Every subtask of the group goes back to SQS; its result is kept or rewritten, and counted once later.
            for subtask, _, future in waiting:
                if not future.done():
                    logger.error("could not count the subtask; SQS will deliver it again", extra=subtask.log_keys)
                    future.set_exception(error if isinstance(error, Exception) else RuntimeError("cancelled"))
            if not isinstance(error, Exception):
                raise


def record_handler(pool: ThreadPoolExecutor, threads: int, group: CompletionGroup, deadline: float = math.inf):
    """Run each record's subtask on a thread of `pool` (a subtask mostly waits on AWS calls).

    The pool has a thread more than the records that may run at once, kept
    for the group's count, and a record's thread is free before the record
    waits for its group, so a batch larger than the pool still reaches it.
    """
    slots = asyncio.Semaphore(threads)

    async def handle(record: SQSRecord) -> None:
        try:
            async with slots:
                succeeded = await asyncio.get_running_loop().run_in_executor(pool, run_subtask, record, deadline)
        except BaseException:
            await group.leave()
            raise
        if succeeded is None or isinstance(succeeded, ContinuedElsewhere):
            await group.leave()
            if succeeded is not None:
                raise succeeded  # a batch item failure: the mapping leaves the message to the chain
            return
        subtask, detail = succeeded
        _report(subtask, detail, await group.complete(subtask, detail))

    return handle


def _run_alone(subtask: Subtask, lease: Lease, receive_count: str) -> None:
    """Run and count one subtask outside a batch (a hand-over, or a push from the topic)."""
    detail = _run(subtask, lease, receive_count)
    if detail is not None:
        _report(subtask, detail, complete_subtask(subtask, Outcome.SUCCEEDED, detail))


def run_pushed(event: dict[str, Any], deadline: float) -> None:
    """The sns transport: the topic invokes the worker once per subtask, asynchronously.

    A failure is raised, so Lambda retries the invocation (twice) and then
    sends it to the on-failure destination, the subtask DLQ, whose handler
    records the subtask as failed, as it does for the sqs transport.
    """
    for record in SNSEvent(event).records:
        try:
            subtask = Subtask.from_message(record.sns.message)
        except InvalidSubtaskMessage as error:
            logger.error("malformed subtask message", extra={"message_id": record.sns.message_id, "reason": str(error)})
            count("MalformedSubtasks")
            raise
        logger.append_keys(**subtask.log_keys)
        _run_alone(subtask, Lease("", deadline), receive_count="pushed")


def continue_chain(event: dict[str, Any], deadline: float) -> None:
    """A hand-over: run the next invocation; once the subtask is counted, skipped or failed, delete the message."""
    try:
        subtask, lease = chains.subtask_of_hand_over(event, deadline)
    except ContinuedElsewhere as reason:
        logger.warning(
            "hand-over without its checkpoint: the message comes back from SQS", extra={"reason": str(reason)}
        )
        return
    logger.append_keys(**subtask.log_keys)
    # At once: the lease the hand-over left must not run out while this invocation starts and reads its input.
    if not chains.extend(lease.receipt_handle, chains.ChainSettings.from_environment()):
        logger.info("the message was delivered again before this hand-over started: left to that receive")
        return
    try:
        _run_alone(subtask, lease, receive_count="hand-over")
    except ContinuedElsewhere:
        return
    chains.release(lease.receipt_handle)


def _is_sns_event(event: dict[str, Any]) -> bool:
    records = event.get("Records") or [{}]
    return isinstance(records[0], dict) and records[0].get("EventSource") == "aws:sns"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict | None:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    lanes.claim_until(deadline)
    if chains.HAND_OVER_EVENT in event:
        continue_chain(event, deadline)
        return None
    if _is_sns_event(event):
        run_pushed(event, deadline)
        return None
    # A pool of our own: asyncio's default one has min(32, CPUs + 4) threads, 6 on a 2-vCPU function.
    threads = int(settings.positive_number("WORKER_THREADS", 10))
    with ThreadPoolExecutor(max_workers=threads + 1) as pool:
        group = CompletionGroup(
            len(event.get("Records") or []), int(settings.positive_number("COMPLETIONS_PER_TRANSACTION", 10)), pool
        )
        handler = record_handler(pool, threads, group, deadline)
        return async_process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
