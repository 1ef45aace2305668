"""The workers: fed by the event source mapping's pollers (sqs) or pushed one subtask at a time (sns).

A batch's records run on threads: each reads its chunk from S3 and runs the workload; the batch's completions are
counted in one transaction (a marker per subtask, a counter per shard touched, every shard its own partition) and
its shards read in one BatchGetItem; a windowed job's lanes then move on (per subtask: claim, send, mark done).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from bench.scale_model.aws import EsmScaling, Message
from bench.scale_model.job_run import JobRun, Step


class Poller:
    """The event source mapping: up to its limit of batches in flight, each a receive, an invocation, a delete."""

    def __init__(self, run: JobRun) -> None:
        self.run = run
        self.scaling: EsmScaling = run.platform.esm
        self.in_flight = 0
        self.peak = 0
        run.on_sent = self.wake
        self.ticking = False

    def limit(self) -> int:
        waiting_since = self.run.queue.first_waiting_at
        return self.scaling.limit(0.0 if waiting_since is None else self.run.sim.now - waiting_since)

    def wake(self) -> None:
        run = self.run
        while run.queue.depth and self.in_flight < self.limit():
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            now = run.sim.now
            if run.server:  # MiniStack's receive goes through every message of the queue, in flight or not
                received = run.server.finish_time(now, self._scan("ReceiveMessage"))
            else:
                received = now + run.platform.round_trip_s
            message = run.queue.receive(run.shape.batch_size)
            run.sim.at(received, lambda message=message: run.invoke("worker", WorkerBatch(run, message, self).body))
        # The mapping adds pollers over time: look again while messages wait and the limit is still growing.
        if run.queue.depth and self.scaling.per_minute is not None and not self.ticking:
            self.ticking = True
            run.sim.after(1.0, self._tick)

    def _tick(self) -> None:
        self.ticking = False
        self.wake()

    def _scan(self, operation: str) -> float:
        """The emulator's time for its mapping's receive or delete: it goes through the whole queue."""
        queue = self.run.queue
        return self.run.platform.service(operation) + self.run.cal.receive_s_per_queued * (
            queue.depth + queue.in_flight
        )

    def batch_done(self, message: Message) -> None:
        run = self.run
        if run.server:
            delete_done = run.server.finish_time(run.sim.now, self._scan("DeleteMessageBatch"))
        else:
            delete_done = run.call(run.sim.now, "DeleteMessageBatch")

        def deleted() -> None:
            run.queue.delete(message)
            self.in_flight -= 1
            self.wake()

        run.sim.at(delete_done, deleted)


class Pusher:
    """The sns transport: every message invokes the worker with one record (Lambda's own scaling applies)."""

    def __init__(self, run: JobRun) -> None:
        self.run = run
        run.on_sent = self.wake

    def wake(self) -> None:
        run = self.run
        while run.queue.depth:
            message = run.queue.receive(1)
            run.invoke("worker", WorkerBatch(run, message, self).body)

    def batch_done(self, message: Message) -> None:
        self.run.queue.delete(message)


class WorkerBatch:
    def __init__(self, run: JobRun, message: Message, source: Poller | Pusher) -> None:
        self.run, self.message, self.source = run, message, source
        self.subtask_ids = [first + i for first, count in message.ranges for i in range(count)]

    def body(self, now: float, finish: Callable[[], None]) -> None:
        run, shape = self.run, self.run.shape
        records = len(self.subtask_ids)
        inline = shape.result_bytes <= shape.inline_result_max_bytes
        shards = Counter(run.layout.shard_of(subtask) for subtask in self.subtask_ids)
        self._count_calls(records, shards, inline)
        steps: list[Step] = [lambda t: self._read_and_run(t, records, inline)]
        steps.append(lambda t: self._transaction(t, shards))
        steps.append(lambda t: run.call(t, "BatchGetItem"))
        steps.append(lambda t: self._sealed(t, shards))
        if run.window:
            steps += self._lane_steps()

        def done(_: float) -> None:
            finish()
            self.source.batch_done(self.message)

        run.steps(now, steps, done)

    def _count_calls(self, records: int, shards: Counter[int], inline: bool) -> None:
        calls, shape = self.run.calls, self.run.shape
        item_kb = math.ceil((shape.result_bytes if inline else 200) / 1024)
        calls["s3_get"] += records
        calls["dynamodb_wcu"] += 2 * records * item_kb + 2 * len(shards)
        calls["dynamodb_rcu"] += len(shards)  # BatchGetItem of the shard items, strongly consistent
        if not inline:
            calls["s3_put"] += records

    def _read_and_run(self, now: float, records: int, inline: bool) -> float:
        run, shape = self.run, self.run.shape
        threads = min(records, shape.worker_threads)
        reads = run.parallel_calls(now, "GetObject", records, run.input_gets)
        workload_cpu = run.cal.workload_cpu_s_per_subtask if shape.workload_cpu_s is None else shape.workload_cpu_s
        calls_per_record = 1 if inline else 2
        cpu = run.cpu(now, "worker", records * (workload_cpu + calls_per_record * run.cal.client_cpu_s_per_call))
        waits = shape.workload_wait_s * math.ceil(records / threads)
        done = max(reads, cpu) + waits
        if not inline:
            done = run.parallel_calls(done, "PutObject", records, run.result_puts)
        return done

    def _transaction(self, now: float, shards: Counter[int]) -> float:
        """One TransactWriteItems: every shard's partition must take its share of the units."""
        run = self.run
        start = now
        if run.partitions:
            item_kb = max(1, math.ceil(run.shape.result_bytes / 1024))
            start = max(run.partitions[shard].reserve(now, 2 * count * item_kb + 2) for shard, count in shards.items())
        return run.call(start, "TransactWriteItems")

    def _sealed(self, now: float, shards: Counter[int]) -> float:
        for shard, count in shards.items():
            self.run.completed(shard, count, now)
        return now

    def _lane_steps(self) -> list[Step]:
        """Each counted subtask moves its lane on, one after another: claims the step, sends the next subtask of
        its block (or takes the job's next unstarted block, or ends the lane), marks the step done."""
        run = self.run
        window = run.window
        run.calls["dynamodb_wcu"] += 2 * len(self.subtask_ids)
        steps: list[Step] = []
        for subtask in self.subtask_ids:
            block_end = min((subtask // window.block_size + 1) * window.block_size, window.total)
            following = None
            if subtask + 1 < block_end:
                following = subtask + 1
            elif run.blocks_started < window.blocks:
                following = run.blocks_started * window.block_size
                run.blocks_started += 1
            partition = run.partitions[run.layout.shard_of(subtask)] if run.partitions else None
            steps.append(lambda t, partition=partition: run.call(t, "UpdateItem", partition))
            if following is not None:
                steps.append(lambda t, following=following: self._send(t, following))
            steps.append(lambda t, partition=partition: run.call(t, "UpdateItem", partition))
        return steps

    def _send(self, now: float, subtask: int) -> float:
        run = self.run
        done = run.call(now, "SendMessageBatch")
        run.sim.at(done, lambda: run.enqueue(Message([(subtask, 1)]), 1))
        return done
