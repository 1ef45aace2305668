"""The model's inputs, measured on the running emulator, and the end-to-end times the model is validated against.

`measure()` times each AWS call the pipeline makes (one client, one call at a time, the median of several), the
client's CPU per call, a Lambda invocation's start on the emulator, and the CPU each stage spends per subtask:
the ventilator's dispatch against the 10 ms stub (bench/dispatch.py), the word count of one chunk, a partial's
merge. `measured_end_to_end()` runs the word-count job on the deployed envs/local stack from submit to result.
boto3 is imported inside the functions: the model itself (and its unit tests) stay stdlib-only.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STORE = Path(__file__).resolve().parents[2] / "build" / "bench" / "scale_calibration.json"
SAMPLES = 15  # calls timed per operation: the median of these
RECEIVE_DEPTHS = (0, 2_000, 10_000)  # queue depths ReceiveMessage is timed at (MiniStack scans the queue)


@dataclass
class Calibration:
    """Measured inputs, in seconds. `service_s`: one call answered by the emulator, as one client sees it alone."""

    service_s: dict[str, float] = field(default_factory=dict)  # operation -> median seconds
    receive_s_per_queued: float = 0.0  # ReceiveMessage's extra seconds per message in the queue (MiniStack scans it)
    client_cpu_s_per_call: float = 0.0  # botocore's CPU per call in the caller (signing, parsing)
    invoke_start_s: float = 0.0  # the emulator: a mapping's invocation of a function doing nothing, send to delete
    invoke_server_cpu_s: float = 0.0  # the emulator's own CPU for that invocation
    spawn_s: float = 0.0  # the emulator: a function's first invocation, more than a warm one (a process spawned)
    sync_invoke_s: float = 0.0  # the emulator: Invoke (RequestResponse) of a warm function doing nothing
    handler_import_s: float = 0.0  # the worker handler's import from its zip (a cold start's own share)
    ventilator_cpu_s_per_subtask: float = 0.0  # dispatch against the 10 ms stub, 8 senders: CPU per subtask
    ventilator_stub_rate: float = 0.0  # subtasks/s that dispatch reached against the stub
    workload_cpu_s_per_subtask: float = 0.0  # the word count of one 256-byte chunk
    merge_cpu_s_per_partial: float = 0.0  # a reduction's CPU per partial result merged
    measured_at: str = ""
    notes: list[str] = field(default_factory=list)

    def service(self, operation: str) -> float:
        return self.service_s[operation]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Calibration:
        return cls(**document)


def save(calibration: Calibration, measured: dict[int, float], path: Path = STORE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"calibration": calibration.to_json(), "measured": {str(k): v for k, v in measured.items()}}
    path.write_text(json.dumps(document, indent=2) + "\n")


def load(path: Path = STORE) -> tuple[Calibration, dict[int, float]]:
    document = json.loads(path.read_text())
    measured = {int(subtasks): seconds for subtasks, seconds in document.get("measured", {}).items()}
    return Calibration.from_json(document["calibration"]), measured


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


def _sqs_calls(calibration: Calibration) -> list[float]:
    import boto3

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
        _fill(sqs, url, depth - _depth(sqs, url))
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


def _depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _dynamodb_calls(calibration: Calibration) -> list[float]:
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


def _s3_calls(calibration: Calibration) -> list[float]:
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


def _ventilator_cpu(calibration: Calibration, subtasks: int = 20_000) -> None:
    """The ventilator's CPU per subtask: its own dispatch against the 10 ms stub (no queue), 8 senders."""
    from bench.common import FakeContext
    from bench.dispatch import SENDER_THREADS, _bench_plan, _NoProgress, stub_with_round_trip
    from fan_out_ventilator.handler import dispatch

    with stub_with_round_trip():
        os.environ.update({"SUBTASK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/0/stub", "SENDER_THREADS": "8"})
        dispatch(_NoProgress(), _bench_plan(2_000), 0, FakeContext())  # warm clients and connections
        plan = _bench_plan(subtasks)
        cpu, wall = time.process_time(), time.perf_counter()
        sent = dispatch(_NoProgress(), plan, 0, FakeContext())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert sent == subtasks, f"dispatched {sent} of {subtasks}"
    calibration.ventilator_cpu_s_per_subtask = cpu / subtasks
    calibration.ventilator_stub_rate = subtasks / wall
    calibration.notes.append(
        f"ventilator against the 10 ms stub: {subtasks / wall:,.0f} subtasks/s, {SENDER_THREADS} senders"
    )


def _workload_cpu(calibration: Calibration) -> None:
    from serverless_patterns.workloads import word_count

    chunk = (b"the quick brown fox jumps over a lazy dog " * 7)[:256]
    partials = [word_count.count_words(chunk) for _ in range(1_000)]
    started = time.process_time()
    for _ in range(1_000):
        word_count.count_words(chunk)
    calibration.workload_cpu_s_per_subtask = (time.process_time() - started) / 1_000
    started = time.process_time()
    word_count.merge_counts(iter(partials))
    calibration.merge_cpu_s_per_partial = (time.process_time() - started) / len(partials)


NOOP_HANDLER = "def handler(event, context):\n    return {}\n"


def _server_cpu_s() -> float:
    """CPU seconds the emulator's process has used so far (its pid file, as scripts/emulator.sh writes it)."""
    from bench.common import REPO_ROOT

    pid = (REPO_ROOT / "build" / "emulator" / "ministack.pid").read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _invoke_start(calibration: Calibration, invocations: int = 60) -> None:
    """What an event source mapping's invocation costs on the emulator: a function that does nothing, fed one
    message at a time, from the send to the message's delete; and the emulator's own CPU for each."""
    import io
    import zipfile

    import boto3

    lambda_client, sqs = boto3.client("lambda"), boto3.client("sqs")
    name = f"scale-cal-{uuid.uuid4().hex[:8]}"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", NOOP_HANDLER)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/scale-cal",
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
        Timeout=30,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=10, ScalingConfig={"MaximumConcurrency": 2}
    )["UUID"]

    reads = [0]

    def one_message() -> None:
        sqs.send_message(QueueUrl=url, MessageBody="x")
        while _in_queue(sqs, url):
            reads[0] += 1
            time.sleep(0.005)

    cold = time.perf_counter()
    one_message()  # the function's first start: MiniStack spawns its process
    cold = time.perf_counter() - cold
    sync_invokes = [time.perf_counter()]
    for _ in range(5):
        lambda_client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
        sync_invokes.append(time.perf_counter())
    calibration.sync_invoke_s = statistics.median(b - a for a, b in itertools.pairwise(sync_invokes))
    reads[0], walls, server_cpu = 0, [], _server_cpu_s()
    for _ in range(invocations):
        started = time.perf_counter()
        one_message()
        walls.append(time.perf_counter() - started)
    server_cpu = _server_cpu_s() - server_cpu
    # The emulator's CPU for the attribute reads that watched the queue, measured alone, is taken off.
    read_cpu = _server_cpu_s()
    for _ in range(200):
        _in_queue(sqs, url)
    read_cpu = (_server_cpu_s() - read_cpu) / 200
    calibration.invoke_start_s = statistics.median(walls)
    calibration.spawn_s = max(0.0, cold - calibration.invoke_start_s)
    calibration.invoke_server_cpu_s = max(0.0, server_cpu - reads[0] * read_cpu) / invocations
    calibration.notes.append(
        f"an invocation by the event source mapping, send to delete: {calibration.invoke_start_s * 1000:.1f} ms "
        f"(median of {invocations}), the emulator's CPU {calibration.invoke_server_cpu_s * 1000:.1f} ms each "
        f"(less {reads[0] / invocations:.1f} attribute reads of {read_cpu * 1000:.2f} ms each); the first, "
        f"cold: {cold * 1000:.0f} ms; Invoke of the same function: {calibration.sync_invoke_s * 1000:.1f} ms"
    )
    lambda_client.delete_event_source_mapping(UUID=mapping)
    lambda_client.delete_function(FunctionName=name)
    sqs.delete_queue(QueueUrl=url)


def _in_queue(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def _handler_import(calibration: Calibration) -> None:
    import tempfile
    import zipfile

    from bench.cold_start import _import_ms
    from bench.common import REPO_ROOT

    with tempfile.TemporaryDirectory() as directory:
        zipfile.ZipFile(REPO_ROOT / "build" / "lambda" / "fan_out_worker.zip").extractall(directory)
        calibration.handler_import_s = _import_ms(Path(directory), "fan_out_worker.handler") / 1000


def measure(stack: dict | None = None) -> Calibration:
    """Every input, on the emulator in use (AWS_ENDPOINT_URL). The inputs need no deployed stack (the invocations
    are measured on a function of their own); `stack` is accepted for callers that have one at hand."""
    from bench.common import emulator

    calibration = Calibration(measured_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    with emulator():
        cpus = _sqs_calls(calibration) + _dynamodb_calls(calibration) + _s3_calls(calibration)
        calibration.client_cpu_s_per_call = statistics.median(cpus)
        _workload_cpu(calibration)
        _invoke_start(calibration)
    _ventilator_cpu(calibration)
    _handler_import(calibration)
    return calibration


WARM_UP_SUBTASKS = 1_000  # an unmeasured job first: every worker, the ventilator and consolidators started
SMALL_JOB_RUNS = 3  # a job of up to SMALL_JOB_SUBTASKS takes seconds: the median of a few, as the machine is shared
SMALL_JOB_SUBTASKS = 1_000


def measured_end_to_end(stack: dict, sizes: tuple[int, ...] = (1_000, 10_000)) -> dict[int, float]:
    """Submit to result of the word-count job on the deployed stack (as envs/local deploys it), by size: after an
    unmeasured job, so the functions are warm (as the emulator preset has them); small jobs the median of a few."""
    import boto3

    from bench.end_to_end import CHUNK_SIZE, _text
    from serverless_patterns.fan_in.tracker import JobStatus, JobTracker
    from serverless_patterns_ops.fan_out_jobs import submit_job, wait_for_job

    s3 = boto3.client("s3")
    tracker = JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"]))

    def run(subtasks: int) -> float:
        job_id = f"scale-{uuid.uuid4().hex[:8]}"
        key = f"inputs/{job_id}/text.txt"
        s3.put_object(Bucket=stack["bucket_name"], Key=key, Body=_text(subtasks))
        spec = {"job_id": job_id, "chunk_size_bytes": CHUNK_SIZE, "input": {"bucket": stack["bucket_name"], "key": key}}
        started = time.monotonic()
        answer = submit_job(boto3.client("lambda"), stack["ventilator_function_name"], spec)
        job = wait_for_job(tracker, job_id, timeout=3600, interval=0.25)
        seconds = time.monotonic() - started
        assert job["status"] == JobStatus.SUCCEEDED, f"job {job_id} ended {job['status']}"
        assert answer["total"] == subtasks, f"job {job_id} has {answer['total']} subtasks, not {subtasks}"
        return seconds

    run(WARM_UP_SUBTASKS)
    return {
        subtasks: statistics.median(
            run(subtasks) for _ in range(SMALL_JOB_RUNS if subtasks <= SMALL_JOB_SUBTASKS else 1)
        )
        for subtasks in sizes
    }


def main() -> None:
    """Measure and save (under scripts/with-emulator.sh, as `make bench` runs): the inputs, and the end-to-end
    times on a new sp-bench stack unless --inputs (then the saved times are kept)."""
    import sys

    from bench.common import REPO_ROOT
    from serverless_patterns_ops.local_stack import LocalStack, use_emulator_credentials

    use_emulator_credentials()
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    if "--inputs" in sys.argv:
        measured = load()[1]
    else:
        stack = LocalStack("sp-bench", REPO_ROOT / "build" / "bench").apply()["fan_out"]
        measured = measured_end_to_end(stack)
    calibration = measure()
    save(calibration, measured)
    print(json.dumps({"calibration": calibration.to_json(), "measured": measured}, indent=2))


if __name__ == "__main__":
    main()
