"""Submit fan-out/fan-in jobs, watch their progress and fetch their results."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from serverless_patterns.fan_in.tracker import FINAL_STATUSES, JobStatus, JobTracker, Progress, Retrying

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


STALL_SECONDS = 60.0  # no completion for this long: the watch says why it is waiting
ERROR_CHARS = 80  # an error message on the progress line


def render_progress(progress: Progress, width: int = 40) -> str:
    total = max(progress.total, 1)
    done = round(width * progress.succeeded / total)
    failed = round(width * progress.failed / total)
    bar = "#" * done + "x" * failed + "." * max(0, width - done - failed)
    skipped = f", {progress.skipped} skipped" if progress.skipped else ""
    line = (
        f"[{bar}] {progress.completed}/{progress.total} "
        f"({progress.succeeded} ok, {progress.failed} failed{skipped}) {progress.job['status']}"
    )
    if progress.retrying:
        line += f", {retrying_text(progress.retrying)}"
    return line


def _short(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retrying_text(retrying: Retrying) -> str:
    """`retrying 2 subtasks (5 failed attempts), last: ValueError: ...`: what SQS is delivering again, and why."""
    more = "+" if not retrying.exact else ""
    plural = "" if retrying.subtasks == 1 and not more else "s"
    error = retrying.last_error
    return (
        f"retrying {retrying.subtasks}{more} subtask{plural} ({retrying.attempts} failed attempts), "
        f"last: {error.get('type', 'Error')}: {_short(str(error.get('message', '')))}"
    )


def waiting_reason(progress: Progress, idle_seconds: float) -> str:
    """Why a job has completed no subtask for `idle_seconds`: one line, from what the tracker knows."""
    job, since = progress.job, f"no subtask completed for over {idle_seconds:.0f} s"
    pending = max(0, progress.total - progress.completed)
    if stop := job.get("stop"):
        why = stop.get("error", {}).get("message") or stop.get("reason", "")
        return f"{since}: the job is stopping ({_short(why)}); workers skip its {pending} remaining subtasks"
    if job.get("status") == JobStatus.COMPLETING:
        error = job.get("last_consolidation_error")
        last = f", last error {error.get('type')}: {_short(str(error.get('message')))}" if error else ""
        attempt = job.get("consolidation_attempts", 1)
        return f"every subtask is counted: the final merge is running (attempt {attempt}{last})"
    if progress.retrying:
        return f"{since}: {retrying_text(progress.retrying)}"
    dispatched, total = int(job.get("dispatched_until", progress.total)), progress.total
    if dispatched < total and (parts := int(job.get("dispatch_parts", 0))):
        done = int(job.get("parts_done", 0))
        return f"{since}: {done} of {parts} dispatch parts sent so far; their ventilators are still sending"
    if dispatched < total:
        return f"{since}: {dispatched} of {total} subtasks dispatched so far; the ventilator is still sending"
    return (
        f"{since}, and none is failing: {pending} subtasks are queued or running "
        "(long subtasks, or workers at their concurrency cap)"
    )


def is_final(job: dict[str, Any]) -> bool:
    return job["status"] in FINAL_STATUSES


def failure_line(failure: dict[str, Any]) -> str:
    """One failed subtask as `status` and `submit --api` print it."""
    return f"  subtask {failure['subtask_id']} failed: {failure['type']}: {failure['message']}"


def describe_job(job: dict[str, Any]) -> list[str]:
    """The lines `status` prints under the progress bar: the outcome, and why subtasks or the job failed."""
    lines = [json.dumps({key: job[key] for key in ("job_id", "status", "total", "created_at") if key in job})]
    if "error" in job:
        error = job["error"]
        lines.append(f"  error: {error['field']}: {error['message']} (fix: {error['fix']})")
    if stop := job.get("stop"):
        cause = stop.get("error")
        lines.append(f"  stopped: {stop['reason']}" + (f": {cause['type']}: {cause['message']}" if cause else ""))
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
            raise LookupError(f"unknown job {job_id}: `list` shows the jobs of this stack")
        if on_progress:
            on_progress(progress)
        if is_final(progress.job):
            return progress.job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is still {progress.job['status']} after {timeout:.0f} s")
        time.sleep(interval)


def progress_printer(
    stream: TextIO = sys.stdout, stall_seconds: float = STALL_SECONDS, clock: Callable[[], float] = time.monotonic
) -> Callable[[Progress], None]:
    """Redraw one progress line on a terminal, or print a line per change elsewhere.

    When no subtask completes for `stall_seconds`, it also prints one line
    saying why the job is waiting (waiting_reason), again only when that changes.
    """
    last = [""]
    completed_at: list[Any] = [None, clock()]  # the completed count last seen, and when it changed
    said = [""]

    def say_why_waiting(progress: Progress) -> None:
        now = clock()
        if progress.completed != completed_at[0]:
            completed_at[:] = [progress.completed, now]
            said[0] = ""
            return
        if is_final(progress.job) or now - completed_at[1] < stall_seconds:
            return
        reason = waiting_reason(progress, stall_seconds)
        if reason != said[0]:
            said[0] = reason
            stream.write(("\n" if stream.isatty() else "") + reason + "\n")
            last[0] = ""  # redraw the bar below the reason

    def show(progress: Progress) -> None:
        say_why_waiting(progress)
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
