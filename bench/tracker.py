"""2. Tracker: completions per second by concurrent writers, exact under duplicates; writes and hot items."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3

from bench.common import Table, emulator, timed

WRITERS = (1, 8, 32)
SUBTASKS = 1_000
DUPLICATE_SHARE = 0.2
BIG_JOB = 100_000
# The fan_out module's defaults (shard_threshold, shards_above_threshold).
SHARD_THRESHOLD = 1_000
SHARDS_ABOVE_THRESHOLD = 10


def _tracker_table():
    """A table shaped like fan_in_tracker's (pk/sk)."""
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName=f"bench-tracker-{uuid.uuid4().hex[:8]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    return table


def _count_writes(client) -> Counter:
    """Items written per API operation, counted as the client sends them."""
    writes: Counter = Counter()

    def count(params: dict, model, **_: object) -> None:
        if model.name == "TransactWriteItems":
            writes["items"] += len(params["TransactItems"])
        elif model.name in {"PutItem", "UpdateItem", "DeleteItem"}:
            writes["items"] += 1

    client.meta.events.register("provide-client-params.dynamodb.*", count)
    return writes


def _completions(writers: int, table) -> tuple[float, int, int, str, float]:
    from serverless_patterns.job_tracker import JobTracker, Outcome, shard_count_for

    tracker = JobTracker(table)
    job_id = uuid.uuid4().hex
    shards = shard_count_for(SUBTASKS, 100, 4)  # sharded even at this size, as a 100,000-subtask job would be
    tracker.register_job(job_id, SUBTASKS, shards, "bench", 3600, {})
    deliveries = list(range(SUBTASKS)) + random.Random(writers).sample(range(SUBTASKS), int(SUBTASKS * DUPLICATE_SHARE))
    random.Random(7).shuffle(deliveries)
    writes = _count_writes(table.meta.client)

    def complete(subtask_id: int) -> bool:
        return tracker.record_completion(job_id, subtask_id, shards, Outcome.SUCCEEDED).finished_job

    with ThreadPoolExecutor(max_workers=writers) as pool:
        finished, seconds = timed(lambda: sum(pool.map(complete, deliveries)))
    progress = tracker.progress(job_id)
    job = tracker.get_job(job_id)
    return len(deliveries) / seconds, progress.completed, finished, job["status"], writes["items"] / SUBTASKS


def _hottest_item_updates() -> tuple[int, int, int]:
    from serverless_patterns.job_tracker import expected_in_shard, shard_count_for

    shards = shard_count_for(BIG_JOB, SHARD_THRESHOLD, SHARDS_ABOVE_THRESHOLD)
    # Each completion adds to its shard's counter; a full shard then seals once on the job item.
    hottest_shard = max(expected_in_shard(BIG_JOB, shards, shard) for shard in range(shards))
    return shards, max(hottest_shard, shards), BIG_JOB


def run() -> Table:
    table = Table(
        "tracker",
        f"2. Tracker: {SUBTASKS:,} completions plus {DUPLICATE_SHARE:.0%} duplicate deliveries",
        [
            "writers",
            "deliveries /s",
            "vs 1 writer",
            "completed (exact = 1,000)",
            "jobs finished",
            "status",
            "writes per subtask",
        ],
    )
    with emulator():
        base_rate = None
        for writers in WRITERS:
            rate, completed, finished, status, writes = _completions(writers, _tracker_table())
            base_rate = base_rate or rate
            table.rows.append([writers, rate, f"{rate / base_rate:.1f}x", completed, finished, status, writes])
    shards, hottest, unsharded = _hottest_item_updates()
    table.notes += [
        "On the emulator. Every delivery is a conditional transaction (task marker + shard counter); "
        "a duplicate is refused by its marker, so the count stays exact and the job finishes once.",
        "MiniStack answers requests largely one at a time, so more writers add little throughput here; what "
        "they show is that concurrency changes nothing in the counts. On DynamoDB the limit is per partition.",
        "Writes per subtask: items written by the tracker per distinct subtask, duplicates and shard sealing included.",
        f"Hottest item of a {BIG_JOB:,}-subtask job: {hottest:,} updates with {shards} shards (the module's "
        f"defaults) vs {unsharded:,} on a single counter: {unsharded / hottest:.0f}x fewer, "
        "well under DynamoDB's 1,000 writes/s per partition at worker scale.",
    ]
    return table
