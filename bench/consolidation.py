"""7. Consolidation: time and peak memory of the hierarchical, streaming merge at 1,000 to 100,000 subtasks.

Jobs of finished subtasks are seeded straight into a tracker-shaped table and
a bucket on the emulator (TASK items, sealed shards, one partial result per
subtask), then consolidated in fresh processes, each measured alone:

- one shard's reduction (what one consolidator invocation does per shard);
- the final merge of the shard results (one object per shard);
- the baseline: every partial result loaded into memory and merged once, as
  the consolidator did before shards were reduced.

Each partial is a word count of 60 words drawn from a vocabulary of 10,000,
with the byte range it counted (about 0.8 KB of JSON), so the merged result
stays the same size whatever the number of subtasks, as it does for most real
merges: flat memory is then possible, and what each approach needs shows.

7b measures one shard's reduction alone by the number of partials in the shard
(100 to 100,000, the range of subtasks_per_shard), the partials held inline in
their TASK items (as a worker keeps results up to inline_result_max_bytes,
4 KiB by default) and in S3: the memory the reduction adds to its process,
before issue 27 (every status line held until the end) and after (the status
files streamed to S3 in parts). Its TASK items are served by a stub of
DynamoDB's Query (bench/dynamodb_stub.py: MiniStack reads a whole partition
for every page), its objects by the emulator's S3.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3

from bench.common import REPO_ROOT, Table, emulator, tracker_table
from bench.dynamodb_stub import QueryStub

SIZES = (1_000, 10_000, 100_000)
SUBTASKS_PER_SHARD = 1_000  # the fan_out module's default
PARALLEL_SHARDS = 10  # its default for 50 workers
VOCABULARY = [f"w{i:05d}" for i in range(10_000)]
WORDS_PER_PARTIAL = 60
CHUNK_BYTES = 1024 * 1024  # the byte range a partial names: a lines job cut in chunks of 1 MiB
# 7b: partials of about 1 KB, from a vocabulary 100 of them already cover, so the merged count is the same size
# in every row and the rows show what the reduction holds; drawn from VOCABULARY, the merged count itself grows
# 2.2x from 100 to 1,000 partials.
SHARD_VOCABULARY = VOCABULARY[:1_000]
SHARD_WORDS_PER_PARTIAL = 80
# 7b's rows: (where the partials are held, their vocabulary, partials in the shard). 100,000 reads of the
# emulator's S3 take about five minutes a run, and a row is reduced four times: S3 stops at 10,000.
SHARD_ROWS = (
    *(("inline", SHARD_VOCABULARY, count) for count in (100, 1_000, 10_000, 100_000)),
    *(("S3", SHARD_VOCABULARY, count) for count in (100, 1_000, 10_000)),
    *(("inline", VOCABULARY, count) for count in (100, 1_000)),
)


def partial(subtask_id: int, vocabulary: list[str] = VOCABULARY, words: int = WORDS_PER_PARTIAL) -> dict[str, Any]:
    rng = random.Random(subtask_id)
    counts: dict[str, int] = {}
    for word in rng.sample(vocabulary, words):
        counts[word] = rng.randint(1, 9)
    return {"lines": rng.randint(1, 20), "words": counts}


@dataclass(frozen=True)
class Partials:
    """What each subtask's result is: a count of `words` words drawn from `vocabulary`."""

    vocabulary: list[str] = field(default_factory=lambda: VOCABULARY)
    words: int = WORDS_PER_PARTIAL

    def body(self, subtask_id: int) -> str:
        """A subtask's result as a worker writes it: what it worked on (a word-count chunk), and its result."""
        start = subtask_id * CHUNK_BYTES
        item = {"bucket": "bench-input", "key": "inputs/bench/corpus.txt", "range": [start, start + CHUNK_BYTES]}
        result = partial(subtask_id, self.vocabulary, self.words)
        return json.dumps({"item": item, "result": result}, separators=(",", ":"))


@dataclass
class PartialPool:
    """The partial results of subtasks 0..n-1 in S3, written once and named by every job seeded from it."""

    bucket: str
    partials: Partials = field(default_factory=Partials)
    prefix: str = field(default_factory=lambda: f"partials/bench-pool-{uuid.uuid4().hex[:8]}")
    written: int = 0

    def key(self, subtask_id: int) -> str:
        return f"{self.prefix}/{subtask_id:09d}.json"

    def fill(self, count: int) -> None:
        from serverless_patterns.shared.streaming import bounded_map

        s3 = boto3.client("s3")

        def put(subtask_id: int) -> None:
            body = self.partials.body(subtask_id).encode()
            s3.put_object(Bucket=self.bucket, Key=self.key(subtask_id), Body=body)

        for _ in bounded_map(put, range(self.written, count), workers=16, window=64):
            pass
        self.written = max(self.written, count)


def task_items(job_id: str, layout: Any, pool: PartialPool, inline: bool) -> Iterator[dict[str, Any]]:
    """The TASK items of a finished job, in subtask order, as the workers leave them: each holds its partial
    (inline) or names its object in the pool."""
    from serverless_patterns.fan_in.tracker.keys import task_key

    if not inline:
        pool.fill(layout.total)
    for subtask_id in range(layout.total):
        held = {"partial": pool.partials.body(subtask_id)} if inline else {"result_key": pool.key(subtask_id)}
        yield {
            **task_key(job_id, layout.shard_of(subtask_id), subtask_id),
            "subtask_id": subtask_id,
            "outcome": "SUCCEEDED",
            **held,
        }


def seed(table: Any, pool: PartialPool, layout: Any, inline: bool = False) -> str:
    """A finished job in the tracker table, every shard sealed: what the workers leave for the consolidator."""
    from serverless_patterns.fan_in.tracker import JobTracker
    from serverless_patterns.fan_in.tracker.keys import shard_key

    job_id = f"bench-{uuid.uuid4().hex[:8]}"
    JobTracker(table).register_job(job_id, layout, job_id, 3600, {}, "bench", 86400)
    with table.batch_writer() as batch:
        for task in task_items(job_id, layout, pool, inline):
            batch.put_item(Item=task)
    for shard in range(layout.shard_count):
        table.update_item(
            Key=shard_key(job_id, shard),
            UpdateExpression="SET completed = expected, succeeded = expected, sealed = :true",
            ExpressionAttributeValues={":true": True},
        )
    return job_id


def _probe(*args: str, dynamodb: str | None = None) -> dict[str, Any]:
    """Run one consolidation step in a fresh interpreter (against `dynamodb`, if named); its seconds, memory and
    digests."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.consolidation_probe", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **({"AWS_ENDPOINT_URL_DYNAMODB": dynamodb} if dynamodb else {})},
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def job_sizes(table_of_jobs: Any, bucket: str, pool: PartialPool) -> Table:
    from serverless_patterns.fan_in.tracker import ShardLayout

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
    idle = _probe("idle", table_of_jobs.name, bucket, "-", "0")
    for total in SIZES:
        layout = ShardLayout.plan(total, SUBTASKS_PER_SHARD, PARALLEL_SHARDS)
        common = (table_of_jobs.name, bucket, seed(table_of_jobs, pool, layout))
        reductions = [_probe("reduce", *common, str(shard)) for shard in range(layout.shard_count)]
        final = _probe("final", *common, "0")
        baseline = _probe("baseline", *common, "0")
        biggest_reduction = max(reduction["peak_mib"] for reduction in reductions)
        table.rows.append(
            [
                total,
                layout.shard_count,
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
        f"{idle['peak_mib']:.0f} MiB. At most {SUBTASKS_PER_SHARD:,} subtasks per shard, {PARALLEL_SHARDS} parallel "
        f"shards (the fan_out defaults for 50 workers; ShardLayout.plan gives a smaller job fewer); partials of "
        f"{WORDS_PER_PARTIAL} words from a vocabulary of {len(VOCABULARY):,}, in S3.",
        "One shard reduced: the largest peak over all shards of the job; on AWS every shard is its own "
        "consolidator invocation, and the shards of a job are reduced in parallel as they fill.",
        "Final merge: reads one object per shard (at most 1,000), streamed through the merge.",
        "Baseline: the consolidator before shards, which read every partial result into a list and merged once: "
        "its memory grows with the job until the function runs out.",
        "Results equal: the final merge's result and the baseline's are the same JSON (the same digest).",
    ]
    return table


def _memory(run: dict[str, Any], traced: dict[str, Any]) -> str:
    return f"{run['added_mib']:.1f} / {traced['traced_mib']:.2f}"


def shard_memory(bucket: str) -> Table:
    """7b: what one shard's reduction adds to its process, by its number of partials, before and after issue 27."""
    from serverless_patterns.fan_in.tracker import ShardLayout

    table = Table(
        "consolidation-shard",
        "7b. One shard's reduction: the memory it adds, by partials in the shard, before and after streaming "
        "its status files",
        [
            "partials",
            "held",
            "vocabulary (merged words)",
            "status file MiB",
            "before: s",
            "before: RSS added / traced MiB",
            "after: s",
            "after: RSS added / traced MiB",
            "traced vs 100 partials: before / after",
            "same bytes",
        ],
    )
    stub = QueryStub()
    pools = {
        len(vocabulary): PartialPool(bucket, Partials(vocabulary, SHARD_WORDS_PER_PARTIAL))
        for vocabulary in (SHARD_VOCABULARY, VOCABULARY)
    }
    first: dict[tuple[str, int], tuple[float, float]] = {}
    try:
        for held, vocabulary, count in SHARD_ROWS:
            job_id = f"bench-{uuid.uuid4().hex[:8]}"
            stub.put(task_items(job_id, ShardLayout(count, 1, 1), pools[len(vocabulary)], inline=held == "inline"))
            common = ("bench-stub", bucket, job_id, "0")
            runs = {
                mode: (_probe(mode, *common, dynamodb=stub.url), _probe(mode, *common, "--trace", dynamodb=stub.url))
                for mode in ("reduce-before", "reduce")
            }
            (before, before_traced), (after, after_traced) = runs["reduce-before"], runs["reduce"]
            base = first.setdefault((held, len(vocabulary)), (before_traced["traced_mib"], after_traced["traced_mib"]))
            digests = {run["files_digest"] for pair in runs.values() for run in pair}
            table.rows.append(
                [
                    count,
                    held,
                    f"{len(vocabulary):,} ({after['merged_words']:,})",
                    f"{after['succeeded_bytes'] / 2**20:.1f}",
                    before["seconds"],
                    _memory(before, before_traced),
                    after["seconds"],
                    _memory(after, after_traced),
                    f"{before_traced['traced_mib'] / base[0]:.2f}x / {after_traced['traced_mib'] / base[1]:.2f}x",
                    "yes" if len(digests) == 1 else "NO",
                ]
            )
    finally:
        stub.close()
    table.notes += [
        "One shard of N succeeded subtasks reduced by reduce_shard with word_count's merge, in a fresh process: it "
        "writes results/<job>/succeeded/shard-0000.jsonl (a line per subtask: the byte range it counted and its "
        f"count of {SHARD_WORDS_PER_PARTIAL} words, about 1 KB), the shard result and the merged count.",
        "Held: inline, each partial in its TASK item (a worker keeps a result of up to inline_result_max_bytes, "
        "4 KiB by default, there), read with the shard's Query; S3, one object per partial under partials/, read "
        "32 ahead by 16 threads (READER_THREADS).",
        "The TASK items come from a stub of DynamoDB's Query in the bench process (bench/dynamodb_stub.py: pages "
        "of Limit items or 1 MB, as DynamoDB cuts them), since MiniStack reads a whole partition for every page "
        "(2.5 s a page at 100,000 items); S3 is the emulator's. Seconds are the reduction's, on this machine.",
        "RSS added: the resident peak during the reduction (VmHWM, reset just before it) minus the resident size "
        "just before it: the process's imports and warmed clients (table 7's idle process) left out. Traced: "
        "tracemalloc's "
        "peak during the reduction, every thread, in a run of its own (tracing slows it down, so its seconds are "
        "not shown): what Python allocated for it, the merge's state included.",
        f"Vocabulary: {len(SHARD_VOCABULARY):,} words, which 100 partials already cover, so the merged count (the "
        "merge's own state) is the same size in every row and the rows compare what the reduction holds; the last "
        f"two rows draw from {len(VOCABULARY):,} words, as table 7 does, and there the merged count itself grows "
        "from 100 to 1,000 partials.",
        "Before: the reduction before issue 27 (kept in bench/consolidation_probe.py): every status line held in a "
        "list, each status file put in one body, whole TASK items read in DynamoDB's 1 MB pages. After: the status "
        "lines streamed to S3 as they are read (shared.s3_lines: spooled through /tmp one part at most, in parts of "
        "8 MiB once a file passes one, sent 64 KiB at a time), whole TASK items read 50 a page.",
        "Same bytes: the status files and the shard result of the four runs are byte for byte the same (one digest).",
    ]
    return table


def run() -> Table:
    with emulator():
        bucket = f"bench-consolidation-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        table_of_jobs = tracker_table("consolidation")
        table = job_sizes(table_of_jobs, bucket, PartialPool(bucket))
        table.extra.append(shard_memory(bucket))
    return table
