"""`simulate(job, platform)`: one job through the model, from the submit to the final result, as a Prediction.

The bounding stage is decided by sampling the run: at each sample the stage holding the job back is named (the
first that applies of: the emulator's server busy, the shard partitions, the input's S3 prefix, the account's
concurrency, the event source mapping's ramp or cap, the dispatch, the reductions), and the stage named most
often while the job ran is its bound.
"""

from __future__ import annotations

from collections import Counter

from bench.scale_model.job_run import JobRun
from bench.scale_model.job_shape import JobShape
from bench.scale_model.platforms import Platform
from bench.scale_model.prediction import BILLABLE, Prediction
from bench.scale_model.workers import Poller, Pusher

__all__ = ["JobShape", "simulate"]

SAMPLES = 2_000  # about this many samples of what holds the job back
MAX_SIMULATED_S = 86_400.0


class Observer:
    """Samples the run and names, each time, the stage that holds the job back."""

    def __init__(self, run: JobRun, source: Poller | Pusher, interval: float) -> None:
        self.run, self.source, self.interval = run, source, interval
        self.stages: Counter[str] = Counter()

    def start(self) -> None:
        self.run.sim.after(self.interval, self.sample)

    def sample(self) -> None:
        run = self.run
        if run.result_at is not None:
            return
        self.stages[self.stage()] += 1
        run.sim.after(self.interval, self.sample)

    def stage(self) -> str:
        run, platform, now = self.run, self.run.platform, self.run.sim.now
        if run.server and run.server.saturated(now):
            return "the emulator's one server (MiniStack answers one request at a time)"
        if run.partitions and self._partitions_saturated(now):
            return "shard partitions (1,000 WCU/s each)"
        if run.input_gets and run.input_gets.saturated(now):
            return f"S3 GETs on the input's prefix ({platform.s3_get_per_prefix_s * run.shape.input_prefixes:,.0f}/s)"
        if run.result_puts and run.result_puts.saturated(now):
            return f"S3 PUTs on the results' prefix ({platform.s3_put_per_prefix_s:,.0f}/s)"
        if run.cores and run.cores.saturated(now):
            return "the emulator's cores (the functions' CPU)"
        if run.account.waiting:
            return f"account concurrency {platform.account_concurrency:,}"
        if run.queue.depth and isinstance(self.source, Poller) and self.source.in_flight >= self.source.limit():
            if self.source.limit() < self.source.scaling.cap:
                return "event source mapping ramp (+300/min)"
            return f"event source mapping's concurrency ({self.source.scaling.cap:,})"
        if run.window and run.sent < run.shape.subtasks:
            return f"the job's window ({run.window.max_concurrency:,} lanes)"
        if run.sent < run.shape.subtasks:
            return "dispatch (the ventilator's CPU)" if not run.server else "dispatch (the ventilator)"
        if run.queue.depth or run.queue.in_flight:
            return "workers"
        return "reductions and the final merge"

    def _partitions_saturated(self, now: float) -> bool:
        """Half the shards' partitions or more are full now (looked at in at most 16 of them, evenly spread)."""
        partitions = self.run.partitions
        looked_at = partitions[:: max(1, len(partitions) // 16)]
        return sum(p.saturated(now) for p in looked_at) * 2 >= len(looked_at)


def simulate(job: JobShape, platform: Platform, expected_s: float | None = None) -> Prediction:
    """The job on the platform. `expected_s` (a guess of its length) only sets how often it is sampled."""
    run = JobRun(job, platform)
    source: Poller | Pusher = Pusher(run) if job.transport == "sns" else Poller(run)
    interval = (expected_s or _rough_length(job, platform)) / SAMPLES
    observer = Observer(run, source, interval)
    run.submit()
    observer.start()
    run.sim.run(until=MAX_SIMULATED_S)
    if run.result_at is None:
        raise RuntimeError(f"the job of {job.subtasks:,} subtasks did not end in the model (stuck at {run.sim.now} s)")
    return Prediction(
        system=f"this project ({platform.name})",
        subtasks=job.subtasks,
        time_to_full_dispatch_s=run.full_dispatch_at or run.result_at,
        time_to_result_s=run.result_at,
        peak_concurrency=run.account.peak,
        bounding_stage=observer.stages.most_common(1)[0][0] if observer.stages else "reductions and the final merge",
        calls=_calls(run, job),
        notes=tuple(_notes(run, observer)),
    )


def _rough_length(job: JobShape, platform: Platform) -> float:
    """A rough guess of the job's length, for the sampling interval only."""
    per_subtask = 0.01 if platform.shared_server else 1 / 5_000
    return max(1.0, job.subtasks * per_subtask)


def _calls(run: JobRun, job: JobShape) -> dict[str, float]:
    calls = {name: 0.0 for name in BILLABLE}
    calls.update({name: float(value) for name, value in run.calls.items() if name in calls})
    calls["lambda_requests"] = float(sum(run.invocations.values()))
    memory = run.platform.memory_mb
    calls["lambda_gb_s"] = sum(seconds * memory[function] / 1024 for function, seconds in run.busy_s.items())
    if job.transport == "sns":
        # Publishes (a batch of 10 small messages is one 64 KiB request); deliveries to Lambda are not billed.
        calls["sns_requests"] = float(run.queue.send_requests)
    else:
        calls["sqs_requests"] = float(run.queue.requests)
    return calls


def _notes(run: JobRun, observer: Observer) -> list[str]:
    total = sum(observer.stages.values()) or 1
    shares = ", ".join(f"{stage}: {count / total:.0%}" for stage, count in observer.stages.most_common(4))
    return [
        f"held back by (share of the run): {shares}",
        f"{run.layout.shard_count:,} shards ({run.layout.width:,} wide), {run.shape.dispatch_parts()} dispatch part(s)"
        + (
            f", windowed: {run.window.max_concurrency:,} lanes of blocks of {run.window.block_size}"
            if run.window
            else ""
        ),
        f"invocations: {dict(run.invocations)}, cold starts {run.cold_starts:,}; {run.sim.events_run:,} events",
    ]
