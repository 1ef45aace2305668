"""One consolidation step in a fresh interpreter, for bench/consolidation.py.

    python -m bench.consolidation_probe idle|reduce|final|baseline TABLE BUCKET JOB_ID SHARD

Prints {"seconds", "peak_mib", "digest"}: wall time of the step, the peak
resident memory of this process, and a digest of the merged result.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

from serverless_patterns.fan_in.reduction import Reader, consolidate, reduce_shard
from serverless_patterns.fan_in.tracker import JobTracker
from serverless_patterns.workloads.word_count import merge_counts

READER_THREADS = 16  # the consolidator's default


def _digest(result: dict | None) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()


def main() -> None:
    mode, table_name, bucket, job_id, shard = sys.argv[1:]
    tracker = JobTracker(boto3.resource("dynamodb").Table(table_name))
    reader = Reader(boto3.client("s3"), bucket, threads=READER_THREADS, window=2 * READER_THREADS)
    started = time.perf_counter()
    digest = ""
    if mode == "reduce":
        summary = reduce_shard(tracker, reader, merge_counts, job_id, int(shard))
        tracker.record_reduction(job_id, int(shard), summary)
    elif mode == "final":
        digest = _digest(consolidate(tracker, reader, merge_counts, tracker.get_job(job_id))["result"])
    elif mode == "baseline":
        job = tracker.get_job(job_id)
        keys = [task["result_key"] for task in tracker.subtasks(job_id, job["shard_count"])]
        with ThreadPoolExecutor(max_workers=READER_THREADS) as pool:
            partials = list(pool.map(reader.read, keys))
        digest = _digest(merge_counts(partials))
    elif mode != "idle":
        raise SystemExit(f"unknown mode {mode!r}")
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib, "digest": digest}))


if __name__ == "__main__":
    main()
