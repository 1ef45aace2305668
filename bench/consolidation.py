"""7. Consolidation: time and peak memory of the hierarchical, streaming merge at 1,000 to 100,000 subtasks.

Jobs of finished subtasks are seeded straight into a tracker-shaped table and
a bucket on the emulator (TASK items, sealed shards, one partial result per
subtask), then consolidated in fresh processes, each measured alone:

- one shard's reduction (what one consolidator invocation does per shard);
- the final merge of the shard results (one object per shard);
- the baseline: every partial result loaded into memory and merged once, as
  the consolidator did before shards were reduced.

Each partial is a word count of 60 words drawn from a vocabulary of 10,000
(about 1 KB of JSON), so the merged result stays the same size whatever the
number of subtasks, as it does for most real merges: flat memory is then
possible, and what each approach needs shows.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from typing import Any

import boto3

from bench.common import REPO_ROOT, Table, emulator, tracker_table

SIZES = (1_000, 10_000, 100_000)
SUBTASKS_PER_SHARD = 1_000  # the fan_out module's default
PARALLEL_SHARDS = 10  # its default for 50 workers
VOCABULARY = [f"w{i:05d}" for i in range(10_000)]
WORDS_PER_PARTIAL = 60


def partial(subtask_id: int) -> dict[str, Any]:
    rng = random.Random(subtask_id)
    words: dict[str, int] = {}
    for word in rng.sample(VOCABULARY, WORDS_PER_PARTIAL):
        words[word] = rng.randint(1, 9)
    return {"lines": rng.randint(1, 20), "words": words}


def seed(table: Any, bucket: str, total: int) -> dict[str, Any]:
    """A finished job of `total` subtasks, every shard sealed: what the workers leave for the consolidator."""
    from serverless_patterns.fan_in.tracker import JobTracker, ShardLayout
    from serverless_patterns.fan_out.jobs import Subtask
    from serverless_patterns.shared.streaming import bounded_map

    tracker = JobTracker(table)
    job_id = f"bench-{uuid.uuid4().hex[:8]}"
    layout = ShardLayout.plan(total, SUBTASKS_PER_SHARD, PARALLEL_SHARDS)
    tracker.register_job(job_id, layout, job_id, 3600, {}, "bench", 86400)
    s3 = boto3.client("s3")

    def put(subtask_id: int) -> dict[str, Any]:
        shard = layout.shard_of(subtask_id)
        key = Subtask(job_id, subtask_id, shard, job_id, 0, {"type": "items", "items": [], "first_item": 0}).partial_key
        # As a worker writes it: what the subtask worked on, and its result.
        body = {"item": {"items": [subtask_id, subtask_id + 1]}, "result": partial(subtask_id)}
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())
        return {
            "pk": f"JOB#{job_id}#SHARD#{shard:04d}",
            "sk": f"TASK#{subtask_id:09d}",
            "subtask_id": subtask_id,
            "outcome": "SUCCEEDED",
            "result_key": key,
        }

    with table.batch_writer() as batch:
        for task in bounded_map(put, range(total), workers=16, window=64):
            batch.put_item(Item=task)
    for shard in range(layout.shard_count):
        table.update_item(
            Key={"pk": f"JOB#{job_id}#SHARD#{shard:04d}", "sk": "SHARD"},
            UpdateExpression="SET completed = expected, succeeded = expected, sealed = :true",
            ExpressionAttributeValues={":true": True},
        )
    return {"job_id": job_id, "shards": layout.shard_count}


def _probe(*args: str) -> dict[str, Any]:
    """Run one consolidation step in a fresh interpreter; its seconds, peak RSS and result digest."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.consolidation_probe", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run() -> Table:
    table = Table(
        "consolidation",
        "7. Consolidation: time and peak memory (RSS of the process) by job size",
        [
            "subtasks",
            "shards",
            "one shard reduced: s / MiB",
            "final merge: s / MiB",
            "all shards + final, one after another: s",
            "baseline, everything in memory: s / MiB",
            "memory vs baseline",
            "results equal",
        ],
    )
    with emulator():
        bucket = f"bench-consolidation-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        table_of_jobs = tracker_table("consolidation")
        idle = _probe("idle", table_of_jobs.name, bucket, "-", "0")
        for total in SIZES:
            job = seed(table_of_jobs, bucket, total)
            common = (table_of_jobs.name, bucket, job["job_id"])
            reductions = [_probe("reduce", *common, str(shard)) for shard in range(job["shards"])]
            final = _probe("final", *common, "0")
            baseline = _probe("baseline", *common, "0")
            biggest_reduction = max(reduction["peak_mib"] for reduction in reductions)
            table.rows.append(
                [
                    total,
                    job["shards"],
                    f"{reductions[0]['seconds']:.2f} / {biggest_reduction:.0f}",
                    f"{final['seconds']:.2f} / {final['peak_mib']:.0f}",
                    sum(reduction["seconds"] for reduction in reductions) + final["seconds"],
                    f"{baseline['seconds']:.2f} / {baseline['peak_mib']:.0f}",
                    f"{max(biggest_reduction, final['peak_mib']) / baseline['peak_mib']:.2f}x",
                    "yes" if final["digest"] == baseline["digest"] else "NO",
                ]
            )
    table.notes += [
        f"On the emulator, in fresh processes; an idle process with the same imports peaks at "
        f"{idle['peak_mib']:.0f} MiB. At most {SUBTASKS_PER_SHARD:,} subtasks per shard, {PARALLEL_SHARDS} shards "
        f"written at once (the fan_out defaults for 50 workers); partials of {WORDS_PER_PARTIAL} words from a "
        f"vocabulary of {len(VOCABULARY):,}.",
        "One shard reduced: the largest peak over all shards of the job; on AWS every shard is its own "
        "consolidator invocation, and the shards of a job are reduced in parallel as they fill.",
        "Final merge: reads one object per shard (at most 1,000), streamed through the merge.",
        "Baseline: the consolidator before shards, which read every partial result into a list and merged once: "
        "its memory grows with the job until the function runs out.",
        "Results equal: the final merge's result and the baseline's are the same JSON (the same digest).",
    ]
    return table
