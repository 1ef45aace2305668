"""Submit fan-out/fan-in jobs, watch their progress and fetch their results."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from serverless_patterns.job_tracker import FINAL_STATUSES, JobTracker, Progress

SAMPLE_WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "box",
    "jolly",
    "quartz",
)


def sample_text(min_bytes: int, seed: int, words: tuple[str, ...] = SAMPLE_WORDS) -> bytes:
    """Lines of 3 to 12 random words, at least min_bytes of them, the same for the same seed."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < min_bytes:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
        lines.append(line)
        size += len(line.encode())
    return "".join(lines).encode()


def submit_job(lambda_client: Any, ventilator: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Invoke the ventilator with a job spec and return its answer (job id, status, total or error)."""
    response = lambda_client.invoke(FunctionName=ventilator, Payload=json.dumps(spec).encode())
    answer = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise RuntimeError(f"the ventilator failed: {answer}")
    return answer


def render_progress(progress: Progress, width: int = 40) -> str:
    total = max(progress.total, 1)
    done = round(width * progress.succeeded / total)
    failed = round(width * progress.failed / total)
    bar = "#" * done + "x" * failed + "." * max(0, width - done - failed)
    skipped = f", {progress.skipped} skipped" if progress.skipped else ""
    return (
        f"[{bar}] {progress.completed}/{progress.total} "
        f"({progress.succeeded} ok, {progress.failed} failed{skipped}) {progress.job['status']}"
    )


def is_final(job: dict[str, Any]) -> bool:
    return job["status"] in FINAL_STATUSES


def input_key(path: Path) -> str:
    """Where the CLI uploads an input: named by its content, so no job's input is ever overwritten."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return f"inputs/{digest.hexdigest()[:32]}/{path.name}"


def failure_line(failure: dict[str, Any]) -> str:
    """One failed subtask as `status` and `submit --api` print it."""
    return f"  subtask {failure['subtask_id']} failed: {failure['type']}: {failure['message']}"


def describe_job(job: dict[str, Any]) -> list[str]:
    """The lines `status` prints under the progress bar: the outcome, and why subtasks or the job failed."""
    lines = [json.dumps({key: job[key] for key in ("job_id", "status", "total", "created_at") if key in job})]
    if "error" in job:
        error = job["error"]
        lines.append(f"  error: {error['field']}: {error['message']} (fix: {error['fix']})")
    result = job.get("result") or {}
    lines.extend(failure_line(failure) for failure in result.get("failures", []))
    listed = len(result.get("failures", []))
    if result.get("failed", 0) > listed:
        lines.append(f"  ... {result['failed'] - listed} more failed subtasks: see `result` for every one")
    return lines


def wait_for_job(
    tracker: JobTracker,
    job_id: str,
    timeout: float,
    interval: float = 1.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """Poll the tracker until the job has its final status (and result)."""
    deadline = time.monotonic() + timeout
    while True:
        progress = tracker.progress(job_id)
        if progress is None:
            raise LookupError(f"job {job_id} is not in the tracker")
        if on_progress:
            on_progress(progress)
        if is_final(progress.job):
            return progress.job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is still {progress.job['status']} after {timeout:.0f} s")
        time.sleep(interval)


def progress_printer(stream: TextIO = sys.stdout) -> Callable[[Progress], None]:
    """Redraw one progress line on a terminal, or print a line per change elsewhere."""
    last = [""]

    def show(progress: Progress) -> None:
        line = render_progress(progress)
        if line == last[0]:
            return
        last[0] = line
        if stream.isatty():
            stream.write("\r" + line)
            if is_final(progress.job):
                stream.write("\n")
        else:
            stream.write(line + "\n")
        stream.flush()

    return show


def fetch_result(s3: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The job's manifest, with its merged result under "result" (None for a workload without a merge)."""
    location = job["result"]
    manifest = json.loads(s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read())
    merged = None
    if "result_key" in manifest:
        merged = json.loads(s3.get_object(Bucket=location["bucket"], Key=manifest["result_key"])["Body"].read())
    return {**manifest, "result": merged}
