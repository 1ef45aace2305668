"""Byte-range chunks of a text object, split on line boundaries.

A chunk [start, end) owns every line whose first byte lies in it, so each line
of the object belongs to exactly one chunk whatever the chunk size. A worker
reads its range plus up to max_line_bytes beyond it to finish its last line.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.errors import PermanentSubtaskError


class LineTooLongError(PermanentSubtaskError):
    pass


def plan_chunks(object_size: int, chunk_size: int) -> int:
    """Number of chunks of chunk_size bytes that cover the object."""
    return -(-object_size // chunk_size)


def chunk_range(subtask_id: int, chunk_size: int, object_size: int) -> tuple[int, int]:
    start = subtask_id * chunk_size
    return start, min(object_size, start + chunk_size)


def owned_lines(buffer: bytes, buffer_start: int, start: int, end: int, object_size: int) -> bytes:
    """The lines starting in [start, end), cut out of a buffer read from buffer_start.

    buffer_start is start - 1 (or 0 for the first chunk), so the buffer shows
    whether `start` begins a line.
    """
    offset = start - buffer_start
    if start > 0:
        newline = buffer.find(b"\n", offset - 1)
        if newline == -1:
            return b""  # no line starts in this chunk's buffer
        first = newline + 1
    else:
        first = 0
    if first + buffer_start >= end:
        return b""
    last_newline = buffer.find(b"\n", end - 1 - buffer_start)
    if last_newline == -1:
        if buffer_start + len(buffer) < object_size:
            raise LineTooLongError(
                f"a line starting before byte {end} does not end within the bytes read past the chunk: "
                "raise max_line_bytes or split the input into shorter lines"
            )
        return buffer[first:]
    return buffer[first : last_newline + 1]


class InputChanged(PermanentSubtaskError):
    """The input was overwritten after its job was dispatched: its chunks would mix two contents."""


def get_range(s3: Any, bucket: str, key: str, first: int, last: int, etag: str = "") -> bytes:
    """Bytes first..last (inclusive) of the input as it was at dispatch (its ETag) when given."""
    pinned = {"IfMatch": etag} if etag else {}
    try:
        response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}", **pinned)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412"}:
            raise InputChanged(
                f"s3://{bucket}/{key} changed after the job was dispatched (ETag {etag} is gone): "
                "submit the new content as a new job"
            ) from None
        raise
    return response["Body"].read()


def read_lines(
    s3: Any, bucket: str, key: str, start: int, end: int, object_size: int, max_line: int, etag: str = ""
) -> bytes:
    """The lines starting in [start, end): read from start - 1 to up to max_line bytes past end."""
    buffer_start = max(0, start - 1)
    buffer_end = min(object_size, end + max_line) - 1
    return owned_lines(
        get_range(s3, bucket, key, buffer_start, buffer_end, etag), buffer_start, start, end, object_size
    )


def read_chunk(
    s3: Any, bucket: str, key: str, subtask: int, chunk_size: int, object_size: int, max_line: int, etag: str = ""
) -> bytes:
    """The lines chunk `subtask` of an object cut in chunk_size bytes owns."""
    start, end = chunk_range(subtask, chunk_size, object_size)
    return read_lines(s3, bucket, key, start, end, object_size, max_line, etag)
