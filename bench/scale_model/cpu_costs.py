"""The CPU each stage spends per subtask, measured here: the ventilator's dispatch, the workload, a merge, and the
worker handler's import (a cold start's share)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.scale_model.calibration import Calibration


def ventilator_cpu(calibration: Calibration, subtasks: int = 20_000) -> None:
    """The ventilator's CPU per subtask: its own dispatch against the 10 ms stub (no queue), 8 senders."""
    from bench.common import FakeContext
    from bench.dispatch import SENDER_THREADS, _bench_plan, _NoProgress, stub_with_round_trip
    from fan_out_ventilator.handler import dispatch

    with stub_with_round_trip():
        os.environ.update({"SUBTASK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/0/stub", "SENDER_THREADS": "8"})
        dispatch(_NoProgress(), _bench_plan(2_000), 0, FakeContext())  # warm clients and connections
        plan = _bench_plan(subtasks)
        cpu, wall = time.process_time(), time.perf_counter()
        sent = dispatch(_NoProgress(), plan, 0, FakeContext())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert sent == subtasks, f"dispatched {sent} of {subtasks}"
    calibration.ventilator_cpu_s_per_subtask = cpu / subtasks
    calibration.ventilator_stub_rate = subtasks / wall
    calibration.notes.append(
        f"ventilator against the 10 ms stub: {subtasks / wall:,.0f} subtasks/s, {SENDER_THREADS} senders"
    )


def workload_cpu(calibration: Calibration) -> None:
    from serverless_patterns.workloads import word_count

    chunk = (b"the quick brown fox jumps over a lazy dog " * 7)[:256]
    partials = [word_count.count_words(chunk) for _ in range(1_000)]
    started = time.process_time()
    for _ in range(1_000):
        word_count.count_words(chunk)
    calibration.workload_cpu_s_per_subtask = (time.process_time() - started) / 1_000
    started = time.process_time()
    word_count.merge_counts(iter(partials))
    calibration.merge_cpu_s_per_partial = (time.process_time() - started) / len(partials)


def handler_import(calibration: Calibration) -> None:
    import tempfile
    import zipfile

    from bench.cold_start import _import_ms
    from bench.common import REPO_ROOT

    with tempfile.TemporaryDirectory() as directory:
        zipfile.ZipFile(REPO_ROOT / "build" / "lambda" / "fan_out_worker.zip").extractall(directory)
        calibration.handler_import_s = _import_ms(Path(directory), "fan_out_worker.handler") / 1000
