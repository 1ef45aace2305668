"""Item sources: what a job fans out over, and the work document each subtask carries.

A job spec's `source` names one of

    lines    line-aligned byte chunks of one text object       chunk_size_bytes
    bytes    fixed byte ranges of one object, not line-aligned  chunk_size_bytes
    jsonl    JSON Lines                                         chunk_size_bytes or items_per_subtask
    csv      CSV records, the header given to every subtask     chunk_size_bytes or items_per_subtask
    objects  every object under an S3 prefix                    items_per_subtask (objects)
    items    an inline JSON list, for small jobs                items_per_subtask

parse_source checks a submitted source and names the field and the fix for
anything wrong. A workload reads some kinds of input (READ_KINDS): the bytes
of a range (task.data: lines, bytes), records (task.items: jsonl, csv),
objects, or inline items; check_reads refuses a source its workload does not
read. The ventilator plans a parsed source (serverless_patterns.fan_out.planning)
into `total` subtasks; each subtask message carries a small `work` document
(a byte range, a few object keys, a few inline items), never the data itself
beyond what the spec already held.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from serverless_patterns.errors import FieldError

BUCKET_PATTERN = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's general purpose rules
MAX_KEY_BYTES = 1024
MAX_ITEMS_PER_SUBTASK = 100_000  # records are read by byte range; inline items are bounded by the message size
MAX_OBJECTS_PER_SUBTASK = 100  # keys of up to 1 KiB each keep a message far below SQS's limit
OBJECT_SOURCES = ("lines", "bytes", "jsonl", "csv")  # one S3 object, cut into ranges
BY_BYTES_OR_ITEMS = ("jsonl", "csv")
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "lines": ("type", "bucket", "key", "chunk_size_bytes"),
    "bytes": ("type", "bucket", "key", "chunk_size_bytes"),
    "jsonl": ("type", "bucket", "key", "chunk_size_bytes", "items_per_subtask"),
    "csv": ("type", "bucket", "key", "chunk_size_bytes", "items_per_subtask"),
    "objects": ("type", "bucket", "prefix", "items_per_subtask"),
    "items": ("type", "items", "items_per_subtask"),
}


class FieldDoc(NamedTuple):
    """A spec field as the docs show it: scripts/spec_docs.py renders the fan_out README's tables from these."""

    type: str
    default: str
    meaning: str


# Every field of SOURCE_FIELDS, documented once (`make docs` renders them, `make lint-docs` checks the README).
SOURCE_FIELD_DOCS: dict[str, FieldDoc] = {
    "type": FieldDoc("string", "required", "what to fan out over: one of the source types below"),
    "bucket": FieldDoc("string", "required", "the input's S3 bucket (3-63 characters: a-z 0-9 . -)"),
    "key": FieldDoc("string", "required", "the input object's key, at most 1,024 bytes"),
    "prefix": FieldDoc("string", '`""`: the whole bucket', "every object under it is one item"),
    "chunk_size_bytes": FieldDoc(
        "integer",
        "`default_chunk_size_bytes` (1 MiB)",
        "bytes of input per subtask, from `min_chunk_size_bytes` to `max_chunk_size_bytes`; "
        "a chunk owns the lines or records that start in it (`bytes`: exact ranges)",
    ),
    "items_per_subtask": FieldDoc(
        "integer",
        "1 for `objects` and `items`; others are cut by bytes",
        "items per subtask, instead of `chunk_size_bytes`: 1 to 100,000 records or inline items, 1 to 100 objects",
    ),
    "items": FieldDoc("JSON list", "required", "the items themselves, not empty (a job API body is at most 240 KB)"),
}
# What a workload must read to take each source: its declared `reads` (serverless_patterns.fan_out.workload_registry).
SOURCE_READS = {
    "lines": "bytes",
    "bytes": "bytes",
    "jsonl": "records",
    "csv": "records",
    "objects": "objects",
    "items": "items",
}
READ_KINDS = ("bytes", "records", "objects", "items")


def valid_reads(reads: Any) -> bool:
    """Whether a workload's `reads` is a declaration: None (any source), or one or more of READ_KINDS."""
    return reads is None or (
        isinstance(reads, list | tuple) and bool(reads) and all(kind in READ_KINDS for kind in reads)
    )


class InvalidJobSpec(FieldError):
    """A job spec that is rejected before any subtask exists."""


@dataclass(frozen=True)
class Limits:
    min_chunk_size_bytes: int
    max_chunk_size_bytes: int
    max_subtasks: int
    max_job_concurrency: int = 1000  # the most a spec's max_concurrency may ask (job_max_concurrency_limit)


@dataclass(frozen=True)
class Source:
    type: str
    bucket: str = ""
    key: str = ""
    prefix: str = ""
    chunk_size_bytes: int = 0  # 0: cut by items_per_subtask instead
    items_per_subtask: int = 0
    items: list[Any] = field(default_factory=list)  # the inline items of an `items` source

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_record(self) -> dict[str, Any]:
        """The source as the tracker keeps it: inline items are counted and hashed, not copied."""
        record = {name: value for name, value in asdict(self).items() if value not in ("", 0, [])}
        if self.type == "items":
            record.pop("items", None)
            record["item_count"] = len(self.items)
            record["items_sha256"] = items_digest(self.items)
        return record

    @property
    def by_items(self) -> bool:
        return self.chunk_size_bytes == 0


def items_digest(items: list[Any]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def unknown_field(document: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for name in document:
        if name not in known:
            shown = '""' if name == "" else name if isinstance(name, str) and len(name) <= 64 else "(a long name)"
            raise InvalidJobSpec(
                f"{prefix}{shown}", "is not a field here", f"use only {', '.join(prefix + k for k in known)}"
            )


def check_bucket(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not BUCKET_PATTERN.match(value):
        raise InvalidJobSpec(
            field_name, "is not an S3 bucket name", "send the bucket's name (3-63 characters: a-z 0-9 . -)"
        )
    return value


def check_key(value: Any, field_name: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidJobSpec(field_name, "must be a non-empty string", f'send "{field_name.rpartition(".")[2]}": "..."')
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidJobSpec(field_name, "is not valid Unicode", "send the key as S3 shows it") from None
    if size > MAX_KEY_BYTES:
        raise InvalidJobSpec(field_name, f"is {size} bytes; S3 keys have at most {MAX_KEY_BYTES}", "shorten it")
    return value


def _whole_number(document: dict[str, Any], name: str, prefix: str, low: int, high: int) -> int:
    value = document[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJobSpec(f"{prefix}{name}", "must be a whole number", "send an integer")
    if not low <= value <= high:
        raise InvalidJobSpec(f"{prefix}{name}", f"{value} is outside {low}..{high}", f"choose {low}..{high}")
    return value


def _cut(document: dict[str, Any], kind: str, default_chunk_size: int, limits: Limits, prefix: str) -> tuple[int, int]:
    """(chunk_size_bytes, items_per_subtask) of a source: exactly one of them is set."""
    has_bytes, has_items = "chunk_size_bytes" in document, "items_per_subtask" in document
    if has_bytes and has_items:
        raise InvalidJobSpec(
            f"{prefix}items_per_subtask",
            "cannot be combined with chunk_size_bytes",
            "cut the input either by bytes or by items",
        )
    if has_items:
        high = MAX_OBJECTS_PER_SUBTASK if kind == "objects" else MAX_ITEMS_PER_SUBTASK
        return 0, _whole_number(document, "items_per_subtask", prefix, 1, high)
    if kind in ("objects", "items"):
        return 0, 1
    if has_bytes:
        chunk = _whole_number(
            document, "chunk_size_bytes", prefix, limits.min_chunk_size_bytes, limits.max_chunk_size_bytes
        )
        return chunk, 0
    return default_chunk_size, 0


def parse_source(document: Any, default_chunk_size: int, limits: Limits) -> Source:
    prefix = "source."
    if not isinstance(document, dict):
        raise InvalidJobSpec(
            "source", "must be a JSON object", f'send "source": {{"type": one of {", ".join(SOURCE_FIELDS)}}}'
        )
    kind = document.get("type")
    if kind not in SOURCE_FIELDS:
        raise InvalidJobSpec("source.type", f"is {submitted(kind)}", f"use one of {', '.join(SOURCE_FIELDS)}")
    unknown_field(document, SOURCE_FIELDS[kind], prefix)
    chunk_size, items_per_subtask = _cut(document, kind, default_chunk_size, limits, prefix)
    if kind == "items":
        items = document.get("items")
        if not isinstance(items, list) or not items:
            raise InvalidJobSpec("source.items", "must be a non-empty JSON list", 'send "items": [...]')
        return Source(type=kind, items=items, items_per_subtask=items_per_subtask)
    bucket = check_bucket(document.get("bucket"), prefix + "bucket")
    if kind == "objects":
        object_prefix = check_key(document.get("prefix", ""), prefix + "prefix", allow_empty=True)
        return Source(type=kind, bucket=bucket, prefix=object_prefix, items_per_subtask=items_per_subtask)
    key = check_key(document.get("key"), prefix + "key")
    return Source(type=kind, bucket=bucket, key=key, chunk_size_bytes=chunk_size, items_per_subtask=items_per_subtask)


def check_reads(
    source_type: str,
    workload: str,
    readers: Mapping[str, Sequence[str] | None],
    field_name: str,
) -> None:
    """Refuse a source the workload does not read (its declared `reads`), naming both and the workloads that do.

    `readers` maps each deployed workload to what it reads (None: not declared, any source).
    """
    reads = readers.get(workload)
    needed = SOURCE_READS[source_type]
    if reads is None or needed in reads:
        return
    sources = [kind for kind, read in SOURCE_READS.items() if read in reads]
    others = [name for name, kinds in readers.items() if name != workload and (kinds is None or needed in kinds)]
    instead = f"a workload that reads {needed}" + (f" ({', '.join(others)})" if others else " (deploy one)")
    article = "an" if source_type[0] in "aeiou" else "a"
    kind = "" if needed == source_type else f" ({needed})"
    raise InvalidJobSpec(
        field_name,
        f"workload {workload} reads {', '.join(reads)}, not {article} {source_type} source{kind}",
        f"send a {' or '.join(sources)} source, or {instead}",
    )


def submitted(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:39] + "…"


def item_name(work: dict[str, Any]) -> dict[str, Any]:
    """What a subtask worked on, as results name it: a byte range, object keys, or item positions."""
    kind = work["type"]
    if kind in OBJECT_SOURCES:
        return {"bucket": work["bucket"], "key": work["key"], "range": [work["start"], work["end"]]}
    if kind == "objects":
        return {"bucket": work["bucket"], "keys": [entry["key"] for entry in work["objects"]]}
    return {"items": [work["first_item"], work["first_item"] + len(work["items"])]}
