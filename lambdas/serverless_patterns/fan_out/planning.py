"""Plan a job: turn its source into `total` subtasks, each described by a small work document.

Cutting one object by bytes is arithmetic: subtask i covers bytes
[i * chunk, (i + 1) * chunk), so nothing is stored. Every other cut (records
counted in a scan, objects listed under a prefix, inline items) is written to
a manifest in the job bucket, part by part, under plans/: the plan itself only
records where the parts are and which subtask each starts with, so it stays
small enough for the tracker's job item and for the ventilator's hand-over.

A listing too long for one invocation is resumed by the next: `Listing` holds
everything needed to go on (the continuation token, the objects not yet in a
subtask, the parts written so far).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.fan_in.bucket_layout import work_key
from serverless_patterns.fan_out.sources import InvalidJobSpec, Limits, Source, items_digest

PLANS_PREFIX = "plans"
# A subtask message holds its work document and about 1 KiB more; SQS queues take 256 KiB by default.
MAX_WORK_BYTES = 255 * 1024
PART_SIZE = 1000  # work documents per manifest part (a listing writes one part per page)
SCAN_BLOCK_BYTES = 1 << 20
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Plan:
    """The subtasks of a job: arithmetic ranges of one object, or a manifest of work documents."""

    total: int
    identity: str  # what the content is: the object's ETag, a listing's digest, the items' digest
    template: dict[str, Any]  # in every work document
    chunk_size: int = 0  # > 0: subtask i is the range [i * chunk_size, ...) of the object
    object_size: int = 0
    manifest: str = ""  # the key prefix of the manifest parts
    part_starts: list[int] = field(default_factory=list)  # the first subtask of each part

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Plan:
        return cls(**document)

    def works(self, first: int, end: int, read_part: Callable[[str], list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        """The work documents of subtasks first..end-1, in order; manifest parts are read as needed."""
        if self.chunk_size:
            for subtask_id in range(first, end):
                start = subtask_id * self.chunk_size
                yield {**self.template, "start": start, "end": min(self.object_size, start + self.chunk_size)}
            return
        part = bisect.bisect_right(self.part_starts, first) - 1
        subtask_id = first
        while subtask_id < end:
            fragments = read_part(part_key(self.manifest, part))
            for fragment in fragments[subtask_id - self.part_starts[part] :]:
                if subtask_id >= end:
                    return
                yield {**self.template, **fragment}
                subtask_id += 1
            part += 1


def part_key(manifest: str, part: int) -> str:
    return f"{manifest}/part-{part:06d}.json"


def manifest_prefix(job_id: str, planning_id: str) -> str:
    return work_key(PLANS_PREFIX, job_id, planning_id)


class ManifestWriter:
    """Writes manifest parts to the job bucket and remembers where each starts."""

    def __init__(self, s3: Any, bucket: str, prefix: str, part_starts: list[int] | None = None, count: int = 0):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.part_starts = list(part_starts or [])
        self.count = count

    def write(self, fragments: list[dict[str, Any]]) -> None:
        if not fragments:
            return
        key = part_key(self.prefix, len(self.part_starts))
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(fragments, separators=(",", ":")).encode())
        self.part_starts.append(self.count)
        self.count += len(fragments)

    def write_all(self, fragments: Iterator[dict[str, Any]], limit: int, too_many: Callable[[], InvalidJobSpec]):
        batch: list[dict[str, Any]] = []
        for fragment in fragments:
            batch.append(fragment)
            if self.count + len(batch) > limit:
                raise too_many()
            if len(batch) == PART_SIZE:
                self.write(batch)
                batch = []
        self.write(batch)


def _too_many(source: Source, total: str, limits: Limits) -> InvalidJobSpec:
    field_name = "source.chunk_size_bytes" if source.chunk_size_bytes else "source.items_per_subtask"
    fix = f"raise {field_name.rpartition('.')[2]} so the job has at most {limits.max_subtasks} subtasks"
    if source.type == "objects":
        field_name = "source.prefix"
        fix = "list a narrower prefix, raise items_per_subtask (up to 100), or raise the module's max_subtasks"
    return InvalidJobSpec(field_name, f"{total} subtasks are more than the {limits.max_subtasks} a job may have", fix)


def _check_size(fragment: dict[str, Any], what: str) -> None:
    size = len(json.dumps(fragment, separators=(",", ":")).encode())
    if size > MAX_WORK_BYTES:
        raise InvalidJobSpec(
            "source.items_per_subtask",
            f"{what} make a subtask of {size} bytes, more than the {MAX_WORK_BYTES} a subtask message may carry",
            "send fewer items per subtask, or put large items in S3 and send their keys",
        )


def head(s3: Any, source: Source) -> tuple[int, str]:
    """The input object's size and ETag; a missing, unreadable or empty one is a bad spec."""
    try:
        answer = s3.head_object(Bucket=source.bucket, Key=source.key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        where = f"s3://{source.bucket}/{source.key}"
        if code in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}:
            raise InvalidJobSpec("source.key", f"{where} does not exist", "upload it first") from None
        if code in {"403", "AccessDenied", "Forbidden"}:
            # The ventilator may list its own bucket, so S3 answers 404 there for a missing key: 403 is a refusal.
            raise InvalidJobSpec(
                "source.bucket",
                f"the ventilator may not read {where}",
                "put the input in the job bucket under inputs/ (the CLI does), or grant the ventilator and "
                "worker roles s3:GetObject on it",
            ) from None
        raise
    if answer["ContentLength"] == 0:
        raise InvalidJobSpec("source.key", f"s3://{source.bucket}/{source.key} is empty", "submit a non-empty object")
    return answer["ContentLength"], answer.get("ETag", "")


def csv_header(s3: Any, source: Source, size: int, etag: str) -> tuple[list[str], int]:
    """The CSV's header fields and the byte where its first record starts."""
    end = min(size, MAX_HEADER_BYTES) - 1
    data = s3.get_object(Bucket=source.bucket, Key=source.key, Range=f"bytes=0-{end}", IfMatch=etag)["Body"].read()
    newline = data.find(b"\n")
    if newline == -1 and size > MAX_HEADER_BYTES:
        raise InvalidJobSpec(
            "source.key", f"the CSV's first line is longer than {MAX_HEADER_BYTES} bytes", "fix the header"
        )
    line = data if newline == -1 else data[:newline]
    try:
        header = next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        raise InvalidJobSpec(
            "source.key", "the CSV's first line is not a UTF-8 header", "start the file with a header"
        ) from None
    if not header or len(set(header)) != len(header) or any(not name for name in header):
        raise InvalidJobSpec(
            "source.key",
            f"the CSV header {submitted_header(header)} has empty or repeated names",
            "name every column once",
        )
    first_record = len(line) + 1 if newline != -1 else size
    if first_record >= size:
        raise InvalidJobSpec("source.key", "the CSV has a header and no records", "submit a CSV with records")
    return header, first_record


def submitted_header(header: list[str]) -> str:
    text = json.dumps(header)
    return text if len(text) <= 80 else text[:79] + "…"


def record_ranges(s3: Any, source: Source, size: int, etag: str, first: int) -> Iterator[dict[str, int]]:
    """Byte ranges holding items_per_subtask non-blank lines each, from byte `first` on (one streamed read)."""
    body = s3.get_object(Bucket=source.bucket, Key=source.key, Range=f"bytes={first}-{size - 1}", IfMatch=etag)["Body"]
    start = position = first
    lines = 0
    line_blank = True
    for block in iter(lambda: body.read(SCAN_BLOCK_BYTES), b""):
        offset = 0
        while True:
            newline = block.find(b"\n", offset)
            segment = block[offset:] if newline == -1 else block[offset:newline]
            line_blank = line_blank and not segment.strip()
            if newline == -1:
                position += len(block) - offset
                break
            position += newline - offset + 1
            offset = newline + 1
            if not line_blank:
                lines += 1
                if lines == source.items_per_subtask:
                    yield {"start": start, "end": position}
                    start, lines = position, 0
            line_blank = True
    if lines or not line_blank:
        yield {"start": start, "end": size}


def plan_object(s3: Any, source: Source, limits: Limits, write_manifest: ManifestWriter) -> Plan:
    size, etag = head(s3, source)
    template: dict[str, Any] = {"type": source.type, "bucket": source.bucket, "key": source.key, "etag": etag}
    first = 0
    if source.type == "csv":
        template["header"], first = csv_header(s3, source, size, etag)
    if source.chunk_size_bytes:
        total = -(-size // source.chunk_size_bytes)
        if total > limits.max_subtasks:
            raise InvalidJobSpec(
                "source.chunk_size_bytes",
                f"{size} bytes in chunks of {source.chunk_size_bytes} make {total} subtasks "
                f"(at most {limits.max_subtasks})",
                f"use chunks of at least {-(-size // limits.max_subtasks)} bytes",
            )
        if source.type != "bytes":
            template.update(line_aligned=True, object_size=size)
        if source.type == "csv":
            template["records_from"] = first
        return Plan(total=total, identity=etag, template=template, chunk_size=source.chunk_size_bytes, object_size=size)
    write_manifest.write_all(
        record_ranges(s3, source, size, etag, first),
        limits.max_subtasks,
        lambda: _too_many(source, f"more than {limits.max_subtasks}", limits),
    )
    if write_manifest.count == 0:
        raise InvalidJobSpec(
            "source.key", f"s3://{source.bucket}/{source.key} has no records", "submit a non-empty file"
        )
    return _manifest_plan(write_manifest, etag, template)


def _manifest_plan(writer: ManifestWriter, identity: str, template: dict[str, Any]) -> Plan:
    return Plan(
        total=writer.count, identity=identity, template=template, manifest=writer.prefix, part_starts=writer.part_starts
    )


def plan_items(source: Source, limits: Limits, write_manifest: ManifestWriter) -> Plan:
    per = source.items_per_subtask
    total = -(-len(source.items) // per)
    if total > limits.max_subtasks:
        raise _too_many(source, str(total), limits)

    def fragments() -> Iterator[dict[str, Any]]:
        for first in range(0, len(source.items), per):
            fragment = {"first_item": first, "items": source.items[first : first + per]}
            _check_size(fragment, f"items {first}..{first + len(fragment['items']) - 1}")
            yield fragment

    write_manifest.write_all(fragments(), limits.max_subtasks, lambda: _too_many(source, str(total), limits))
    return _manifest_plan(write_manifest, items_digest(source.items), {"type": "items"})


@dataclass
class Listing:
    """A listing of a prefix in progress: what the next invocation needs to go on with it."""

    manifest: str
    token: str = ""
    pending: list[dict[str, Any]] = field(default_factory=list)  # listed, not yet in a subtask (< items_per_subtask)
    part_starts: list[int] = field(default_factory=list)
    count: int = 0
    digest: str = ""  # chained over the pages: the listing's identity
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_objects(
    s3: Any, source: Source, limits: Limits, listing: Listing, job_bucket: str, keep_going: Callable[[], bool]
) -> Listing:
    """List the prefix page by page into manifest parts (one per page) while keep_going() allows."""
    writer = ManifestWriter(s3, job_bucket, listing.manifest, listing.part_starts, listing.count)
    per = source.items_per_subtask
    while not listing.done and keep_going():
        request: dict[str, Any] = {"Bucket": source.bucket, "Prefix": source.prefix, "MaxKeys": 1000}
        if listing.token:
            request["ContinuationToken"] = listing.token
        try:
            page = s3.list_objects_v2(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"403", "AccessDenied", "NoSuchBucket"}:
                raise InvalidJobSpec(
                    "source.bucket",
                    f"the ventilator may not list s3://{source.bucket}/{source.prefix}",
                    "use the job bucket (under inputs/), or grant the ventilator s3:ListBucket and the worker "
                    "s3:GetObject on it",
                ) from None
            raise
        objects = [
            {"key": entry["Key"], "etag": entry.get("ETag", ""), "size": entry.get("Size", 0)}
            for entry in page.get("Contents", [])
            if not (entry["Key"].endswith("/") and entry.get("Size", 0) == 0)  # folder markers hold nothing
        ]
        listing.digest = hashlib.sha256(
            (listing.digest + json.dumps(objects, sort_keys=True, separators=(",", ":"))).encode()
        ).hexdigest()
        pending = listing.pending + objects
        listing.done = not page.get("IsTruncated")
        cut = len(pending) if listing.done else len(pending) - len(pending) % per
        if objects and listing.count == 0 and not listing.pending:
            _check_readable(s3, source, objects[0]["key"])
        fragments = [{"objects": pending[i : i + per]} for i in range(0, cut, per)]
        for fragment in fragments:
            _check_size(fragment, f"the keys of {fragment['objects'][0]['key'][:100]} and the next objects")
        if writer.count + len(fragments) > limits.max_subtasks:
            raise _too_many(source, f"more than {limits.max_subtasks}", limits)
        writer.write(fragments)
        listing.pending, listing.token = pending[cut:], page.get("NextContinuationToken", "")
        listing.part_starts, listing.count = writer.part_starts, writer.count
    if listing.done and listing.count == 0:
        raise InvalidJobSpec(
            "source.prefix", f"there are no objects under s3://{source.bucket}/{source.prefix}", "upload them first"
        )
    return listing


def _check_readable(s3: Any, source: Source, key: str) -> None:
    """The workers read the objects with the ventilator's rights: one it cannot read makes a bad spec, now."""
    try:
        s3.head_object(Bucket=source.bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"403", "AccessDenied", "Forbidden"}:
            raise InvalidJobSpec(
                "source.prefix",
                f"s3://{source.bucket}/{key} may not be read by the workers",
                "put the objects under inputs/ of the job bucket, or grant the workers s3:GetObject on them "
                "(additional_input_bucket_arns)",
            ) from None
        raise


def listing_plan(source: Source, listing: Listing) -> Plan:
    return Plan(
        total=listing.count,
        identity=listing.digest,
        template={"type": "objects", "bucket": source.bucket},
        manifest=listing.manifest,
        part_starts=listing.part_starts,
    )


def read_part(s3: Any, bucket: str) -> Callable[[str], list[dict[str, Any]]]:
    def read(key: str) -> list[dict[str, Any]]:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    return read
