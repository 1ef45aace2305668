"""Each AWS call the pipeline makes, timed on the emulator: one client, one call at a time, the median of several;
and the CPU the client spends on a call."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.scale_model.calibration import Calibration

SAMPLES = 15  # calls timed per operation: the median of these
RECEIVE_DEPTHS = (0, 2_000, 10_000)  # queue depths ReceiveMessage is timed at (MiniStack scans the queue)


def _timed_calls(call: Callable[[], Any], samples: int = SAMPLES) -> tuple[float, float]:
    """Median wall seconds of one call, and the mean CPU seconds this process spent on it."""
    call()  # a warm connection
    walls, cpu_started = [], time.process_time()
    for _ in range(samples):
        started = time.perf_counter()
        call()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), (time.process_time() - cpu_started) / samples


def _fill(sqs: Any, url: str, count: int) -> None:
    for first in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{first + i}" * 40} for i in range(min(10, count - first))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def sqs_calls(calibration: Calibration) -> list[float]:
    import boto3

    from bench.common import queue_depth

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"scale-cal-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    entries = [{"Id": str(i), "MessageBody": "x" * 400} for i in range(10)]
    send, send_cpu = _timed_calls(lambda: sqs.send_message_batch(QueueUrl=url, Entries=entries))
    calibration.service_s["SendMessageBatch"] = send
    sqs.purge_queue(QueueUrl=url)
    time.sleep(1)
    receives = []
    for depth in RECEIVE_DEPTHS:
        _fill(sqs, url, depth - queue_depth(sqs, url))
        # Messages received here come back after the 1 s visibility timeout: the depth stays about the same.
        seconds, _ = _timed_calls(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10), 5)
        receives.append((depth, seconds))
    calibration.service_s["ReceiveMessage"] = receives[0][1]
    (d0, s0), (d1, s1) = receives[0], receives[-1]
    calibration.receive_s_per_queued = max(0.0, (s1 - s0) / (d1 - d0))
    sqs.purge_queue(QueueUrl=url)
    time.sleep(1)
    # DeleteMessageBatch of ten just received from a queue otherwise empty: MiniStack's delete, like its receive,
    # goes through every message of the queue, so the depth's share is the receive's slope above.
    deletes = []
    for _ in range(SAMPLES):
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        started = time.perf_counter()
        sqs.delete_message_batch(QueueUrl=url, Entries=handles)
        deletes.append(time.perf_counter() - started)
    calibration.service_s["DeleteMessageBatch"] = statistics.median(deletes)
    calibration.notes.append(
        "ReceiveMessage at depths " + ", ".join(f"{d:,}: {s * 1000:.1f} ms" for d, s in receives) + " (one client)"
    )
    sqs.delete_queue(QueueUrl=url)
    return [send_cpu]


def dynamodb_calls(calibration: Calibration) -> list[float]:
    import boto3

    from bench.common import tracker_table

    table = tracker_table("scale-cal")
    client = boto3.client("dynamodb")
    name = table.name
    item = {"pk": {"S": "J#job#S#0"}, "sk": {"S": "T#0"}, "result": {"S": "x" * 900}}
    with table.batch_writer() as writer:
        for i in range(200):
            writer.put_item(Item={"pk": "J#job#S#0", "sk": f"T#{i:06d}", "result": "x" * 900})
    counter = iter(range(10**9))

    def transact() -> None:
        # A batch's completions: ten markers and the shard's counter, as the tracker writes them.
        base = next(counter) * 10
        items = [{"Put": {"TableName": name, "Item": {**item, "sk": {"S": f"N#{base + i:09d}"}}}} for i in range(10)]
        counter_update = {
            "TableName": name,
            "Key": {"pk": {"S": "J#job#S#1"}, "sk": {"S": "SHARD"}},
            "UpdateExpression": "ADD done :ten",
            "ExpressionAttributeValues": {":ten": {"N": "10"}},
        }
        client.transact_write_items(TransactItems=[*items, {"Update": counter_update}])

    keys = [{"pk": {"S": "J#job#S#1"}, "sk": {"S": "SHARD"}}]
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("TransactWriteItems", transact),
        ("BatchGetItem", lambda: client.batch_get_item(RequestItems={name: {"Keys": keys}})),
        (
            "Query",
            lambda: client.query(
                TableName=name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "J#job#S#0"}},
                Limit=50,
            ),
        ),
        ("UpdateItem", lambda: client.update_item(**{k: v for k, v in _counter(name).items()})),
    ]
    cpus = []
    for operation, call in calls:
        calibration.service_s[operation], cpu = _timed_calls(call)
        cpus.append(cpu)
    table.delete()
    return cpus


def _counter(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "Key": {"pk": {"S": "J#job"}, "sk": {"S": "JOB"}},
        "UpdateExpression": "ADD dispatched :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }


def s3_calls(calibration: Calibration) -> list[float]:
    import boto3

    s3 = boto3.client("s3")
    bucket = f"scale-cal-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = b"the quick brown fox " * 13  # a 256-byte chunk, as the end-to-end job's
    s3.put_object(Bucket=bucket, Key="chunk", Body=body)
    put, put_cpu = _timed_calls(lambda: s3.put_object(Bucket=bucket, Key="out", Body=body * 4))
    get, get_cpu = _timed_calls(lambda: s3.get_object(Bucket=bucket, Key="chunk", Range="bytes=0-255")["Body"].read())
    calibration.service_s["PutObject"], calibration.service_s["GetObject"] = put, get
    for key in ("chunk", "out"):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    return [put_cpu, get_cpu]
