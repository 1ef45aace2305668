"""Where a job's documents live in its bucket: work documents, partials, checkpoints, reductions, results.

The fan-out writes work documents, partials and checkpoints; the fan-in writes
reductions and results. Both halves name the keys here, so one layout is read
and written by every function.
"""

from __future__ import annotations

import hashlib

PARTIALS_PREFIX = "partials"  # written by the workers
REDUCTIONS_PREFIX = "reductions"  # written by the consolidator: shard results and staged job results
RESULTS_PREFIX = "results"
CHECKPOINTS_PREFIX = "checkpoints"  # resumable workloads' last checkpoints, written by the workers
QUARANTINE_PREFIX = "quarantine"  # DLQ messages that could not be recorded, with the reason


def work_key(prefix: str, job_id: str, name: str) -> str:
    """A key for a job's intermediate objects (the bucket's lifecycle expires them).

    A hashed first segment spreads the writes of a large job over many S3 prefixes.
    """
    spread = hashlib.sha256(f"{job_id}/{name}".encode()).hexdigest()[:4]
    return f"{prefix}/{spread}/{job_id}/{name}"


def shard_result_key(job_id: str, shard: int) -> str:
    return work_key(REDUCTIONS_PREFIX, job_id, f"shard-{shard:04d}.json")


def staged_result_key(job_id: str, attempt: str) -> str:
    """Where one consolidation attempt writes the result before the tracker picks one attempt's."""
    return work_key(REDUCTIONS_PREFIX, job_id, f"result-{attempt}.json")


def results_prefix(job_id: str) -> str:
    """Where a job's results are: manifest.json, result.json (merged), succeeded/ and failed/ JSON Lines."""
    return f"{RESULTS_PREFIX}/{job_id}"


def result_key(job_id: str) -> str:
    return f"{results_prefix(job_id)}/result.json"


def manifest_key(job_id: str) -> str:
    return f"{results_prefix(job_id)}/manifest.json"


def status_file_key(job_id: str, outcome: str, shard: int) -> str:
    return f"{results_prefix(job_id)}/{outcome.lower()}/shard-{shard:04d}.jsonl"
