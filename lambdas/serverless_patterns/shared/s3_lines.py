"""Write an S3 object of JSON Lines a line at a time: in memory a line, on disk one part at most.

A shard's status file can hold 100,000 lines of a few KB each. Kept in memory
until the end, it made a reduction's memory grow with its subtasks; spooled
whole to /tmp it could outgrow Lambda's 512 MB there. So the lines go to a
temporary file that holds one part at most: once it holds `part_bytes`, the
part is uploaded (the first one starts a multipart upload) and the file
starts again. Memory holds the line being written, whatever the object's
size, and a part is sent READ_BYTES at a time; /tmp holds one part per open
object.

A file that never fills a part is put in one PutObject, as a small object
always was; one without lines is not written, and its key is deleted (an
earlier run may have left it). A multipart upload that does not complete is
aborted, so its parts do not linger (the job bucket's lifecycle also aborts
incomplete uploads after a day).
"""

from __future__ import annotations

import logging
import tempfile
from types import TracebackType
from typing import Any, BinaryIO

S3_MIN_PART_BYTES = 5 * 2**20  # every part of a multipart upload but the last
PART_BYTES = 8 * 2**20  # S3's own recommendation for parts: 8 to 16 MiB
CHECKSUM_ALGORITHM = "CRC32"  # what boto3's managed uploads name on a multipart upload and its parts
READ_BYTES = 64 * 1024  # the most of a part the SDK reads at once (it asks for 1 MiB to checksum and sign it)

logger = logging.getLogger(__name__)


class _SmallReads:
    """A spooled part as a request body: read(n) returns READ_BYTES at most, a short read every reader of a
    stream accepts (the SDK's checksum, signature and chunked-transfer loops, http.client's send), so none
    holds 1 MiB of the part at once; read() with no size reads the rest, as a file does."""

    def __init__(self, spool: BinaryIO) -> None:
        self._spool = spool

    def read(self, size: int | None = -1) -> bytes:
        return self._spool.read(size if size is None or size < 0 else min(size, READ_BYTES))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._spool.seek(offset, whence)

    def tell(self) -> int:
        return self._spool.tell()


class LineObject:
    """One object of the bucket written as lines, in parts; use it as a context manager and call finish().

    Leaving the context without finish() (an error) aborts the multipart upload, if one started.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        content_type: str = "application/x-ndjson",
        part_bytes: int = PART_BYTES,
    ) -> None:
        if part_bytes < S3_MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least S3's minimum part, {S3_MIN_PART_BYTES}: {part_bytes}")
        self.s3, self.bucket, self.key = s3, bucket, key
        self.content_type = content_type
        self.part_bytes = part_bytes
        self.lines = 0
        # The local runner's folder store has no multipart uploads: its objects go up whole, as before.
        self._in_parts = callable(getattr(s3, "create_multipart_upload", None))
        self._spool: BinaryIO | None = None
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._finished = False

    def __enter__(self) -> LineObject:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if not self._finished:
                self.abort()
        finally:
            self._close_spool()

    def write(self, line: str) -> None:
        """Add one line (without its newline); upload a part once the spool holds one."""
        if self._spool is None:
            self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish(), abort() or the context
        self._spool.write(line.encode())
        self._spool.write(b"\n")
        self.lines += 1
        if self._in_parts and self._spool.tell() >= self.part_bytes:
            self._upload_part()

    def finish(self) -> bool:
        """Write the object, or delete its key when it has no line; True if it was written."""
        if self._spool is None:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        elif self._upload_id is None:
            self._spool.seek(0)
            body = _SmallReads(self._spool) if self._in_parts else self._spool.read()
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, ContentType=self.content_type)
        else:
            if self._spool.tell():
                self._upload_part()  # the last part, which may be smaller
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._finished = True
        self._close_spool()
        return self.lines > 0

    def abort(self) -> None:
        """Give the object up: its multipart upload, if one started, is aborted."""
        self._finished = True
        self._close_spool()
        if self._upload_id is None:
            return
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        except Exception:  # the error that led here matters more; the bucket's lifecycle aborts it later
            logger.warning("could not abort the multipart upload of %s", self.key, exc_info=True)

    def _upload_part(self) -> None:
        assert self._spool is not None
        if self._upload_id is None:
            self._upload_id = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type, ChecksumAlgorithm=CHECKSUM_ALGORITHM
            )["UploadId"]
        number = len(self._parts) + 1
        self._spool.seek(0)
        response = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=_SmallReads(self._spool),
            ChecksumAlgorithm=CHECKSUM_ALGORITHM,
        )
        part = {"PartNumber": number, "ETag": response["ETag"]}
        if f"Checksum{CHECKSUM_ALGORITHM}" in response:
            part[f"Checksum{CHECKSUM_ALGORITHM}"] = response[f"Checksum{CHECKSUM_ALGORITHM}"]
        self._parts.append(part)
        self._spool.seek(0)
        self._spool.truncate()

    def _close_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
