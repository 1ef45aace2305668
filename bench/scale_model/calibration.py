"""The model's inputs, measured on the running emulator, and the end-to-end times the model is validated against.

`measure()` times each AWS call the pipeline makes (call_timings.py: one client, one call at a time, the median of
several) and the client's CPU per call, a Lambda invocation on the emulator (invocations.py), and the CPU each stage
spends per subtask (cpu_costs.py: the ventilator's dispatch against the 10 ms stub of bench/dispatch.py, the word
count of one chunk, a partial's merge, the worker handler's import). `measured_end_to_end()` runs the word-count job
on the deployed envs/local stack from submit to result. boto3 is imported inside the functions that measure.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.scale_model.call_timings import RECEIVE_DEPTHS, SAMPLES

# Written by the run that measured; bench/results keeps the copy docs/scale.md was generated from, so a clone can
# run the model again (SCALE_FROM_SAVED=1) without measuring.
STORE = Path(__file__).resolve().parents[2] / "bench" / "results" / "scale_calibration.json"
__all__ = ["RECEIVE_DEPTHS", "SAMPLES", "Calibration", "load", "measure", "measured_end_to_end", "save"]


@dataclass
class Calibration:
    """Measured inputs, in seconds. `service_s`: one call answered by the emulator, as one client sees it alone."""

    service_s: dict[str, float] = field(default_factory=dict)  # operation -> median seconds
    receive_s_per_queued: float = 0.0  # ReceiveMessage's extra seconds per message in the queue (MiniStack scans it)
    client_cpu_s_per_call: float = 0.0  # botocore's CPU per call in the caller (signing, parsing)
    invoke_start_s: float = 0.0  # the emulator: a mapping's invocation of a function doing nothing, send to delete
    invoke_server_cpu_s: float = 0.0  # the emulator's own CPU for that invocation
    spawn_s: float = 0.0  # the emulator: a function's first invocation, more than a warm one (a process spawned)
    sync_invoke_s: float = 0.0  # the emulator: Invoke (RequestResponse) of a warm function doing nothing
    handler_import_s: float = 0.0  # the worker handler's import from its zip (a cold start's own share)
    ventilator_cpu_s_per_subtask: float = 0.0  # dispatch against the 10 ms stub, 8 senders: CPU per subtask
    ventilator_stub_rate: float = 0.0  # subtasks/s that dispatch reached against the stub
    workload_cpu_s_per_subtask: float = 0.0  # the word count of one 256-byte chunk
    merge_cpu_s_per_partial: float = 0.0  # a reduction's CPU per partial result merged
    measured_at: str = ""
    notes: list[str] = field(default_factory=list)

    def service(self, operation: str) -> float:
        return self.service_s[operation]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Calibration:
        return cls(**document)


def save(calibration: Calibration, measured: dict[int, float], path: Path = STORE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"calibration": calibration.to_json(), "measured": {str(k): v for k, v in measured.items()}}
    path.write_text(json.dumps(document, indent=2) + "\n")


def load(path: Path = STORE) -> tuple[Calibration, dict[int, float]]:
    document = json.loads(path.read_text())
    measured = {int(subtasks): seconds for subtasks, seconds in document.get("measured", {}).items()}
    return Calibration.from_json(document["calibration"]), measured


def measure(stack: dict | None = None) -> Calibration:
    """Every input, on the emulator in use (AWS_ENDPOINT_URL). The inputs need no deployed stack (the invocations
    are measured on a function of their own); `stack` is accepted for callers that have one at hand."""
    from bench.common import emulator
    from bench.scale_model import call_timings, cpu_costs, invocations

    calibration = Calibration(measured_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    with emulator():
        cpus = [
            *call_timings.sqs_calls(calibration),
            *call_timings.dynamodb_calls(calibration),
            *call_timings.s3_calls(calibration),
        ]
        calibration.client_cpu_s_per_call = statistics.median(cpus)
        cpu_costs.workload_cpu(calibration)
        invocations.invoke_start(calibration)
    cpu_costs.ventilator_cpu(calibration)
    cpu_costs.handler_import(calibration)
    return calibration


WARM_UP_SUBTASKS = 1_000  # an unmeasured job first: every worker, the ventilator and consolidators started
SMALL_JOB_RUNS = 3  # a job of up to SMALL_JOB_SUBTASKS takes seconds: the median of a few, as the machine is shared
SMALL_JOB_SUBTASKS = 1_000


def measured_end_to_end(stack: dict, sizes: tuple[int, ...] = (1_000, 10_000)) -> dict[int, float]:
    """Submit to result of the word-count job on the deployed stack (as envs/local deploys it), by size: after an
    unmeasured job, so the functions are warm (as the emulator preset has them); small jobs the median of a few."""
    import boto3

    from bench.end_to_end import CHUNK_SIZE, _text
    from serverless_patterns.fan_in.tracker import JobStatus, JobTracker
    from serverless_patterns_ops.fan_out_jobs import submit_job, wait_for_job

    s3 = boto3.client("s3")
    tracker = JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"]))

    def run(subtasks: int) -> float:
        job_id = f"scale-{uuid.uuid4().hex[:8]}"
        key = f"inputs/{job_id}/text.txt"
        s3.put_object(Bucket=stack["bucket_name"], Key=key, Body=_text(subtasks))
        spec = {"job_id": job_id, "chunk_size_bytes": CHUNK_SIZE, "input": {"bucket": stack["bucket_name"], "key": key}}
        started = time.monotonic()
        answer = submit_job(boto3.client("lambda"), stack["ventilator_function_name"], spec)
        job = wait_for_job(tracker, job_id, timeout=3600, interval=0.25)
        seconds = time.monotonic() - started
        assert job["status"] == JobStatus.SUCCEEDED, f"job {job_id} ended {job['status']}"
        assert answer["total"] == subtasks, f"job {job_id} has {answer['total']} subtasks, not {subtasks}"
        return seconds

    run(WARM_UP_SUBTASKS)
    return {
        subtasks: statistics.median(
            run(subtasks) for _ in range(SMALL_JOB_RUNS if subtasks <= SMALL_JOB_SUBTASKS else 1)
        )
        for subtasks in sizes
    }


def main() -> None:
    """Measure and save (under scripts/with-emulator.sh, as `make bench` runs): the inputs, and the end-to-end
    times on a new sp-bench stack unless --inputs (then the saved times are kept)."""
    import sys

    from bench.common import REPO_ROOT
    from serverless_patterns_ops.local_stack import LocalStack, use_emulator_credentials

    use_emulator_credentials()
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    if "--inputs" in sys.argv:
        measured = load()[1]
    else:
        stack = LocalStack("sp-bench", REPO_ROOT / "build" / "bench").apply()["fan_out"]
        measured = measured_end_to_end(stack)
    calibration = measure()
    save(calibration, measured)
    print(json.dumps({"calibration": calibration.to_json(), "measured": measured}, indent=2))


if __name__ == "__main__":
    main()
