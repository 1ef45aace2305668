"""Ventilator: plan a job into subtasks, register it, fan the subtasks out over SQS (or SNS).

Started by an S3 upload under the incoming/ prefix, or invoked with a job spec
{"source": {...}, "workload"?, "tolerated_failure_*"?, "job_id"?} (see
serverless_patterns.fan_out.sources; the first format {"input": {"bucket", "key"},
"chunk_size_bytes"?} is a `lines` source). The plan is made first (a listing
of millions of objects may take several invocations, each handing the rest
over), then the job and its total are registered in the tracker before the
first subtask is sent, so no worker can finish before the total exists.
Subtasks go out with SendMessageBatch (10 per call, 1 MiB at most), or with
the sns transport PublishBatch (10 per call, 256 KiB at most), from
parallel senders, and the tracker records how far dispatch got; a job too
large to dispatch within one invocation continues in a new asynchronous
invocation.

A job id names one job: the same spec again (same source, same content, same
cut and workload) is answered with the job's status and dispatches nothing
twice (it resumes a dispatch only when its ventilator stopped reporting);
another spec under the id, or the id of a finished or rejected job, is refused
with an error naming the fix.

A job sent whole of more than DISPATCH_PART_SUBTASKS is cut into parts, each
sent by its own ventilator invocation side by side ({"dispatch_part": ...},
under a claim per part: fan_out.dispatch_parts, tracker.dispatch_parts).

The parts live in serverless_patterns.fan_out (submissions, job_plans,
repeats, dispatch_plans, dispatch_parts, sending, handovers, redrives,
concurrency_changes); the waves are sent
from here, where WAVE, _send_batch, _continue_elsewhere and
trigger_consolidator are looked up at each call, so tests and benchmarks can
steer a dispatch through this module alone.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ParamValidationError

from serverless_patterns.fan_in.consolidator_trigger import trigger_consolidator
from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, ShardLayout, Window, configured_tracker
from serverless_patterns.fan_in.tracker.keys import part_number
from serverless_patterns.fan_out import lanes, repeats, sending, subtask_sends, workload_registry
from serverless_patterns.fan_out.concurrency_changes import change_concurrency
from serverless_patterns.fan_out.dispatch_parts import (
    ClaimedPart,
    PartTakenOver,
    WholeJob,
    abandoned_parts,
    claim_part,
    part_count,
    start_parts,
)
from serverless_patterns.fan_out.dispatch_plans import DispatchPlan
from serverless_patterns.fan_out.handovers import RESERVED_MILLIS, hand_over
from serverless_patterns.fan_out.job_plans import list_on, plan_job
from serverless_patterns.fan_out.jobs import (
    JOB_ID_PATTERN,
    InvalidJobSpec,
    JobSpec,
    Subtask,
    configured_chunk_size,
    configured_limits,
    default_max_concurrency,
    in_first_format,
    is_first_format,
    parse_spec,
    spec_fingerprint,
    submitted_text,
)
from serverless_patterns.fan_out.planning import Listing, Plan
from serverless_patterns.fan_out.redrives import claim_redrive, refused
from serverless_patterns.fan_out.submissions import (
    is_s3_notification,
    rejected_job_id,
    retention_seconds,
    specs_from_event,
)
from serverless_patterns.shared import settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()

WAVE = 500  # subtasks dispatched between two looks at the remaining time
Progress = WholeJob | ClaimedPart


def _send_batch(destination: str, batch: list[tuple[Subtask, str]]) -> None:
    """Send (or publish) up to 10 subtasks, retrying only the entries that failed."""
    subtask_sends.send_batch(destination, batch)


def _start_wave(pool: ThreadPoolExecutor, destination: str, wave: list[Subtask]) -> list[Future[None]]:
    """Start sending subtasks in batch-sized groups, several at once."""
    batches = sending.batches(wave, sending.batch_bytes(destination))
    return [pool.submit(_send_batch, destination, batch) for batch in batches]


def _send_wave(pool: ThreadPoolExecutor, destination: str, wave: list[Subtask]) -> None:
    """Send subtasks in batch-sized groups, several at once; raise if any could not be sent."""
    for in_flight in _start_wave(pool, destination, wave):
        in_flight.result()


def _senders() -> int:
    return int(settings.positive_number("SENDER_THREADS", 8))


@tracer.capture_method
def dispatch(
    tracker: JobTracker, plan: DispatchPlan, first: int, context: LambdaContext, progress: Progress | None = None
) -> int:
    """Send subtasks `first`..`progress.end - 1` (the job's, or its part's), recording progress per wave; return
    the next subtask still to send. Raises PartTakenOver when another invocation took the part over."""
    progress = progress or WholeJob(tracker, plan.job_id, plan.total)
    destination = sending.subtask_destination()
    senders = _senders()
    next_subtask = sent_until = first
    in_flight: list[Future[None]] = []  # the wave being sent while the next one is built
    with ThreadPoolExecutor(max_workers=senders) as pool:
        while next_subtask < progress.end:
            if context.get_remaining_time_in_millis() < RESERVED_MILLIS:
                break
            if tracker.stop_of(plan.job_id, plan.run):
                _finish_wave(progress, in_flight, sent_until, next_subtask)
                return _skip_the_rest(tracker, plan, next_subtask, progress)
            wave_end = min(progress.end, next_subtask + WAVE)
            started = _start_wave(pool, destination, plan.subtasks(range(next_subtask, wave_end)))
            # Progress is recorded only for waves wholly sent, in order, so a takeover resumes without a gap.
            sent_until = _finish_wave(progress, in_flight, sent_until, next_subtask)
            in_flight, next_subtask = started, wave_end
        _finish_wave(progress, in_flight, sent_until, next_subtask)
    return next_subtask


def _finish_wave(progress: Progress, in_flight: list[Future[None]], start: int, end: int) -> int:
    """Wait for the batches of wave start..end-1 (raising if one could not be sent), record it; where sending is."""
    if not in_flight:
        return start
    for batch_sent in in_flight:
        batch_sent.result()
    progress.record(end)
    metrics.add_metric(name="SubtasksDispatched", unit=MetricUnit.Count, value=end - start)
    in_flight.clear()
    return end


def _skip_the_rest(tracker: JobTracker, plan: DispatchPlan, first: int, progress: Progress) -> int:
    """A stopped job dispatches nothing more: what was not sent is counted as skipped, so the job still ends."""
    logger.info("job stopped: the subtasks not sent yet are skipped", extra={"from": first, "to": progress.end})
    sealed = tracker.skip_subtasks(plan.job_id, plan.layout, first, plan.expires_at, end=progress.end)
    metrics.add_metric(name="SubtasksSkipped", unit=MetricUnit.Count, value=progress.end - first)
    for shard in sealed:  # before finishing: a retry after a failed finish seals nothing new to trigger
        trigger_consolidator(plan.job_id, plan.correlation_id, shard)
    progress.finish()
    return progress.end


def _continue_elsewhere(plan: DispatchPlan, next_subtask: int, context: LambdaContext) -> None:
    hand_over(context, {"continuation": {"plan": plan.as_dict(), "next_subtask": next_subtask}})
    logger.info("handed the rest of the job to a new invocation", extra={"next_subtask": next_subtask})


def _dispatch_and_hand_over(
    tracker: JobTracker, plan: DispatchPlan, first: int, context: LambdaContext, starting: dict[str, Any] | None = None
) -> dict[str, Any]:
    if plan.block_size:
        return _start_windowed(tracker, plan, starting)
    if plan.parts:
        return _dispatch_in_parts(tracker, plan, context, list(range(plan.parts)), send_here=True)
    next_subtask = dispatch(tracker, plan, first, context)
    if next_subtask < plan.total:
        _continue_elsewhere(plan, next_subtask, context)
    return {"job_id": plan.job_id, "status": "RUNNING", "total": plan.total, "dispatched_until": next_subtask}


def _start_windowed(tracker: JobTracker, plan: DispatchPlan, starting: dict[str, Any] | None) -> dict[str, Any]:
    """A windowed job: send the first subtask of each of its first lanes; its completions send the rest."""
    lanes_sent = lanes.start_lanes(tracker, plan, starting) if starting else 0
    tracker.record_dispatch(plan.job_id, plan.total)
    metrics.add_metric(name="SubtasksDispatched", unit=MetricUnit.Count, value=lanes_sent)
    logger.info("lanes started: each completion sends the next subtask", extra={"lanes": lanes_sent})
    return {"job_id": plan.job_id, "status": "RUNNING", "total": plan.total, "lanes_started": lanes_sent}


def _dispatch_in_parts(
    tracker: JobTracker, plan: DispatchPlan, context: LambdaContext, parts: list[int], send_here: bool
) -> dict[str, Any]:
    """Start an invocation for each of `parts`, except part 0 when `send_here`: this invocation sends it."""
    part_sent_here = 0 if send_here and 0 in parts else None
    start_parts(context, plan.job_id, [part for part in parts if part != part_sent_here])
    logger.info("dispatch in parts: one invocation each", extra={"parts": plan.parts, "started": len(parts)})
    answer = {"job_id": plan.job_id, "status": "RUNNING", "total": plan.total, "dispatch_parts": plan.parts}
    if part_sent_here is None:
        return answer
    return {**answer, "part_0": send_part(tracker, plan, 0, context)}


def _resume_parts(
    tracker: JobTracker, job: dict[str, Any], plan: DispatchPlan, context: LambdaContext
) -> dict[str, Any]:
    """The same spec again for a job sent in parts: start again only the parts whose invocations are gone (all
    unfinished ones when this is the registering invocation's own retry)."""
    answer = repeats.repeat_answer(job)
    parts = tracker.parts_of(plan.job_id)
    unfinished = [part_number(item["sk"]) for item in parts if not item.get("done")]
    if not unfinished:
        tracker.settle_dispatch(plan.job_id)
        return answer
    retried = job.get("dispatcher") == context.aws_request_id
    abandoned = unfinished if retried else abandoned_parts(parts, job["created_at"])
    if not abandoned or not tracker.take_over_dispatch(
        job["job_id"], job["dispatch_updated_at"], context.aws_request_id
    ):
        logger.info("job registered and its parts being sent: nothing started again")
        return answer
    logger.warning("parts whose invocations are gone: starting them again", extra={"parts": abandoned})
    return {**_dispatch_in_parts(tracker, plan, context, abandoned, send_here=retried), "repeated": True}


def send_part(
    tracker: JobTracker, plan: DispatchPlan, part: int, context: LambdaContext, handed_over_by: str = ""
) -> dict[str, Any]:
    """Send one part of a job under this invocation's claim, handing the rest over when time runs out."""
    claimed = claim_part(tracker, plan.job_id, part, context, handed_over_by)
    if claimed is None:
        logger.info("part done, or sent by another invocation: nothing sent", extra={"part": part})
        tracker.settle_dispatch(plan.job_id)  # in case the part's finisher died before recording the job dispatched
        return {"part": part, "sent": False}
    try:
        next_subtask = dispatch(tracker, plan, claimed.next, context, claimed)
        if next_subtask < claimed.end:
            hand_over(context, claimed.hand_over_request())
            logger.info("handed the rest of the part to a new invocation", extra={"part": part, "next": next_subtask})
        else:
            claimed.finish()
    except PartTakenOver:
        logger.warning("another invocation took this part over: stopped sending it", extra={"part": part})
        return {"part": part, "sent": False, "taken_over": True}
    return {"part": part, "sent": True, "dispatched_until": next_subtask, "end": claimed.end}


def dispatch_part(request: Any, context: LambdaContext) -> dict[str, Any]:
    """A ventilator invocation started for one part of a job (by its registration, a hand-over or a resumption)."""
    job_id, part = request.get("job_id"), request.get("part")
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id) or type(part) is not int:
        raise ValueError("dispatch_part needs a job_id and a part number")
    logger.append_keys(job_id=job_id)
    tracker = configured_tracker()
    job = tracker.get_job(job_id)
    plan = DispatchPlan.of_job(job) if job else None
    # Parts belong to a job's first run: a late event after a redrive must not send the redrive's subtasks again.
    if plan is None or not 0 <= part < plan.parts or job["status"] != JobStatus.RUNNING or plan.run:
        logger.warning("no such part of a running job's first run: nothing sent", extra={"part": part})
        return {"job_id": job_id, "part": part, "sent": False}
    logger.append_keys(correlation_id=plan.correlation_id)
    return {"job_id": job_id, **send_part(tracker, plan, part, context, str(request.get("handed_over_by", "")))}


def _reject(tracker: JobTracker, document: Any, error: InvalidJobSpec, context: LambdaContext) -> dict[str, Any]:
    """Record a bad spec as a FAILED job, under its own job id when it has a usable one."""
    job_id = rejected_job_id(document, context.aws_request_id)
    logger.warning("job spec rejected", extra={"job_id": job_id, "error": error.as_dict()})
    metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    spec_record = {"submitted": submitted_text(document)}
    if not tracker.mark_rejected(job_id, job_id, error.as_dict(), spec_record, retention_seconds()):
        existing = tracker.get_job(job_id) or {}
        logger.warning("the rejected spec named an existing job, which stays as it was")
        return {"job_id": job_id, "status": existing.get("status", "FAILED"), "error": error.as_dict()}
    return {"job_id": job_id, "status": "FAILED", "error": error.as_dict()}


def _answer_repeat(
    tracker: JobTracker, job: dict[str, Any], plan: DispatchPlan, context: LambdaContext
) -> dict[str, Any]:
    """The same spec again: report the job, and resume its dispatch only if its ventilator is gone."""
    if plan.parts and job.get("shards_ready"):
        return _resume_parts(tracker, job, plan, context)
    answer = repeats.repeat_answer(job)
    if not repeats.dispatch_abandoned(job, context.aws_request_id):
        logger.info("job already registered and dispatching or dispatched: nothing sent again")
        return answer
    if not tracker.take_over_dispatch(job["job_id"], job["dispatch_updated_at"], context.aws_request_id):
        return answer
    logger.warning("dispatch of this job had stopped: resuming it", extra={"from": job["dispatched_until"]})
    if not job.get("shards_ready"):
        tracker.create_shards(job)
    if plan.parts:  # its registration stopped before its shards and parts were ready: nothing was sent
        return {**_dispatch_in_parts(tracker, plan, context, list(range(plan.parts)), send_here=True), "repeated": True}
    resumed = _dispatch_and_hand_over(tracker, plan, job["dispatched_until"], context, job.get("lanes_starting"))
    return {**resumed, "repeated": True}


def start_job(document: Any, context: LambdaContext) -> dict[str, Any]:
    tracker = configured_tracker()
    limits = configured_limits()
    try:
        spec = parse_spec(
            document, configured_chunk_size(), limits, workload_registry.names(), workload_registry.reads_by_name()
        )
        logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
        plan = plan_job(spec, limits, context)
    except InvalidJobSpec as error:
        return _reject(tracker, document, in_first_format(error) if is_first_format(document) else error, context)
    if plan is None:
        return {"job_id": spec.job_id, "status": "LISTING"}
    return register_and_dispatch(tracker, spec, plan, context)


def continue_listing(handover: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = JobSpec.from_dict(handover["spec"])
    logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
    tracker = configured_tracker()
    try:
        plan = list_on(spec, Listing(**handover["state"]), configured_limits(), context)
    except InvalidJobSpec as error:
        return _reject(tracker, spec.as_dict(), error, context)
    if plan is None:
        return {"job_id": spec.job_id, "status": "LISTING"}
    return register_and_dispatch(tracker, spec, plan, context)


def register_and_dispatch(tracker: JobTracker, spec: JobSpec, plan: Plan, context: LambdaContext) -> dict[str, Any]:
    layout = ShardLayout.plan(
        plan.total,
        int(settings.positive_number("SUBTASKS_PER_SHARD", 1000)),
        int(settings.positive_number("PARALLEL_SHARDS", 1)),
    )
    fingerprint = spec_fingerprint(spec, plan.identity)
    registration = tracker.register_job(
        spec.job_id,
        layout,
        spec.correlation_id,
        int(settings.positive_number("JOB_TIMEOUT_SECONDS", 3600)),
        spec.as_record(),
        fingerprint,
        retention_seconds(),
        dispatcher=context.aws_request_id,
        details={
            "plan": plan.as_dict(),
            "workload": spec.workload,
            "failure_limit": spec.failure_limit(plan.total),
            **_dispatch_fields(spec, plan.total),
        },
    )
    job = registration.job
    if not registration.created and (refusal := repeats.refusal(job, fingerprint)):
        logger.warning("submission refused", extra={"error": refusal})
        metrics.add_metric(name="SubmissionsRefused", unit=MetricUnit.Count, value=1)
        return {"job_id": spec.job_id, "status": job["status"], "error": refusal}
    # The registered job's plan, layout and expiry: a repeat keeps the first registration's.
    dispatch_plan = DispatchPlan.of_job(job)
    if not registration.created:
        return _answer_repeat(tracker, job, dispatch_plan, context)
    logger.info("job registered", extra={**asdict(layout), "source": spec.source.type})
    return _dispatch_and_hand_over(tracker, dispatch_plan, 0, context, job.get("lanes_starting"))


def _dispatch_fields(spec: JobSpec, total: int) -> dict[str, Any]:
    """The lane fields of a job whose max_concurrency is below its subtask count; for one sent whole, its number
    of dispatch parts when it has more than one."""
    wanted = spec.max_concurrency or default_max_concurrency()
    if wanted is None or wanted >= total:
        parts = part_count(total)
        return {"dispatch_parts": parts} if parts > 1 else {}
    return Window.plan(total, wanted).registration(datetime.now(UTC))


def redrive(request: Any, context: LambdaContext) -> dict[str, Any]:
    """Run the failed and skipped subtasks of a PARTIAL or FAILED job again, as its next run.

    The job is REDRIVING while its subtasks are reopened and sent, and RUNNING
    once all are; a redrive that stopped midway is taken over by the next
    request once it is older than a ventilator can run.
    """
    job_id = request.get("job_id") if isinstance(request, dict) else None
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        return refused("redrive.job_id", "is not a job id", 'send {"redrive": {"job_id": "..."}}')
    logger.append_keys(job_id=job_id)
    tracker = configured_tracker()
    job = tracker.get_job(job_id)
    if job is None:
        return refused("redrive.job_id", f"job {job_id} does not exist", "name a job the tracker holds")
    claimed, refusal = claim_redrive(tracker, job, context.aws_request_id)
    if claimed is None:
        return refusal
    open_ids = tracker.reopen_for_redrive(claimed)
    plan = DispatchPlan.of_job(claimed)
    destination = sending.subtask_destination()
    with ThreadPoolExecutor(max_workers=_senders()) as pool:
        for start in range(0, len(open_ids), WAVE):
            wave = plan.subtasks(open_ids[start : start + WAVE])
            _send_wave(pool, destination, wave)
    running = tracker.finish_redrive(job_id, context.aws_request_id)
    if running is None:
        return refused("redrive.job_id", f"another redrive of job {job_id} took over", "follow the job's status")
    # Subtasks that finished while it was REDRIVING may have reduced every shard: move it on, once.
    if running["shards_reduced"] >= running["shard_count"] and tracker.start_completing(job_id):
        trigger_consolidator(job_id, running["correlation_id"])
    logger.info("job redriven", extra={"run": plan.run, "subtasks": len(open_ids)})
    metrics.add_metric(name="JobsRedriven", unit=MetricUnit.Count, value=1)
    return {"job_id": job_id, "status": JobStatus.RUNNING.value, "run": plan.run, "redriven": len(open_ids)}


def continue_job(continuation: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = DispatchPlan.from_dict(continuation["plan"])
    logger.append_keys(job_id=plan.job_id, correlation_id=plan.correlation_id)
    return _dispatch_and_hand_over(configured_tracker(), plan, continuation["next_subtask"], context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any] | list[dict[str, Any]]:
    if isinstance(event, dict) and "redrive" in event:
        return redrive(event["redrive"], context)
    if isinstance(event, dict) and "concurrency" in event:
        return change_concurrency(event["concurrency"])
    if isinstance(event, dict) and ("continuation" in event or "listing" in event or "dispatch_part" in event):
        try:
            if "listing" in event:
                return continue_listing(event["listing"], context)
            if "dispatch_part" in event:
                return dispatch_part(event["dispatch_part"], context)
            return continue_job(event["continuation"], context)
        except (TypeError, KeyError, ValueError, AttributeError, ParamValidationError) as error:
            # Only a ventilator hands a job over; anything else under this key is refused, not retried.
            logger.error("malformed continuation refused", extra={"reason": repr(error)[:500]})
            return {
                "status": "FAILED",
                "error": {
                    "field": "continuation",
                    "message": "is not a hand-over written by the ventilator",
                    "fix": "submit a job spec (without continuation)",
                },
            }
    results = [start_job(document, context) for document in specs_from_event(event)]
    return results if is_s3_notification(event) else results[0]
