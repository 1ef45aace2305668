"""One consolidation step in a fresh interpreter, for bench/consolidation.py.

    python -m bench.consolidation_probe MODE TABLE BUCKET JOB_ID SHARD [--trace]

MODE: idle (imports and clients only), reduce (one shard's reduction, reduce_shard), reduce-before (the
same shard reduced as the consolidator did before issue 27: every status line and failure held in lists,
each status file put in one body), final (the final merge), baseline (every partial loaded at once).

Prints {"seconds", "peak_mib", "added_mib", "traced_mib", "digest", "files_digest", "succeeded_bytes",
"merged_words"}:
- seconds: wall time of the step;
- peak_mib: the peak resident memory of this process (ru_maxrss), imports included;
- added_mib: what the step added to it: the resident peak during the step (VmHWM, reset just before the step
  through /proc/self/clear_refs) minus the resident memory just before it, clients created and warmed;
- traced_mib: with --trace, the peak of the memory Python allocated during the step (tracemalloc, every
  thread); tracing slows the step down, so it runs in a process of its own and its seconds are not reported;
- digest: of the merged result; files_digest: of the bytes the reduction wrote (its status files and shard
  result), read back after the measurement; succeeded_bytes: the size of its succeeded status file;
  merged_words: the distinct words of the merged count in its shard result.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from serverless_patterns.fan_in.bucket_layout import shard_result_key, status_file_key
from serverless_patterns.fan_in.reduction import Reader, consolidate, failure_record, merge_stream, reduce_shard
from serverless_patterns.fan_in.tracker import JobTracker, Outcome
from serverless_patterns.fan_in.tracker.keys import TASK_PREFIX, shard_pk
from serverless_patterns.fan_in.tracker.store import plain
from serverless_patterns.shared.streaming import bounded_map
from serverless_patterns.workloads.word_count import merge_counts

READER_THREADS = 16  # the consolidator's default


def _digest(result: Any) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def _line(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def shard_tasks_before(table: Any, job_id: str, shard: int) -> Iterator[dict[str, Any]]:
    """A shard's TASK items as the tracker read them before issue 27: in DynamoDB's own pages (1 MB)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :task)",
        "ExpressionAttributeValues": {":pk": shard_pk(job_id, shard), ":task": TASK_PREFIX},
        "ConsistentRead": True,
    }
    while True:
        page = table.query(**kwargs)
        yield from (plain(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def reduce_shard_before(table: Any, reader: Reader, job_id: str, shard: int) -> dict[str, Any]:
    """The reduction before issue 27, kept as the baseline: its status lines and failures held until the end."""
    failures: list[dict[str, Any]] = []
    succeeded_lines: list[str] = []
    counts = {"succeeded": 0, "skipped": 0}

    def succeeded_tasks() -> Iterator[tuple[int, dict[str, Any]]]:
        for task in shard_tasks_before(table, job_id, shard):
            if task["outcome"] == Outcome.SUCCEEDED:
                counts["succeeded"] += 1
                yield task["subtask_id"], task
            elif task["outcome"] == Outcome.SKIPPED:
                counts["skipped"] += 1
            else:
                failures.append(failure_record(task))

    def results() -> Iterator[Any]:
        read = bounded_map(lambda task: (task[0], reader.partial(task[1])), succeeded_tasks(), 16, 32)
        for subtask_id, partial in read:
            succeeded_lines.append(
                _line({"subtask_id": subtask_id, "item": partial.get("item"), "result": partial.get("result")})
            )
            yield partial.get("result")

    merged = merge_stream(merge_counts, results())
    files = {}
    for outcome, lines in (("succeeded", succeeded_lines), ("failed", [_line(failure) for failure in failures])):
        key = status_file_key(job_id, outcome, shard)
        if lines:
            files[outcome] = {"key": key, "count": len(lines)}
            body = ("\n".join(lines) + "\n").encode()
            reader.s3.put_object(Bucket=reader.bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        else:
            reader.s3.delete_object(Bucket=reader.bucket, Key=key)
    reduction = {
        "shard": shard,
        "succeeded": counts["succeeded"],
        "failed": len(failures),
        "skipped": counts["skipped"],
        "failures": failures,
        "merged": merged,
        "files": files,
    }
    reader.write(shard_result_key(job_id, shard), reduction)
    return {"result_key": shard_result_key(job_id, shard)}


def _files_digest(reader: Reader, job_id: str, shard: int) -> tuple[str, int, int]:
    """The bytes a reduction wrote (its status files, absent ones named so, and its shard result object):
    their digest, the size of the succeeded file, and the distinct words of the merged count."""
    digest = hashlib.sha256()
    sizes = {}
    for outcome in ("succeeded", "failed"):
        key = status_file_key(job_id, outcome, shard)
        try:
            stream = reader.s3.get_object(Bucket=reader.bucket, Key=key)["Body"]
        except reader.s3.exceptions.NoSuchKey:
            digest.update(f"absent {key}".encode())
            continue
        sizes[outcome] = 0
        for chunk in iter(lambda stream=stream: stream.read(1 << 20), b""):
            digest.update(chunk)
            sizes[outcome] += len(chunk)
    shard_result = reader.s3.get_object(Bucket=reader.bucket, Key=shard_result_key(job_id, shard))["Body"].read()
    digest.update(shard_result)
    merged = json.loads(shard_result)["merged"] or {}
    return digest.hexdigest(), sizes.get("succeeded", 0), merged.get("distinct_words", 0)


def _step(mode: str, table: Any, reader: Reader, job_id: str, shard: int) -> Callable[[], str]:
    """The measured step; it answers the digest of the merged result."""
    tracker = JobTracker(table)
    if mode == "reduce":

        def reduce() -> str:
            summary = reduce_shard(tracker, reader, merge_counts, job_id, shard)
            tracker.record_reduction(job_id, shard, summary)
            return ""

        return reduce
    if mode == "reduce-before":
        return lambda: (reduce_shard_before(table, reader, job_id, shard), "")[1]
    if mode == "final":
        return lambda: _digest(consolidate(tracker, reader, merge_counts, tracker.get_job(job_id))[1])
    if mode == "baseline":

        def baseline() -> str:
            job = tracker.get_job(job_id)
            tasks = list(tracker.subtasks(job_id, job["shard_count"]))
            with ThreadPoolExecutor(max_workers=READER_THREADS) as pool:
                partials = list(pool.map(reader.partial, tasks))
            return _digest(merge_counts(partial["result"] for partial in partials))

        return baseline
    if mode == "idle":
        return lambda: ""
    raise SystemExit(f"unknown mode {mode!r}")


def _warm(table: Any, reader: Reader) -> None:
    """Make each call the step makes once, on other keys: the SDK loads an operation's model and parser on its
    first call, and a Lambda container keeps them for its next invocations, as it keeps its imports."""
    list(JobTracker(table).shard_tasks("bench-warm-up", 0))
    JobTracker(table).get_job("bench-warm-up")
    key = "bench-warm-up/warm.jsonl"
    reader.s3.put_object(Bucket=reader.bucket, Key=key, Body=b"{}\n")
    reader.read(key)
    upload = reader.s3.create_multipart_upload(Bucket=reader.bucket, Key=key, ChecksumAlgorithm="CRC32")
    part = reader.s3.upload_part(
        Bucket=reader.bucket,
        Key=key,
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"{}\n",
        ChecksumAlgorithm="CRC32",
    )
    reader.s3.complete_multipart_upload(
        Bucket=reader.bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]},
    )
    reader.s3.delete_object(Bucket=reader.bucket, Key=key)


def main() -> None:
    mode, table_name, bucket, job_id, shard = sys.argv[1:6]
    trace = "--trace" in sys.argv[6:]
    table = boto3.resource("dynamodb").Table(table_name)
    reader = Reader(boto3.client("s3"), bucket, threads=READER_THREADS, window=2 * READER_THREADS)
    step = _step(mode, table, reader, job_id, int(shard))
    _warm(table, reader)
    before_kib = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    digest = step()
    seconds = time.perf_counter() - started
    traced_mib = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    tracemalloc.stop()
    added_mib = (_status_kib("VmHWM") - before_kib) / 1024
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reduced = mode.startswith("reduce")
    files_digest, succeeded_bytes, merged_words = _files_digest(reader, job_id, int(shard)) if reduced else ("", 0, 0)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mib": peak_mib,
                "added_mib": added_mib,
                "traced_mib": traced_mib,
                "digest": digest,
                "files_digest": files_digest,
                "succeeded_bytes": succeeded_bytes,
                "merged_words": merged_words,
            }
        )
    )


if __name__ == "__main__":
    main()
