"""The scale model's parts (bench/scale_model): the AWS quotas one at a time, the emulator's one server, and whole
jobs whose time can be worked out by hand."""

from __future__ import annotations

import math

import pytest
from bench.scale_model import aws, platforms
from bench.scale_model.calibration import Calibration
from bench.scale_model.engine import Servers, Simulation, Slots
from bench.scale_model.job_run import JobRun
from bench.scale_model.pipeline import JobShape, simulate
from bench.scale_model.workers import Poller

OPERATIONS = (
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessageBatch",
    "TransactWriteItems",
    "BatchGetItem",
    "Query",
    "UpdateItem",
    "PutObject",
    "GetObject",
)


def calibration(cpu: float = 0.0, service: float = 0.001) -> Calibration:
    """Round inputs: every call `service` s on a shared server, CPU costs `cpu` s each, nothing else."""
    return Calibration(
        service_s=dict.fromkeys(OPERATIONS, service),
        ventilator_cpu_s_per_subtask=cpu,
        workload_cpu_s_per_subtask=cpu,
        merge_cpu_s_per_partial=cpu,
    )


# -- the event source mapping's ramp ---------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "batches"), [(0, 5), (1, 305), (2, 605), (3, 905)])
def test_the_mapping_starts_at_five_batches_and_adds_300_a_minute(minutes: int, batches: int) -> None:
    assert aws.EsmScaling().limit(minutes * 60.0) == batches


def test_the_mapping_stops_at_its_documented_most() -> None:
    assert aws.EsmScaling().limit(10 * 60.0) == aws.ESM_MAXIMUM == 1_250


def test_the_mapping_stops_at_its_maximum_concurrency() -> None:
    scaling = aws.EsmScaling(maximum_concurrency=100)
    assert scaling.limit(15.0) == 5 + 75
    assert scaling.limit(60.0) == 100


def test_a_mapping_without_a_ramp_starts_at_its_cap() -> None:
    assert aws.EsmScaling(maximum_concurrency=8, per_minute=None).limit(0.0) == 8


def test_workers_ramp_with_the_mapping_on_a_deep_queue() -> None:
    """A job of 100,000 subtasks of 1 s each: a minute after the first message waits, the mapping runs 305 batches
    at most (it looks again each second, so at least the 300 of a second before)."""
    run = JobRun(JobShape(subtasks=100_000, workload_cpu_s=1.0, input_prefixes=100), platforms.aws(calibration()))
    poller = Poller(run)
    run.submit()
    run.sim.run(until=1.0)
    assert run.queue.first_waiting_at is not None
    run.sim.run(until=run.queue.first_waiting_at + 60.0)
    assert 300 <= poller.peak <= 305
    assert run.queue.depth > 0


# -- Lambda's scaling and the account's concurrency ----------------------------------------------------------


def test_a_function_gets_1000_new_environments_at_once_then_100_a_second() -> None:
    scaling = aws.FunctionScaling()
    starts = [scaling.start(0.0) for _ in range(1_200)]
    assert all(at == 0.0 and cold for at, cold in starts[:1_000])
    assert starts[1_000][0] == pytest.approx(0.01)
    assert starts[1_199][0] == pytest.approx(2.0)


def test_a_warm_environment_starts_at_once() -> None:
    scaling = aws.FunctionScaling()
    scaling.start(0.0)
    scaling.end()
    assert scaling.start(5.0) == (5.0, False)


def test_the_account_concurrency_holds_the_rest_back() -> None:
    simulation = Simulation()
    account = Slots(simulation, capacity=3)
    granted: list[float] = []
    for _ in range(4):
        account.take(lambda: granted.append(simulation.now))
    simulation.run()
    assert granted == [0.0, 0.0, 0.0]
    assert account.waiting == 1
    simulation.after(2.0, account.give_back)
    simulation.run()
    assert granted == [0.0, 0.0, 0.0, 2.0]
    assert account.peak == 3


def test_a_job_never_runs_more_than_the_account_concurrency() -> None:
    prediction = simulate(
        JobShape(subtasks=20_000, workload_cpu_s=0.5, input_prefixes=100),
        platforms.aws(calibration(), account_concurrency=50),
    )
    assert prediction.peak_concurrency == 50
    assert prediction.bounding_stage == "account concurrency 50"


# -- partitions and prefixes ------------------------------------------------------------------------------------


def test_a_partition_takes_1000_wcu_a_second() -> None:
    partition = aws.RateLimit(aws.PARTITION_WCU_PER_S)
    # Completions of 4 WCU each (a marker and a counter, in a transaction): 250 a second.
    starts = [partition.reserve(0.0, 4) for _ in range(2_500)]
    assert starts[-1] == pytest.approx(10.0, abs=0.02)
    assert sum(1 for start in starts if start < 1.0) == pytest.approx(250, abs=3)


def test_a_rate_limit_fills_gaps_left_before_a_later_request() -> None:
    limit = aws.RateLimit(100.0)
    assert limit.reserve(5.0) == 5.0
    assert limit.reserve(1.0) == 1.0  # made later, for an earlier time: not held behind the first


@pytest.mark.parametrize(("rate", "requests"), [(aws.S3_GET_PER_PREFIX_S, 11_000), (aws.S3_PUT_PER_PREFIX_S, 7_000)])
def test_an_s3_prefix_takes_its_documented_requests_a_second(rate: float, requests: int) -> None:
    prefix = aws.RateLimit(rate)
    last = max(prefix.reserve(0.0) for _ in range(requests))
    assert last == pytest.approx(requests / rate, abs=0.02)


def test_a_job_on_one_shard_is_held_to_its_partition() -> None:
    """One shard: every batch writes 2 WCU per marker and 2 for the counter, 2.2 WCU a subtask, 1,000 a second."""
    prediction = simulate(
        JobShape(subtasks=20_000, parallel_shards=1, subtasks_per_shard=100_000, input_prefixes=100),
        platforms.aws(calibration()),
    )
    floor = 20_000 * 2.2 / aws.PARTITION_WCU_PER_S
    assert floor <= prediction.time_to_result_s <= floor * 1.2
    assert prediction.bounding_stage == "shard partitions (1,000 WCU/s each)"


def test_a_job_reading_one_object_is_held_to_its_prefix() -> None:
    prediction = simulate(JobShape(subtasks=200_000), platforms.aws(calibration()))
    floor = 200_000 / aws.S3_GET_PER_PREFIX_S
    assert floor <= prediction.time_to_result_s <= floor * 1.3
    assert prediction.bounding_stage.startswith("S3 GETs on the input's prefix")


# -- dispatch --------------------------------------------------------------------------------------------------


def test_dispatch_time_falls_with_the_parts_dispatched_side_by_side() -> None:
    # CPU-bound dispatch: 0.5 ms of CPU a subtask is 2,000/s, where 8 senders of 10 messages per 15 ms send 5,333/s.
    cal = calibration(cpu=500e-6)
    times = {}
    for parts in (1, 2, 4):
        shape = JobShape(subtasks=100_000, dispatch_part_subtasks=25_000, max_dispatchers=parts, workload_cpu_s=0.0)
        assert shape.dispatch_parts() == parts
        times[parts] = simulate(shape, platforms.aws(cal)).time_to_full_dispatch_s
    assert times[1] == pytest.approx(100_000 * 500e-6, rel=0.05)
    assert times[2] == pytest.approx(times[1] / 2, rel=0.05)
    assert times[4] == pytest.approx(times[1] / 4, rel=0.05)


def test_a_job_is_cut_into_parts_of_dispatch_part_subtasks_up_to_max_dispatchers() -> None:
    assert JobShape(subtasks=99_999).dispatch_parts() == 1
    assert JobShape(subtasks=250_000).dispatch_parts() == 3
    assert JobShape(subtasks=10_000_000).dispatch_parts() == 10


def test_a_windowed_job_keeps_no_more_than_its_window_sent_and_not_counted() -> None:
    run = JobRun(JobShape(subtasks=500, max_concurrency=5), platforms.aws(calibration()))
    Poller(run)
    run.submit()
    most = 0
    while run.result_at is None:
        run.sim.run(until=run.sim.now + 0.005)
        most = max(most, run.sent - run.counted)
    assert most == 5
    assert run.counted == run.sent == 500


# -- the emulator's one server ---------------------------------------------------------------------------------


def test_one_server_answers_one_request_at_a_time() -> None:
    server = Servers(1)
    assert [server.finish_time(0.0, 1.0) for _ in range(3)] == [1.0, 2.0, 3.0]
    assert server.finish_time(10.0, 1.0) == 11.0
    assert server.busy_seconds == 4.0


def test_two_cores_run_two_at_a_time() -> None:
    cores = Servers(2)
    assert [cores.finish_time(0.0, 1.0) for _ in range(3)] == [1.0, 1.0, 2.0]


def test_on_the_emulator_a_job_takes_at_least_its_calls_one_after_another() -> None:
    cal = calibration(service=0.002)
    platform = platforms.emulator(cal)
    prediction = simulate(JobShape(subtasks=2_000, max_concurrency=0), platform)
    # Per batch of 10 at least 10 GETs, a transaction, a shard read, a receive and a delete: 14 calls of 2 ms.
    assert prediction.time_to_result_s >= 200 * 14 * 0.002
    assert prediction.bounding_stage == "the emulator's one server (MiniStack answers one request at a time)"


# -- a tiny job, by hand ---------------------------------------------------------------------------------------


def test_a_one_subtask_job_takes_the_round_trips_of_its_chain() -> None:
    """On AWS with 10 ms a call and no CPU: the ventilator's invoke (1), its plan read, job item and shard items (3),
    the send (1); the mapping's receive and the worker's invoke (2); its GET, transaction and shard read (3); the
    consolidator's invoke (1), its page, two PUTs and seal (4); the final merge's GET, PUT and update (3): 18."""
    platform = platforms.aws(calibration())
    prediction = simulate(JobShape(subtasks=1), platform)
    assert prediction.time_to_full_dispatch_s == pytest.approx(5 * platforms.AWS_ROUND_TRIP_S)
    assert prediction.time_to_result_s == pytest.approx(18 * platforms.AWS_ROUND_TRIP_S)
    assert prediction.calls["lambda_requests"] == 3
    assert prediction.calls["s3_get"] == 2
    assert prediction.calls["sqs_requests"] == 3  # send, receive, delete


def test_billable_calls_grow_with_the_job() -> None:
    platform = platforms.aws(calibration())
    small, large = (simulate(JobShape(subtasks=n, input_prefixes=10), platform) for n in (10_000, 100_000))
    for name in ("lambda_requests", "sqs_requests", "dynamodb_wcu", "s3_get"):
        assert large.calls[name] == pytest.approx(10 * small.calls[name], rel=0.05), name
    assert math.isclose(large.calls["sqs_requests"], 3 * 100_000 / 10)


def test_a_calibration_survives_json() -> None:
    cal = calibration(cpu=1e-5)
    cal.notes.append("measured here")
    assert Calibration.from_json(cal.to_json()) == cal


def test_sns_invokes_a_worker_per_subtask_and_bills_the_publishes() -> None:
    prediction = simulate(JobShape(subtasks=1_000, transport="sns"), platforms.aws(calibration()))
    assert prediction.calls["sns_requests"] == 100  # PublishBatch of 10
    assert prediction.calls["sqs_requests"] == 0
    assert prediction.calls["lambda_requests"] == 1 + 1_000 + 5  # the ventilator, a worker each, 4 shards and a merge


def test_a_queue_hands_out_batches_from_the_front_and_counts_requests() -> None:
    queue = aws.SqsQueue()
    queue.send(0.5, aws.Message([(0, 10)]))
    queue.send(0.6, aws.Message([(10, 5)]))
    first = queue.receive(batch=8)
    second = queue.receive(batch=8)
    assert first.ranges == [(0, 8)]
    assert second.ranges == [(8, 2), (10, 5)]
    assert (queue.depth, queue.in_flight, queue.first_waiting_at) == (0, 15, 0.5)
    queue.delete(first)
    assert queue.in_flight == 7
    assert queue.requests == 2 + 2 + 1  # two sends, two receives, a delete
