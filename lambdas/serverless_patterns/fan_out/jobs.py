"""Contracts shared by the fan-out/fan-in functions: job specs and subtask messages (keys: fan_in.bucket_layout).

Messages carry references rather than data (claim check): a subtask's work
document names a byte range of an object, a few object keys, or (for an
inline `items` source) the few items themselves; workers store partial results
in S3 and the tracker records only their keys.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from serverless_patterns.fan_in.bucket_layout import CHECKPOINTS_PREFIX, PARTIALS_PREFIX, work_key
from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.fan_out.sources import (
    SOURCE_FIELDS,
    FieldDoc,
    InvalidJobSpec,
    Limits,
    Source,
    check_bucket,
    check_key,
    check_reads,
    parse_source,
    submitted,
    unknown_field,
)
from serverless_patterns.shared import settings

# Dots alone are no id: "." and ".." would name other folders wherever a job id becomes a path.
JOB_ID_PATTERN = re.compile(r"^(?!\.+$)[A-Za-z0-9_.-]{1,64}$")
CORRELATION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:/@+=-]{1,128}$")
WORKLOAD_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Every field of a job spec, documented once (`make docs` renders them, `make lint-docs` checks the README).
SPEC_FIELD_DOCS: dict[str, FieldDoc] = {
    "source": FieldDoc("object", "required (or `input`)", "what to fan out over: the source fields below"),
    "input": FieldDoc(
        '`{"bucket", "key"}`', "none", "the first spec format, instead of `source`: a `lines` source over this object"
    ),
    "chunk_size_bytes": FieldDoc(
        "integer", "`default_chunk_size_bytes`", "with `input` only (a `source` holds its own): bytes per subtask"
    ),
    "workload": FieldDoc(
        "string",
        "`default_workload` (`word_count` unless set)",
        "the deployed workload that processes each subtask; it must read the source's kind (its `reads`)",
    ),
    "tolerated_failure_count": FieldDoc(
        "integer >= 0",
        "none: failures end the job `PARTIAL`",
        "once more subtasks than this have failed, the job stops and ends `FAILED`",
    ),
    "tolerated_failure_percentage": FieldDoc(
        "number 0 to 100", "none", "the same, as a percentage of the job's subtasks; with both, the lower limit applies"
    ),
    "max_concurrency": FieldDoc(
        "integer >= 1, at most `job_max_concurrency_limit`",
        "`default_job_max_concurrency`",
        "the most of the job's subtasks in flight at once; change it on a running job with `set-concurrency`",
    ),
    "job_id": FieldDoc(
        "string: 1-64 of `A-Z a-z 0-9 _ . -`, not dots alone",
        "a new random id",
        "names the job: the same spec again is the same job, another spec under its id is refused",
    ),
    "correlation_id": FieldDoc(
        "string: 1-128 of `A-Z a-z 0-9 _ . : / @ + = -`",
        "the `job_id`",
        "carried by the job's subtasks and log lines, to follow it across functions",
    ),
}
SPEC_FIELDS = tuple(SPEC_FIELD_DOCS)
INPUT_FIELDS = ("bucket", "key")


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    source: Source
    correlation_id: str
    workload: str = ""
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None
    max_concurrency: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "source": self.source.as_dict()}

    def as_record(self) -> dict[str, Any]:
        """The spec as the tracker keeps it (inline items hashed, not copied)."""
        record = {name: value for name, value in asdict(self).items() if value is not None}
        return {**record, "source": self.source.as_record()}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> JobSpec:
        return cls(**{**document, "source": Source(**document["source"])})

    def failure_limit(self, total: int) -> int | None:
        """The most failed subtasks the job tolerates, or None when it sets no tolerance."""
        limits = []
        if self.tolerated_failure_count is not None:
            limits.append(self.tolerated_failure_count)
        if self.tolerated_failure_percentage is not None:
            limits.append(int(total * self.tolerated_failure_percentage / 100))
        return min(limits) if limits else None


def job_id_for_object(bucket: str, key: str, etag: str, sequencer: str) -> str:
    """One job per upload: a repeated notification of it starts nothing new, a new upload a new job.

    S3 gives every write of a key its own sequencer, and repeats it in every
    notification of that write.
    """
    return hashlib.sha256(f"{bucket}/{key}/{etag}/{sequencer}".encode()).hexdigest()[:32]


# The fields of a spec (as the tracker records it) that make two submissions the same job.
IDENTITY_FIELDS = ("source", "workload", "tolerated_failure_count", "tolerated_failure_percentage")


def spec_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The identity of a spec record (JobSpec.as_record(), or a registered job's "spec"): source, cut, workload."""
    return {name: record.get(name) for name in IDENTITY_FIELDS}


def spec_fingerprint(spec: JobSpec, content_identity: str) -> str:
    """What makes two submissions the same job: the same source, at the same content, cut and processed alike."""
    identity = {**spec_identity(spec.as_record()), "content": content_identity}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def identity_refusal(job: dict[str, Any], same_spec: bool) -> dict[str, str] | None:
    """Why a submission under an existing job's id is not that job, or None: a rejected spec's id, or another spec."""
    job_id = job["job_id"]
    if job["status"] == JobStatus.FAILED and "fingerprint" not in job:
        return {
            "field": "job_id",
            "message": f"job {job_id} was rejected: {job.get('error', {}).get('message', 'bad spec')}",
            "fix": "submit the corrected spec under a new job_id",
        }
    if not same_spec:
        return {
            "field": "job_id",
            "message": f"job {job_id} exists with another spec "
            "(another source, source content, cut, workload or failure tolerance)",
            "fix": "submit under a new job_id, or resubmit exactly the spec and input of that job",
        }
    return None


def _legacy_source(document: dict[str, Any]) -> dict[str, Any]:
    """The first spec format, {"input": {"bucket", "key"}, "chunk_size_bytes"}: a `lines` source."""
    source = document["input"]
    if not isinstance(source, dict):
        raise InvalidJobSpec("input", "must name the input object", 'send "input": {"bucket": "...", "key": "..."}')
    unknown_field(source, INPUT_FIELDS, "input.")
    check_bucket(source.get("bucket"), "input.bucket")
    check_key(source.get("key"), "input.key")
    cut = {"chunk_size_bytes": document["chunk_size_bytes"]} if "chunk_size_bytes" in document else {}
    return {"type": "lines", **source, **cut}


def configured_limits() -> Limits:
    """This deployment's limits on chunks and subtasks (the fan_out module sets them)."""
    return Limits(
        min_chunk_size_bytes=int(settings.positive_number("MIN_CHUNK_SIZE_BYTES", 1024)),
        max_chunk_size_bytes=int(settings.positive_number("MAX_CHUNK_SIZE_BYTES", 512 * 1024 * 1024)),
        max_subtasks=int(settings.positive_number("MAX_SUBTASKS", 100_000)),
        max_job_concurrency=int(settings.positive_number("JOB_MAX_CONCURRENCY_LIMIT", 1000)),
    )


def default_max_concurrency() -> int | None:
    """A job's max_concurrency when its spec sets none (default_job_max_concurrency); None: dispatched whole."""
    configured = settings.non_negative_int("DEFAULT_JOB_MAX_CONCURRENCY", 0)
    return configured or None


def check_max_concurrency(value: Any, limit: int, field: str = "max_concurrency") -> int:
    """A max_concurrency as sent: a whole number from 1 to the deployment's limit, else refused naming the fix."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise InvalidJobSpec(
            field,
            f"is {submitted(value)}: it must be a whole number from 1 to {limit}",
            f"send e.g. {min(10, limit)}, or raise the module's job_max_concurrency_limit",
        )
    return value


def configured_chunk_size() -> int:
    return int(settings.positive_number("DEFAULT_CHUNK_SIZE_BYTES", 1024 * 1024))


def is_first_format(document: Any) -> bool:
    return isinstance(document, dict) and "input" in document and "source" not in document


def in_first_format(error: InvalidJobSpec) -> InvalidJobSpec:
    """An error about a `source`, named as the first spec format ("input", "chunk_size_bytes") names its fields."""
    if not error.field.startswith("source."):
        return error
    if error.field == "source.chunk_size_bytes":
        return InvalidJobSpec("chunk_size_bytes", error.message, error.fix)
    if error.field in ("source.key", "source.bucket"):
        return InvalidJobSpec("input", error.message, error.fix)
    return InvalidJobSpec("input." + error.field.removeprefix("source."), error.message, error.fix)


def _tolerance(document: dict[str, Any]) -> tuple[int | None, float | None]:
    count = document.get("tolerated_failure_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        raise InvalidJobSpec("tolerated_failure_count", "must be a whole number >= 0", "send e.g. 10")
    percentage = document.get("tolerated_failure_percentage")
    if percentage is not None and (
        not isinstance(percentage, int | float) or isinstance(percentage, bool) or not 0 <= percentage <= 100
    ):
        raise InvalidJobSpec("tolerated_failure_percentage", "must be a number from 0 to 100", "send e.g. 5")
    return count, None if percentage is None else float(percentage)


def parse_spec(
    document: Any,
    default_chunk_size: int,
    limits: Limits,
    workloads: tuple[str, ...] = (),
    readers: Mapping[str, Sequence[str] | None] | None = None,
) -> JobSpec:
    """A submitted job spec: {"source": {...}} (or the first format, {"input": {"bucket", "key"}}), with
    "workload"?, "tolerated_failure_count"?, "tolerated_failure_percentage"?, "max_concurrency"?, "job_id"?,
    "correlation_id"?.

    `workloads` are the deployed names, the default first; `readers` what each
    reads (workload_registry.reads_by_name()), to refuse a source the chosen
    workload does not read. Any other document, whatever its types or size,
    is refused naming the field and the fix.
    """
    if not isinstance(document, dict):
        raise InvalidJobSpec("spec", "must be a JSON object", 'send {"source": {"type": ..., ...}}')
    unknown_field(document, SPEC_FIELDS, "")
    if ("source" in document) == ("input" in document):
        raise InvalidJobSpec(
            "source",
            "is missing" if "source" not in document else "cannot be combined with input",
            'send "source": {"type": "lines", "bucket": "...", "key": "..."} (or the older "input")',
        )
    if "source" in document and "chunk_size_bytes" in document:
        raise InvalidJobSpec("chunk_size_bytes", "belongs inside source", 'send "source": {..., "chunk_size_bytes": n}')
    if "source" in document:
        source = parse_source(document["source"], default_chunk_size, limits)
    else:
        try:
            source = parse_source(_legacy_source(document), default_chunk_size, limits)
        except InvalidJobSpec as error:
            raise in_first_format(error) from None
    job_id = document.get("job_id", uuid.uuid4().hex)
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise InvalidJobSpec("job_id", "is not a valid job id", "use 1-64 characters from A-Z a-z 0-9 _ . -")
    correlation_id = document.get("correlation_id", job_id)
    if not isinstance(correlation_id, str) or not CORRELATION_ID_PATTERN.match(correlation_id):
        raise InvalidJobSpec(
            "correlation_id", "is not a valid correlation id", "use 1-128 characters from A-Z a-z 0-9 _ . : / @ + = -"
        )
    workload = document.get("workload", workloads[0] if workloads else "")
    if workloads and workload not in workloads:
        raise InvalidJobSpec("workload", f"is {submitted(workload)}", f"use one of {', '.join(workloads)}")
    count, percentage = _tolerance(document)
    if readers is not None:
        _check_source_fits(document, source, workload, readers)
    concurrency = document.get("max_concurrency")
    if concurrency is not None:
        concurrency = check_max_concurrency(concurrency, limits.max_job_concurrency)
    return JobSpec(job_id, source, correlation_id, workload, count, percentage, concurrency)


def _check_source_fits(
    document: dict[str, Any], source: Source, workload: str, readers: Mapping[str, Sequence[str] | None]
) -> None:
    """The chosen workload (named, or the default) must read the source's kind; the field to fix is the one sent."""
    if "source" in document:
        check_reads(source.type, workload, readers, "workload" if "workload" in document else "source.type")
        return
    try:
        check_reads(source.type, workload, readers, "workload")
    except InvalidJobSpec as error:
        # The first format, and every upload to incoming/: a lines source, run by the default workload.
        raise InvalidJobSpec(
            "workload",
            error.message + ' (an upload to incoming/, or an "input" spec, is a lines source)',
            error.fix,
        ) from None


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
    expires_at: int  # when the tracker's TTL may delete what this subtask records
    work: dict[str, Any]  # what to read: see serverless_patterns.fan_out.sources
    workload: str = ""
    run: int = 0  # 0, then 1, 2... for each redrive of the job's failed subtasks
    tolerance: bool = False  # the job has a failure tolerance: failures are also counted on the job
    block_end: int = 0  # a windowed job's: the end of the subtask's block, sent one subtask after another (lanes)

    def to_message(self) -> str:
        # Not asdict(): its deep copy of `work` was most of the ventilator's CPU per subtask.
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(fields, separators=(",", ":"))

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
        for name, minimum in {"subtask_id": 0, "shard": 0, "expires_at": 0, "run": 0, "block_end": 0}.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise InvalidSubtaskMessage(f"not a subtask message: {name} must be a whole number >= {minimum}")
        for name in ("job_id", "correlation_id", "workload"):
            if not isinstance(getattr(self, name), str):
                raise InvalidSubtaskMessage(f"not a subtask message: {name} must be a string")
        if not isinstance(self.tolerance, bool):
            raise InvalidSubtaskMessage("not a subtask message: tolerance must be true or false")
        if not JOB_ID_PATTERN.match(self.job_id):
            raise InvalidSubtaskMessage("not a subtask message: job_id is not a job id")
        if problem := work_problem(self.work):
            raise InvalidSubtaskMessage(f"not a subtask message: work {problem}")

    @property
    def log_keys(self) -> dict[str, Any]:
        """What every log line about this subtask carries."""
        return {"job_id": self.job_id, "subtask_id": self.subtask_id, "correlation_id": self.correlation_id}

    @property
    def partial_key(self) -> str:
        return work_key(PARTIALS_PREFIX, self.job_id, f"{self.subtask_id:08d}.json")

    def checkpoint_key(self, invocation: int) -> str:
        """Per invocation, so no invocation overwrites another's; per run, so a redriven subtask starts again."""
        return work_key(CHECKPOINTS_PREFIX, self.job_id, f"{self.subtask_id:08d}.run{self.run}.{invocation}.json")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def work_problem(work: Any) -> str | None:
    """What is wrong with a work document, or None: a worker reads nothing a ventilator did not plan."""
    if not isinstance(work, dict) or work.get("type") not in SOURCE_FIELDS:
        return "has no known type"
    kind = work["type"]
    if kind == "items":
        ok = isinstance(work.get("items"), list) and _is_count(work.get("first_item"))
        return None if ok else "must hold items and first_item"
    if not isinstance(work.get("bucket"), str):
        return "has no bucket"
    if kind == "objects":
        objects = work.get("objects")
        ok = isinstance(objects, list) and all(
            isinstance(entry, dict) and isinstance(entry.get("key"), str) and _is_count(entry.get("size"))
            for entry in objects
        )
        return None if ok else "must list objects with key and size"
    if not isinstance(work.get("key"), str) or not isinstance(work.get("etag", ""), str):
        return "has no key"
    if not (_is_count(work.get("start")) and _is_count(work.get("end")) and work["start"] <= work["end"]):
        return "must hold a byte range start <= end"
    if work.get("line_aligned") and not _is_count(work.get("object_size")):
        return "must hold object_size"
    if kind == "csv" and not (isinstance(work.get("header"), list) and work["header"]):
        return "must hold the CSV header"
    return None
