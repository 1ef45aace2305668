"""`make demo`: apply envs/local to the emulator and run both patterns end to end.

1. Fan-out / fan-in (the main job): a text of 1,200 chunks is split by the
   ventilator, counted by concurrent workers, tracked exactly once and merged
   by the consolidator; a progress bar follows the job, then the result is
   checked against the same count computed here in one process.
2. Load leveling: a burst of write requests through the HTTP API plus one
   poison message, drained by capped consumers; every request is accounted for.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "ops"), str(REPO_ROOT / "lambdas")]

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker  # noqa: E402
from serverless_patterns_ops.fan_out_jobs import (  # noqa: E402
    fetch_result,
    progress_printer,
    sample_text,
    submit_job,
    wait_for_job,
)
from serverless_patterns_ops.http_api import producer_client  # noqa: E402
from serverless_patterns_ops.load_leveling import (  # noqa: E402
    peak_concurrency,
    queue_depth,
    scan_items,
    send_burst,
    wait_for,
)
from serverless_patterns_ops.local_stack import LocalStack, use_emulator_credentials  # noqa: E402

DEMO_DIR = REPO_ROOT / "build" / "demo"
CHUNK_SIZE = 256


def fan_out_demo(stack: dict, subtasks: int) -> bool:
    text = sample_text(subtasks * CHUNK_SIZE, seed=42)
    job_id = f"demo-{uuid.uuid4().hex[:8]}"
    key = f"inputs/{job_id}/text.txt"
    boto3.client("s3").put_object(Bucket=stack["bucket_name"], Key=key, Body=text)
    tracker = JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"]))

    print(f"Fan-out/fan-in: counting the words of a {len(text) // 1024} KiB text in chunks of {CHUNK_SIZE} bytes")
    submitted_at = time.monotonic()
    answer = submit_job(
        boto3.client("lambda"),
        stack["ventilator_function_name"],
        {"job_id": job_id, "chunk_size_bytes": CHUNK_SIZE, "input": {"bucket": stack["bucket_name"], "key": key}},
    )
    dispatched = time.monotonic() - submitted_at
    print(f"  job {job_id}: {answer['total']} subtasks registered and dispatched in {dispatched:.1f} s")
    job = wait_for_job(tracker, job_id, timeout=900, on_progress=progress_printer())
    elapsed = time.monotonic() - submitted_at
    result = fetch_result(boto3.client("s3"), job)

    sequential_started = time.perf_counter()
    expected = Counter(word.lower() for word in text.decode().split())
    sequential = time.perf_counter() - sequential_started
    exact = result["result"]["words"] == dict(expected)
    top = ", ".join(f"{word} {count}" for word, count in Counter(result["result"]["words"]).most_common(5))
    print()
    print(f"  status               {job['status']}")
    print(f"  subtasks             {result['succeeded']} succeeded, {len(result['failed_subtask_ids'])} failed")
    print(f"  lines / words        {result['result']['lines']} lines, {result['result']['distinct_words']} distinct")
    print(f"  most frequent        {top}")
    print(f"  submit to result     {elapsed:.1f} s with at most {stack['worker_maximum_concurrency']} workers")
    print(f"  result               s3://{job['result']['bucket']}/{result['result_key']} (manifest.json beside it)")
    print(
        f"  check                {'exact' if exact else 'MISMATCH'}: the same count in one process took "
        f"{sequential * 1000:.0f} ms (this workload is tiny; the emulator runs every worker on this machine)"
    )
    print()
    return job["status"] == JobStatus.SUCCEEDED and exact


def load_leveling_demo(stack: dict, requests: int, clients: int) -> bool:
    sqs = boto3.client("sqs")
    table = boto3.resource("dynamodb").Table(stack["table_name"])
    run_id = uuid.uuid4().hex[:8]
    via = "the HTTP API" if stack["api_endpoint"] else "direct invocation (no HTTP API)"
    print(f"Load leveling: a burst of {requests} write requests through {via}, {clients} clients...", flush=True)
    producer = producer_client(stack, boto3.client("lambda"))
    burst = send_burst(producer, requests, clients, run_id=run_id)
    print(f"  {len(burst.accepted)} accepted (202) in {burst.seconds:.1f} s, {len(burst.rejected)} rejected")
    sqs.send_message(QueueUrl=stack["queue_url"], MessageBody=json.dumps({"request_id": f"{run_id}-poison"}))
    print("  plus 1 poison message put straight onto the queue (no payload: the consumer cannot store it)")
    print(
        f"  draining at most {stack['maximum_concurrency']} consumers x "
        f"{stack['writes_per_second_per_consumer']} writes/s...",
        flush=True,
    )
    drain_started = time.monotonic()
    drained = wait_for(
        lambda: queue_depth(sqs, stack["queue_url"]) == 0 and queue_depth(sqs, stack["dlq_url"]) >= 1,
        timeout=600,
        interval=2,
    )
    drain_seconds = time.monotonic() - drain_started
    items = [item for item in scan_items(table) if item["request_id"].startswith(run_id)]
    accepted, stored = set(burst.accepted), {item["request_id"] for item in items}
    print()
    print(f"  sent                 {requests}")
    print(f"  accepted             {len(accepted)} in {burst.seconds:.1f} s")
    print(f"  stored               {len(stored & accepted)} (missing {len(accepted - stored)})")
    print(f"  in DLQ               {queue_depth(sqs, stack['dlq_url'])} (the poison message)")
    print(
        f"  time to drain        {drain_seconds:.1f} s after the burst"
        " (the poison message waits out its receives: max_receive_count 5)"
    )
    print(f"  peak consumers       {peak_concurrency(items)} (cap {stack['maximum_concurrency']})")
    return drained and not accepted - stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subtasks", type=int, default=1200, help="size of the fan-out job (default 1200)")
    parser.add_argument("--requests", type=int, default=2000, help="size of the load-leveling burst (default 2000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    parser.add_argument("--skip-load-leveling", action="store_true", help="run the fan-out job only")
    args = parser.parse_args()

    use_emulator_credentials()
    outputs = LocalStack("sp-demo", DEMO_DIR).apply()
    ok = fan_out_demo(outputs["fan_out"], args.subtasks)
    if not args.skip_load_leveling:
        ok = load_leveling_demo(outputs["load_leveler"], args.requests, args.clients) and ok
    if not ok:
        sys.exit("the demo did not finish cleanly: see build/emulator/ministack.log")


if __name__ == "__main__":
    main()
