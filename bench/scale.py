"""12. A million subtasks (issue 29): the pipeline modelled at AWS scale, validated on the emulator first.

Measures the model's inputs on the emulator (bench.scale_model.calibration) and the word-count job's end-to-end
time at 1,000 and 10,000 subtasks on the deployed envs/local stack, checks that the model configured as the
emulator reproduces them, then predicts 100,000, 1,000,000 and 10,000,000 subtasks on AWS next to Step Functions
Distributed Map with Express children, and writes docs/scale.md and docs/scale.png.

SCALE_FROM_SAVED=1 skips the emulator: the model runs again from bench/results/scale_calibration.json (saved by the
last measuring run), so the page can be regenerated in a minute or two: `SCALE_FROM_SAVED=1 make bench BENCH=scale`.
"""

from __future__ import annotations

import os
from typing import Any

from bench.common import Table, machine
from bench.scale_model import calibration as calibrating
from bench.scale_model import distributed_map, pipeline, platforms, report, validation
from bench.scale_model.calibration import Calibration
from bench.scale_model.prediction import Prediction
from bench.scale_model.prices import total

SIZES = (100_000, 1_000_000, 10_000_000)
BILLING_NOTE = (
    "Billing differs in one way between the two systems: this project's workers are billed while they wait on a "
    "quota (S3's GETs, a partition), while Distributed Map's children held back by a limit wait before they start, "
    "unbilled; this favours Distributed Map. Distributed Map's peak concurrency counts children in flight (each "
    "113 ms, 13 ms of it a Lambda invocation), this project's counts Lambda invocations."
)
SPREAD_PREFIXES = 10  # a second set of predictions: the input read from this many S3 prefixes
DEFAULT_WINDOW_CEILING = 1_000  # fan_out's job_max_concurrency_limit default, which caps the default window
WRITE_UNITS_NOTE = (
    "DynamoDB writes are the largest line item: a worker counts its batch's completions in one transaction, a "
    "TASK item per subtask and a counter per shard the batch touches; at this size the shards are 200 wide, so a "
    "batch of 10 consecutive subtasks touches 10 shards: 20 items of a write unit each, doubled for a "
    "transaction: 4 per subtask. Benchmark 8 measured 2.5 on a 1,000-subtask job whose batches touched at most 4 "
    "shards. Counting a batch in one shard (shards striped by the batch size) would bring it near 2.2, if SQS "
    "delivered a batch's messages together, which a standard queue does not promise."
)
VALIDATION_SIZES = (1_000, 10_000)
ACCOUNT_CONCURRENCY = 1_000  # Lambda's default per account and Region
FROM_SAVED = "SCALE_FROM_SAVED"


def from_saved() -> bool:
    """Whether to re-run the model from the saved calibration instead of measuring on the emulator."""
    return os.environ.get(FROM_SAVED, "").strip().lower() in {"1", "true", "yes"}


def _calibrated(stack: dict[str, Any] | None) -> tuple[Calibration, dict[int, float]]:
    if from_saved():
        if not calibrating.STORE.is_file():
            raise SystemExit(f"{FROM_SAVED}: no {calibrating.STORE}; run `make bench BENCH=scale` once without it")
        return calibrating.load(calibrating.STORE)
    if stack is None:
        raise SystemExit(f"scale: the emulator's stack is needed to measure (or set {FROM_SAVED}=1)")
    measured = calibrating.measured_end_to_end(stack, sizes=VALIDATION_SIZES)
    calibration = calibrating.measure(stack)
    calibrating.save(calibration, measured)
    return calibration, measured


def distributed_map_item_seconds(aws: platforms.Platform) -> float:
    """One item's Lambda time in an Express child: the work of one subtask without this project's bookkeeping.

    The GET of its chunk (one round trip) and the word count of it at the worker's memory; its result goes back
    in the task's output to the ResultWriter, so no PUT and no tracker write."""
    cal = aws.calibration
    return aws.round_trip_s + aws.cpu_seconds("worker", cal.workload_cpu_s_per_subtask + cal.client_cpu_s_per_call)


# Each scalar input of the Calibration: its name in the table, its unit, and how it was measured.
SCALAR_INPUTS: dict[str, tuple[str, str, str]] = {
    "receive_s_per_queued": (
        "ReceiveMessage per queued message",
        "µs",
        "ReceiveMessage timed at depths "
        + ", ".join(f"{d:,}" for d in calibrating.RECEIVE_DEPTHS)
        + " (MiniStack scans the queue): the slope",
    ),
    "client_cpu_s_per_call": ("client CPU per call", "ms", "process CPU of the timed calls (signing, parsing)"),
    "invoke_start_s": ("an invocation by the mapping", "ms", "a message to a function doing nothing, send to delete"),
    "invoke_server_cpu_s": ("the emulator's CPU per invocation", "ms", "the emulator process's CPU for that"),
    "spawn_s": ("a function's first invocation, more", "ms", "the first invocation less a warm one (a process)"),
    "sync_invoke_s": ("Invoke of a warm function", "ms", "RequestResponse, the function doing nothing"),
    "handler_import_s": (
        "the worker handler's import",
        "ms",
        "from its zip, in a fresh process (a cold start's share)",
    ),
    "ventilator_cpu_s_per_subtask": ("ventilator CPU per subtask", "µs", "dispatch against the 10 ms stub, 8 senders"),
    "ventilator_stub_rate": ("ventilator against the stub", "/s", "subtasks per second of that dispatch"),
    "workload_cpu_s_per_subtask": ("workload CPU per subtask", "µs", "the word count of a 256-byte chunk"),
    "merge_cpu_s_per_partial": ("merge CPU per partial", "µs", "merge_counts over 1,000 partials"),
}
SCALE = {"ms": 1e3, "µs": 1e6, "/s": 1.0}


def calibration_inputs(cal: Calibration, measured: dict[int, float]) -> list[tuple[str, str, str]]:
    """The table of measured inputs: input, value, how it was measured."""
    alone = f"median of {calibrating.SAMPLES} calls, one client alone, the emulator's time as the client sees it"
    rows = [(operation, f"{seconds * 1000:.2f} ms", alone) for operation, seconds in sorted(cal.service_s.items())]
    for attribute, (name, unit, how) in SCALAR_INPUTS.items():
        value = getattr(cal, attribute, None)
        if value:
            shown = f"{value:,.0f} /s" if unit == "/s" else f"{value * SCALE[unit]:,.2f} {unit}"
            rows.append((name, shown, how))
    rows += [
        (f"end to end, {n:,} subtasks", f"{seconds:,.1f} s", "word count on envs/local, submit to result")
        for n, seconds in sorted(measured.items())
    ]
    return rows


def _limits(aws: platforms.Platform, shape: pipeline.JobShape) -> distributed_map.Limits:
    """The same account and the same input for both: its chunks read from as many prefixes as this project's job
    reads them from."""
    prefixes_gets = (aws.s3_get_per_prefix_s or 0) * shape.input_prefixes
    return distributed_map.Limits(account_concurrency=ACCOUNT_CONCURRENCY, s3_get_per_prefix_s=prefixes_gets or None)


def predictions(
    cal: Calibration, input_prefixes: int = 1
) -> tuple[dict[int, Prediction], dict[int, Prediction], platforms.Platform]:
    aws = platforms.aws(cal, account_concurrency=ACCOUNT_CONCURRENCY)
    ours, theirs = {}, {}
    item_s = distributed_map_item_seconds(aws)
    memory_gb = aws.memory_mb["worker"] / 1024
    for subtasks in SIZES:
        shape = pipeline.JobShape(subtasks=subtasks, input_prefixes=input_prefixes)
        ours[subtasks] = pipeline.simulate(shape, aws)
        theirs[subtasks] = distributed_map.predict(subtasks, item_s, memory_gb, limits=_limits(aws, shape))
    return ours, theirs, aws


def _sensitivity_notes(cal: Calibration) -> list[str]:
    """The goal's job (input under SPREAD_PREFIXES prefixes) again with the two assumptions moved: the round trip
    per AWS call, and how much of this machine's core a Lambda vCPU is worth."""
    notes = []
    shape = pipeline.JobShape(subtasks=report.GOAL_SUBTASKS, input_prefixes=SPREAD_PREFIXES)
    for round_trip_ms in (5, 20):
        aws = platforms.aws(cal, account_concurrency=ACCOUNT_CONCURRENCY, round_trip_s=round_trip_ms / 1000)
        moved = pipeline.simulate(shape, aws)
        notes.append(
            f"Sensitivity, {report.GOAL_SUBTASKS:,} subtasks under {SPREAD_PREFIXES} prefixes, {round_trip_ms} ms "
            f"per AWS call instead of 10: {moved.time_to_result_s:,.1f} s to result, bound by "
            f"{moved.bounding_stage}, ${total(moved.calls):,.2f}."
        )
    return notes


def _windowed_note(aws: platforms.Platform) -> str:
    """A job of the goal's size windowed at the module's default ceiling, job_max_concurrency_limit (1,000)."""
    windowed = pipeline.simulate(
        pipeline.JobShape(subtasks=report.GOAL_SUBTASKS, max_concurrency=DEFAULT_WINDOW_CEILING), aws
    )
    return (
        f"The rows are jobs sent whole (in parts), as `default_job_max_concurrency = 0` or a spec's max_concurrency "
        f"of at least its size sends them. With the module's defaults a job gets max_concurrency = the workers' "
        f"capacity capped at job_max_concurrency_limit ({DEFAULT_WINDOW_CEILING:,}), so a {report.GOAL_SUBTASKS:,}-"
        f"subtask job is windowed at {DEFAULT_WINDOW_CEILING:,} in flight: {windowed.time_to_result_s:,.0f} s to "
        f"result, bound by {windowed.bounding_stage}, ${total(windowed.calls):,.2f}. Raise job_max_concurrency_limit "
        "(up to 10,000) or send such jobs whole."
    )


def _batched(aws: platforms.Platform) -> Prediction:
    """Distributed Map with ItemBatcher at 10 items per child, the batching docs/distributed-map.md also prices."""
    shape = pipeline.JobShape(subtasks=report.GOAL_SUBTASKS)
    memory_gb = aws.memory_mb["worker"] / 1024
    return distributed_map.predict(
        shape.subtasks, distributed_map_item_seconds(aws), memory_gb, items_per_child=10, limits=_limits(aws, shape)
    )


def _batched_note(batched: Prediction) -> str:
    return (
        f"Distributed Map with ItemBatcher at 10 items per child (not in the table), {batched.subtasks:,} items: "
        f"{batched.time_to_result_s:,.0f} s to result, bound by {batched.bounding_stage}, "
        f"${total(batched.calls):,.2f} per job."
    )


def run(stack: dict[str, Any] | None) -> Table:
    cal, measured = _calibrated(stack)
    rows = validation.validate(cal, measured)
    ours, theirs, aws = predictions(cal)
    ours_spread, theirs_spread, _ = predictions(cal, SPREAD_PREFIXES)
    batched = _batched(aws)
    described = machine()
    described["calibrated"] = cal.measured_at or "unknown"
    page = report.render(
        model_text=MODEL_TEXT,
        calibration_inputs=calibration_inputs(cal, measured),
        calibration_notes=[f"Calibrated {cal.measured_at or 'at an unknown date'}.", *cal.notes],
        validation=rows,
        ours=ours,
        theirs=theirs,
        account_concurrency=ACCOUNT_CONCURRENCY,
        machine=described,
        spread=(ours_spread, theirs_spread, SPREAD_PREFIXES),
        batched_cost=total(batched.calls),
        notes=[
            *aws.notes,
            _windowed_note(aws),
            WRITE_UNITS_NOTE,
            BILLING_NOTE,
            *_sensitivity_notes(cal),
            f"Distributed Map's child: {distributed_map_item_seconds(aws) * 1000:.1f} ms of Lambda per item at "
            f"{aws.memory_mb['worker']} MB (one GET round trip and the word count), one item per child.",
            _batched_note(batched),
        ],
    )
    report.write(page)
    report.plot(ours, theirs)
    return _table(rows, ours, theirs, (ours_spread, theirs_spread))


def _table(
    rows: list[Any],
    ours: dict[int, Prediction],
    theirs: dict[int, Prediction],
    spread: tuple[dict[int, Prediction], dict[int, Prediction]],
) -> Table:
    """The section of docs/benchmarks.md: the predictions, then the validation; docs/scale.md has the rest."""
    table = Table(
        "scale",
        "12. A million subtasks on AWS, modelled (issue 29; the model, its inputs and sources: docs/scale.md)",
        ["subtasks", "system", "full dispatch s", "result s", "peak concurrency", "bound by", "cost per job"],
    )
    for subtasks in SIZES:
        for prediction, where in (
            (ours[subtasks], ""),
            (theirs[subtasks], ""),
            (spread[0][subtasks], f", input under {SPREAD_PREFIXES} prefixes"),
            (spread[1][subtasks], f", input under {SPREAD_PREFIXES} prefixes"),
        ):
            table.rows.append(
                [
                    subtasks,
                    prediction.system + where,
                    prediction.time_to_full_dispatch_s,
                    prediction.time_to_result_s,
                    prediction.peak_concurrency,
                    prediction.bounding_stage,
                    f"${total(prediction.calls):,.2f}",
                ]
            )
    table.notes += [
        f"Input as one object: {goal.line().removeprefix('- ')}"
        for goal in report.goals(ours, theirs, ACCOUNT_CONCURRENCY)
    ] + [
        f"Input under {SPREAD_PREFIXES} prefixes: {goal.line().removeprefix('- ')}"
        for goal in report.goals(*spread, ACCOUNT_CONCURRENCY)
    ]
    checked = Table(
        "scale_validation",
        "12b. The model against the emulator: the word-count job end to end on envs/local",
        ["subtasks", "configuration", "measured s", "modelled s", "error"],
        [[row.subtasks, row.configuration, row.measured_s, row.modelled_s, f"{row.error_pct:+.1f}%"] for row in rows],
    )
    checked.notes.append(f"Goal: within {report.VALIDATION_GOAL_PCT:.0f}%.")
    table.notes.append("How the model works, its inputs, the line items and the plot: [scale.md](scale.md).")
    table.extra.append(checked)
    return table


MODEL_TEXT = """
## How the model works

A discrete-event simulation (`bench/scale_model/`) follows one job from submit to result at the granularity of
a message (a batch of up to 10 subtasks): a clock and a heap of timed events (`engine.py`), the AWS quotas as
small objects (`aws.py`), and two platforms built from the same measured inputs (`platforms.py`): the emulator
as measured here, and AWS at its documented quotas. On the emulator each call takes its measured service time on
the one server; on AWS each call takes an in-region round trip of 10 ms (the benchmarks' assumption, as in
sections 8 and 8c of [benchmarks.md](benchmarks.md): no call time measured here is used on AWS). On both, the CPU
measured here (a client's per call, the ventilator's per subtask, the workload's, the merge's, a handler's import)
is charged to the function that spends it, scaled by the share of a vCPU its memory buys (one full vCPU at
1,769 MB; a vCPU taken as one core of this machine: not verified). The sensitivity of the goal's row to the round trip
is shown under the predictions.

**Ventilator.** Registers the job (the job item, its shard items and its parts) before anything is sent,
then sends every subtask in SendMessageBatch calls of 10 from 8 sender threads, at the CPU per subtask measured
against the 10 ms stub. A job of more than 100,000 subtasks sent whole is cut into parts, about one per 100,000
subtasks and at most 10, each sent by its own ventilator invocation side by side (started asynchronously by the
registering one), so dispatch time falls with the number of parts.

**Queue and event source mapping.** A standard queue; the mapping receives batches of 10. On AWS it starts with 5
concurrent batches and adds up to 300 a minute while messages wait ([Lambda: SQS
scaling](https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html)), up to 1,250 concurrent
invocations per mapping (the [AWS Knowledge Center](https://repost.aws/knowledge-center/lambda-sqs-scaling); one
copy of the page read for this model said 1,000; the mapping's maximum_concurrency is 2 to 1,000, and at the
default account concurrency the account's 1,000 binds first, so the two predict the same times). SQS standard
queues take a nearly unlimited number of calls per second, so no rate limit is modelled on them. On the emulator,
MiniStack gives a mapping its maximum concurrency at once, and its ReceiveMessage scans the whole queue: its
measured time grows with the depth.

**Lambda.** Each function scales by 1,000 execution environments every 10 seconds (refilled continuously)
([scaling behavior](https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html)), and every function of
the job shares the account's concurrency, 1,000 by default
([quotas](https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)). A new environment costs the
handler's import, measured from its zip; the runtime's own start is not measured.

**Workers.** A batch's 10 records run on 10 threads: the S3 GET of the chunk, the workload's CPU (the word count,
measured), the result kept inline in the tracker; then one TransactWriteItems for the batch (a TASK item per
subtask and a counter per shard the batch touched) and one BatchGetItem of those shards. A shard filled by the
batch starts its reduction. A worker is billed from its start to its end, waiting on a quota included.

**Tracker.** Shards as `ShardLayout.plan` lays them out: width max(1, min(parallel_shards, ceil(N / 250), 1,000)),
at most 1,000 subtasks per shard, filled in rounds of `width`. Each shard is its own partition key, and a
partition takes 1,000 write units a second
([DynamoDB warm throughput scenarios](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html):
"each individual partition is limited to 1,000 write units per second"): a transaction waits for its shard's units.

**S3.** At least 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a second per partitioned prefix
([AWS Knowledge Center](https://aws.amazon.com/premiumsupport/knowledge-center/s3-object-key-naming-pattern/);
[Athena's S3 throttling page](https://docs.aws.amazon.com/athena/latest/ug/performance-tuning-s3-throttling-reduce-throttling-at-the-service-level.html)
for the 5,500 GETs). S3 partitions a busy prefix further over time, which the model does not: these floors are
used as ceilings, so a job they hold back may go faster. The workers' GETs of their chunks share the input's
prefixes; their result PUTs and the reductions' share the results prefix.

**The bound.** The run is sampled about 2,000 times; each sample names the first stage that holds the job back
(the emulator's one server, the shard partitions, the input prefix's GETs, the account's concurrency, the
mapping's ramp or cap, the job's window, the dispatch, the workers, the reductions), and the stage named most
often is the job's bound; the page lists the shares under the predictions.

**Reductions and the final merge.** One consolidator invocation per sealed shard reads its TASK items 50 per
Query page and merges them (the merge CPU per partial, measured) and writes the shard's result; the last one
merges one object per shard and writes the job's result.

**Distributed Map.** A Standard parent whose Distributed Map state starts one Express child per item, each child
one Lambda task doing one subtask's work (the GET of its chunk and the word count; its result goes to the
ResultWriter, so no PUT and no tracker). At most `MaxConcurrency` children run at once, 10,000 when unset
([Distributed Map](https://docs.amazonaws.cn/step-functions/latest/dg/state-map-distributed.md), Chinese copy); their
Lambda invocations share the account's 1,000 and Lambda's scaling, and their GETs of their chunks the input
prefix's GET rate, as the workers' do; children start no faster than the Express
StartExecution bucket (6,000, refilled at 6,000 a second in us-east-1, in the
[archived GitHub copy of the quotas page](https://github.com/awsdocs/aws-step-functions-developer-guide/blob/main/doc_source/limits-overview.md);
that a Map Run's children draw on it is not verified); an Express child runs at most 5 minutes
([Express quotas](https://docs.aws.amazon.com/step-functions/latest/dg/express-limits.html)). Each child costs one
state transition of the parent ([transitions](https://docs.aws.amazon.com/ko_kr/step-functions/latest/dg/concepts-transitions.html),
Korean copy), one Express request and its duration at 64 MB in 100 ms steps, with about 0.1 s of its own beside
its Lambda task (an estimate, not verified). A small fluid simulation (`distributed_map.py`) runs the children
through these limits.

### What the model leaves out

- Failures, retries and redeliveries (each repeats a subtask's calls), throttling errors and their back-off,
  the DLQ, the job sweeper.
- Variance: every call takes its median time; no slow tail, no noisy neighbours.
- Lambda's runtime start on a new environment (only the handler's import is counted); the asynchronous
  invocation queue's own delay.
- Standard workflows' state-transition throttle (5,000 bucket, 1,500 a second in us-east-1 in the archived copy):
  whether the parent's transition per child counts against it is not verified; if it did, a million children
  would take at least 660 s to start.
- Distributed Map's Map Run start, item reader (reading the items from S3 in pages) and ResultWriter export: not
  documented, taken as 0 s, so its times are lower bounds; its children's Lambda cold starts.
- Storage, logs, data transfer, the empty receives of an idle queue, CloudWatch.
"""
