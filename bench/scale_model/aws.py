"""The AWS quotas the model runs a job through, each a small class with one job.

Sources (AWS documentation, checked for issue 29; see docs/scale.md): an SQS event source mapping starts with five
concurrent batches and adds up to 300 a minute while messages wait, up to 1,250 (or its maximum_concurrency, 2 to
1,000); Lambda scales each function by 1,000 execution environments every 10 seconds, within the account's
concurrency (1,000 by default); a DynamoDB partition takes 1,000 WCU/s; S3 takes 3,500 PUT/COPY/POST/DELETE and
5,500 GET/HEAD requests per second per prefix.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

ESM_INITIAL_BATCHES = 5
ESM_SCALING_PER_MINUTE = 300
ESM_MAXIMUM = 1_250
LAMBDA_SCALING_ENVIRONMENTS = 1_000
LAMBDA_SCALING_WINDOW_S = 10.0
PARTITION_WCU_PER_S = 1_000.0
S3_PUT_PER_PREFIX_S = 3_500.0
S3_GET_PER_PREFIX_S = 5_500.0


class RateLimit:
    """At most `rate` units a second, no burst: a request waits for its units (a DynamoDB partition's WCU, an S3
    prefix's requests). Returns when the request can go."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next_free = 0.0
        self.waited_s = 0.0

    def reserve(self, now: float, units: float = 1.0) -> float:
        start = max(now, self._next_free)
        self._next_free = start + units / self.rate
        self.waited_s += start - now
        return start


@dataclass
class EsmScaling:
    """An SQS event source mapping's concurrent batches, `seconds` after messages began to wait."""

    maximum_concurrency: int | None = None  # the mapping's cap (2-1,000); None: only the 1,250 of every mapping
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
    """One function's execution environments: a busy one more than it has needs a new environment, and a function
    gets at most `per_window` new ones every `window_s`. `start` answers when an invocation can run and if cold."""

    per_window: int | None = LAMBDA_SCALING_ENVIRONMENTS  # None: no limit (the emulator)
    window_s: float = LAMBDA_SCALING_WINDOW_S
    environments: int = 0
    busy: int = 0
    created: dict[int, int] = field(default_factory=dict)  # window index -> environments created in it

    def start(self, now: float) -> tuple[float, bool]:
        self.busy += 1
        if self.busy <= self.environments:
            return now, False
        self.environments += 1
        if self.per_window is None:
            return now, True
        window = math.floor(now / self.window_s)
        while self.created.get(window, 0) >= self.per_window:
            window += 1
        self.created[window] = self.created.get(window, 0) + 1
        return max(now, window * self.window_s), True

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
        self.first_waiting_at: float | None = None

    def send(self, now: float, message: Message, requests: int = 1) -> None:
        self._ranges.extend(message.ranges)
        self.depth += message.subtasks
        self.requests += requests
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
