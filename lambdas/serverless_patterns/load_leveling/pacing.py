"""A token bucket that paces one container's writes to a fixed rate.

The load leveler caps the number of concurrent consumers (event source mapping
maximum concurrency) and each consumer paces itself with this bucket, so the
downstream never sees more than concurrency x rate writes per second.

The bucket holds a single token unless told otherwise: a bucket that banked a
second's worth of tokens while idle would let each consumer write twice its
rate in its first second, and `make bench` measured exactly that (167 writes
in one second against a cap of 100).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate_per_second: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be greater than 0")
        self.rate = rate_per_second
        self.capacity = burst if burst is not None else 1.0
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self, cost: float = 1.0) -> float:
        """Take `cost` tokens, sleeping until they are earned; return the time slept.

        A cost above the capacity is a debt: the caller sleeps it off now, so
        the rate holds over any window, whatever each write costs.
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= cost
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait
