"""The AWS quotas the model runs a job through, each a small class with one job.

Sources (AWS documentation, checked for issue 29):
- https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: for a standard queue "Lambda starts
  processing five batches at a time with five concurrent invocations", adds "up to 300 more instances per minute"
  while messages are available, up to 1,250 concurrent invocations per mapping (the figure the project's design
  facts and AWS's Knowledge Center, https://repost.aws/knowledge-center/lambda-sqs-scaling, give; one copy of the
  page read for issue 29 said 1,000); maximum_concurrency is 2 to 1,000. At the default account concurrency the
  account's 1,000 binds first, so the two figures predict the same.
- https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: "for each function, your concurrency scaling
  rate is 1,000 execution environment instances every 10 seconds", refilled continuously, never above 1,000.
- https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html: "each
  individual partition is limited to 1,000 write units per second and 3,000 read units per second".
- S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html, as AWS's knowledge
  center quotes it): "at least 3,500 PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second per partitioned
  prefix"; S3 partitions a busier prefix over time, which the model does not (so these are floors used as
  ceilings: a job held by them may go faster).
The account's concurrency, 1,000 by default, is a quota the account can raise.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

ESM_INITIAL_BATCHES = 5
ESM_SCALING_PER_MINUTE = 300
ESM_MAXIMUM = 1_250
LAMBDA_SCALING_ENVIRONMENTS = 1_000
LAMBDA_SCALING_WINDOW_S = 10.0
PARTITION_WCU_PER_S = 1_000.0
S3_PUT_PER_PREFIX_S = 3_500.0
S3_GET_PER_PREFIX_S = 5_500.0


class RateLimit:
    """At most `rate` units a second, counted in slots of `slot_s`: a request takes its units from the first slots
    with room at or after its time, and goes once it has them all (a DynamoDB partition's WCU, an S3 prefix's
    requests). Requests may be made out of time order: a later one does not hold back an earlier one."""

    def __init__(self, rate: float, slot_s: float = 0.01) -> None:
        self.rate, self.slot_s = rate, slot_s
        self.per_slot = rate * slot_s
        self._used: dict[int, float] = {}
        self._full: dict[int, int] = {}  # a full slot -> a later slot to look at (path-compressed)
        self.waited_s = 0.0
        self.units = 0.0

    def _first_with_room(self, slot: int) -> int:
        path = []
        while slot in self._full:
            path.append(slot)
            slot = self._full[slot]
        for full in path:
            self._full[full] = slot
        return slot

    def saturated(self, now: float) -> bool:
        """Every unit of the slot of `now` is taken: a request made now would wait."""
        return self._first_with_room(int(now / self.slot_s)) > int(now / self.slot_s)

    def reserve(self, now: float, units: float = 1.0) -> float:
        """When a request of `units` made at `now` can go."""
        self.units += units
        slot = self._first_with_room(int(now / self.slot_s))
        while True:
            used = self._used.get(slot, 0.0)
            taken = min(self.per_slot - used, units)
            self._used[slot] = used + taken
            units -= taken
            if self._used[slot] >= self.per_slot * (1 - 1e-9):
                self._full[slot] = slot + 1
            if units <= 1e-9:
                break
            slot = self._first_with_room(slot + 1)
        start = max(now, slot * self.slot_s)
        self.waited_s += start - now
        return start


@dataclass
class EsmScaling:
    """An SQS event source mapping's concurrent batches, `seconds` after messages began to wait."""

    maximum_concurrency: int | None = None  # the mapping's cap (2-1,000); None: only ESM_MAXIMUM
    initial: int = ESM_INITIAL_BATCHES
    per_minute: float | None = ESM_SCALING_PER_MINUTE  # None: the cap at once (the emulator)
    ceiling: int = ESM_MAXIMUM

    @property
    def cap(self) -> int:
        return min(self.ceiling, self.maximum_concurrency or self.ceiling)

    def limit(self, seconds: float) -> int:
        if self.per_minute is None:
            return self.cap
        return min(self.cap, self.initial + math.floor(self.per_minute * max(0.0, seconds) / 60.0))


@dataclass
class FunctionScaling:
    """One function's execution environments: a busy one more than it has needs a new environment, which takes a
    token of a bucket of `per_window` refilled continuously over `window_s` (Lambda's scaling rate). `start`
    answers when an invocation can run and whether it starts cold."""

    per_window: int | None = LAMBDA_SCALING_ENVIRONMENTS  # None: no limit (the emulator)
    window_s: float = LAMBDA_SCALING_WINDOW_S
    environments: int = 0
    busy: int = 0
    _tokens: float | None = None
    _tokens_at: float = 0.0

    def start(self, now: float) -> tuple[float, bool]:
        self.busy += 1
        if self.busy <= self.environments:
            return now, False
        self.environments += 1
        if self.per_window is None:
            return now, True
        rate = self.per_window / self.window_s
        tokens = self.per_window if self._tokens is None else self._tokens
        tokens = (
            min(float(self.per_window), tokens + (now - self._tokens_at) * rate) if now > self._tokens_at else tokens
        )
        at = max(now, self._tokens_at)
        if tokens < 1.0:
            at += (1.0 - tokens) / rate
            tokens = 1.0
        self._tokens, self._tokens_at = tokens - 1.0, at
        return at, True

    def end(self) -> None:
        self.busy -= 1


@dataclass
class Message:
    """Subtasks sent together: ranges (first id, count) that go to one receiver (a batch of up to 10)."""

    ranges: list[tuple[int, int]]

    @property
    def subtasks(self) -> int:
        return sum(count for _, count in self.ranges)


class SqsQueue:
    """A standard queue at batch granularity: messages in, receives of up to `batch` subtasks from the front. A
    received message is in flight until deleted (no failures are modelled, so it never becomes visible again).
    Counts requests: a SendMessageBatch of 10 is one."""

    def __init__(self) -> None:
        self._ranges: deque[tuple[int, int]] = deque()
        self.depth = 0  # subtasks waiting (visible)
        self.in_flight = 0
        self.requests = 0
        self.send_requests = 0
        self.first_waiting_at: float | None = None

    def send(self, now: float, message: Message, requests: int = 1) -> None:
        self._ranges.extend(message.ranges)
        self.depth += message.subtasks
        self.requests += requests
        self.send_requests += requests
        if self.first_waiting_at is None and self.depth:
            self.first_waiting_at = now

    def receive(self, batch: int) -> Message:
        self.requests += 1
        taken: list[tuple[int, int]] = []
        wanted = batch
        while wanted and self._ranges:
            first, count = self._ranges.popleft()
            if count > wanted:
                self._ranges.appendleft((first + wanted, count - wanted))
                count = wanted
            taken.append((first, count))
            wanted -= count
        message = Message(taken)
        self.depth -= message.subtasks
        self.in_flight += message.subtasks
        return message

    def delete(self, message: Message) -> None:
        self.requests += 1
        self.in_flight -= message.subtasks
