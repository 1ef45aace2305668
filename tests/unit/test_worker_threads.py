"""The worker runs the records of a batch on threads: bounded, each failure reported for its own record."""

import io
import json
import threading
import time

from unit.conftest import sqs_event


def slow_subtasks(monkeypatch, seconds: float) -> list[int]:
    """Replace the worker's subtask with one that waits, as on AWS calls; [the most that ran at once]."""
    from fan_out_worker import handler as worker

    running, most, lock = [0], [0], threading.Lock()

    def slow_subtask(record, deadline):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(seconds)
        with lock:
            running[0] -= 1
        if record.body.startswith("fail"):
            raise ConnectionError("the remote service hung up")

    monkeypatch.setattr(worker, "run_subtask", slow_subtask)
    return most


def test_records_run_side_by_side_up_to_the_thread_count_and_fail_alone(monkeypatch, lambda_context):
    from fan_out_worker import handler as worker

    most = slow_subtasks(monkeypatch, 0.05)
    monkeypatch.setenv("WORKER_THREADS", "4")
    bodies = [f"fail-{i}" if i in (2, 7) else f"ok-{i}" for i in range(10)]

    response = worker.lambda_handler(sqs_event(*bodies), lambda_context)

    assert most[0] == 4  # never more than asked, and more than one at a time
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    assert len(failed) == 2


def test_every_thread_asked_for_runs_even_past_asyncio_s_default_pool(monkeypatch, lambda_context):
    from fan_out_worker import handler as worker

    most = slow_subtasks(monkeypatch, 0.1)
    monkeypatch.setenv("WORKER_THREADS", "10")

    worker.lambda_handler(sqs_event(*[f"ok-{i}" for i in range(10)]), lambda_context)

    assert most[0] == 10  # asyncio's default executor would stop at min(32, CPUs + 4)


def test_each_thread_logs_its_own_subtask(monkeypatch, lambda_context):
    from fan_out_worker import handler as worker

    def log_twice(subtask, lease, receive_count):
        worker.logger.info("first")
        time.sleep(0.02)
        worker.logger.info("second")

    monkeypatch.setattr(worker, "_run", log_twice)
    log = io.StringIO()
    monkeypatch.setattr(worker.logger.registered_handler, "stream", log)
    monkeypatch.setenv("WORKER_THREADS", "5")
    bodies = [
        json.dumps(
            {
                "job_id": "j",
                "subtask_id": i,
                "shard": 0,
                "correlation_id": f"c{i}",
                "expires_at": 0,
                "work": {"type": "items", "items": [1], "first_item": i},
            }
        )
        for i in range(5)
    ]

    worker.lambda_handler(sqs_event(*bodies), lambda_context)

    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    logged = [
        (line["subtask_id"], line["correlation_id"]) for line in lines if line.get("message") in ("first", "second")
    ]
    assert sorted(logged) == sorted((i, f"c{i}") for i in range(5) for _ in range(2))
