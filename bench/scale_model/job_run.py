"""One job through the model's components: the shared resources, invocations, the ventilator and the consolidator.

Steps of an invocation are timed with `steps`: on the emulator each call waits its turn at the one server, so a
step runs as an event at its own time; on AWS nothing is shared but quotas, so a chain of calls is added up at
once (a rate limit's reservation may then be made a few milliseconds early: its order is kept per caller).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from bench.scale_model.aws import FunctionScaling, Message, RateLimit, SqsQueue
from bench.scale_model.engine import Servers, Simulation, Slots
from bench.scale_model.job_shape import JobShape
from bench.scale_model.platforms import Platform
from serverless_patterns.fan_in.tracker.keys import ShardLayout
from serverless_patterns.fan_in.tracker.lanes import Window

Step = Callable[[float], float]  # runs at a time, answers when it is done
QUERY_PAGE_ITEMS = 50  # the consolidator's Query page (issue 27)
READER_THREADS = 16  # the final merge's parallel reads (fan_in_consolidator)
SHARD_ITEMS_PER_BATCH_WRITE = 25
PROGRESS_WAVE = 500  # the ventilator records its progress once per wave


class JobRun:
    def __init__(self, shape: JobShape, platform: Platform) -> None:
        self.shape, self.platform = shape, platform
        self.cal = platform.calibration
        self.sim = Simulation()
        self.server = Servers(1) if platform.shared_server else None
        self.cores = Servers(platform.shared_cores) if platform.shared_cores else None
        self.account = Slots(self.sim, platform.account_concurrency or math.inf)
        self.scaling = {
            name: FunctionScaling(
                per_window=platform.lambda_scaling_per_window, environments=platform.warm.get(name, 0)
            )
            for name in ("ventilator", "worker", "consolidator")
        }
        self.queue = SqsQueue()
        self.layout = ShardLayout.plan(
            shape.subtasks,
            shape.subtasks_per_shard or platform.subtasks_per_shard,
            shape.parallel_shards or platform.parallel_shards,
        )
        lanes = shape.window(platform.default_window)
        self.window = Window.plan(shape.subtasks, lanes) if lanes else None
        wcu = platform.partition_wcu_per_s
        self.partitions = [RateLimit(wcu) for _ in range(self.layout.shard_count)] if wcu else None
        self.job_partition = RateLimit(wcu) if wcu else None
        gets = platform.s3_get_per_prefix_s
        self.input_gets = RateLimit(gets * shape.input_prefixes) if gets else None
        self.result_puts = RateLimit(platform.s3_put_per_prefix_s) if platform.s3_put_per_prefix_s else None
        self.calls: Counter[str] = Counter()  # billable quantities
        self.invocations: Counter[str] = Counter()
        self.busy_s: Counter[str] = Counter()
        self.cold_starts = 0
        self.done_per_shard = [0] * self.layout.shard_count
        self.expected = [self.layout.expected(shard) for shard in range(self.layout.shard_count)]
        self.counted = 0  # subtasks whose completion is counted
        self.shards_reduced = 0
        self.sent = 0
        self.full_dispatch_at: float | None = None
        self.result_at: float | None = None
        self.on_sent: Callable[[], None] = lambda: None  # the workers' poller wakes on a send

    # -- time of calls and CPU ------------------------------------------------------------------------------
    def call(self, now: float, operation: str, limit: RateLimit | None = None, units: float = 1.0) -> float:
        """One AWS call made at `now` (after any rate limit lets it go): when its answer is back."""
        start = limit.reserve(now, units) if limit else now
        if self.server:
            return self.server.finish_time(start, self.platform.service(operation))
        return start + self.platform.round_trip_s

    def parallel_calls(self, now: float, operation: str, count: int, limit: RateLimit | None = None) -> float:
        """`count` calls made together from threads: when the last answer is back (a rate limit lets them go
        together once it has room for all of them)."""
        if count and limit:
            now = limit.reserve(now, count)
        return max((self.call(now, operation) for _ in range(count)), default=now)

    def cpu(self, now: float, function: str, seconds_here: float) -> float:
        if self.cores:
            return self.cores.finish_time(now, seconds_here)
        return now + self.platform.cpu_seconds(function, seconds_here)

    def steps(self, now: float, steps: list[Step], then: Callable[[float], None]) -> None:
        """Run `steps` one after another from `now`, then `then(end)` at the end."""
        if not self.server:
            for step in steps:
                now = step(now)
            self.sim.at(now, lambda: then(now))
            return

        def next_step(index: int) -> None:
            if index == len(steps):
                then(self.sim.now)
                return
            self.sim.at(steps[index](self.sim.now), lambda: next_step(index + 1))

        self.sim.at(now, lambda: next_step(0))

    # -- invocations -------------------------------------------------------------------------------------
    def invoke(self, function: str, body: Callable[[float, Callable[[], None]], None]) -> None:
        """Run `body(start, finish)` once the account has a slot and the function an environment; the body calls
        finish() when its invocation ends."""

        def granted() -> None:
            taken = self.sim.now
            ready, cold = self.scaling[function].start(taken)
            if self.server:
                ready = self.server.finish_time(ready, self.platform.invoke_server_s)
            ready += self.platform.invoke_start_s if function == "worker" else self.platform.direct_invoke_s
            if cold:
                # A new environment: on the emulator a process spawned and importing, on the cores it shares.
                ready = (
                    self.cores.finish_time(ready, self.platform.cold_start_s)
                    if self.cores
                    else ready + self.platform.cold_start_s
                )
                self.cold_starts += 1
            self.invocations[function] += 1

            def finish() -> None:
                self.busy_s[function] += self.sim.now - taken
                self.scaling[function].end()
                self.account.give_back()

            self.sim.at(ready, lambda: body(ready, finish))

        self.account.take(granted)

    # -- the ventilator ------------------------------------------------------------------------------------
    def submit(self) -> None:
        self.invoke("ventilator", self._register)

    def _register(self, now: float, finish: Callable[[], None]) -> None:
        shards = self.layout.shard_count
        batch_writes = math.ceil(shards / SHARD_ITEMS_PER_BATCH_WRITE)
        self.calls["dynamodb_wcu"] += 1 + shards
        steps: list[Step] = [
            lambda t: self.call(t, "GetObject"),  # the input's size and etag (a HEAD), the plan
            lambda t: self.call(t, "UpdateItem", self.job_partition),  # the job item
            *[lambda t: self.call(t, "TransactWriteItems") for _ in range(batch_writes)],  # the shard items
        ]
        if self.window:
            self.steps(now, steps, lambda t: self._start_lanes(t, finish))
        else:
            self.steps(now, steps, lambda t: self._dispatch_whole(t, finish))

    def _start_lanes(self, now: float, finish: Callable[[], None]) -> None:
        window = self.window
        firsts = [block * window.block_size for block in range(min(window.max_concurrency, window.blocks))]
        self.lanes_started = len(firsts)
        self.blocks_started = len(firsts)
        sends = [firsts[i : i + 10] for i in range(0, len(firsts), 10)]

        def send(group: list[int]) -> Step:
            def step(t: float) -> float:
                done = self.call(t, "SendMessageBatch")
                self.sim.at(done, lambda: self.enqueue(Message([(first, 1) for first in group]), 1))
                return done

            return step

        self.steps(now, [send(group) for group in sends], lambda t: finish())

    def _dispatch_whole(self, now: float, finish: Callable[[], None]) -> None:
        parts = self.shape.dispatch_parts()
        size = math.ceil(self.shape.subtasks / parts)
        ranges = [(first, min(size, self.shape.subtasks - first)) for first in range(0, self.shape.subtasks, size)]
        # The registering invocation starts the others (asynchronous invokes), then dispatches the first part.
        t = now
        for first, count in ranges[1:]:
            t = self.call(t, "Invoke") if not self.server else self.server.finish_time(t, 0.0)
            self.sim.at(t, lambda first=first, count=count: self.invoke("ventilator", self._part(first, count)))
        self._part(*ranges[0])(t, finish)

    def _part(self, first: int, count: int) -> Callable[[float, Callable[[], None]], None]:
        def dispatch(now: float, finish: Callable[[], None]) -> None:
            Dispatcher(self, first, count, now, finish).start()

        return dispatch

    def enqueue(self, message: Message, requests: int) -> None:
        self.queue.send(self.sim.now, message, requests)
        self.sent += message.subtasks
        if self.sent >= self.shape.subtasks and self.full_dispatch_at is None:
            self.full_dispatch_at = self.sim.now
        self.on_sent()

    # -- completions and the consolidator ------------------------------------------------------------------
    def completed(self, shard: int, count: int, at: float) -> None:
        self.done_per_shard[shard] += count
        self.counted += count
        if self.done_per_shard[shard] == self.expected[shard]:
            self.sim.at(at, lambda: self.invoke("consolidator", self._reducer(shard)))

    def _reducer(self, shard: int) -> Callable[[float, Callable[[], None]], None]:
        def reduce(now: float, finish: Callable[[], None]) -> None:
            items = self.expected[shard]
            pages = max(1, math.ceil(items / QUERY_PAGE_ITEMS))
            item_kb = max(1, math.ceil(self.shape.result_bytes / 1024))
            self.calls["dynamodb_rcu"] += pages * math.ceil(QUERY_PAGE_ITEMS * item_kb / 4) * 0.5
            self.calls["s3_put"] += 2
            self.calls["dynamodb_wcu"] += 1
            merge_cpu = items * (self.cal.merge_cpu_s_per_partial + self.cal.client_cpu_s_per_call / QUERY_PAGE_ITEMS)
            steps: list[Step] = [lambda t: self.call(t, "Query") for _ in range(pages)]
            steps += [
                lambda t: self.cpu(t, "consolidator", merge_cpu),
                lambda t: self.call(t, "PutObject", self.result_puts),  # the shard's status file
                lambda t: self.call(t, "PutObject", self.result_puts),  # the shard's result
                lambda t: self.call(t, "UpdateItem", self.partitions[shard] if self.partitions else None),
            ]
            self.steps(now, steps, lambda t: self._reduced(t, finish))

        return reduce

    def _reduced(self, now: float, finish: Callable[[], None]) -> None:
        self.shards_reduced += 1
        if self.shards_reduced < self.layout.shard_count:
            finish()
        elif self.layout.shard_count == 1:  # a job of one shard merges in its reduction's invocation
            self._final_merge(now, finish)
        else:
            finish()
            self.invoke("consolidator", self._final_merge)

    def _final_merge(self, now: float, finish: Callable[[], None]) -> None:
        shards = self.layout.shard_count
        self.calls["s3_get"] += shards
        self.calls["s3_put"] += 1
        self.calls["dynamodb_wcu"] += 1
        rounds = math.ceil(shards / READER_THREADS)
        steps: list[Step] = [lambda t: self.parallel_calls(t, "GetObject", READER_THREADS) for _ in range(rounds)]
        steps += [
            lambda t: self.cpu(t, "consolidator", shards * self.cal.merge_cpu_s_per_partial),
            lambda t: self.call(t, "PutObject"),
            lambda t: self.call(t, "UpdateItem", self.job_partition),
        ]

        def done(t: float) -> None:
            self.result_at = t
            finish()

        self.steps(now, steps, done)


class Dispatcher:
    """One ventilator invocation sending its part: `sender_threads` threads, each building 10 messages (CPU on the
    invocation's vCPU, shared by its threads) and sending them (SendMessageBatch), progress recorded per wave."""

    def __init__(self, run: JobRun, first: int, count: int, now: float, finish: Callable[[], None]) -> None:
        self.run, self.next, self.end, self.finish = run, first, first + count, finish
        self.threads_running = run.shape.sender_threads
        self.vcpu = Servers(1)  # the invocation's own CPU, which its threads share (on AWS)
        # At AWS scale one event sends several batches, so ten million subtasks stay a few million events.
        self.batches_per_event = max(1, run.shape.subtasks // 200_000) if not run.server else 1
        self.start_at = now

    def start(self) -> None:
        for _ in range(self.threads_running):
            self.run.sim.at(self.start_at, self._send_next)

    def _cpu(self, now: float, seconds_here: float) -> float:
        if self.run.cores:
            return self.run.cores.finish_time(now, seconds_here)
        return self.vcpu.finish_time(now, self.run.platform.cpu_seconds("ventilator", seconds_here))

    def _send_next(self) -> None:
        run, now = self.run, self.run.sim.now
        if self.next >= self.end:
            self.threads_running -= 1
            if self.threads_running == 0:
                self.finish()
            return
        first = self.next
        count = min(10 * self.batches_per_event, self.end - first)
        self.next += count
        batches = math.ceil(count / 10)
        per_subtask = run.cal.ventilator_cpu_s_per_subtask
        built = self._cpu(now, count * per_subtask)
        done = built
        for _ in range(batches):
            done = run.call(done, "SendMessageBatch")
        waves = (first + count) // PROGRESS_WAVE - first // PROGRESS_WAVE
        for _ in range(waves):
            run.calls["dynamodb_wcu"] += 1
            done = run.call(done, "UpdateItem", run.job_partition)

        def sent() -> None:
            run.enqueue(Message([(first, count)]), batches)
            self._send_next()

        run.sim.at(done, sent)
