"""What an invocation costs on the emulator: a function doing nothing, invoked by an event source mapping and by
Invoke, and the emulator's own CPU for each."""

from __future__ import annotations

import itertools
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.scale_model.calibration import Calibration


NOOP_HANDLER = "def handler(event, context):\n    return {}\n"


def _server_cpu_s() -> float:
    """CPU seconds the emulator's process has used so far (its pid file, as scripts/emulator.sh writes it)."""
    from bench.common import REPO_ROOT

    pid = (REPO_ROOT / "build" / "emulator" / "ministack.pid").read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def invoke_start(calibration: Calibration, invocations: int = 60) -> None:
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
