"""A small discrete-event simulator: a clock, a heap of timed callbacks, and the two kinds of resource the model
needs (servers that answer in turn, and a pool of slots that callers wait for)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable

Callback = Callable[[], None]


class Simulation:
    """Callbacks run in time order; ties run in the order they were scheduled."""

    def __init__(self) -> None:
        self.now = 0.0
        self._events: list[tuple[float, int, Callback]] = []
        self._sequence = 0
        self.events_run = 0

    def at(self, time: float, callback: Callback) -> None:
        heapq.heappush(self._events, (max(time, self.now), self._sequence, callback))
        self._sequence += 1

    def after(self, delay: float, callback: Callback) -> None:
        self.at(self.now + delay, callback)

    def run(self, until: float = float("inf")) -> None:
        """Run every event up to `until`; the clock then reads `until` (if it is finite)."""
        events = self._events
        while events and events[0][0] <= until:
            self.now, _, callback = heapq.heappop(events)
            self.events_run += 1
            callback()
        if until != float("inf"):
            self.now = max(self.now, until)


class Servers:
    """`count` identical servers taking requests first come, first served (the emulator's one server, a pool of
    cores). With fixed service times a request's end is known when it arrives, so no event is needed to queue it."""

    def __init__(self, count: int = 1) -> None:
        self._free_at = [0.0] * count
        self.busy_seconds = 0.0
        self.requests = 0

    def finish_time(self, now: float, service_seconds: float) -> float:
        """When a request arriving `now` and needing `service_seconds` of a server is done."""
        earliest = min(range(len(self._free_at)), key=self._free_at.__getitem__)
        done = max(now, self._free_at[earliest]) + service_seconds
        self._free_at[earliest] = done
        self.busy_seconds += service_seconds
        self.requests += 1
        return done

    def backlog(self, now: float) -> float:
        """Seconds of work already queued ahead of a request arriving now, on the server free first."""
        return max(0.0, min(self._free_at) - now)

    def saturated(self, now: float) -> bool:
        """Requests are waiting: more work is queued than the request in service (two mean service times)."""
        return bool(self.requests) and self.backlog(now) > 2 * self.busy_seconds / self.requests


class Slots:
    """A pool of `capacity` slots (concurrent executions): a taker waits, first come first served, for one."""

    def __init__(self, simulation: Simulation, capacity: float) -> None:
        self.simulation = simulation
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._waiting: deque[Callback] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def take(self, granted: Callback) -> None:
        if self.in_use < self.capacity and not self._waiting:
            self._grant(granted)
        else:
            self._waiting.append(granted)

    def give_back(self) -> None:
        self.in_use -= 1
        while self._waiting and self.in_use < self.capacity:
            self._grant(self._waiting.popleft())

    def _grant(self, granted: Callback) -> None:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        self.simulation.after(0.0, granted)
