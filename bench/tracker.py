"""2. Tracker: completions per second by writers, with and without injected conflicts; the per-job ceiling."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench.common import Table, emulator, timed, tracker_table
from fault_injection import FaultPlan, inject

WRITERS = (1, 8, 32)
CONFLICT_SHARES = (0.0, 0.15)
SUBTASKS = 1_000
DUPLICATE_SHARE = 0.2
SHARDS = 4  # one shard per ~5 of the 8 to 32 writers, the fan_out default ratio
PER_SHARD_CEILING = 250  # completions/s: 1,000 WCU/s per partition / 4 WCU per completion
CEILING_SHARDS = (1, 10, 100, 1000)
BIG_JOB = 100_000


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


def _completions(writers: int, conflict_share: float) -> dict:
    from serverless_patterns.fan_in.tracker import JobTracker, Outcome, ShardLayout

    table = tracker_table("tracker")
    plan = FaultPlan().fail("dynamodb", "TransactionConflict", conflict_share, {"TransactWriteItems"})
    inject(table.meta.client, plan)
    tracker = JobTracker(table)
    job_id = uuid.uuid4().hex
    layout = ShardLayout(SUBTASKS, SHARDS, SHARDS)  # one round: the shards take the writers' load together
    tracker.register_job(job_id, layout, "bench", 3600, {}, "bench", 86400)
    deliveries = list(range(SUBTASKS)) + random.Random(writers).sample(range(SUBTASKS), int(SUBTASKS * DUPLICATE_SHARE))
    random.Random(7).shuffle(deliveries)
    writes = _count_writes(table.meta.client)

    def complete(subtask_id: int) -> bool:
        return tracker.record_completion(
            job_id, subtask_id, layout.shard_of(subtask_id), Outcome.SUCCEEDED
        ).sealed_shard

    with ThreadPoolExecutor(max_workers=writers) as pool:
        sealed, seconds = timed(lambda: sum(pool.map(complete, deliveries)))
    transactions = plan.called("dynamodb", {"TransactWriteItems"})
    return {
        "rate": len(deliveries) / seconds,
        "completed": tracker.progress(job_id).completed,
        "sealed": sealed,
        "conflicted": plan.failed("dynamodb", {"TransactWriteItems"}) / max(transactions, 1),
        "retried": tracker.backoff.retried,
        "writes": writes["items"] / SUBTASKS,
    }


def run() -> Table:
    table = Table(
        "tracker",
        f"2. Tracker: {SUBTASKS:,} completions plus {DUPLICATE_SHARE:.0%} duplicate deliveries, {SHARDS} shards",
        [
            "writers",
            "transactions conflicted",
            "deliveries /s",
            "vs no conflicts",
            "conflicts retried",
            "completed (exact = 1,000)",
            "shards sealed (exact = 4)",
            "writes per subtask",
        ],
    )
    with emulator():
        for writers in WRITERS:
            base_rate = None
            for share in CONFLICT_SHARES:
                row = _completions(writers, share)
                base_rate = base_rate or row["rate"]
                table.rows.append(
                    [
                        writers,
                        f"{row['conflicted']:.0%}",
                        row["rate"],
                        f"{row['rate'] / base_rate:.2f}x",
                        row["retried"],
                        row["completed"],
                        row["sealed"],
                        row["writes"],
                    ]
                )
    ceiling = ", ".join(
        f"{shards:,} shard{'s' if shards > 1 else ''}: {PER_SHARD_CEILING * shards:,}/s "
        f"({BIG_JOB / (PER_SHARD_CEILING * shards):,.1f} s for {BIG_JOB:,} subtasks)"
        for shards in CEILING_SHARDS
    )
    table.notes += [
        "On the emulator. Every delivery is a conditional transaction on its shard's partition (task marker + "
        "shard counter); a duplicate is refused by its marker, so the count stays exact and each shard is sealed "
        "once. Conflicts are injected in-process (tests/fault_injection.py) into the share of transactions shown, "
        "as DynamoDB cancels overlapping transactions on one item; the tracker retries them with jittered backoff "
        "(25 ms doubling to 1 s).",
        "MiniStack answers requests largely one at a time, so more writers add little throughput here; what "
        "they show is that neither concurrency nor conflicts change the counts, and what the retries cost.",
        "Writes per subtask: items the tracker sent in writes per distinct subtask, duplicates, sealing and "
        "retried transactions included.",
        "Per-job ceiling on DynamoDB (modules/fan_in_tracker/README.md): a partition takes 1,000 WCU/s and a "
        f"completion writes 4 WCU to its shard's, so {PER_SHARD_CEILING} completions/s per shard: {ceiling}.",
    ]
    return table
