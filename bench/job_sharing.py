"""11. Jobs sharing the workers (issue 28): fair sharing, a job's own max_concurrency, and 100,000 subtasks end to end,
each before and after windowed dispatch, on the same deployed stack.

"After" is the stack as deployed (envs/local: default_job_max_concurrency 16, 8 workers): a job's subtasks are
sent a window at a time, each completion sending the next. "Before" is the behaviour before issue 28, a job
dispatched whole: the ventilator's DEFAULT_JOB_MAX_CONCURRENCY set to 0 for the measurement
(bench.common.functions_configured), so a job whose spec sets no max_concurrency takes the old path.

Parts (JOB_SHARING_PARTS, default all; each its own run of the emulator if wanted, so a long part can be
taken alone): `sharing` (11), `cap` (11b), `100k_before` and `100k_after` (11c). Each part's rows are kept
in build/bench/job_sharing.json with the date and commit they were measured at; the tables show every
part measured so far, and "not run" for the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from bench.common import REPO_ROOT, Table, functions_configured

PARTS = ("sharing", "cap", "100k_before", "100k_after")
STORE = REPO_ROOT / "build" / "bench" / "job_sharing.json"

SMALL_SUBTASKS, SMALL_WAIT_MILLIS = 50, 100
ALONE_RUNS = 3  # the small job alone takes seconds: the median of a few
BEHIND_RUNS = 3  # one small job behind a large one varies by seconds with where its subtasks land: a median too
LARGE_SUBTASKS, LARGE_WAIT_MILLIS = 20_000, 20
LARGE_COMPLETIONS_FIRST = 200  # the large job is running, not still being dispatched, when the small one comes
FAIRNESS_GOAL = 2.0  # the small job behind the large one: at most twice its time alone
CAPPED_SUBTASKS, CAPPED_WAIT_MILLIS, CAP = 200, 200, 5
BIG_JOB_SUBTASKS = 100_000
# Longer than the local stack's job timeout (3,600 s), the same for before and after, so a slower run is
# measured to its end rather than timed out; only the ventilator reads it, when it registers a job.
BIG_JOB_TIMEOUT_SECONDS = 14_400
SMALL_JOB_TIMEOUT_SECONDS = 3_600
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Context:
    stack: dict[str, Any]
    tracker: Any  # JobTracker of the deployed stack

    @property
    def ventilator(self) -> str:
        return self.stack["ventilator_function_name"]


@contextlib.contextmanager
def dispatch_mode(context: Context, mode: str) -> Iterator[None]:
    """`before`: jobs that set no max_concurrency dispatched whole (the old path); `after`: the stack as deployed."""
    if mode == "after":
        yield
        return
    with functions_configured({context.ventilator: {"DEFAULT_JOB_MAX_CONCURRENCY": "0"}}):
        yield


def epoch(timestamp: str) -> float:
    moment = datetime.fromisoformat(timestamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def submit(context: Context, spec: dict[str, Any]) -> float:
    """Submit a job through the ventilator; the wall-clock time of the submit, from which its seconds count."""
    from serverless_patterns_ops.fan_out_jobs import submit_job

    submitted_at = time.time()
    answer = submit_job(boto3.client("lambda"), context.ventilator, spec)
    if "error" in answer:
        raise RuntimeError(f"job {spec['job_id']} refused: {answer['error']}")
    return submitted_at


def waits_spec(job_id: str, subtasks: int, millis: int, **extra: Any) -> dict[str, Any]:
    """A `timed_wait` job of one item per subtask, each waiting `millis`."""
    return {
        "job_id": job_id,
        "workload": "timed_wait",
        "source": {"type": "items", "items": [millis] * subtasks, "items_per_subtask": 1},
        **extra,
    }


def new_job_id(purpose: str) -> str:
    return f"bench-{purpose}-{uuid.uuid4().hex[:8]}"


def finished(context: Context, job_id: str, timeout: float, interval: float = POLL_SECONDS) -> dict[str, Any]:
    from serverless_patterns_ops.fan_out_jobs import wait_for_job

    return wait_for_job(context.tracker, job_id, timeout, interval)


def dispatch_of(job: dict[str, Any]) -> str:
    """How the job was sent, as the tracker registered it: proof of the mode a row ran in."""
    if "block_size" not in job:
        return "whole"
    return f"windowed: {int(job['max_concurrency'])} lanes, blocks of {int(job['block_size'])}"


def require_status(job: dict[str, Any], wanted: str) -> None:
    if job["status"] != wanted:
        raise RuntimeError(f"job {job['job_id']} ended {job['status']}, not {wanted}: {job.get('error')}")


def run_small_job(context: Context, purpose: str) -> tuple[float, dict[str, Any]]:
    """The 50-subtask job from submit to SUCCEEDED: seconds, and the job."""
    job_id = new_job_id(purpose)
    submitted_at = submit(context, waits_spec(job_id, SMALL_SUBTASKS, SMALL_WAIT_MILLIS))
    job = finished(context, job_id, SMALL_JOB_TIMEOUT_SECONDS)
    require_status(job, "SUCCEEDED")
    return epoch(job["finished_at"]) - submitted_at, job


def warm_up(context: Context) -> None:
    """One unmeasured small job: a function whose configuration just changed starts cold, and so would the row."""
    run_small_job(context, "warm-up")


def wait_for_completions(context: Context, job_id: str, completions: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = context.tracker.progress(job_id)
        if progress is not None and progress.completed >= completions:
            return
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"job {job_id} had not {completions} completions after {timeout:.0f} s")


@dataclass
class SharingRow:
    dispatch: str
    alone_seconds: float  # the median of the runs
    behind_seconds: float  # the median of the runs
    large_dispatch: str
    large_done_when_small_ended: int  # in the run of the median
    large_ended: str  # in the run of the median
    alone_each: list[float]
    behind_each: list[float]


@dataclass(frozen=True)
class Behind:
    seconds: float
    large_dispatch: str
    large_done: int
    large_ended: str


def small_behind_large(context: Context) -> Behind:
    """The small job submitted behind a running large one; the large one cancelled once the small one ended."""
    from serverless_patterns.fan_in.tracker import StopReason

    large_id = new_job_id("large")
    submit(context, waits_spec(large_id, LARGE_SUBTASKS, LARGE_WAIT_MILLIS))
    wait_for_completions(context, large_id, LARGE_COMPLETIONS_FIRST)
    behind_seconds, _ = run_small_job(context, "small-behind")
    large_progress = context.tracker.progress(large_id)  # read within a poll of the small job's end
    large_done = large_progress.completed if large_progress else 0
    cancelled_at = time.monotonic()
    context.tracker.request_stop(large_id, StopReason.CANCELLED)  # None if it had ended already: nothing to stop
    large = finished(context, large_id, SMALL_JOB_TIMEOUT_SECONDS, interval=2)
    counted = context.tracker.progress_of(large)
    ended = (
        f"{large['status']} {time.monotonic() - cancelled_at:.0f} s after the cancel, "
        f"{counted.succeeded:,} run, {counted.skipped:,} skipped"
    )
    return Behind(behind_seconds, dispatch_of(large), large_done, ended)


def measure_sharing(context: Context, mode: str) -> SharingRow:
    with dispatch_mode(context, mode):
        warm_up(context)
        alone = [run_small_job(context, "small-alone") for _ in range(ALONE_RUNS)]
        behind = sorted((small_behind_large(context) for _ in range(BEHIND_RUNS)), key=lambda run: run.seconds)
    middle = behind[len(behind) // 2]  # BEHIND_RUNS is odd: the median is a run, whose large job is shown
    return SharingRow(
        dispatch_of(alone[0][1]),
        statistics.median(seconds for seconds, _ in alone),
        middle.seconds,
        middle.large_dispatch,
        middle.large_done,
        middle.large_ended,
        [seconds for seconds, _ in alone],
        [run.seconds for run in behind],
    )


@dataclass
class CapRow:
    job: str
    dispatch: str
    peak_in_flight: int
    seconds: float
    running_seconds: float  # the first subtask's start to the last one's end


def subtask_intervals(context: Context, job: dict[str, Any]) -> list[tuple[float, float]]:
    """When each subtask of a finished timed_wait job ran, from its result lines."""
    from serverless_patterns_ops.fan_out_jobs import fetch_result

    s3 = boto3.client("s3")
    manifest = fetch_result(s3, job)
    lines = [
        json.loads(line)
        for file in manifest["files"]["succeeded"]
        for line in s3.get_object(Bucket=context.stack["bucket_name"], Key=file["key"])["Body"].read().splitlines()
    ]
    return [(line["result"]["started"], line["result"]["ended"]) for line in lines]


def measure_cap(context: Context, mode: str, label: str, max_concurrency: int | None) -> CapRow:
    from serverless_patterns.workloads.timed_wait import peak_overlap

    extra = {"max_concurrency": max_concurrency} if max_concurrency else {}
    job_id = new_job_id("cap")
    with dispatch_mode(context, mode):
        warm_up(context)
        submitted_at = submit(context, waits_spec(job_id, CAPPED_SUBTASKS, CAPPED_WAIT_MILLIS, **extra))
        job = finished(context, job_id, SMALL_JOB_TIMEOUT_SECONDS)
    require_status(job, "SUCCEEDED")
    ran = subtask_intervals(context, job)
    if len(ran) != CAPPED_SUBTASKS:
        raise RuntimeError(f"job {job_id}: {len(ran)} results, not {CAPPED_SUBTASKS}")
    running = max(end for _, end in ran) - min(start for start, _ in ran)
    return CapRow(label, dispatch_of(job), peak_overlap(ran), epoch(job["finished_at"]) - submitted_at, running)


@dataclass
class BigJobRow:
    dispatch: str
    status: str
    seconds: float
    succeeded: int
    result_digest: str


def measure_big_job(context: Context, mode: str) -> BigJobRow:
    """The word count of 100,000 chunks from submit to consolidated result, as table 3's 100,000 row."""
    from bench.end_to_end import CHUNK_SIZE, _text
    from serverless_patterns_ops.fan_out_jobs import fetch_result

    job_id = new_job_id("100k")
    key = f"inputs/{job_id}/text.txt"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=context.stack["bucket_name"], Key=key, Body=_text(BIG_JOB_SUBTASKS))
    spec = {
        "job_id": job_id,
        "chunk_size_bytes": CHUNK_SIZE,
        "input": {"bucket": context.stack["bucket_name"], "key": key},
    }
    timeout = {context.ventilator: {"JOB_TIMEOUT_SECONDS": str(BIG_JOB_TIMEOUT_SECONDS)}}
    with functions_configured(timeout), dispatch_mode(context, mode):
        submitted_at = submit(context, spec)
        job = finished(context, job_id, BIG_JOB_TIMEOUT_SECONDS + 600, interval=15)
    digest = "none"
    if job["status"] == "SUCCEEDED":
        result = fetch_result(s3, job)["result"]
        digest = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()[:12]
    succeeded = context.tracker.progress_of(job).succeeded
    return BigJobRow(dispatch_of(job), job["status"], epoch(job["finished_at"]) - submitted_at, succeeded, digest)


def load_store() -> dict[str, Any]:
    return json.loads(STORE.read_text()) if STORE.is_file() else {}


def code_version() -> str:
    """The commit the deployed functions were packaged from, and whether lambdas/ had uncommitted changes then."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    return commit + (" with uncommitted changes to lambdas/" if git("status", "--porcelain", "lambdas") else "")


def save_part(store: dict[str, Any], part: str, rows: list[Any], code: str) -> None:
    """Keep a measured part at once, so a later part that fails loses nothing."""
    store[part] = {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": code,
        "rows": [asdict(row) for row in rows],
    }
    STORE.parent.mkdir(parents=True, exist_ok=True)
    STORE.write_text(json.dumps(store, indent=2))


def measure(context: Context, part: str) -> list[Any]:
    if part == "sharing":
        return [measure_sharing(context, mode) for mode in ("before", "after")]
    if part == "cap":
        return [
            measure_cap(context, "before", "no max_concurrency, before", None),
            measure_cap(context, "after", "no max_concurrency, after (the default, 16)", None),
            measure_cap(context, "after", f"max_concurrency {CAP}", CAP),
        ]
    return [measure_big_job(context, part.removeprefix("100k_"))]


def selected_parts() -> list[str]:
    wanted = os.environ.get("JOB_SHARING_PARTS", " ".join(PARTS)).split()
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        raise SystemExit(f"JOB_SHARING_PARTS: unknown {unknown}; choose from {' '.join(PARTS)}")
    return [part for part in PARTS if part in wanted]  # the 100,000-subtask runs last, as they are the longest


def run(stack: dict[str, Any]) -> Table:
    from serverless_patterns.fan_in.tracker import JobTracker

    context = Context(stack, JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"])))
    store = load_store()
    code = code_version()  # read as the run starts: `make bench` packaged the functions just before
    for part in selected_parts():
        print(f"  part {part}", flush=True)
        save_part(store, part, measure(context, part), code)
    return tables(store, stack["worker_maximum_concurrency"])


def measured_at(store: dict[str, Any], *parts: str) -> str:
    done = [f"{part} {store[part]['measured']} (at {store[part]['commit']})" for part in parts if part in store]
    return "measured: " + ("; ".join(done) if done else "not yet")


def tables(store: dict[str, Any], workers: int) -> Table:
    sharing, cap, big = sharing_table(store), cap_table(store), big_job_table(store)
    sharing.extra = [cap, big]
    sharing.notes.insert(
        0,
        f"Before / after, in the same run on the same deployed stack ({workers} workers, batches of 10, 10 threads "
        "each): after is the stack as deployed (envs/local, default_job_max_concurrency 16: a job whose spec sets "
        "no max_concurrency runs 16 subtasks at a time, each completion sending the next); before is the "
        "behaviour before issue 28, reproduced by setting the ventilator's DEFAULT_JOB_MAX_CONCURRENCY to 0 "
        "(functions_configured) for the measurement, so such a job is dispatched whole, every subtask queued at "
        "once. The dispatch column is read back from the job as the tracker registered it.",
    )
    return sharing


def sharing_table(store: dict[str, Any]) -> Table:
    table = Table(
        "job_sharing",
        f"11. Jobs sharing the workers: a {SMALL_SUBTASKS}-subtask job alone and behind a "
        f"{LARGE_SUBTASKS:,}-subtask job, before and after",
        [
            "small job's dispatch",
            "alone: s (runs)",
            "behind the large job: s (runs)",
            "behind / alone",
            f"goal <= {FAIRNESS_GOAL:g}x",
            "large job's dispatch",
            "large job's subtasks done when the small one ended",
            "large job, cancelled then",
        ],
    )
    for mode, row in zip(("before", "after"), store.get("sharing", {}).get("rows", []), strict=False):
        ratio = row["behind_seconds"] / row["alone_seconds"]
        table.rows.append(
            [
                f"{mode}: {row['dispatch']}",
                with_runs(row["alone_seconds"], row.get("alone_each", [])),
                with_runs(row["behind_seconds"], row.get("behind_each", [])),
                f"{ratio:.2f}x",
                "met" if ratio <= FAIRNESS_GOAL else "missed",
                row["large_dispatch"],
                f"{row['large_done_when_small_ended']:,} of {LARGE_SUBTASKS:,}",
                row["large_ended"],
            ]
        )
    if "sharing" not in store:
        table.rows.append(["not run", "", "", "", "", "", "", ""])
    table.notes += [
        f"Every subtask runs the timed_wait workload: the small job's {SMALL_SUBTASKS} subtasks wait "
        f"{SMALL_WAIT_MILLIS} ms each, the large job's {LARGE_SUBTASKS:,} wait {LARGE_WAIT_MILLIS} ms each (items "
        "source, one item per subtask). Seconds are from the submit (the ventilator's invoke) to the job's "
        "finished_at (SUCCEEDED, consolidated).",
        f"Alone: the median of {ALONE_RUNS} small jobs on an idle stack; behind: the median of {BEHIND_RUNS} "
        "(each with a large job of its own), the large job's columns from the median's run; both after one "
        "unmeasured job that starts the functions (each mode reconfigures the ventilator, which then starts "
        "cold; 11b does the same). "
        "Behind, each run: the large job is submitted first; "
        f"once it has {LARGE_COMPLETIONS_FIRST} completions the small job is submitted; once the small job has "
        "ended, the large one is cancelled (tracker.request_stop, CANCELLED) and awaited, so the row does not run "
        f"{LARGE_SUBTASKS:,} subtasks to their end. Its completions are read within a poll "
        f"({POLL_SECONDS:g} s) of the small job's end.",
        "Dispatched whole, the small job's subtasks are queued behind every subtask of the large job still "
        "queued; windowed, the large job holds at most its window in the queue, and the small job's window "
        "comes next to it. On AWS, SQS fair queues (MessageGroupId = job id) also deliver the quieter job "
        "first; the emulator has none (MiniStack 1.5.33's sqs._collect_msgs hands a standard queue's visible "
        "messages out in the order they were sent), so this row measures the window alone.",
        *sharing_findings(store.get("sharing", {}).get("rows", [])),
        measured_at(store, "sharing"),
    ]
    return table


def with_runs(median: float, runs: list[float]) -> str:
    """A median with the runs it was taken from."""
    each = ", ".join(f"{seconds:.2f}" for seconds in sorted(runs))
    return f"{median:.2f} ({each})" if len(runs) > 1 else f"{median:.2f}"


def sharing_findings(rows: list[dict[str, Any]]) -> list[str]:
    """What the two rows say together: the window's cost to a job alone, next to its gain behind a large one."""
    if len(rows) != 2:
        return []
    before, after = rows
    old_alone = before["alone_seconds"]
    return [
        f"Each ratio is against the small job alone in the same mode. Windowed, the small job alone takes "
        f"{after['alone_seconds'] / old_alone:.1f}x its time dispatched whole ({after['alone_seconds']:.2f} s "
        f"against {old_alone:.2f} s: the default window runs 16 of its {SMALL_SUBTASKS} subtasks at a time); "
        f"behind the large job it takes {after['behind_seconds'] / old_alone:.1f}x the old time alone, where "
        f"dispatched whole it took {before['behind_seconds'] / old_alone:.0f}x.",
    ]


def cap_table(store: dict[str, Any]) -> Table:
    table = Table(
        "job_sharing",
        f"11b. A job's max_concurrency: {CAPPED_SUBTASKS} subtasks of {CAPPED_WAIT_MILLIS} ms, the most in "
        "flight at once and throughput",
        [
            "job",
            "dispatch",
            "peak in flight",
            f"<= {CAP} (cap)",
            "submit to result: s",
            "subtasks/s",
            "first start to last end: s",
            "vs dispatched whole (subtasks/s)",
        ],
    )
    rows = store.get("cap", {}).get("rows", [])
    whole_rate = CAPPED_SUBTASKS / rows[0]["seconds"] if rows else 0.0
    for row in rows:
        rate = CAPPED_SUBTASKS / row["seconds"]
        capped = row["job"].startswith("max_concurrency")
        table.rows.append(
            [
                row["job"],
                row["dispatch"],
                row["peak_in_flight"],
                ("kept" if row["peak_in_flight"] <= CAP else "EXCEEDED") if capped else "",
                row["seconds"],
                rate,
                row["running_seconds"],
                f"{rate / whole_rate:.2f}x",
            ]
        )
    if not rows:
        table.rows.append(["not run", "", "", "", "", "", "", ""])
    table.notes += [
        "Peak in flight: the most subtasks whose timed_wait ran at one instant, from the start and end each "
        "subtask's result records (peak_overlap); the workers run as processes of this one machine, so their "
        "clocks agree. A message received and not yet started does not count, as it takes no worker's time.",
        f"The job without max_concurrency, before: dispatched whole, as fast as the {CAPPED_SUBTASKS} messages "
        "reach the workers (8 workers x 10 threads at most). After: the deployment's default window of 16. "
        f"With max_concurrency {CAP}: {CAP} lanes, so at most {CAP} subtasks in flight and about "
        f"{CAP} x 1,000 / {CAPPED_WAIT_MILLIS} = {CAP * 1000 / CAPPED_WAIT_MILLIS:g} subtasks/s at best, less the "
        "time each completion takes to send the next.",
        *cap_findings(rows),
        measured_at(store, "cap"),
    ]
    return table


def cap_findings(rows: list[dict[str, Any]]) -> list[str]:
    """What the default window costs a job alone on the stack, from the rows measured."""
    if len(rows) != 3:
        return []
    whole, default = rows[0], rows[1]
    return [
        f"A job alone with the default window keeps {default['peak_in_flight']} subtasks in flight where "
        f"dispatched whole it kept {whole['peak_in_flight']} (8 workers x 10 threads): on subtasks that wait, it "
        f"runs at {whole['seconds'] / default['seconds']:.2f}x the throughput. default_job_max_concurrency 16 is "
        "twice the workers, not twice their threads (worker_maximum_concurrency x worker_threads = 80 here).",
    ]


def big_job_table(store: dict[str, Any]) -> Table:
    table = Table(
        "job_sharing",
        f"11c. {BIG_JOB_SUBTASKS:,} subtasks end to end (word count), before and after",
        ["run", "dispatch", "status", "submit to result: s", "subtasks/s", "after / before", "result digest"],
    )
    before_seconds = store.get("100k_before", {}).get("rows", [{}])[0].get("seconds")
    for part in ("100k_before", "100k_after"):
        mode = part.removeprefix("100k_")
        if part not in store:
            table.rows.append([mode, "not run", "", "", "", "", ""])
            continue
        row = store[part]["rows"][0]
        ratio = f"{row['seconds'] / before_seconds:.2f}x" if before_seconds and mode == "after" else ""
        table.rows.append(
            [
                mode,
                row["dispatch"],
                f"{row['status']} ({row['succeeded']:,} succeeded)",
                row["seconds"],
                BIG_JOB_SUBTASKS / row["seconds"],
                ratio,
                row["result_digest"],
            ]
        )
    table.notes += [
        f"The job of table 3's 100,000 row: a text of {BIG_JOB_SUBTASKS:,} chunks of 256 bytes, word count, "
        "from the submit to the consolidated result (finished_at). The result digest is the merged result's: "
        "before and after count the same words. Compare the two rows with each other, not with table 3's "
        "100,000 row, which comes from an earlier run (another emulator version and machine load).",
        "Before and after are two runs of the benchmark, each on a fresh emulator with the stack applied anew "
        "(the emulator lock is released between them); both register the job with a timeout of "
        f"{BIG_JOB_TIMEOUT_SECONDS:,} s (the ventilator's JOB_TIMEOUT_SECONDS, 3,600 s in envs/local), so a slower "
        "run is measured to its end rather than timed out.",
        measured_at(store, "100k_before", "100k_after"),
    ]
    return table
