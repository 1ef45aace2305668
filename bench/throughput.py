"""8. Per-subtask cost with 10 ms per AWS request: the worker before and after, and the cost per million on AWS.

The workers reach the emulator through a proxy that adds a round trip to every
request and counts what they call; the ventilator and the consolidator go
through a second one that only counts. Both ask DynamoDB for the capacity
each request consumed. "Before" is the worker's former call pattern, still
selectable: records one after another, every result an S3 object, one
transaction and one shard read per subtask (the unit tests show it makes
the same calls per subtask as the worker before these options existed).
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3

from bench.common import Table
from bench.end_to_end import CHUNK_SIZE, _sequential, _text

SUBTASKS = 1_000
ROUND_TRIP_SECONDS = 0.010
CONFIGURATIONS = {
    "before: one record at a time, results in S3, one transaction per subtask": {
        "WORKER_THREADS": "1",
        "INLINE_RESULT_MAX_BYTES": "0",
        "COMPLETIONS_PER_TRANSACTION": "1",
    },
    "after: the module's defaults (10 threads, results up to 4 KiB inline, a batch per transaction)": {},
}

# US East (N. Virginia) list prices without free tiers, as in docs/distributed-map.md (which gives the sources).
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86
SQS_PER_REQUEST = 0.40 / 1e6
DYNAMODB_PER_WRU = 0.625 / 1e6
DYNAMODB_PER_RRU = 0.125 / 1e6
S3_PER_PUT = 0.005 / 1000  # PUT, COPY, POST and LIST
S3_PER_GET = 0.0004 / 1000  # GET, HEAD
SFN_PER_TRANSITION = 0.025 / 1000
EXPRESS_PER_REQUEST = 1.00 / 1e6
EXPRESS_PER_GB_SECOND = 0.00001667
EXPRESS_CHILD_GB = 64 / 1024  # an Express child bills at least 64 MB
EXPRESS_OVERHEAD_SECONDS = 0.1  # the child's own time beside its Lambda task, before rounding up to 100 ms

DYNAMODB_WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
S3_PUT_CLASS = {"PutObject", "CopyObject", "ListObjectsV2", "ListObjects"}
S3_GET_CLASS = {"GetObject", "HeadObject"}
REPORT = re.compile(r"^REPORT RequestId: \S+\s+Duration: ([\d.]+) ms.*Memory Size: (\d+) MB")


@dataclass
class Usage:
    """What one job used: AWS calls by (service, operation), DynamoDB units, Lambda invocations and GB-s by role."""

    seconds: float = 0.0
    calls: Counter = field(default_factory=Counter)
    worker_calls: Counter = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    invocations: Counter = field(default_factory=Counter)
    gb_seconds: Counter = field(default_factory=Counter)

    def worker_calls_per_subtask(self, service: str, operations: set[str] | None = None) -> float:
        matching = (n for (s, op), n in self.worker_calls.items() if s == service and op in (operations or {op}))
        return sum(matching) / SUBTASKS

    def cost_per_million(self) -> dict[str, float]:
        """Dollars per million subtasks, line by line."""
        scale = 1e6 / SUBTASKS
        sends = sum(n for (service, _), n in self.calls.items() if service == "sqs")
        # The event source mapping's own receive and delete per batch, which no proxy sees.
        polls = 2 * self.invocations["worker"]
        s3_puts = sum(n for (service, op), n in self.calls.items() if service == "s3" and op in S3_PUT_CLASS)
        s3_gets = sum(n for (service, op), n in self.calls.items() if service == "s3" and op in S3_GET_CLASS)
        return {
            "Lambda requests": scale * sum(self.invocations.values()) * LAMBDA_PER_REQUEST,
            "Lambda duration (x86)": scale * sum(self.gb_seconds.values()) * LAMBDA_PER_GB_SECOND,
            "SQS requests": scale * (sends + polls) * SQS_PER_REQUEST,
            "DynamoDB writes": scale * self.write_units * DYNAMODB_PER_WRU,
            "DynamoDB reads": scale * self.read_units * DYNAMODB_PER_RRU,
            "S3 PUT": scale * s3_puts * S3_PER_PUT,
            "S3 GET": scale * s3_gets * S3_PER_GET,
        }


def distributed_map_per_million(worker_gb_seconds_per_subtask: float) -> dict[str, float]:
    """Step Functions Distributed Map with an Express child per item, each child one Lambda task doing the same work."""
    child_seconds = -(-(worker_gb_seconds_per_subtask / EXPRESS_CHILD_GB + EXPRESS_OVERHEAD_SECONDS) // 0.1) * 0.1
    return {
        "Step Functions state transitions": 1e6 * SFN_PER_TRANSITION,
        "Express requests": 1e6 * EXPRESS_PER_REQUEST,
        "Express duration": 1e6 * child_seconds * EXPRESS_CHILD_GB * EXPRESS_PER_GB_SECOND,
        "Lambda requests": 1e6 * LAMBDA_PER_REQUEST,
        "Lambda duration (x86)": 1e6 * worker_gb_seconds_per_subtask * LAMBDA_PER_GB_SECOND,
    }


def _configure(lambda_client, function: str, variables: dict[str, str]) -> None:
    lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)


@contextlib.contextmanager
def _through(functions: dict[str, dict[str, str]]) -> Iterator[None]:
    """Give each function the extra environment variables shown for a while, then its own back."""
    lambda_client = boto3.client("lambda")
    originals = {
        name: lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        for name in functions
    }
    try:
        for name, extra in functions.items():
            _configure(lambda_client, name, {**originals[name], **extra})
        yield
    finally:
        for name, variables in originals.items():
            _configure(lambda_client, name, variables)


def _lambda_reports(function: str, since_ms: int) -> list[tuple[float, int]]:
    """(duration ms, memory MB) of every invocation of a function since a time, from its REPORT log lines."""
    logs = boto3.client("logs")
    found: list[tuple[float, int]] = []
    kwargs = {"logGroupName": f"/aws/lambda/{function}", "startTime": since_ms}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page.get("events", []):
            if match := REPORT.match(event["message"]):
                found.append((float(match.group(1)), int(match.group(2))))
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def _run_job(stack: dict, key: str, extra: dict[str, str], round_trip: float, expected: dict) -> Usage:
    from fault_injection import FaultPlan, FaultProxy
    from serverless_patterns.job_tracker import JobStatus, JobTracker
    from serverless_patterns_ops.fan_out_jobs import fetch_result, submit_job, wait_for_job

    s3 = boto3.client("s3")
    job_id = f"bench-{uuid.uuid4().hex[:8]}"
    endpoint = s3.meta.endpoint_url
    workers_plan, others_plan = FaultPlan(), FaultPlan()
    functions = {
        "worker": stack["worker_function_name"],
        "ventilator": stack["ventilator_function_name"],
        "consolidator": stack["consolidator_function_name"],
    }
    with (
        FaultProxy(endpoint, workers_plan, latency_seconds=round_trip, measure_capacity=True) as workers_proxy,
        FaultProxy(endpoint, others_plan, measure_capacity=True) as counting,
        _through(
            {
                functions["worker"]: {**extra, "AWS_ENDPOINT_URL": workers_proxy.url},
                functions["ventilator"]: {"AWS_ENDPOINT_URL": counting.url},
                functions["consolidator"]: {"AWS_ENDPOINT_URL": counting.url},
            }
        ),
    ):
        tracker = JobTracker(boto3.resource("dynamodb").Table(stack["tracker_table_name"]))
        spec = {"job_id": job_id, "chunk_size_bytes": CHUNK_SIZE, "input": {"bucket": stack["bucket_name"], "key": key}}
        since_ms = int(time.time() * 1000)
        started = time.monotonic()
        answer = submit_job(boto3.client("lambda"), functions["ventilator"], spec)
        job = wait_for_job(tracker, job_id, timeout=1800, interval=0.25)
        seconds = time.monotonic() - started
        time.sleep(2)  # the last REPORT lines reach the log groups just after the functions return
    assert answer["total"] == SUBTASKS, f"job {job_id} has {answer['total']} subtasks, not {SUBTASKS}"
    assert job["status"] == JobStatus.SUCCEEDED, f"job {job_id} ended {job['status']}"
    assert fetch_result(s3, job)["result"] == expected, f"job {job_id}'s result differs from one process's"
    usage = Usage(seconds=seconds)
    for plan in (workers_plan, others_plan):
        usage.calls.update(plan.calls)
        for operation, units in plan.capacity.items():
            if operation in DYNAMODB_WRITES:
                usage.write_units += units
            else:
                usage.read_units += units
    usage.worker_calls.update(workers_plan.calls)
    for role, function in functions.items():
        reports = _lambda_reports(function, since_ms)
        usage.invocations[role] = len(reports)
        usage.gb_seconds[role] = sum(ms / 1000 * mb / 1024 for ms, mb in reports)
    return usage


def run(stack: dict) -> Table:
    table = Table(
        "throughput",
        f"8. Per-subtask cost: a word count of {SUBTASKS:,} subtasks, submit to result, "
        f"with and without {ROUND_TRIP_SECONDS * 1000:g} ms added to every AWS request of the workers",
        [
            "worker",
            "added per request",
            f"s per {SUBTASKS:,} subtasks",
            "vs before",
            "worker AWS calls per subtask",
            "S3 PUT",
            "transactions",
            "DynamoDB reads",
            "WCU per subtask",
            "RCU per subtask",
            "worker invocations",
        ],
    )
    s3 = boto3.client("s3")
    text = _text(SUBTASKS)
    key = f"inputs/bench-throughput-{uuid.uuid4().hex[:8]}/text.txt"
    s3.put_object(Bucket=stack["bucket_name"], Key=key, Body=text)
    expected = _sequential(stack["bucket_name"], key, len(text), SUBTASKS, waiting=False)
    usages: dict[tuple[str, float], Usage] = {}
    for round_trip in (0.0, ROUND_TRIP_SECONDS):
        for name, extra in CONFIGURATIONS.items():
            usage = usages[(name, round_trip)] = _run_job(stack, key, extra, round_trip, expected)
            before = usages[(next(iter(CONFIGURATIONS)), round_trip)]
            table.rows.append(
                [
                    name,
                    f"{round_trip * 1000:g} ms",
                    usage.seconds,
                    "1.0x" if usage is before else f"{before.seconds / usage.seconds:.1f}x fewer s",
                    sum(usage.worker_calls_per_subtask(service) for service in ("dynamodb", "s3", "lambda")),
                    usage.worker_calls_per_subtask("s3", {"PutObject"}),
                    usage.worker_calls_per_subtask("dynamodb", {"TransactWriteItems"}),
                    usage.worker_calls_per_subtask("dynamodb", {"GetItem", "Query"}),
                    usage.write_units / SUBTASKS,
                    usage.read_units / SUBTASKS,
                    usage.invocations["worker"],
                ]
            )
    measured = {name: usages[(name, ROUND_TRIP_SECONDS)] for name in CONFIGURATIONS}
    costs = {name: usage.cost_per_million() for name, usage in measured.items()}
    after = list(measured.values())[-1]
    worker_gb_s = after.gb_seconds["worker"] / SUBTASKS
    step_functions = distributed_map_per_million(worker_gb_s)
    cost = Table(
        "cost",
        f"8b. Cost per million subtasks on AWS, from the calls counted in the {ROUND_TRIP_SECONDS * 1000:g} ms runs",
        ["line item", "before", "after", "Distributed Map, an Express child per item"],
    )
    for item in dict.fromkeys([*step_functions, *costs[next(iter(costs))]]):
        cost.rows.append(
            [item, *(_dollars(costs[name].get(item)) for name in measured), _dollars(step_functions.get(item))]
        )
    cost.rows.append(
        [
            "**Total**",
            *(f"**${sum(costs[name].values()):.2f}**" for name in measured),
            f"**${sum(step_functions.values()):.2f}**",
        ]
    )
    table.extra.append(cost)
    table.notes += _notes(usages, stack)
    cost.notes += _cost_notes(after, worker_gb_s)
    return table


def _dollars(value: float | None) -> str:
    return "—" if value is None else f"${value:.2f}"


def _notes(usages: dict[tuple[str, float], Usage], stack: dict) -> list[str]:
    return []


def _cost_notes(after: Usage, worker_gb_s: float) -> list[str]:
    return []
