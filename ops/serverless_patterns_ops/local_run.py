"""Run a job spec in this process, before you deploy: the deployed code paths, on local files or on S3.

    from serverless_patterns_ops.local_run import run_job

    job = run_job({"workload": "csv_totals", "source": {"type": "csv", "path": "orders.csv",
                   "items_per_subtask": 2000}}, output=Path("."), workers=4)
    job.status, job.succeeded, job.failed, job.result     # "SUCCEEDED", 100, 0, {"regions": ...}
    job.folder, job.records()                             # results/<job>, each subtask's {"item", "result"}

What runs is the deployed code, not a copy of it: the spec is checked by the
ventilator's parse_spec (a spec it would refuse raises the same
InvalidJobSpec, field, message and fix); the ventilator's planning cuts the
source into the same subtasks; each subtask is read by the worker's
read_input and run by the workload; a PermanentSubtaskError (or any of
errors.DETERMINISTIC_ERRORS) fails its subtask at once, any other exception
is retried up to `max_attempts` (the subtask queue's max_receive_count) and
then fails with its last error; a resumable workload is called again with
its last Checkpoint until it returns a result (at most 1 + max_continuations
invocations of `invocation_seconds` each); and the consolidator's reduction
writes the results: OUTPUT/results/<job>/manifest.json, succeeded/*.jsonl,
failed/*.jsonl and result.json (with a merge), the layout and bytes the
deployed job bucket gets.

A source may name a local `path` instead of bucket and key (a file, or a
folder for `objects`), or stay on S3 (bucket, key or prefix): pass an S3
client as `s3`, or let the runner create one (AWS_ENDPOINT_URL is honoured).
Nothing is written to S3: the plan stays in memory, the results go to OUTPUT.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from serverless_patterns.errors import WorkloadUnavailable
from serverless_patterns.fan_in.bucket_layout import RESULTS_PREFIX, manifest_key, result_key, results_prefix
from serverless_patterns.fan_in.reduction import Reader, consolidate
from serverless_patterns.fan_in.tracker import JobStatus, Outcome, Progress, ShardLayout, StopReason
from serverless_patterns.fan_out import planning
from serverless_patterns.fan_out.jobs import (
    InvalidJobSpec,
    JobSpec,
    Limits,
    configured_chunk_size,
    configured_limits,
    in_first_format,
    is_first_format,
    parse_spec,
)
from serverless_patterns.fan_out.planning import Listing, ManifestWriter, Plan
from serverless_patterns.fan_out.sources import READ_KINDS, SOURCE_FIELDS, valid_reads
from serverless_patterns.fan_out.workload_registry import DEFAULT_WORKLOADS
from serverless_patterns.shared import settings
from serverless_patterns_ops.local_store import LocalObjectStore
from serverless_patterns_ops.local_worker import (
    DEFAULT_INVOCATION_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONTINUATIONS,
    DEFAULT_MAX_LINE_BYTES,
    Finished,
    RunnerRecipe,
    RunSettings,
    SubtaskRunner,
    load_workload,
    run_in_process,
    start_process,
)

FILES_BUCKET = "local-files"  # the folder of a source's `path`
JOB_BUCKET = "local-run-job"  # the job's plan, in memory
OUTPUT_BUCKET = "local-results"  # OUTPUT: results/<job>/...
WORKLOADS_FILE = Path("envs") / "local" / "workloads.auto.tfvars.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SUBTASKS_PER_SHARD = 1000  # the fan_out module's
PROGRESS_EVERY_SECONDS = 0.5

WorkloadEntry = Mapping[str, Any] | Callable[..., Any]


@dataclass
class LocalJobResult:
    """A finished local job: its counts and status as in its manifest, where its files are, its merged result."""

    job_id: str
    status: str
    total: int
    succeeded: int
    failed: int
    skipped: int
    manifest: dict[str, Any]
    result: Any  # the merged result (result.json), None without a merge
    folder: Path  # OUTPUT/results/<job>
    seconds: float
    workers: int

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    @property
    def result_path(self) -> Path | None:
        return self.folder / "result.json" if self.manifest.get("merged") else None

    @property
    def succeeded_paths(self) -> list[Path]:
        return [self.folder.parents[1] / file["key"] for file in self.manifest["files"]["succeeded"]]

    @property
    def failed_paths(self) -> list[Path]:
        return [self.folder.parents[1] / file["key"] for file in self.manifest["files"]["failed"]]

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Failed subtasks with their last error (the first 1,000; the failed/ files hold every one)."""
        return self.manifest["failures"]

    def records(self, outcome: str = "succeeded") -> list[dict[str, Any]]:
        """The lines of the succeeded/ (or failed/) files, in subtask order: {"subtask_id", "item", "result"}."""
        paths = self.succeeded_paths if outcome == "succeeded" else self.failed_paths
        lines = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line]
        return sorted(lines, key=lambda line: line["subtask_id"])


# -- workloads ------------------------------------------------------------------------------


def workloads_file(start: Path | None = None) -> Path | None:
    """envs/local/workloads.auto.tfvars.json of the working directory, else of this checkout, if it exists."""
    for root in (start or Path.cwd(), REPO_ROOT):
        candidate = root / WORKLOADS_FILE
        if candidate.is_file():
            return candidate
    return None


DEFAULT_WORKLOAD_LINE = re.compile(r'^\s*default_workload\s*=\s*"([^"]*)"', re.MULTILINE)


def env_default_workload(path: Path | None = None) -> str | None:
    """The default_workload an env's terraform.tfvars sets beside its workloads file, as deployed; None if none."""
    path = path or workloads_file()
    tfvars = path.parent / "terraform.tfvars" if path else None
    match = DEFAULT_WORKLOAD_LINE.search(tfvars.read_text()) if tfvars and tfvars.is_file() else None
    return match.group(1) if match else None


def configured_workloads(path: Path | None = None) -> dict[str, Any]:
    """The workloads map of an env file (contract: {"workloads": {name: {...}}}), else the built-in word_count.

    A relative `package` is relative to the repository of an env's file (envs/<env>/), else to the file's
    own folder, as `make package` has it (scripts/workloads.py, package_base).
    """
    path = path or workloads_file()
    if path is None:
        return dict(DEFAULT_WORKLOADS)
    document = json.loads(path.read_text())
    entries = document.get("workloads") if isinstance(document, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ValueError(f'{path}: expected {{"workloads": {{"name": {{"process": "pkg.mod:fn", ...}}}}}}')
    resolved = path.resolve()
    root = resolved.parents[2] if resolved.parent.parent.name == "envs" else resolved.parent
    return {
        name: {**entry, "package": str(root / entry["package"])} if entry.get("package") else entry
        for name, entry in entries.items()
    }


def _entry(name: str, entry: WorkloadEntry) -> dict[str, Any]:
    if callable(entry):
        return {"process": entry}
    if not isinstance(entry, Mapping) or not (isinstance(entry.get("process"), str) or callable(entry.get("process"))):
        raise ValueError(f'workloads[{name}] must be a function or {{"process": "pkg.mod:fn" or a function, ...}}')
    reads = entry.get("reads")
    if not valid_reads(reads):
        raise ValueError(f"workloads[{name}].reads must list one or more of {', '.join(READ_KINDS)} (or be left out)")
    return dict(entry)


def _names(entries: Mapping[str, Any], default: str | None) -> tuple[str, ...]:
    """The names with the default first, as workload_registry.names() orders them for parse_spec."""
    default = default or ("word_count" if "word_count" in entries else "")
    if default and default not in entries:
        raise ValueError(f"default workload {default!r} is not one of {', '.join(entries)}")
    return (default, *(name for name in entries if name != default)) if default else tuple(entries)


# -- sources on local files -----------------------------------------------------------------


@dataclass(frozen=True)
class LocalSource:
    """A spec whose source `path` became the bucket and key the shared code reads, and the folder they are in."""

    document: Any
    folder: Path | None = None


def local_path(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise InvalidJobSpec("source.path", "must be a non-empty string", 'send "path": "orders.csv" (or file://...)')
    if value.startswith("file:"):
        value = unquote(urlparse(value).path)
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def with_local_source(document: Any, base: Path) -> LocalSource:
    """The spec with `source.path` (a file, or a folder for `objects`) turned into bucket and key or prefix."""
    source = document.get("source") if isinstance(document, dict) else None
    if not isinstance(source, dict) or "path" not in source:
        return LocalSource(document)
    kind = source.get("type")
    if kind not in SOURCE_FIELDS or kind == "items":
        return LocalSource(document)  # parse_spec names the problem with the type
    for name in ("bucket", "key", "prefix"):
        if name in source:
            raise InvalidJobSpec(f"source.{name}", "cannot be combined with path", "give a local path or S3 names")
    path = local_path(source["path"], base).resolve()
    rest = {name: value for name, value in source.items() if name != "path"}
    if kind == "objects":
        if not path.is_dir():
            raise InvalidJobSpec("source.path", f"{path} is not a folder", "give the folder whose files to process")
        return LocalSource({**document, "source": {**rest, "bucket": FILES_BUCKET, "prefix": ""}}, path)
    if not path.is_file():
        raise InvalidJobSpec("source.path", f"{path} is not a file", "give the path of the input file")
    return LocalSource({**document, "source": {**rest, "bucket": FILES_BUCKET, "key": path.name}}, path.parent)


# -- the job's subtasks, as the tracker would hold them --------------------------------------


class LocalTracker:
    """What the consolidator's reduction reads from the tracker (shard_tasks, shards), held in memory."""

    def __init__(self, layout: ShardLayout) -> None:
        self._layout = layout
        self._tasks: dict[int, dict[int, dict[str, Any]]] = {shard: {} for shard in range(layout.shard_count)}
        self._lock = threading.Lock()
        self.counts = {"succeeded": 0, "failed": 0, "skipped": 0}

    def record(self, subtask_id: int, outcome: Outcome, detail: dict[str, Any]) -> None:
        task = {"subtask_id": subtask_id, "outcome": outcome.value, **detail}
        with self._lock:
            self._tasks[self._layout.shard_of(subtask_id)][subtask_id] = task
            self.counts[outcome.value.lower()] += 1

    def shard_tasks(self, job_id: str, shard: int, attributes: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        tasks = self._tasks[shard]
        yield from (tasks[subtask_id] for subtask_id in sorted(tasks))  # TASK#<id> sort keys: in subtask order

    def shards(self, job_id: str, shard_count: int) -> list[dict[str, Any]]:
        return []  # none reduced yet: consolidate() reduces each shard from its tasks


# -- running subtasks -----------------------------------------------------------------------


@dataclass
class _Job:
    spec: JobSpec
    runner: SubtaskRunner
    tracker: LocalTracker
    failure_limit: int | None
    stop: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stopped(self) -> bool:
        with self.lock:
            return self.stop is not None

    def complete(self, finished: Finished) -> None:
        """Record a subtask's outcome; stop the job as the worker and the tracker would."""
        self.tracker.record(finished.subtask_id, finished.outcome, finished.detail)
        if finished.unavailable:
            # As the worker: every other subtask would fail alike, so the job stops and the rest is skipped.
            self._stop(StopReason.WORKLOAD_UNAVAILABLE, finished.unavailable)
        elif (
            finished.outcome is Outcome.FAILED
            and self.failure_limit is not None
            and self.tracker.counts["failed"] > self.failure_limit
        ):
            # Past its tolerance the job stops: what has not started is skipped, and it ends FAILED.
            self._stop(StopReason.FAILURE_TOLERANCE)

    def _stop(self, reason: StopReason, error: dict[str, str] | None = None) -> None:
        """Stop once, as JobTracker.request_stop records it: the first stop stays."""
        with self.lock:
            if self.stop is None:
                self.stop = {
                    "reason": reason.value,
                    "at": datetime.now(UTC).isoformat(),
                    **({"error": error} if error else {}),
                }


# -- planning -------------------------------------------------------------------------------


def plan_job(spec: JobSpec, store: Any, limits: Limits) -> Plan:
    """The ventilator's plan of the spec (its _plan, with the whole listing in one go), kept in memory."""
    writer = ManifestWriter(store, JOB_BUCKET, planning.manifest_prefix(spec.job_id, "local"))
    if spec.source.type == "items":
        return planning.plan_items(spec.source, limits, writer)
    if spec.source.type == "objects":
        listing = planning.list_objects(
            store, spec.source, limits, Listing(manifest=writer.prefix), JOB_BUCKET, lambda: True
        )
        return planning.listing_plan(spec.source, listing)
    return planning.plan_object(store, spec.source, limits, writer)


def parse(document: Any, names: tuple[str, ...], readers: Mapping[str, Any], limits: Limits) -> JobSpec:
    """The ventilator's parse_spec (the source checked against what the workload reads), its errors as it names them."""
    try:
        return parse_spec(document, configured_chunk_size(), limits, names, readers)
    except InvalidJobSpec as error:
        raise in_first_format(error) if is_first_format(document) else error from None


def _s3_client() -> Any:
    import boto3  # only for a source on S3

    return boto3.client("s3")


def run_job(
    spec: dict[str, Any],
    *,
    output: Path,
    workloads: Mapping[str, WorkloadEntry] | None = None,
    workers: int = 1,
    processes: bool = False,
    s3: Any = None,
    base: Path | None = None,
    default_workload: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    invocation_seconds: float = DEFAULT_INVOCATION_SECONDS,
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS,
    subtasks_per_shard: int = DEFAULT_SUBTASKS_PER_SHARD,
    parallel_shards: int = 1,
    max_line_bytes: int | None = None,
    limits: Limits | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> LocalJobResult:
    """Run a job spec here, `workers` subtasks at once, and write its results under OUTPUT/results/<job>/.

    Subtasks run on threads, or with processes=True in a pool of processes (for workloads that compute
    more than they wait; each process imports the workload and, for an S3 source, creates its own client).

    workloads: name -> {"process": "pkg.mod:fn" or a function, "merge"?, "resumable"?, "reads"?, "package"?}
    (the env file's entries; a relative package from the working directory) or name -> a process function;
    default: envs/local/workloads.auto.tfvars.json
    if there is one, else the built-in word_count. base: where a relative source `path` starts (default:
    the working directory). s3: the client for a source on S3 (default: boto3's, AWS_ENDPOINT_URL honoured).
    subtasks_per_shard, parallel_shards: the tracker's shard layout (the deployment's SUBTASKS_PER_SHARD and
    PARALLEL_SHARDS), which decides how the results are split into succeeded/ and failed/ files.
    max_line_bytes: how far past its range a subtask reads to finish its last line (default: MAX_LINE_BYTES
    from the environment, else the module's 64 KiB).
    limits: the deployment's chunk and subtask limits (default: the fan_out module's, or MIN_CHUNK_SIZE_BYTES,
    MAX_CHUNK_SIZE_BYTES and MAX_SUBTASKS from the environment, as the ventilator reads them).
    A spec the ventilator would refuse raises InvalidJobSpec (field, message, fix).
    """
    started = time.monotonic()
    if workloads is None:
        workloads = configured_workloads()
        default_workload = default_workload or env_default_workload()
    entries = {name: _entry(name, entry) for name, entry in workloads.items()}
    local = with_local_source(spec, (base or Path.cwd()).resolve())
    limits = limits or configured_limits()
    readers = {name: entry.get("reads") for name, entry in entries.items()}
    job_spec = parse(local.document, _names(entries, default_workload), readers, limits)
    store = LocalObjectStore(
        folders={FILES_BUCKET: local.folder} if local.folder else {},
        memory=[JOB_BUCKET],
        fallback=None if local.folder else (s3 or _s3_client()),
    )
    plan = plan_job(job_spec, store, limits)
    run_settings = RunSettings(max_attempts, invocation_seconds, max_continuations, max_line_bytes or _max_line_bytes())
    entry = entries[job_spec.workload]
    try:
        runner = SubtaskRunner(job_spec.job_id, load_workload(job_spec.workload, entry), None, store, run_settings)
    except WorkloadUnavailable as error:
        # As deployed: the first subtask fails at once with the reason, the job stops and ends FAILED.
        runner = SubtaskRunner(job_spec.job_id, None, error, store, run_settings)
    layout = ShardLayout.plan(plan.total, subtasks_per_shard, parallel_shards)
    job = _Job(job_spec, runner, LocalTracker(layout), job_spec.failure_limit(plan.total))
    recipe = None
    if processes and workers > 1:
        folders = {FILES_BUCKET: str(local.folder)} if local.folder else {}
        recipe = RunnerRecipe(job_spec.job_id, job_spec.workload, entry, folders, local.folder is None, run_settings)
    _run_all(job, plan, max(1, workers), recipe, on_progress)
    return _write_results(job, layout, Path(output), started, max(1, workers))


def _max_line_bytes() -> int:
    return int(settings.positive_number("MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES))


def _in_order(pool: Executor, run: Callable[..., Finished], pairs: Iterator[tuple[int, Any]], window: int):
    """Each subtask's Finished, in subtask order, with at most `window` of them submitted at once."""
    pending: deque[Future[Finished]] = deque()
    for pair in pairs:
        pending.append(pool.submit(run, *pair))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _run_all(
    job: _Job, plan: Plan, workers: int, recipe: RunnerRecipe | None, on_progress: Callable[[Progress], None] | None
) -> None:
    # Parts of the plan are read in order, so two in memory suffice (as the ventilator reads them).
    read_part = lru_cache(maxsize=2)(planning.read_part(job.runner.store, JOB_BUCKET))
    last_report = 0.0

    def report(final: bool = False) -> None:
        nonlocal last_report
        if on_progress is None or (not final and time.monotonic() - last_report < PROGRESS_EVERY_SECONDS):
            return
        last_report = time.monotonic()
        status = "COMPLETING" if final else JobStatus.RUNNING.value
        on_progress(Progress({"job_id": job.spec.job_id, "status": status}, plan.total, **job.tracker.counts))

    def to_run() -> Iterator[tuple[int, Any]]:
        """The subtasks to start; once the job is stopped, the rest is skipped (as the workers skip them)."""
        for subtask_id, work in enumerate(plan.works(0, plan.total, read_part)):
            if job.stopped:
                job.tracker.record(subtask_id, Outcome.SKIPPED, {})
                continue
            yield subtask_id, work

    if workers == 1:
        finished: Iterator[Finished] = (job.runner.run(*pair) for pair in to_run())
        for each in finished:
            job.complete(each)
            report()
    else:
        pool: Executor = (
            ProcessPoolExecutor(workers, initializer=start_process, initargs=(recipe,))
            if recipe
            else ThreadPoolExecutor(workers)
        )
        with pool:
            for each in _in_order(pool, run_in_process if recipe else job.runner.run, to_run(), workers):
                job.complete(each)
                report()
    report(final=True)


def _write_results(job: _Job, layout: ShardLayout, output: Path, started: float, workers: int) -> LocalJobResult:
    """The consolidator's final merge over the local tracker: the same manifest, files and result, under OUTPUT."""
    job_id = job.spec.job_id
    folder = output / results_prefix(job_id)
    if folder.resolve().parent != (output / RESULTS_PREFIX).resolve():
        raise ValueError(f"job_id {job_id!r} is not a folder name: results must stay under {output / RESULTS_PREFIX}")
    if folder.exists():
        shutil.rmtree(folder)  # an earlier local run of this job id: its files would mix with these
    reader = Reader(LocalObjectStore(folders={OUTPUT_BUCKET: output}), OUTPUT_BUCKET, threads=4, window=8)
    merge = job.runner.workload.merge if job.runner.workload else None
    record = {
        "job_id": job_id,
        "total": layout.total,
        "shard_count": layout.shard_count,
        "failure_limit": job.failure_limit,
        **({"stop": job.stop} if job.stop else {}),
    }
    manifest, merged = consolidate(job.tracker, reader, merge, record)
    if merge is not None:
        manifest["result_key"] = result_key(job_id)
        reader.write(result_key(job_id), merged)
    reader.write(manifest_key(job_id), manifest)  # last, as deployed: once it exists, everything it names does
    return LocalJobResult(
        job_id=job_id,
        status=manifest["status"],
        total=manifest["total"],
        succeeded=manifest["succeeded"],
        failed=manifest["failed"],
        skipped=manifest["skipped"],
        manifest=manifest,
        result=merged,
        folder=folder,
        seconds=round(time.monotonic() - started, 3),
        workers=max(1, workers),
    )
