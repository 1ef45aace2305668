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

from serverless_patterns.chunks import plan_chunks
from serverless_patterns.errors import FieldError

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CORRELATION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:/@+=-]{1,128}$")
# S3's bucket naming rules (general purpose buckets).
BUCKET_PATTERN = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024
SPEC_FIELDS = ("input", "chunk_size_bytes", "job_id", "correlation_id")
INPUT_FIELDS = ("bucket", "key")
PARTIALS_PREFIX = "partials"  # written by the workers
REDUCTIONS_PREFIX = "reductions"  # written by the consolidator: shard results and staged job results
RESULTS_PREFIX = "results"
QUARANTINE_PREFIX = "quarantine"  # DLQ messages that could not be recorded, with the reason


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


def _unknown_field(document: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for name in document:
        if name not in known:
            shown = '""' if name == "" else name if isinstance(name, str) and len(name) <= 64 else "(a long name)"
            raise InvalidJobSpec(
                f"{prefix}{shown}", "is not a field of a job spec", f"use only {', '.join(prefix + k for k in known)}"
            )


def _input_key(source: dict[str, Any]) -> str:
    key = source.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidJobSpec("input.key", "must be the input object's key, a non-empty string", 'send "key": "..."')
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidJobSpec("input.key", "is not valid Unicode", "send the key as S3 shows it") from None
    if size > MAX_KEY_BYTES:
        raise InvalidJobSpec("input.key", f"is {size} bytes; S3 keys have at most {MAX_KEY_BYTES}", "fix the key")
    return key


def _input_bucket(source: dict[str, Any]) -> str:
    bucket = source.get("bucket")
    if not isinstance(bucket, str) or not BUCKET_PATTERN.match(bucket):
        raise InvalidJobSpec(
            "input.bucket", "is not an S3 bucket name", "send the bucket's name (3-63 characters: a-z 0-9 . -)"
        )
    return bucket


def parse_spec(document: Any, default_chunk_size: int, limits: Limits) -> JobSpec:
    """A submitted job spec: {"input": {"bucket", "key"}, "chunk_size_bytes"?, "job_id"?, "correlation_id"?}.

    Any other document, whatever its types or size, is refused naming the field and the fix.
    """
    if not isinstance(document, dict):
        raise InvalidJobSpec("spec", "must be a JSON object", 'send {"input": {"bucket": ..., "key": ...}}')
    _unknown_field(document, SPEC_FIELDS, "")
    source = document.get("input")
    if not isinstance(source, dict):
        raise InvalidJobSpec("input", "must name the input object", 'send "input": {"bucket": "...", "key": "..."}')
    _unknown_field(source, INPUT_FIELDS, "input.")
    bucket, key = _input_bucket(source), _input_key(source)
    job_id = document.get("job_id", uuid.uuid4().hex)
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
    correlation_id = document.get("correlation_id", job_id)
    if not isinstance(correlation_id, str) or not CORRELATION_ID_PATTERN.match(correlation_id):
        raise InvalidJobSpec(
            "correlation_id", "is not a valid correlation id", "use 1-128 characters from A-Z a-z 0-9 _ . : / @ + = -"
        )
    return JobSpec(job_id=job_id, bucket=bucket, key=key, chunk_size_bytes=chunk_size, correlation_id=correlation_id)


def submitted_text(document: Any, limit: int = 2000) -> str:
    """Whatever was submitted, as bounded JSON text: safe to store next to a refusal, whatever it held."""
    try:
        text = json.dumps(document, default=repr)
    except (ValueError, RecursionError):
        text = repr(document)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class InvalidSubtaskMessage(ValueError):
    """A message on the subtask queue that no ventilator sent: it is never counted."""


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
    etag: str = ""  # the input's ETag at dispatch: every range read is pinned to it

    def to_message(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_message(cls, body: str) -> Subtask:
        try:
            document = json.loads(body)
            subtask = cls(**{name: document[name] for name in cls.__dataclass_fields__ if name in document})
        except (ValueError, TypeError, KeyError, RecursionError) as error:
            raise InvalidSubtaskMessage(f"not a subtask message: {error}") from None
        subtask._check()
        return subtask

    def _check(self) -> None:
        whole = {"subtask_id": 0, "shard": 0, "chunk_size_bytes": 1, "object_size": 1, "expires_at": 0}
        for name, minimum in whole.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise InvalidSubtaskMessage(f"not a subtask message: {name} must be a whole number >= {minimum}")
        for name in ("job_id", "correlation_id", "bucket", "key", "etag"):
            if not isinstance(getattr(self, name), str):
                raise InvalidSubtaskMessage(f"not a subtask message: {name} must be a string")
        if not JOB_ID_PATTERN.match(self.job_id):
            raise InvalidSubtaskMessage("not a subtask message: job_id is not a job id")
        total = plan_chunks(self.object_size, self.chunk_size_bytes)
        if self.subtask_id >= total:
            raise InvalidSubtaskMessage(
                f"subtask {self.subtask_id} is outside its job: {self.object_size} bytes in chunks of "
                f"{self.chunk_size_bytes} make subtasks 0..{total - 1}"
            )

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
