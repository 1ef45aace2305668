"""1c. Dispatch in parts: one job's subtasks sent by 1, 2 and 4 ventilator invocations side by side.

Each invocation is a process of its own, as each is its own Lambda environment on AWS, running the ventilator's
`send_part` on its part of one registered job: its claim and its progress in a tracker table on the emulator,
its SendMessageBatch calls answered by the stub of table 1b after 10 ms (no queue), so the figure is the
ventilators' own pace. The processes start together once each has imported the handler and made its clients.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench.common import FakeContext, Table, emulator, tracker_table
from bench.dispatch import ROUND_TRIP_SECONDS, SENDER_THREADS, _bench_plan, stub_with_round_trip

SUBTASKS = 40_000
INVOCATIONS = (1, 2, 4)
RUNS = 3  # each row is the median of three


@dataclass(frozen=True)
class PartRun:
    started: float
    ended: float
    sent: int


class _Invocation(FakeContext):
    def __init__(self) -> None:
        self.aws_request_id = uuid.uuid4().hex


def _register(table_name: str, parts: int) -> str:
    """A job of SUBTASKS registered in `parts` parts, as the ventilator registers one; its id."""
    import boto3

    from serverless_patterns.fan_in.tracker import JobTracker, ShardLayout

    plan = _bench_plan(SUBTASKS)
    tracker = JobTracker(boto3.resource("dynamodb").Table(table_name))
    layout = ShardLayout.plan(SUBTASKS, 1000, 10)
    registration = tracker.register_job(
        plan.job_id,
        layout,
        "bench",
        3600,
        {},
        "bench",
        3600,
        details={"plan": plan.plan.as_dict(), "workload": "word_count", "dispatch_parts": parts},
    )
    return registration.job["job_id"]


def _send_one_part(table_name: str, job_id: str, part: int, ready: Any, go: Any, answers: Any) -> None:
    """One ventilator invocation: claim and send one part (in a process of its own)."""
    import boto3

    from fan_out_ventilator import handler as ventilator
    from serverless_patterns.fan_in.tracker import JobTracker, part_range
    from serverless_patterns.fan_out.dispatch_plans import DispatchPlan

    with stub_with_round_trip():
        tracker = JobTracker(boto3.resource("dynamodb").Table(table_name))
        plan = DispatchPlan.of_job(tracker.get_job(job_id))
        boto3.client("sqs")  # the clients made before the clock starts, as in a warm environment
        ready.put(part)
        go.wait()
        started = time.perf_counter()
        answer = ventilator.send_part(tracker, plan, part, _Invocation())
        ended = time.perf_counter()
    answers.put(
        (part, PartRun(started, ended, answer["dispatched_until"] - part_range(plan.total, plan.parts, part)[0]))
    )


def _measure(table_name: str, parts: int) -> tuple[float, list[PartRun]]:
    """Wall seconds from the common start to the last part sent, and each part's run."""
    job_id = _register(table_name, parts)
    context = multiprocessing.get_context("spawn")
    ready, answers, go = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(target=_send_one_part, args=(table_name, job_id, part, ready, go, answers))
        for part in range(parts)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        _next_answer(ready, processes)
    go.set()
    runs = dict(_next_answer(answers, processes) for _ in processes)
    for process in processes:
        process.join()
    wall = max(run.ended for run in runs.values()) - min(run.started for run in runs.values())
    return wall, [runs[part] for part in range(parts)]


def _next_answer(answers: Any, processes: list[Any]) -> Any:
    """The next answer of the invocations' processes; an error as soon as one of them died without one."""
    while True:
        try:
            return answers.get(timeout=1)
        except queue.Empty:
            if dead := [process for process in processes if process.exitcode not in (None, 0)]:
                raise RuntimeError(f"{len(dead)} part invocation(s) failed: see their traceback above") from None


def run() -> Table:
    table = Table(
        "dispatch_parts",
        f"1c. Dispatch in parts: a job of {SUBTASKS:,} subtasks sent by 1, 2 and 4 ventilator invocations side by "
        f"side, against the {ROUND_TRIP_SECONDS * 1000:g} ms stub",
        ["invocations", "subtasks each", "seconds", "subtasks /s", "vs one invocation", "slowest part /s"],
    )
    os.environ.setdefault("SENDER_THREADS", str(SENDER_THREADS))
    os.environ.setdefault("SUBTASK_QUEUE_URL", "http://127.0.0.1/000000000000/stub")  # the stub answers every send
    with emulator():
        tracker = tracker_table("dispatch-parts")
        _measure(tracker.name, 1)  # a warm-up: the emulator's table and this machine's caches
        baseline = 0.0
        for invocations in INVOCATIONS:
            measured = sorted((_measure(tracker.name, invocations) for _ in range(RUNS)), key=lambda run: run[0])
            wall, runs = measured[RUNS // 2]  # the median
            sent = sum(run.sent for run in runs)
            assert sent == SUBTASKS, f"sent {sent} of {SUBTASKS}"
            rate = sent / wall
            baseline = baseline or rate
            slowest = min(run.sent / (run.ended - run.started) for run in runs)
            table.rows.append([invocations, SUBTASKS // invocations, wall, rate, f"{rate / baseline:.2f}x", slowest])
        tracker.delete()
    cores = os.cpu_count() or 1
    table.notes += [
        f"Each invocation is its own process running the ventilator's `send_part` ({SENDER_THREADS} sender "
        "threads): its claim and its progress per wave of 500 go to a tracker table on the emulator, its "
        f"SendMessageBatch calls to the stub of table 1b, answered after {ROUND_TRIP_SECONDS * 1000:g} ms. The "
        "processes have imported the handler and made their clients before a common start; seconds run from it "
        f"to the last part sent, the median of {RUNS} runs after a warm-up.",
        f"What bounds these figures: this machine's {cores} cores. One invocation is bound by its own CPU (table "
        "1b: building messages and botocore's work per call hold one interpreter), so 2 invocations use both "
        "cores and 4 share them, with the emulator's own process. On AWS each invocation has its own vCPU at "
        "the ventilator's 1,769 MB, so the rate grows with the invocations up to max_dispatchers (10 by "
        "default): a job of 1,000,000 is cut into 10 parts of 100,000.",
    ]
    return table
