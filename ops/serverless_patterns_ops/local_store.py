"""The few S3 client calls the fan-out code makes, answered from local folders and memory.

The ventilator's planning, the worker's input reading and the consolidator's
results writers all talk to an S3 client. A LocalObjectStore stands in for
one so the same code runs on a folder: each bucket it knows is a folder (its
objects are the files under it, keys with "/") or lives in memory (a job's
plan, for instance); any other bucket goes to the S3 client given as
`fallback`, so a local run reads its input from S3 and writes nothing there.

Answers have the shapes boto3 gives (ContentLength, ETag, Body.read(),
Contents/IsTruncated/NextContinuationToken) and failures are botocore
ClientErrors with S3's codes (404 on head, NoSuchKey, PreconditionFailed,
InvalidRange, NoSuchBucket), which the shared code already handles. A file's
ETag is its size and modification time: cheap to check on every read, and it
changes when the file is rewritten, as an S3 object's does.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

RANGE_PATTERN = re.compile(r"^bytes=(\d+)-(\d*)$")
MAX_KEYS = 1000


def client_error(code: str, message: str, operation: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class _RangeBody:
    """A byte range of a file, read on demand like a StreamingBody (a scan reads a large input block by block)."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        self._path, self._position, self._end = path, start, end

    def read(self, amount: int | None = None) -> bytes:
        left = self._end - self._position
        size = left if amount is None or amount < 0 else min(amount, left)
        if size <= 0:
            return b""
        with self._path.open("rb") as stream:
            stream.seek(self._position)
            data = stream.read(size)
        self._position += len(data)
        return data

    def close(self) -> None:
        self._position = self._end


class _BytesBody:
    def __init__(self, data: bytes) -> None:
        self._data, self._position = data, 0

    def read(self, amount: int | None = None) -> bytes:
        end = len(self._data) if amount is None or amount < 0 else self._position + amount
        data = self._data[self._position : end]
        self._position += len(data)
        return data

    def close(self) -> None:
        self._position = len(self._data)


def _byte_range(range_header: str | None, size: int, key: str) -> tuple[int, int]:
    """[start, end) of an HTTP Range header as S3 reads it: the last byte clamped to the object's."""
    if not range_header:
        return 0, size
    match = RANGE_PATTERN.match(range_header)
    if match is None:
        raise ValueError(f"unsupported Range {range_header!r}: use bytes=first-last")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        raise client_error("InvalidRange", f"{range_header} is outside {key} ({size} bytes)", "GetObject", 416)
    return first, min(last, size - 1) + 1


def _etag_of_file(stat: os.stat_result) -> str:
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'


class LocalObjectStore:
    """An S3 client's head_object, get_object, list_objects_v2, put_object and delete_object over folders and memory.

    folders: bucket name -> folder (its files, hidden ones left out of listings); memory: bucket names kept in memory;
    fallback: the S3 client for every other bucket (None: they do not exist).
    """

    def __init__(
        self, folders: Mapping[str, Path] | None = None, memory: Iterable[str] = (), fallback: Any = None
    ) -> None:
        self._folders = {bucket: Path(folder).resolve() for bucket, folder in (folders or {}).items()}
        self._memory: dict[str, dict[str, bytes]] = {bucket: {} for bucket in memory}
        self._fallback = fallback
        self._lock = threading.Lock()
        self._listings: dict[str, list[dict[str, Any]]] = {}
        self._listing_ids = itertools.count(1)

    # -- where a bucket lives ------------------------------------------------------------

    def _local(self, bucket: str) -> bool:
        return bucket in self._folders or bucket in self._memory

    def _path(self, bucket: str, key: str, operation: str) -> Path:
        root = self._folders[bucket]
        path = (root / key).resolve()
        if key.startswith("/") or (path != root and root not in path.parents):
            raise client_error("AccessDenied", f"{key} is outside the folder of bucket {bucket}", operation, 403)
        return path

    def _missing(self, bucket: str, key: str, operation: str) -> ClientError:
        if operation == "HeadObject":
            return client_error("404", "Not Found", operation, 404)  # as S3: a HEAD answer has no body
        return client_error("NoSuchKey", f"{key} does not exist in {bucket}", operation, 404)

    def _no_bucket(self, bucket: str, operation: str) -> ClientError:
        return client_error("NoSuchBucket", f"bucket {bucket} is not a folder of this local run", operation, 404)

    def _stat(self, bucket: str, key: str, operation: str) -> tuple[int, str, Path | bytes]:
        """(size, ETag, the file's path or the bytes held in memory) of an object that exists."""
        if bucket in self._memory:
            with self._lock:
                data = self._memory[bucket].get(key)
            if data is None:
                raise self._missing(bucket, key, operation)
            return len(data), f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"', data
        path = self._path(bucket, key, operation)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(bucket, key, operation) from None
        if not path.is_file():
            raise self._missing(bucket, key, operation)
        return stat.st_size, _etag_of_file(stat), path

    # -- the S3 calls (keyword arguments named as boto3 names them) ---------------------------

    def head_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        if not self._local(Bucket):
            if self._fallback is None:
                raise self._no_bucket(Bucket, "HeadObject")
            return self._fallback.head_object(Bucket=Bucket, Key=Key, **kwargs)
        size, etag, _ = self._stat(Bucket, Key, "HeadObject")
        return {"ContentLength": size, "ETag": etag}

    def get_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Range: str | None = None,
        IfMatch: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if not self._local(Bucket):
            if self._fallback is None:
                raise self._no_bucket(Bucket, "GetObject")
            pinned = {name: value for name, value in (("Range", Range), ("IfMatch", IfMatch)) if value}
            return self._fallback.get_object(Bucket=Bucket, Key=Key, **pinned, **kwargs)
        size, etag, content = self._stat(Bucket, Key, "GetObject")
        if IfMatch and IfMatch != etag:
            raise client_error("PreconditionFailed", f"{Key} changed: its ETag is {etag}", "GetObject", 412)
        start, end = _byte_range(Range, size, Key)
        body = _BytesBody(content[start:end]) if isinstance(content, bytes) else _RangeBody(content, start, end)
        return {"Body": body, "ContentLength": end - start, "ETag": etag}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes | str = b"", **kwargs: Any) -> dict[str, Any]:
        if not self._local(Bucket):
            if self._fallback is None:
                raise self._no_bucket(Bucket, "PutObject")
            return self._fallback.put_object(Bucket=Bucket, Key=Key, Body=Body, **kwargs)
        data = Body.encode() if isinstance(Body, str) else bytes(Body)
        if Bucket in self._memory:
            with self._lock:
                self._memory[Bucket][Key] = data
            return {"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'}
        path = self._path(Bucket, Key, "PutObject")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside it and renamed: a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
        return {"ETag": _etag_of_file(path.stat())}

    def delete_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        if not self._local(Bucket):
            if self._fallback is None:
                raise self._no_bucket(Bucket, "DeleteObject")
            return self._fallback.delete_object(Bucket=Bucket, Key=Key, **kwargs)
        if Bucket in self._memory:
            with self._lock:
                self._memory[Bucket].pop(Key, None)
        else:
            self._path(Bucket, Key, "DeleteObject").unlink(missing_ok=True)  # as S3: deleting nothing succeeds
        return {}

    def list_objects_v2(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        MaxKeys: int = MAX_KEYS,
        ContinuationToken: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if not self._local(Bucket):
            if self._fallback is None:
                raise self._no_bucket(Bucket, "ListObjectsV2")
            token = {"ContinuationToken": ContinuationToken} if ContinuationToken else {}
            return self._fallback.list_objects_v2(Bucket=Bucket, Prefix=Prefix, MaxKeys=MaxKeys, **token, **kwargs)
        # The whole listing is taken once, on the first page, and paged from memory after.
        if ContinuationToken:
            listing_id, _, offset_text = ContinuationToken.partition(":")
            with self._lock:
                entries = self._listings.get(listing_id)
            if entries is None:
                raise client_error("InvalidArgument", "the continuation token is not valid", "ListObjectsV2", 400)
            offset = int(offset_text)
        else:
            entries, offset = self._entries(Bucket, Prefix), 0
            listing_id = str(next(self._listing_ids))
            with self._lock:
                self._listings[listing_id] = entries
        page = entries[offset : offset + min(MaxKeys, MAX_KEYS)]
        answer: dict[str, Any] = {"KeyCount": len(page), "IsTruncated": offset + len(page) < len(entries)}
        if page:
            answer["Contents"] = page
        if answer["IsTruncated"]:
            answer["NextContinuationToken"] = f"{listing_id}:{offset + len(page)}"
        else:
            with self._lock:
                self._listings.pop(listing_id, None)
        return answer

    def _entries(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every object under the prefix, in S3's order (by the UTF-8 bytes of the key)."""
        if bucket in self._memory:
            with self._lock:
                held = dict(self._memory[bucket])
            found = [
                {"Key": key, "Size": len(data), "ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'}
                for key, data in held.items()
                if key.startswith(prefix)
            ]
        else:
            root = self._folders[bucket]
            # Walk only the folder the prefix names; its last segment may be the start of a name.
            start = self._path(bucket, prefix.rpartition("/")[0], "ListObjectsV2") if "/" in prefix else root
            found = []
            for folder, folders, files in os.walk(start, followlinks=True):
                # Hidden files and folders (.git, .DS_Store, a write in progress) are not objects: the CLI's
                # folder upload leaves them out too.
                folders[:] = [name for name in folders if not name.startswith(".")]
                for name in files:
                    path = Path(folder) / name
                    key = path.relative_to(root).as_posix()
                    if name.startswith(".") or not key.startswith(prefix) or not path.is_file():
                        continue
                    stat = path.stat()
                    found.append({"Key": key, "Size": stat.st_size, "ETag": _etag_of_file(stat)})
        return sorted(found, key=lambda entry: entry["Key"].encode())
