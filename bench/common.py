"""What every benchmark shares: tables, timing, the machine, the AWS backends."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: list[Table] = field(default_factory=list)  # tables of the same run, printed after this one

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n" + "".join("\n" + table.markdown() for table in self.extra)

    def write(self) -> str:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        text = self.markdown()
        (RESULTS_DIR / f"{self.name}.md").write_text(text)
        print(text, flush=True)
        return text


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def median_seconds(function: Callable[[], Any], runs: int) -> float:
    return statistics.median(timed(function)[1] for _ in range(runs))


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    terraform = subprocess.run(["terraform", "version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "terraform": terraform,
        "emulator": os.environ.get("EMULATOR", "ministack") + f" at {os.environ.get('AWS_ENDPOINT_URL', '?')}",
    }


def _fresh_clients() -> None:
    """Forget the handlers' cached clients, so the next ones reach the backend now in use."""
    from serverless_patterns.shared import aws_clients

    aws_clients.client.cache_clear()
    aws_clients.dynamodb_table.cache_clear()


@contextlib.contextmanager
def moto_in_process() -> Iterator[None]:
    """moto in this process, every API call serialized (moto is not thread-safe), caches cleared."""
    from botocore.client import BaseClient
    from moto import mock_aws

    endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)
    original = BaseClient._make_api_call
    lock = threading.Lock()

    def serialized(self: BaseClient, operation: str, params: dict) -> Any:
        with lock:
            return original(self, operation, params)

    _fresh_clients()
    BaseClient._make_api_call = serialized
    try:
        with mock_aws():
            yield
    finally:
        BaseClient._make_api_call = original
        _fresh_clients()
        if endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint


@contextlib.contextmanager
def emulator() -> Iterator[None]:
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise RuntimeError("AWS_ENDPOINT_URL is not set: run the benchmarks through `make bench`")
    _fresh_clients()
    yield


def queue_depth(sqs: Any, url: str) -> int:
    """The messages waiting in a queue (not those in flight)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def tracker_table(purpose: str) -> Any:
    """A new table shaped like fan_in_tracker's (pk/sk) on the backend in use."""
    import boto3

    table = boto3.resource("dynamodb").create_table(
        TableName=f"bench-{purpose}-{uuid.uuid4().hex[:8]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    return table


class FakeContext:
    """A Lambda context that never runs out of time."""

    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@contextlib.contextmanager
def functions_configured(functions: dict[str, dict[str, str]]) -> Iterator[None]:
    """Give each deployed function the extra environment variables shown for a while, then its own back."""
    import boto3

    lambda_client = boto3.client("lambda")
    originals = {
        name: lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        for name in functions
    }

    def configure(name: str, variables: dict[str, str]) -> None:
        lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)

    try:
        for name, extra in functions.items():
            configure(name, {**originals[name], **extra})
        yield
    finally:
        for name, variables in originals.items():
            configure(name, variables)
