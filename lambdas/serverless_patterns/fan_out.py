"""Contracts shared by the fan-out/fan-in functions: job specs, subtask messages, S3 keys.

Messages carry references, never payloads (claim check): a subtask names the
input object and its chunk; workers store partial results in S3 and the
tracker records only their keys.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from serverless_patterns.errors import FieldError

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PARTIALS_PREFIX = "partials"  # written by the workers
REDUCTIONS_PREFIX = "reductions"  # written by the consolidator: shard results and staged job results
RESULTS_PREFIX = "results"


class InvalidJobSpec(FieldError):
    """A job spec that is rejected before any subtask exists."""


@dataclass(frozen=True)
class Limits:
    min_chunk_size_bytes: int
    max_chunk_size_bytes: int
    max_subtasks: int


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    bucket: str
    key: str
    chunk_size_bytes: int
    correlation_id: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_id_for_object(bucket: str, key: str, etag: str, sequencer: str) -> str:
    """One job per upload: a repeated notification of it starts nothing new, a new upload a new job.

    S3 gives every write of a key its own sequencer, and repeats it in every
    notification of that write.
    """
    return hashlib.sha256(f"{bucket}/{key}/{etag}/{sequencer}".encode()).hexdigest()[:32]


def spec_fingerprint(spec: JobSpec, input_etag: str) -> str:
    """What makes two submissions the same job: the same input, at the same content, cut the same way."""
    identity = {"bucket": spec.bucket, "key": spec.key, "etag": input_etag, "chunk_size_bytes": spec.chunk_size_bytes}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def parse_spec(document: Any, default_chunk_size: int, limits: Limits) -> JobSpec:
    """A submitted job spec: {"input": {"bucket", "key"}, "chunk_size_bytes"?, "job_id"?, "correlation_id"?}."""
    if not isinstance(document, dict):
        raise InvalidJobSpec("spec", "must be a JSON object", 'send {"input": {"bucket": ..., "key": ...}}')
    source = document.get("input")
    if not isinstance(source, dict) or not source.get("bucket") or not source.get("key"):
        raise InvalidJobSpec("input", "must name the input object", 'send "input": {"bucket": "...", "key": "..."}')
    job_id = document.get("job_id") or uuid.uuid4().hex
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise InvalidJobSpec("job_id", "is not a valid job id", "use 1-64 characters from A-Z a-z 0-9 _ . -")
    chunk_size = document.get("chunk_size_bytes", default_chunk_size)
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise InvalidJobSpec("chunk_size_bytes", "must be a whole number of bytes", "send an integer")
    if not limits.min_chunk_size_bytes <= chunk_size <= limits.max_chunk_size_bytes:
        raise InvalidJobSpec(
            "chunk_size_bytes",
            f"{chunk_size} is outside {limits.min_chunk_size_bytes}..{limits.max_chunk_size_bytes}",
            "choose a chunk size within the module's limits",
        )
    return JobSpec(
        job_id=job_id,
        bucket=str(source["bucket"]),
        key=str(source["key"]),
        chunk_size_bytes=chunk_size,
        correlation_id=str(document.get("correlation_id") or job_id),
    )


@dataclass(frozen=True)
class Subtask:
    job_id: str
    subtask_id: int
    shard: int  # the tracker shard that counts it (ShardLayout.shard_of)
    correlation_id: str
    bucket: str
    key: str
    chunk_size_bytes: int
    object_size: int
    expires_at: int  # when the tracker's TTL may delete what this subtask records

    def to_message(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_message(cls, body: str) -> Subtask:
        try:
            document = json.loads(body)
            return cls(**{name: document[name] for name in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"not a subtask message: {error}") from None

    @property
    def log_keys(self) -> dict[str, Any]:
        """What every log line about this subtask carries."""
        return {"job_id": self.job_id, "subtask_id": self.subtask_id, "correlation_id": self.correlation_id}

    @property
    def partial_key(self) -> str:
        return _work_key(PARTIALS_PREFIX, self.job_id, f"{self.subtask_id:08d}.json")


def _work_key(prefix: str, job_id: str, name: str) -> str:
    """A key for a job's intermediate objects (the bucket's lifecycle expires them).

    A hashed first segment spreads the writes of a large job over many S3 prefixes.
    """
    spread = hashlib.sha256(f"{job_id}/{name}".encode()).hexdigest()[:4]
    return f"{prefix}/{spread}/{job_id}/{name}"


def shard_result_key(job_id: str, shard: int) -> str:
    return _work_key(REDUCTIONS_PREFIX, job_id, f"shard-{shard:04d}.json")


def staged_result_key(job_id: str, attempt: str) -> str:
    """Where one consolidation attempt writes the result before the tracker picks one attempt's."""
    return _work_key(REDUCTIONS_PREFIX, job_id, f"result-{attempt}.json")


def result_key(job_id: str) -> str:
    return f"{RESULTS_PREFIX}/{job_id}.json"
