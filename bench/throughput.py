"""8. Per-subtask cost with 10 ms per AWS request: the worker before and after, and the cost per million on AWS.

The workers reach the emulator through a proxy that adds a round trip to every
request and counts what they call; the ventilator and the consolidator go
through a second one that only counts. Both ask DynamoDB for the capacity
each request consumed. A job runs twice per configuration and latency: with
the event source mapping feeding the workers (the emulator sets the pace),
and with the mapping paused and one worker invoked at a time (the worker's
own chain sets it). "Before" is the worker's former call pattern, still
selectable: records one after another, every result an S3 object, one
transaction and one shard read per subtask (the unit tests show it makes
the same calls per subtask as the worker before these options existed).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3

from bench.common import Table, functions_configured
from bench.end_to_end import CHUNK_SIZE, _sequential, _text

# US East (N. Virginia) list prices without free tiers, with their sources there.
from bench.scale_model.prices import (
    DYNAMODB_PER_RRU,
    DYNAMODB_PER_WRU,
    EXPRESS_CHILD_GB,
    EXPRESS_OVERHEAD_SECONDS,
    EXPRESS_PER_GB_SECOND,
    EXPRESS_PER_REQUEST,
    LAMBDA_PER_GB_SECOND,
    LAMBDA_PER_REQUEST,
    S3_PER_GET,
    S3_PER_PUT,
    SFN_PER_TRANSITION,
    SQS_PER_REQUEST,
)

SUBTASKS = 1_000
JOB_ON_AWS = 1_000_000
WORKERS_ON_AWS = 1_000
ESM_SCALING_PER_MINUTE = 300
WCU_PER_SUBTASK_ACROSS_SHARDS = 4  # fan_in_tracker's README: 2 for the marker, 2 for its shard's counter
ROUND_TRIP_SECONDS = 0.010
CONFIGURATIONS = {
    "before: one record at a time, results in S3, one transaction per subtask": {
        "WORKER_THREADS": "1",
        "INLINE_RESULT_MAX_BYTES": "0",
        "COMPLETIONS_PER_TRANSACTION": "1",
    },
    "after: the module's defaults (10 threads, results up to 4 KiB inline, a batch per transaction)": {},
}

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
    busy_seconds: Counter = field(default_factory=Counter)  # summed invocation durations, by role

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


@contextlib.contextmanager
def _mapping_paused(stack: dict) -> Iterator[str]:
    """The workers' event source mapping disabled for a while; yields the subtask queue's ARN."""
    sqs, lambda_client = boto3.client("sqs"), boto3.client("lambda")
    queue_arn = sqs.get_queue_attributes(QueueUrl=stack["queue_url"], AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    [mapping] = [
        m
        for m in lambda_client.list_event_source_mappings(FunctionName=stack["worker_function_name"])[
            "EventSourceMappings"
        ]
        if m["EventSourceArn"] == queue_arn
    ]
    lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    try:
        yield queue_arn
    finally:
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)


def _feed_one_batch_at_a_time(stack: dict, queue_arn: str, total: int) -> None:
    """Be the event source mapping with one worker: receive 10, invoke the worker, delete what succeeded."""
    sqs, lambda_client = boto3.client("sqs"), boto3.client("lambda")
    done, deadline = 0, time.monotonic() + 1800
    while done < total and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=stack["queue_url"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        event = {"Records": [_sqs_record(message, queue_arn) for message in messages]}
        answer = lambda_client.invoke(FunctionName=stack["worker_function_name"], Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, f"the worker failed: {payload}"
        assert not payload.get("batchItemFailures"), f"the worker failed {payload['batchItemFailures']}"
        sqs.delete_message_batch(
            QueueUrl=stack["queue_url"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        done += len(messages)
    assert done >= total, f"fed {done} of {total} subtasks"


def _sqs_record(message: dict, queue_arn: str) -> dict:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def _run_job(
    stack: dict, key: str, extra: dict[str, str], round_trip: float, expected: dict, one_at_a_time: bool = False
) -> Usage:
    from fault_injection import FaultPlan, FaultProxy
    from serverless_patterns.fan_in.tracker import JobStatus, JobTracker
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
        functions_configured(
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
        with _mapping_paused(stack) if one_at_a_time else contextlib.nullcontext() as queue_arn:
            answer = submit_job(boto3.client("lambda"), functions["ventilator"], spec)
            if one_at_a_time:
                _feed_one_batch_at_a_time(stack, queue_arn, answer["total"])
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
        usage.busy_seconds[role] = sum(ms / 1000 for ms, _ in reports)
    return usage


def run(stack: dict) -> Table:
    table = Table(
        "throughput",
        f"8. Per-subtask cost: a word count of {SUBTASKS:,} subtasks, submit to result, "
        f"with and without {ROUND_TRIP_SECONDS * 1000:g} ms added to every AWS request of the workers",
        [
            "worker",
            "added per request",
            "workers at once",
            f"s per {SUBTASKS:,} subtasks",
            "vs before",
            "worker busy s",
            "worker AWS calls per subtask",
            "S3 PUT",
            "transactions",
            "DynamoDB reads",
            "WCU per subtask",
            "RCU per subtask",
        ],
    )
    s3 = boto3.client("s3")
    text = _text(SUBTASKS)
    key = f"inputs/bench-throughput-{uuid.uuid4().hex[:8]}/text.txt"
    s3.put_object(Bucket=stack["bucket_name"], Key=key, Body=text)
    expected = _sequential(stack["bucket_name"], key, len(text), SUBTASKS, waiting=False)
    usages: dict[tuple[str, float, bool], Usage] = {}
    for one_at_a_time in (False, True):
        for round_trip in (0.0, ROUND_TRIP_SECONDS):
            for name, extra in CONFIGURATIONS.items():
                usage = _run_job(stack, key, extra, round_trip, expected, one_at_a_time)
                usages[(name, round_trip, one_at_a_time)] = usage
                before = usages[(next(iter(CONFIGURATIONS)), round_trip, one_at_a_time)]
                table.rows.append(
                    [
                        name,
                        f"{round_trip * 1000:g} ms",
                        1 if one_at_a_time else f"up to {stack['worker_maximum_concurrency']}",
                        usage.seconds,
                        "1.0x" if usage is before else f"{before.seconds / usage.seconds:.1f}x fewer s",
                        usage.busy_seconds["worker"],
                        sum(usage.worker_calls_per_subtask(service) for service in ("dynamodb", "s3", "lambda")),
                        usage.worker_calls_per_subtask("s3", {"PutObject"}),
                        usage.worker_calls_per_subtask("dynamodb", {"TransactWriteItems"}),
                        usage.worker_calls_per_subtask("dynamodb", {"GetItem", "BatchGetItem", "Query"}),
                        usage.write_units / SUBTASKS,
                        usage.read_units / SUBTASKS,
                    ]
                )
    # Priced from the one-at-a-time runs: their durations are the worker's own, not the emulator's queue.
    measured = {name: usages[(name, ROUND_TRIP_SECONDS, True)] for name in CONFIGURATIONS}
    costs = {name: usage.cost_per_million() for name, usage in measured.items()}
    after = list(measured.values())[-1]
    worker_gb_s = after.gb_seconds["worker"] / SUBTASKS
    step_functions = distributed_map_per_million(worker_gb_s)
    cost = Table(
        "cost",
        f"8b. Cost per million subtasks on AWS, from the calls counted in the {ROUND_TRIP_SECONDS * 1000:g} ms runs "
        "of one worker at a time",
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
    table.extra += [cost, _on_aws(after)]
    table.notes += _notes(usages, stack)
    cost.notes += _cost_notes(after, worker_gb_s)
    return table


def _on_aws(after: Usage) -> Table:
    """What bounds a job of a million subtasks on AWS at 1,000 workers, from this run's measurements."""
    from bench.dispatch import SENDER_THREADS, _ceiling_row, stub_with_round_trip

    dispatched = _ceiling_row("stub", stub_with_round_trip, 20_000, SENDER_THREADS)[5]
    per_worker = SUBTASKS / after.busy_seconds["worker"]  # subtasks per second of one busy worker
    batch_seconds = after.busy_seconds["worker"] / max(after.invocations["worker"], 1)
    # The event source mapping adds 300 concurrent invocations a minute: N subtasks done by time t while ramping
    # is 5 t^2 x per_worker (0.5 x 300/60 x t^2); past 1,000 workers (at 200 s) it runs at 1,000 x per_worker.
    ramp_seconds = WORKERS_ON_AWS / (ESM_SCALING_PER_MINUTE / 60)
    in_ramp = 0.5 * (ESM_SCALING_PER_MINUTE / 60) * ramp_seconds**2 * per_worker
    if in_ramp >= JOB_ON_AWS:
        processing = (2 * JOB_ON_AWS / ((ESM_SCALING_PER_MINUTE / 60) * per_worker)) ** 0.5
    else:
        processing = ramp_seconds + (JOB_ON_AWS - in_ramp) / (WORKERS_ON_AWS * per_worker)
    shards = -(-WORKERS_ON_AWS // 5)  # parallel_shards' default: one per five workers
    # With that many shards a batch's ten subtasks are in ten of them: a marker and a counter update each.
    tracker_rate = shards * 1000 / WCU_PER_SUBTASK_ACROSS_SHARDS
    table = Table(
        "on_aws",
        f"8c. What bounds a job of {JOB_ON_AWS:,} subtasks on AWS at {WORKERS_ON_AWS:,} workers (from this run)",
        ["stage", "bound", "rate /s", f"{JOB_ON_AWS:,} subtasks take"],
    )
    stages = {
        "one ventilator's dispatch": JOB_ON_AWS / dispatched,
        "the workers' ramp and run": processing,
        "the tracker's shards": JOB_ON_AWS / tracker_rate,
    }
    slowest = max(stages, key=stages.__getitem__)
    table.rows += [
        [
            "dispatch (one ventilator, 8 senders)",
            "the ventilator's CPU: the stub row measured here",
            dispatched,
            f"{JOB_ON_AWS / dispatched:,.0f} s",
        ],
        [
            "workers",
            f"a worker invocation takes {batch_seconds * 1000:.0f} ms (measured above with 10 ms per request, "
            "an upper bound: the emulator adds its own time to each); "
            f"the event source mapping adds {ESM_SCALING_PER_MINUTE} workers a minute",
            WORKERS_ON_AWS * per_worker,
            f"{processing:,.0f} s",
        ],
        [
            "tracker",
            f"1,000 WCU/s per shard over {shards} parallel shards, {WCU_PER_SUBTASK_ACROSS_SHARDS} WCU per "
            f"subtask when a batch spans 10 shards ({after.write_units / SUBTASKS:.1f} measured above, "
            "where a batch spans fewer)",
            tracker_rate,
            f"{JOB_ON_AWS / tracker_rate:,.0f} s",
        ],
    ]
    table.notes += [
        "The stages overlap: workers start on the first subtasks sent, so the job takes about as long as its "
        f"slowest stage, here {slowest} (about {stages[slowest]:,.0f} s), plus the reduction of its last shards "
        "and the final merge (seconds). Several jobs, or a job split into several, dispatch side by side.",
        "Quotas that apply: 1,250 concurrent invocations per event source mapping, reached at +300 a minute; the "
        "account's concurrency (1,000 by default, shared by every function); Lambda scales a function by 1,000 "
        "environments per 10 s. A standard queue takes a nearly unlimited number of calls per second.",
        "The emulator bounds every figure of the table above it, not these: it runs each invocation as a local "
        "process on 2 cores and answers requests largely one at a time.",
    ]
    return table


def _dollars(value: float | None) -> str:
    return "—" if value is None else f"${value:.2f}"


def _notes(usages: dict[tuple[str, float, bool], Usage], stack: dict) -> list[str]:
    before_name, after_name = CONFIGURATIONS
    ms = f"{ROUND_TRIP_SECONDS * 1000:g} ms"

    def spent(name: str, one_at_a_time: bool) -> float:
        return usages[(name, ROUND_TRIP_SECONDS, one_at_a_time)].seconds - usages[(name, 0.0, one_at_a_time)].seconds

    return [
        "Before is the worker's former call pattern, selected with WORKER_THREADS=1, INLINE_RESULT_MAX_BYTES=0 and "
        "COMPLETIONS_PER_TRANSACTION=1: per subtask an S3 GET of its chunk, an S3 PUT of its result, a transaction "
        "and a shard read, one after another. After is the module's defaults: the records of a batch on threads, "
        "results under 4 KiB in their tracker item, a batch's completions in one transaction and its shards read "
        "in one BatchGetItem.",
        f"The {ms} is added by a proxy in front of the emulator that every AWS request of the workers goes through "
        "(FaultProxy in tests/fault_injection.py; requests in flight wait side by side), as an in-region round trip "
        "would. The ventilator and the consolidator go through one that adds nothing. Both count every call and ask "
        "DynamoDB for the capacity each consumed, which the emulator computes from item sizes as DynamoDB does.",
        f"Up to {stack['worker_maximum_concurrency']} workers (the local stack's cap, fed by the event source "
        f"mapping): the emulator sets the pace. Adding {ms} to every request changes the job's time by "
        f"{spent(before_name, False):+.1f} s before and {spent(after_name, False):+.1f} s after: while one worker "
        "waits, the others keep the emulator busy, which starts each invocation as a local process and answers "
        "requests largely one at a time on the 2 cores it shares with the workers. Fewer requests per subtask is "
        "what shortens these rows.",
        f"One worker at a time (the mapping paused, the benchmark receives 10 subtasks, invokes the worker and "
        f"deletes them): the emulator is never the queue, so the rows show the worker's own chain. The {ms} "
        f"costs {spent(before_name, True):.1f} s per {SUBTASKS:,} subtasks before and "
        f"{spent(after_name, True):.1f} s after ({_ratio(spent(before_name, True), spent(after_name, True))} less).",
        "Worker busy s: the sum of the worker invocations' durations (their REPORT lines), what Lambda bills.",
    ]


def _ratio(before: float, after: float) -> str:
    return f"{before / after:.1f}x" if after > 0 else "all of it"


def _cost_notes(after: Usage, worker_gb_s: float) -> list[str]:
    invocations = max(after.invocations["worker"], 1)
    return [
        "Counted in the run: every AWS call of the three functions and the DynamoDB units each consumed, the "
        "Lambda invocations and their durations (the REPORT lines of their log groups, as the emulator times "
        "them), scaled from 1,000 subtasks to a million. Added, not counted: one ReceiveMessage and one "
        "DeleteMessageBatch per worker invocation, made by the event source mapping's pollers; the empty receives "
        "of an idle queue, storage, logs and data transfer are left out.",
        f"Lambda duration is what the emulator measured with the added round trips, one worker at a time: "
        f"{after.gb_seconds['worker'] / invocations * 1024:.0f} MB-s per worker invocation of about "
        f"{SUBTASKS / invocations:.0f} subtasks, at the memory the function is configured with (an upper bound: "
        "the emulator's own time per request is in it).",
        "Distributed Map: a Standard parent whose Map state runs one Express child per item, the child a single "
        "Lambda task doing the same work as a worker ("
        f"{worker_gb_s * 1024:.1f} MB-s per item, measured above). Each child is one state transition of the "
        "parent, one Express request and its duration at 64 MB, rounded up to 100 ms after about 0.1 s of its own. "
        "Prices and their sources: docs/distributed-map.md, which also prices batches of 10.",
    ]
