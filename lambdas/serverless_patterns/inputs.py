"""What a workload gets: one subtask's bytes or items, read from its work document.

A workload is `process(task: SubtaskInput) -> result` (any JSON value). It
reads `task.data` (lines and bytes sources: whole lines, or the exact byte
range) or `task.items` (jsonl: parsed values; csv: one dict per record keyed
by the header; items: the inline items; objects: {"key", "etag", "size"} per
object, whose content `task.read_object(item)` returns).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from serverless_patterns.errors import PermanentSubtaskError
from serverless_patterns.fan_out.chunks import get_range, read_lines


class InvalidRecord(PermanentSubtaskError):
    """A record of the input that its format cannot parse: no retry can fix it."""


@dataclass(frozen=True)
class SubtaskInput:
    job_id: str
    subtask_id: int
    source_type: str
    data: bytes = b""
    items: list[Any] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    s3: Any = field(default=None, repr=False, compare=False)
    bucket: str = ""

    def read_object(self, item: dict[str, Any]) -> bytes:
        """The content of one object of an `objects` source, as it was when the prefix was listed."""
        if self.source_type != "objects":
            raise TypeError("read_object reads the objects of an `objects` source")
        if item["size"] == 0:
            return b""
        return get_range(self.s3, self.bucket, item["key"], 0, item["size"] - 1, item.get("etag", ""))


def _bytes_of(s3: Any, work: dict[str, Any], max_line: int) -> bytes:
    bucket, key, etag, start, end = work["bucket"], work["key"], work.get("etag", ""), work["start"], work["end"]
    if work.get("line_aligned"):
        data = read_lines(s3, bucket, key, start, end, work["object_size"], max_line, etag)
        records_from = work.get("records_from", 0)
        return data[records_from:] if start == 0 else data  # a CSV's first chunk starts with the header
    return get_range(s3, bucket, key, start, end - 1, etag) if end > start else b""


def json_lines(data: bytes, where: str) -> list[Any]:
    items = []
    # Split on \n only: U+2028 and friends are legal inside JSON strings.
    for number, line in enumerate(data.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError as error:
            raise InvalidRecord(f"line {number} of {where} is not JSON ({error}): fix that line") from None
    return items


def csv_records(data: bytes, header: list[str], where: str) -> list[dict[str, str]]:
    """Whole CSV lines as dicts keyed by the header; a record of another width is refused."""
    records = []
    for number, row in enumerate(csv.reader(io.StringIO(data.decode("utf-8"), newline="")), start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line, as planning counts it: no record
        if len(row) != len(header):
            raise InvalidRecord(
                f"record {number} of {where} has {len(row)} fields and the header {len(header)}: "
                "fix the record (fields with line breaks are not supported)"
            )
        records.append(dict(zip(header, row, strict=True)))
    return records


def read_input(s3: Any, job_id: str, subtask_id: int, work: dict[str, Any], max_line: int) -> SubtaskInput:
    kind = work["type"]
    base = {"job_id": job_id, "subtask_id": subtask_id, "source_type": kind}
    if kind == "items":
        return SubtaskInput(**base, items=list(work["items"]))
    if kind == "objects":
        return SubtaskInput(**base, items=list(work["objects"]), s3=s3, bucket=work["bucket"])
    data = _bytes_of(s3, work, max_line)
    where = f"s3://{work['bucket']}/{work['key']} bytes {work['start']}..{work['end']}"
    if kind == "jsonl":
        return SubtaskInput(**base, items=json_lines(data, where))
    if kind == "csv":
        return SubtaskInput(**base, items=csv_records(data, work["header"], where), header=list(work["header"]))
    return SubtaskInput(**base, data=data)
