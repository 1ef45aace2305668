"""Step Functions Distributed Map with Express children, predicted from its documented limits.

A Standard parent runs a Distributed Map state whose Map Run starts one Express child per item (or per batch of
`items_per_child` items, ItemBatcher); each child is one Lambda task doing what one of this project's subtasks does
(its per-item time is a parameter: the same workload). The Map Run keeps at most MaxConcurrency children running;
their Lambda invocations share the account's concurrency and Lambda's scaling rate; children are started no faster
than the Express StartExecution token bucket refills (whether a Map Run's children draw on that bucket is not
stated in the pages read: not verified, and at the default account concurrency it does not bind).

A small fluid simulation in steps of a fraction of a child's duration: at each step the Map Run starts as many
children as the tokens, the free slots and the items left allow; a child holds its slot for its duration. The
Map Run's own start, the item reader's paging and the ResultWriter's export are not documented and not modelled
(0 s), so the times are lower bounds for Distributed Map.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from bench.scale_model.prediction import Prediction
from bench.scale_model.prices import EXPRESS_BILLING_STEP_SECONDS, EXPRESS_CHILD_GB, EXPRESS_OVERHEAD_SECONDS

SYSTEM = "Distributed Map, Express children"

# State transitions of the parent besides one per child: its start, the Map state, its end (an estimate).
PARENT_OWN_TRANSITIONS = 3
# ResultWriter: a manifest.json and one file per status written (here all succeeded); not verified for large runs.
RESULT_WRITER_PUTS = 2


@dataclass(frozen=True)
class Limits:
    """Distributed Map's documented limits and the Lambda quotas its children's invocations share."""

    # MaxConcurrency unset: "up to 10,000 parallel child workflow executions" (state-map-distributed; verified).
    max_concurrency: int = 10_000
    # Express StartExecution, us-east-1: bucket 6,000, refill 6,000/s (Step Functions quotas; read from the
    # archived GitHub copy of the guide). That a Map Run's children draw on it: not verified.
    start_bucket: float = 6_000.0
    start_refill_per_second: float = 6_000.0
    # Lambda: 1,000 concurrent executions per account by default (gettingstarted-limits; verified), and each
    # function scales by 1,000 execution environments every 10 seconds (scaling-behavior; verified).
    account_concurrency: int = 1_000
    environments_per_scaling_step: int = 1_000
    scaling_step_seconds: float = 10.0
    # An Express child runs at most 5 minutes (Express quotas; verified).
    express_max_seconds: float = 300.0
    # Each child GETs its item's chunk from the input object, as this project's workers do: S3 takes at least
    # 5,500 GET/HEAD a second per partitioned prefix (the same quota as bench.scale_model.aws). None: no limit.
    s3_get_per_prefix_s: float | None = 5_500.0


def lambda_capacity(elapsed: float, limits: Limits) -> int:
    """Lambda environments the children's function may hold `elapsed` seconds after the first invocation."""
    steps = 1 + math.floor(elapsed / limits.scaling_step_seconds)
    return min(limits.account_concurrency, steps * limits.environments_per_scaling_step)


def child_seconds(items_per_child: int, item_seconds: float, overhead_seconds: float) -> float:
    """One child's duration: its Lambda task doing its items one after another, plus the child's own time."""
    return items_per_child * item_seconds + overhead_seconds


def billed_express_seconds(seconds: float) -> float:
    """Express duration is billed in 100 ms steps."""
    steps = math.ceil(round(seconds / EXPRESS_BILLING_STEP_SECONDS, 9))
    return max(1, steps) * EXPRESS_BILLING_STEP_SECONDS


@dataclass(frozen=True)
class _Run:
    dispatched_s: float
    finished_s: float
    peak: int
    bound_steps: dict[str, int]


def _simulate(children: int, duration: float, limits: Limits, gets_per_child: float) -> _Run:
    # A child's duration is a whole number of steps, so a slot frees exactly when its child ends.
    step = duration / max(4, math.ceil(duration / 0.05))
    tokens, running, started, done, elapsed, peak = limits.start_bucket, 0, 0, 0, 0.0, 0
    finishing: deque[tuple[float, int]] = deque()  # (when, how many) of the children started together
    bound_steps = {"start rate": 0, "S3 GETs": 0, "MaxConcurrency": 0, "account concurrency": 0, "Lambda scaling": 0}
    dispatched = 0.0
    # S3 has no documented burst: the prefix's GETs of one step, no more, spent as the children start.
    gets_per_step = (
        math.inf
        if not (limits.s3_get_per_prefix_s and gets_per_child)
        else (limits.s3_get_per_prefix_s * step / gets_per_child)
    )
    get_credit = 0.0
    while done < children:
        while finishing and finishing[0][0] <= elapsed + 1e-12:
            running -= finishing[0][1]
            done += finishing.popleft()[1]
        if done >= children:
            break
        capacity = min(limits.max_concurrency, lambda_capacity(elapsed, limits))
        free = max(0, capacity - running)
        left = children - started
        get_credit = min(get_credit + gets_per_step, max(gets_per_step, 1.0))
        starting = min(int(tokens), free, left, int(min(get_credit, left)))
        if left and starting < left:
            bound_steps[_binding(int(tokens), free, int(min(get_credit, left)), elapsed, limits)] += 1
        if starting:
            get_credit -= starting
            tokens -= starting
            running += starting
            started += starting
            finishing.append((elapsed + duration, starting))
            peak = max(peak, running)
            if started == children:
                dispatched = elapsed
        tokens = min(limits.start_bucket, tokens + limits.start_refill_per_second * step)
        elapsed += step
    return _Run(dispatched, elapsed, peak, bound_steps)


def _binding(tokens: int, free: int, gets: int, elapsed: float, limits: Limits) -> str:
    """Which limit held children back at this step."""
    if gets < min(tokens, free):
        return "S3 GETs"
    if tokens < free:
        return "start rate"
    if limits.max_concurrency <= lambda_capacity(elapsed, limits):
        return "MaxConcurrency"
    if lambda_capacity(elapsed, limits) >= limits.account_concurrency:
        return "account concurrency"
    return "Lambda scaling"


BOUND_WORDS = {
    "start rate": "the child start rate (Express StartExecution refill, not verified for Map Runs)",
    "S3 GETs": "S3 GETs on the input's prefix ({s3_get_per_prefix_s:,.0f}/s)",
    "MaxConcurrency": "MaxConcurrency (children in parallel)",
    "account concurrency": "Lambda account concurrency (the children's invocations)",
    "Lambda scaling": "Lambda scaling (1,000 environments per 10 s)",
    "none": "one child's duration (every child starts at once)",
}


def predict(
    subtasks: int,
    item_seconds: float,
    lambda_memory_gb: float,
    *,
    items_per_child: int = 1,
    s3_gets_per_item: float = 1.0,
    overhead_seconds: float = EXPRESS_OVERHEAD_SECONDS,
    limits: Limits | None = None,
) -> Prediction:
    """A job of `subtasks` items, each taking `item_seconds` of a Lambda of `lambda_memory_gb` (the same work as
    one subtask of this project, including the S3 GET of its input, counted in `s3_gets_per_item`)."""
    limits = limits or Limits()
    children = math.ceil(subtasks / items_per_child)
    duration = child_seconds(items_per_child, item_seconds, overhead_seconds)
    if duration > limits.express_max_seconds:
        raise ValueError(
            f"a child of {items_per_child} items takes {duration:.0f} s, over Express's "
            f"{limits.express_max_seconds:.0f} s: fewer items_per_child"
        )
    run = _simulate(children, duration, limits, items_per_child * s3_gets_per_item)
    lambda_seconds = items_per_child * item_seconds
    calls = {
        "sfn_state_transitions": children + PARENT_OWN_TRANSITIONS,
        "express_requests": children,
        "express_gb_s": children * billed_express_seconds(duration) * EXPRESS_CHILD_GB,
        "lambda_requests": children,
        "lambda_gb_s": children * lambda_seconds * lambda_memory_gb,
        "s3_get": subtasks * s3_gets_per_item,
        "s3_put": RESULT_WRITER_PUTS,
    }
    bound = max(run.bound_steps, key=run.bound_steps.__getitem__) if any(run.bound_steps.values()) else "none"
    return Prediction(
        system=SYSTEM,
        subtasks=subtasks,
        time_to_full_dispatch_s=run.dispatched_s,
        time_to_result_s=run.finished_s,
        peak_concurrency=min(run.peak, limits.account_concurrency),
        bounding_stage=BOUND_WORDS[bound].format(s3_get_per_prefix_s=limits.s3_get_per_prefix_s or 0),
        calls=calls,
        notes=(
            f"{items_per_child} item(s) per Express child, {children:,} children of {duration * 1000:.0f} ms "
            f"({lambda_seconds * 1000:.0f} ms of Lambda + {overhead_seconds * 1000:.0f} ms of the child's own)",
            "the Map Run's start, the item reader and the ResultWriter are not modelled (0 s): times are lower bounds",
        ),
    )
