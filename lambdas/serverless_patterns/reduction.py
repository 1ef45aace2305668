"""Hierarchical, streaming consolidation: partials -> one result per shard -> the job's result.

The user's merge is a plain function, `merge(results: Iterable[dict]) -> dict`,
applied twice: to the partial results of one shard, then to the shard
results. It must therefore accept its own output as an input (word counts
merge into word counts). Inputs reach it as a stream read a few objects ahead,
so the memory a merge needs is what it keeps, not the number of subtasks.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from serverless_patterns.fan_out import shard_result_key
from serverless_patterns.job_tracker import JobStatus, JobTracker, Outcome
from serverless_patterns.streaming import bounded_map

Merge = Callable[[Iterable[dict[str, Any]]], dict[str, Any]]

MAX_FAILURES_IN_RESULT = 1000  # with their errors; failed_subtask_ids lists every one
MAX_FAILURES_IN_RECORD = 20  # in the tracker's job item (400 KB item limit) and the job-finished event
MAX_FAILED_IDS_IN_RECORD = 1000
SHARDS_READ_AT_ONCE = 8


@dataclass
class Reader:
    """Reads JSON objects of the job bucket, `threads` at a time, `window` ahead at most."""

    s3: Any
    bucket: str
    threads: int = 16
    window: int = 32

    def read(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def read_all(self, keys: Iterable[str], threads: int | None = None) -> Iterator[Any]:
        return bounded_map(self.read, keys, threads or self.threads, self.window)

    def write(self, key: str, document: Any) -> bytes:
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return body


def merge_stream(merge: Merge, results: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """merge() over a stream, or None for an empty one (a merge need not handle nothing).

    The stream is read to its end even if the merge stops early: reading it counts the outcomes.
    """
    stream = iter(results)
    first = next(stream, None)
    if first is None:
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
    }


def reduce_tasks(
    tracker: JobTracker, reader: Reader, merge: Merge, job_id: str, shard: int, threads: int | None = None
) -> dict[str, Any]:
    """One shard's reduction: its partial results merged, its failures listed."""
    failures: list[dict[str, Any]] = []
    succeeded = 0

    def succeeded_keys() -> Iterator[str]:
        nonlocal succeeded
        for task in tracker.shard_tasks(job_id, shard):
            if task["outcome"] == Outcome.SUCCEEDED:
                succeeded += 1
                yield task["result_key"]
            else:
                failures.append(failure_record(task))

    merged = merge_stream(merge, reader.read_all(succeeded_keys(), threads))
    return {"shard": shard, "succeeded": succeeded, "failed": len(failures), "failures": failures, "merged": merged}


def reduce_shard(tracker: JobTracker, reader: Reader, merge: Merge, job_id: str, shard: int) -> dict[str, Any]:
    """Reduce a sealed shard into its result object; the summary the tracker records for it."""
    reduction = reduce_tasks(tracker, reader, merge, job_id, shard)
    key = shard_result_key(job_id, shard)
    reader.write(key, reduction)
    return {"result_key": key, "succeeded": reduction["succeeded"], "failed": reduction["failed"]}


def final_status(timed_out: bool, succeeded: int, failed: int) -> JobStatus:
    if timed_out:
        return JobStatus.TIMED_OUT
    if succeeded == 0:
        return JobStatus.FAILED
    return JobStatus.PARTIAL if failed else JobStatus.SUCCEEDED


def consolidate(tracker: JobTracker, reader: Reader, merge: Merge, job: dict[str, Any]) -> dict[str, Any]:
    """Merge the shard results of a COMPLETING job: one object per shard, read as a stream.

    A shard not reduced yet (a timed-out job) is reduced here from its tasks,
    on what they hold.
    """
    job_id, shard_count = job["job_id"], int(job["shard_count"])
    reduced = {item["shard"]: item.get("reduced") for item in tracker.shards(job_id, shard_count)}
    totals = {"succeeded": 0, "failed": 0}
    failed_ids: list[int] = []
    failures: list[dict[str, Any]] = []

    def shard_result(shard: int) -> dict[str, Any]:
        summary = reduced.get(shard)
        if summary:
            return reader.read(summary["result_key"])
        # Few threads each: several shards are read at once already.
        return reduce_tasks(tracker, reader, merge, job_id, shard, threads=4)

    def merged_inputs() -> Iterator[dict[str, Any]]:
        for result in bounded_map(shard_result, range(shard_count), SHARDS_READ_AT_ONCE, SHARDS_READ_AT_ONCE):
            totals["succeeded"] += result["succeeded"]
            totals["failed"] += result["failed"]
            failed_ids.extend(failure["subtask_id"] for failure in result["failures"])
            failures.extend(result["failures"][: MAX_FAILURES_IN_RESULT - len(failures)])
            if result["merged"] is not None:
                yield result["merged"]

    merged = merge_stream(merge, merged_inputs())
    status = final_status("timed_out_at" in job, totals["succeeded"], totals["failed"])
    failed_ids.sort()
    failures.sort(key=lambda failure: failure["subtask_id"])
    document = {
        "job_id": job_id,
        "status": status.value,
        "total": job["total"],
        "succeeded": totals["succeeded"],
        "failed": totals["failed"],
        "missing": job["total"] - totals["succeeded"] - totals["failed"],
        "failed_subtask_ids": failed_ids,
        "failures": failures,
        "result": merged,
    }
    return document


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
