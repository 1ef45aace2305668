"""Hierarchical, streaming consolidation: partials -> one result per shard -> the job's result.

The workload's merge is a plain function, `merge(results: Iterable) -> result`,
applied twice: to the partial results of one shard, then to the shard
results. It must therefore accept its own output as an input (word counts
merge into word counts). Inputs reach it as a stream read a few objects ahead,
so the memory a merge needs is what it keeps, not the number of subtasks.

Each shard's reduction also writes the shard's results by status, as JSON
Lines under results/<job>/: succeeded/shard-NNNN.jsonl (each subtask's item
or range and its result) and failed/shard-NNNN.jsonl (its item and last
error). A workload without a merge gets those files only. The lines are
streamed to S3 as they are read (shared.s3_lines: a multipart upload in parts
of 8 MiB), the shard's TASK items are read a bounded page at a time, and the
shard result keeps the first MAX_FAILURES_IN_RESULT failures with their
errors (all the final merge uses) and, past those, the failed ids alone: a
reduction's memory does not grow with its shard's subtasks.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from serverless_patterns.fan_in.bucket_layout import shard_result_key, status_file_key
from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, Outcome, StopReason
from serverless_patterns.shared.s3_lines import PART_BYTES, LineObject
from serverless_patterns.shared.streaming import bounded_map

Merge = Callable[[Iterable[Any]], Any]

MAX_FAILURES_IN_RESULT = 1000  # with their errors; failed_subtask_ids lists every one
MAX_FAILURES_IN_RECORD = 20  # in the tracker's job item (400 KB item limit) and the job-finished event
MAX_FAILED_IDS_IN_RECORD = 1000
SHARDS_READ_AT_ONCE = 8


@dataclass
class Reader:
    """Reads JSON objects of the job bucket, `threads` at a time, `window` ahead at most; writes them too."""

    s3: Any
    bucket: str
    threads: int = 16
    window: int = 32
    part_bytes: int = PART_BYTES  # of the JSON Lines objects it streams out

    def read(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def partial(self, task: dict[str, Any]) -> Any:
        """A succeeded subtask's result: kept in its tracker item when small, else in S3 under its key."""
        return json.loads(task["partial"]) if "partial" in task else self.read(task["result_key"])

    def read_all(self, keys: Iterable[str], threads: int | None = None) -> Iterator[Any]:
        return bounded_map(self.read, keys, threads or self.threads, self.window)

    def write(self, key: str, document: Any) -> bytes:
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return body

    def lines(self, key: str) -> LineObject:
        """A JSON Lines object to write a line at a time (streamed in parts; finish() writes it)."""
        return LineObject(self.s3, self.bucket, key, part_bytes=self.part_bytes)


_END = object()


def merge_stream(merge: Merge | None, results: Iterable[Any]) -> Any:
    """merge() over a stream, or None for an empty one (a merge need not handle nothing) or no merge.

    The stream is read to its end even if the merge stops early: reading it counts the outcomes.
    """
    stream = iter(results)
    first = next(stream, _END)
    if first is _END or merge is None:
        collections.deque(stream, maxlen=0)
        return None
    merged = merge(itertools.chain([first], stream))
    collections.deque(stream, maxlen=0)
    return merged


def failure_record(task: dict[str, Any]) -> dict[str, Any]:
    error = task.get("error") or {}
    return {
        "subtask_id": task["subtask_id"],
        "type": error.get("type", "Unknown"),
        "message": error.get("message", ""),
        **({"attempts": error["attempts"]} if "attempts" in error else {}),
        **({"item": task["item"]} if "item" in task else {}),
    }


def _line(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def reduce_tasks(
    tracker: JobTracker, reader: Reader, merge: Merge | None, job_id: str, shard: int, threads: int | None = None
) -> dict[str, Any]:
    """One shard's reduction: its results merged (with a merge) and written by status, its failures listed.

    The failures listed with their errors are the first MAX_FAILURES_IN_RESULT (the final merge keeps
    no more); when there are more, `failed_subtask_ids` names every one (8 bytes each while reducing).
    """
    failures: list[dict[str, Any]] = []
    failed_ids = array("q")
    counts = {"succeeded": 0, "skipped": 0}
    with ExitStack() as open_files:
        # Opened in this order and finished in it: succeeded, then failed, as before the lines were streamed.
        status_files = {
            outcome: open_files.enter_context(reader.lines(status_file_key(job_id, outcome, shard)))
            for outcome in ("succeeded", "failed")
        }

        def succeeded_tasks() -> Iterator[tuple[int, dict[str, Any]]]:
            for task in tracker.shard_tasks(job_id, shard):
                if task["outcome"] == Outcome.SUCCEEDED:
                    counts["succeeded"] += 1
                    yield task["subtask_id"], task
                elif task["outcome"] == Outcome.SKIPPED:
                    counts["skipped"] += 1
                else:
                    failure = failure_record(task)
                    status_files["failed"].write(_line(failure))
                    failed_ids.append(failure["subtask_id"])
                    if len(failures) < MAX_FAILURES_IN_RESULT:
                        failures.append(failure)

        def results() -> Iterator[Any]:
            read = bounded_map(
                lambda task: (task[0], reader.partial(task[1])),
                succeeded_tasks(),
                threads or reader.threads,
                reader.window,
            )
            for subtask_id, partial in read:
                status_files["succeeded"].write(
                    _line({"subtask_id": subtask_id, "item": partial.get("item"), "result": partial.get("result")})
                )
                yield partial.get("result")

        merged = merge_stream(merge, results())
        files = {}
        for outcome, status_file in status_files.items():
            # A file without lines is deleted: an earlier run of a redriven job may have left it.
            if status_file.finish():
                files[outcome] = {"key": status_file.key, "count": status_file.lines}
    reduction = {
        "shard": shard,
        "succeeded": counts["succeeded"],
        "failed": len(failed_ids),
        "skipped": counts["skipped"],
        "failures": failures,
        "merged": merged,
        "files": files,
    }
    if len(failed_ids) > len(failures):
        reduction["failed_subtask_ids"] = failed_ids.tolist()
    return reduction


def failed_ids_of(result: dict[str, Any]) -> list[int]:
    """Every failed subtask of a shard result: listed apart when it has more than its failures with errors."""
    if "failed_subtask_ids" in result:
        return result["failed_subtask_ids"]
    return [failure["subtask_id"] for failure in result["failures"]]


def reduce_shard(tracker: JobTracker, reader: Reader, merge: Merge, job_id: str, shard: int) -> dict[str, Any]:
    """Reduce a sealed shard into its result object; the summary the tracker records for it."""
    reduction = reduce_tasks(tracker, reader, merge, job_id, shard)
    key = shard_result_key(job_id, shard)
    reader.write(key, reduction)
    return {key: reduction[key] for key in ("succeeded", "failed", "skipped")} | {"result_key": key}


def final_status(job: dict[str, Any], succeeded: int, failed: int) -> JobStatus:
    stop = (job.get("stop") or {}).get("reason")
    if stop == StopReason.CANCELLED:
        return JobStatus.CANCELLED
    limit = job.get("failure_limit")
    if stop in (StopReason.FAILURE_TOLERANCE, StopReason.WORKLOAD_UNAVAILABLE) or (
        limit is not None and failed > limit
    ):
        return JobStatus.FAILED
    if "timed_out_at" in job:
        return JobStatus.TIMED_OUT
    if succeeded == 0:
        return JobStatus.FAILED
    return JobStatus.PARTIAL if failed else JobStatus.SUCCEEDED


def consolidate(
    tracker: JobTracker, reader: Reader, merge: Merge | None, job: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    """The manifest and the merged result of a COMPLETING job, from its shard results read as a stream.

    A shard not reduced yet (a timed-out job) is reduced here from its tasks,
    on what they hold.
    """
    job_id, shard_count = job["job_id"], int(job["shard_count"])
    reduced = {item["shard"]: item.get("reduced") for item in tracker.shards(job_id, shard_count)}
    totals = {"succeeded": 0, "failed": 0, "skipped": 0}
    failed_ids: list[int] = []
    failures: list[dict[str, Any]] = []
    files: dict[str, list[dict[str, Any]]] = {"succeeded": [], "failed": []}

    def shard_result(shard: int) -> dict[str, Any]:
        summary = reduced.get(shard)
        if summary:
            return reader.read(summary["result_key"])
        # Few threads each: several shards are read at once already.
        return reduce_tasks(tracker, reader, merge, job_id, shard, threads=4)

    def merged_inputs() -> Iterator[Any]:
        for result in bounded_map(shard_result, range(shard_count), SHARDS_READ_AT_ONCE, SHARDS_READ_AT_ONCE):
            for name in totals:
                totals[name] += result.get(name, 0)
            for outcome, file in result.get("files", {}).items():
                files[outcome].append(file)
            failed_ids.extend(failed_ids_of(result))
            failures.extend(result["failures"][: MAX_FAILURES_IN_RESULT - len(failures)])
            if result["merged"] is not None:
                yield result["merged"]

    merged = merge_stream(merge, merged_inputs())
    status = final_status(job, totals["succeeded"], totals["failed"])
    failed_ids.sort()
    failures.sort(key=lambda failure: failure["subtask_id"])
    manifest = {
        "job_id": job_id,
        "status": status.value,
        "total": job["total"],
        **totals,
        "missing": job["total"] - sum(totals.values()),
        "failed_subtask_ids": failed_ids,
        "failures": failures,
        "files": files,
        "merged": merge is not None,
    }
    if job.get("stop"):
        manifest["stop"] = job["stop"]
    if job.get("redrives"):
        manifest["redrives"] = job["redrives"]
    return manifest, merged


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
