"""A shard's reduction in memory that does not grow with its subtasks (issue 27, point 6).

The status files are streamed to S3 a line at a time (shared.s3_lines), the
shard's TASK items are read a bounded page at a time, and the shard result
keeps no more failures with their errors than the final merge can use. What
users read must not change: the reduction is compared byte for byte with the
reduction that held everything in memory (a reference copy below).
"""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from serverless_patterns.fan_in.bucket_layout import shard_result_key, status_file_key
from serverless_patterns.fan_in.reduction import (
    MAX_FAILURES_IN_RESULT,
    Reader,
    consolidate,
    failure_record,
    merge_stream,
    reduce_shard,
    reduce_tasks,
)
from serverless_patterns.fan_in.tracker import JobTracker, Outcome
from serverless_patterns.fan_in.tracker.keys import task_key
from serverless_patterns.fan_in.tracker.reads import TASKS_PER_PAGE
from serverless_patterns.shared.s3_lines import READ_BYTES, S3_MIN_PART_BYTES, LineObject
from serverless_patterns.workloads.word_count import merge_counts
from unit.conftest import register

BUCKET = "jobs-bucket"
JOB = "job-1"
PART = S3_MIN_PART_BYTES  # the smallest part S3 (and moto) takes, so a few MiB of lines make several parts


# -- the reference: the reduction as it was, every line held until the end ----------------------------------


def _line(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def reference_reduction(tracker: JobTracker, reader: Reader, merge: Any, shard: int) -> dict[str, Any]:
    """The status files' bytes and the shard result the in-memory reduction wrote (before issue 27)."""
    failures, succeeded_lines, counts = [], [], {"succeeded": 0, "skipped": 0}
    results = []
    for task in tracker.shard_tasks(JOB, shard):
        if task["outcome"] == Outcome.SUCCEEDED:
            counts["succeeded"] += 1
            partial = reader.partial(task)
            succeeded_lines.append(
                _line({"subtask_id": task["subtask_id"], "item": partial.get("item"), "result": partial.get("result")})
            )
            results.append(partial.get("result"))
        elif task["outcome"] == Outcome.SKIPPED:
            counts["skipped"] += 1
        else:
            failures.append(failure_record(task))
    bodies, files = {}, {}
    for outcome, lines in (("succeeded", succeeded_lines), ("failed", [_line(failure) for failure in failures])):
        if lines:
            files[outcome] = {"key": status_file_key(JOB, outcome, shard), "count": len(lines)}
            bodies[outcome] = ("\n".join(lines) + "\n").encode()
    result = {
        "shard": shard,
        "succeeded": counts["succeeded"],
        "failed": len(failures),
        "skipped": counts["skipped"],
        "failures": failures,
        "merged": merge_stream(merge, results),
        "files": files,
    }
    return {"bodies": bodies, "result": result}


# -- a shard as the workers leave it ----------------------------------------------------------------------


def word_count(subtask_id: int, words: int) -> dict[str, Any]:
    return {"lines": subtask_id % 7, "words": {f"w{(subtask_id * 31 + n) % 997:03d}": n + 1 for n in range(words)}}


def seed_shard(tracker_table: Any, s3: Any, inline: int, in_s3: int, failed: int, skipped: int) -> int:
    """One shard of a job: results inline in their TASK items, larger ones in S3, failures with their items and
    errors, skipped subtasks, in mixed order. Returns the subtask count."""
    total = inline + in_s3 + failed + skipped
    register(JobTracker(tracker_table), JOB, total=total, shards=1)
    kinds = ["inline"] * inline + ["s3"] * in_s3 + ["failed"] * failed + ["skipped"] * skipped
    kinds = [kinds[(index * 7919) % total] for index in range(total)] if total % 7919 else kinds  # mixed
    with tracker_table.batch_writer() as batch:
        for subtask_id, kind in enumerate(kinds):
            item = {"items": [subtask_id, subtask_id + 1]}
            task: dict[str, Any] = {**task_key(JOB, 0, subtask_id), "subtask_id": subtask_id}
            if kind == "inline":
                body = json.dumps({"item": item, "result": word_count(subtask_id, 40)}, separators=(",", ":"))
                task |= {"outcome": "SUCCEEDED", "partial": body}
            elif kind == "s3":
                key = f"partials/{JOB}/{subtask_id}.json"
                s3.put_object(
                    Bucket=BUCKET, Key=key, Body=json.dumps({"item": item, "result": word_count(subtask_id, 900)})
                )
                task |= {"outcome": "SUCCEEDED", "result_key": key}
            elif kind == "failed":
                error = {"type": "ValueError", "message": f"bad line in {subtask_id} é", "attempts": 3}
                task |= {"outcome": "FAILED", "error": error, "item": item}
            else:
                task |= {"outcome": "SKIPPED"}
            batch.put_item(Item=task)
    return total


@pytest.fixture
def shard_env(tracker_table):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return {
        "table": tracker_table,
        "tracker": JobTracker(tracker_table),
        "s3": s3,
        "reader": Reader(s3, BUCKET, part_bytes=PART),
    }


def stored(s3: Any, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def test_a_streamed_reduction_writes_the_same_bytes_as_the_one_that_held_everything(shard_env):
    env = shard_env
    # About 9 MiB of succeeded lines (results of about 10 KB in S3, of about 0.5 KB inline): two parts.
    seed_shard(env["table"], env["s3"], inline=1500, in_s3=900, failed=60, skipped=15)
    expected = reference_reduction(env["tracker"], env["reader"], merge_counts, 0)
    uploads = []
    env["s3"].meta.events.register("before-call.s3.UploadPart", lambda **kwargs: uploads.append(kwargs))

    summary = reduce_shard(env["tracker"], env["reader"], merge_counts, JOB, 0)

    assert len(uploads) == 2  # it did go up in parts
    for outcome in ("succeeded", "failed"):
        assert stored(env["s3"], status_file_key(JOB, outcome, 0)) == expected["bodies"][outcome]
    written = stored(env["s3"], shard_result_key(JOB, 0))
    assert written == json.dumps(expected["result"], separators=(",", ":"), sort_keys=True).encode()
    assert summary == {"succeeded": 2400, "failed": 60, "skipped": 15, "result_key": shard_result_key(JOB, 0)}


def test_a_shard_with_more_failures_than_a_result_lists_keeps_their_ids_and_the_final_merge_is_unchanged(shard_env):
    env = shard_env
    failed = MAX_FAILURES_IN_RESULT + 234
    seed_shard(env["table"], env["s3"], inline=40, in_s3=0, failed=failed, skipped=3)
    expected = reference_reduction(env["tracker"], env["reader"], merge_counts, 0)

    reduction = reduce_tasks(env["tracker"], env["reader"], merge_counts, JOB, 0)

    assert stored(env["s3"], status_file_key(JOB, "failed", 0)) == expected["bodies"]["failed"]  # every failure
    assert reduction["failures"] == expected["result"]["failures"][:MAX_FAILURES_IN_RESULT]
    assert reduction["failed_subtask_ids"] == [failure["subtask_id"] for failure in expected["result"]["failures"]]
    assert reduction["failed"] == failed

    # The final merge over the new shard result, and over the one the reduction wrote before: the same manifest.
    assert env["tracker"].record_reduction(JOB, 0, {"result_key": shard_result_key(JOB, 0)})
    job = env["tracker"].get_job(JOB)
    manifests = []
    for shard_result in (reduction, expected["result"]):
        env["s3"].put_object(Bucket=BUCKET, Key=shard_result_key(JOB, 0), Body=json.dumps(shard_result))
        manifests.append(consolidate(env["tracker"], env["reader"], merge_counts, job))
    assert manifests[0] == manifests[1]
    assert len(manifests[0][0]["failed_subtask_ids"]) == failed
    assert len(manifests[0][0]["failures"]) == MAX_FAILURES_IN_RESULT


def test_status_lines_leave_memory_while_the_merge_is_still_reading(shard_env):
    """The lines go up in parts as the results stream through the merge, not once it has read them all."""
    env = shard_env
    seed_shard(env["table"], env["s3"], inline=0, in_s3=900, failed=0, skipped=0)
    uploads = []
    env["s3"].meta.events.register("before-call.s3.UploadPart", lambda **kwargs: uploads.append(kwargs))
    uploaded_while_merging = []

    def merge(results: Iterator[Any]) -> int:
        for count, _ in enumerate(results, 1):
            uploaded_while_merging.append((count, len(uploads)))
        return 0

    reduce_tasks(env["tracker"], env["reader"], merge, JOB, 0)

    first_part_at = next(count for count, parts in uploaded_while_merging if parts)
    assert first_part_at <= 600  # a part is 5 MiB of the shard's 9 MiB of results


def test_a_shard_is_read_a_bounded_page_of_whole_items_at_a_time(shard_env):
    env = shard_env
    tasks = 2 * TASKS_PER_PAGE + 10
    seed_shard(env["table"], env["s3"], inline=tasks, in_s3=0, failed=0, skipped=0)
    queries = []
    env["table"].meta.client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **kwargs: queries.append(params)
    )

    assert len(list(env["tracker"].shard_tasks(JOB, 0))) == tasks
    assert [query.get("Limit") for query in queries] == [TASKS_PER_PAGE] * 3
    queries.clear()
    assert len(list(env["tracker"].shard_tasks(JOB, 0, attributes=("subtask_id", "outcome")))) == tasks
    assert [query.get("Limit") for query in queries] == [None]  # small projected items: DynamoDB's 1 MB pages


# -- the line writer --------------------------------------------------------------------------------------


class RecordingS3:
    """An S3 client that keeps nothing: it reads each body as the SDK does, asking 1 MiB at a time to checksum
    and sign it, and records what it got and the largest read it was given."""

    def __init__(self, fail_on_part: int | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.digest = hashlib.sha256()
        self.fail_on_part = fail_on_part
        self.largest_read = 0

    def _consume(self, body: Any) -> int:
        if isinstance(body, bytes):
            self.digest.update(body)
            return len(body)
        size = 0
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            self.digest.update(chunk)
            size += len(chunk)
            self.largest_read = max(self.largest_read, len(chunk))
        return size

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("put_object", {**kwargs, "Body": self._consume(kwargs["Body"])}))
        return {"ETag": '"put"'}

    def delete_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete_object", kwargs))
        return {}

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_multipart_upload", kwargs))
        return {"UploadId": "upload-1"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["PartNumber"] == self.fail_on_part:
            raise ConnectionError("the part did not go up")
        self.calls.append(("upload_part", {**kwargs, "Body": self._consume(kwargs["Body"])}))
        return {"ETag": f'"part-{kwargs["PartNumber"]}"', "ChecksumCRC32": f"crc-{kwargs['PartNumber']}"}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("complete_multipart_upload", kwargs))
        return {}

    def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("abort_multipart_upload", kwargs))
        return {}

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


def lines_of(count: int, width: int = 700) -> Iterator[str]:
    return (json.dumps({"subtask_id": n, "pad": "x" * (width + n % 300)}) for n in range(count))


def test_the_writer_holds_a_line_in_memory_and_uploads_parts_of_the_part_size():
    s3, expected = RecordingS3(), hashlib.sha256()
    longest = total = 0
    tracemalloc.start()
    try:
        with LineObject(s3, BUCKET, "results/job-1/succeeded/shard-0000.jsonl", part_bytes=PART) as lines:
            for line in lines_of(30_000):  # about 25 MiB
                lines.write(line)
                expected.update(line.encode() + b"\n")
                longest = max(longest, len(line) + 1)
                total += len(line) + 1
            assert lines.finish()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 1 * 2**20  # a part is 5 MiB: none was ever held
    assert s3.largest_read == READ_BYTES  # nor 1 MiB of one, whatever the SDK asks for
    parts = s3.named("upload_part")
    sizes = [part["Body"] for part in parts]
    assert [part["PartNumber"] for part in parts] == list(range(1, len(parts) + 1))
    assert len(parts) == total // PART + 1  # about 25 MiB: five full parts, the last one with the rest
    assert all(PART <= size < PART + longest for size in sizes[:-1])
    assert 0 < sizes[-1] < PART + longest
    assert sum(sizes) == total
    assert s3.digest.hexdigest() == expected.hexdigest()  # every byte, in order
    [create] = s3.named("create_multipart_upload")
    assert create["ContentType"] == "application/x-ndjson"
    [complete] = s3.named("complete_multipart_upload")
    assert complete["MultipartUpload"]["Parts"] == [
        {"PartNumber": n, "ETag": f'"part-{n}"', "ChecksumCRC32": f"crc-{n}"} for n in range(1, len(parts) + 1)
    ]
    assert not s3.named("put_object")
    assert not s3.named("abort_multipart_upload")


def test_a_file_smaller_than_a_part_is_put_once_and_one_without_lines_is_deleted():
    s3 = RecordingS3()
    with LineObject(s3, BUCKET, "small.jsonl") as small:
        for line in ("a", "b"):
            small.write(line)
        assert small.finish()
    with LineObject(s3, BUCKET, "empty.jsonl") as empty:
        assert not empty.finish()

    assert [name for name, _ in s3.calls] == ["put_object", "delete_object"]
    assert s3.named("put_object")[0] | {"Body": None} == {
        "Bucket": BUCKET,
        "Key": "small.jsonl",
        "Body": None,
        "ContentType": "application/x-ndjson",
    }
    assert s3.digest.hexdigest() == hashlib.sha256(b"a\nb\n").hexdigest()
    assert small.lines == 2


def test_a_failure_while_streaming_aborts_the_upload_and_writes_nothing():
    s3 = RecordingS3(fail_on_part=2)

    def stream() -> None:
        with LineObject(s3, BUCKET, "results/x.jsonl", part_bytes=PART) as lines:
            for line in lines_of(30_000):
                lines.write(line)
            lines.finish()

    with pytest.raises(ConnectionError):
        stream()

    assert len(s3.named("upload_part")) == 1
    assert s3.named("abort_multipart_upload") == [{"Bucket": BUCKET, "Key": "results/x.jsonl", "UploadId": "upload-1"}]
    assert not s3.named("complete_multipart_upload")


def test_an_error_after_the_lines_aborts_the_upload_and_keeps_the_first_error():
    class NoAbort(RecordingS3):
        def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
            raise PermissionError("not allowed to abort")

    s3 = NoAbort()

    def stream() -> None:
        with LineObject(s3, BUCKET, "k", part_bytes=PART) as lines:
            for line in lines_of(10_000):
                lines.write(line)
            raise RuntimeError("the merge failed")

    with pytest.raises(RuntimeError, match="the merge failed"):
        stream()

    assert not s3.named("complete_multipart_upload")


class WholeObjectStore:
    """A client without multipart uploads whose put_object wants bytes, as the local runner's folder store."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **kwargs: Any) -> dict[str, Any]:
        self.objects[Key] = bytes(Body)
        return {}

    def delete_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        self.objects.pop(Key, None)
        return {}


def test_a_client_without_multipart_uploads_gets_the_whole_object_in_one_put():
    store, expected = WholeObjectStore(), io.BytesIO()
    with LineObject(store, BUCKET, "big.jsonl", part_bytes=PART) as lines:
        for line in lines_of(10_000):
            lines.write(line)
            expected.write(line.encode() + b"\n")
        assert lines.finish()

    assert store.objects == {"big.jsonl": expected.getvalue()}
    assert len(expected.getvalue()) > PART


def test_a_part_smaller_than_s3_takes_is_refused():
    with pytest.raises(ValueError, match="at least"):
        LineObject(RecordingS3(), BUCKET, "k", part_bytes=S3_MIN_PART_BYTES - 1)


def test_moto_takes_the_parts_and_serves_the_same_bytes(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    expected = b"".join(line.encode() + b"\n" for line in lines_of(14_000))
    with LineObject(s3, BUCKET, "results/job-1/failed/shard-0001.jsonl", part_bytes=PART) as lines:
        for line in lines_of(14_000):
            lines.write(line)
        assert lines.finish()

    stored_object = s3.get_object(Bucket=BUCKET, Key="results/job-1/failed/shard-0001.jsonl")
    assert stored_object["Body"].read() == expected
    assert stored_object["ContentType"] == "application/x-ndjson"
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
