"""Ventilator, worker, DLQ handler, consolidator and sweeper against moto."""

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from serverless_patterns import aws_clients
from serverless_patterns.fan_out import Subtask
from serverless_patterns.job_tracker import JobStatus, JobTracker, Outcome
from serverless_patterns.workloads.word_count import count_words, merge_counts
from unit.conftest import STATUS_INDEX, sqs_event

BUCKET = "jobs-bucket"
TEXT = b"".join(f"alpha beta line{i % 7}\n".encode() for i in range(300))


@pytest.fixture
def fan_out_env(aws, tracker_table, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    queue_url = boto3.client("sqs").create_queue(QueueName="subtasks")["QueueUrl"]
    topic_arn = boto3.client("sns").create_topic(Name="job-events")["TopicArn"]
    for name, value in {
        "JOB_BUCKET": BUCKET,
        "SUBTASK_QUEUE_URL": queue_url,
        "TRACKER_TABLE": tracker_table.name,
        "STATUS_INDEX": STATUS_INDEX,
        "JOB_EVENTS_TOPIC_ARN": topic_arn,
        "CONSOLIDATOR_FUNCTION": "consolidator",
        "MIN_CHUNK_SIZE_BYTES": "64",
        "DEFAULT_CHUNK_SIZE_BYTES": "512",
        "MAX_SUBTASKS": "1000",
        "SHARD_THRESHOLD": "5",
        "SHARDS_ABOVE_THRESHOLD": "4",
        "MAX_LINE_BYTES": "256",
    }.items():
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=TEXT)
    return {"s3": s3, "queue_url": queue_url, "table": tracker_table, "tracker": JobTracker(tracker_table)}


@pytest.fixture
def consolidations(monkeypatch):
    """Consolidator triggers, captured instead of invoking Lambda."""
    from fan_in_sweeper import handler as sweeper
    from serverless_patterns import consolidation

    started: list[str] = []
    for module in (consolidation, sweeper):
        monkeypatch.setattr(module, "trigger_consolidator", lambda job_id, correlation_id: started.append(job_id))
    return started


def drain(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def submit(lambda_context, **spec):
    from fan_out_ventilator import handler as ventilator

    document = {"input": {"bucket": BUCKET, "key": "inputs/text.txt"}, "job_id": "job-1", **spec}
    return ventilator.lambda_handler(document, lambda_context)


def run_workers(bodies: list[str], lambda_context) -> dict:
    from fan_out_worker import handler as worker

    failures = []
    for start in range(0, len(bodies), 10):
        response = worker.lambda_handler(sqs_event(*bodies[start : start + 10]), lambda_context)
        failures.extend(response["batchItemFailures"])
    return {"failures": failures}


def test_the_ventilator_registers_the_total_before_dispatching_every_subtask(fan_out_env, lambda_context):
    result = submit(lambda_context, chunk_size_bytes=512)

    expected_total = -(-len(TEXT) // 512)
    assert result == {
        "job_id": "job-1",
        "status": "RUNNING",
        "total": expected_total,
        "dispatched_until": expected_total,
    }
    job = fan_out_env["tracker"].get_job("job-1")
    assert (job["total"], job["shard_count"], job["status"]) == (expected_total, 4, JobStatus.RUNNING)
    subtasks = [Subtask.from_message(message["Body"]) for message in drain(fan_out_env["queue_url"])]
    assert sorted(subtask.subtask_id for subtask in subtasks) == list(range(expected_total))
    assert {subtask.correlation_id for subtask in subtasks} == {"job-1"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"chunk_size_bytes": 10}, "chunk_size_bytes"),
        ({"chunk_size_bytes": "big"}, "chunk_size_bytes"),
        ({"input": {"bucket": BUCKET, "key": "missing.txt"}}, "input"),
        ({"input": {"bucket": BUCKET}}, "input"),
        ({"chunk_size_bytes": 64, "input": {"bucket": BUCKET, "key": "inputs/big.txt"}}, "chunk_size_bytes"),
    ],
)
def test_a_bad_spec_fails_the_job_with_a_clear_error_and_dispatches_nothing(fan_out_env, lambda_context, spec, field):
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/big.txt", Body=b"x\n" * 40_000)

    result = submit(lambda_context, **spec)

    assert result["status"] == "FAILED"
    assert result["error"]["field"] == field
    assert result["error"]["fix"]
    assert fan_out_env["tracker"].get_job("job-1")["status"] == JobStatus.FAILED
    assert drain(fan_out_env["queue_url"]) == []


def test_an_empty_input_is_rejected(fan_out_env, lambda_context):
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/empty.txt", Body=b"")

    result = submit(lambda_context, input={"bucket": BUCKET, "key": "inputs/empty.txt"})

    assert result["error"]["message"].endswith("is empty")


def test_a_job_too_large_for_one_invocation_continues_in_another(fan_out_env, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    remaining = iter([60_000] + [1_000] * 10)  # time for one wave, then too little
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: next(remaining))
    monkeypatch.setattr(ventilator, "WAVE", 5)
    invoked = []

    class FakeLambda:
        def invoke(self, **kwargs):
            invoked.append(json.loads(kwargs["Payload"]))

    monkeypatch.setattr(
        aws_clients, "client", lambda name, real=aws_clients.client: FakeLambda() if name == "lambda" else real(name)
    )
    first = submit(lambda_context, chunk_size_bytes=512)
    assert first["dispatched_until"] == 5
    [continuation] = invoked

    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 60_000)
    rest = ventilator.lambda_handler(continuation, lambda_context)

    assert rest["dispatched_until"] == first["total"]
    ids = sorted(Subtask.from_message(m["Body"]).subtask_id for m in drain(fan_out_env["queue_url"]))
    assert ids == list(range(first["total"]))


def test_workers_count_each_subtask_once_and_the_last_starts_the_consolidator(
    fan_out_env, lambda_context, consolidations
):
    submit(lambda_context, chunk_size_bytes=512)
    bodies = [message["Body"] for message in drain(fan_out_env["queue_url"])]

    result = run_workers(bodies + bodies[:7], lambda_context)  # 7 duplicate deliveries

    assert result["failures"] == []
    progress = fan_out_env["tracker"].progress("job-1")
    assert (progress.succeeded, progress.failed) == (len(bodies), 0)
    assert consolidations == ["job-1"]


def test_the_consolidator_merges_exactly_and_runs_safely_twice(fan_out_env, lambda_context, consolidations):
    from fan_in_consolidator import handler as consolidator

    submit(lambda_context, chunk_size_bytes=512)
    run_workers([m["Body"] for m in drain(fan_out_env["queue_url"])], lambda_context)

    first = consolidator.lambda_handler({"job_id": "job-1"}, lambda_context)
    second = consolidator.lambda_handler({"job_id": "job-1"}, lambda_context)

    assert first == {"job_id": "job-1", "status": "SUCCEEDED", "consolidated": True}
    assert second["consolidated"] is False
    stored = json.loads(fan_out_env["s3"].get_object(Bucket=BUCKET, Key="results/job-1.json")["Body"].read())
    expected = Counter(word.lower() for word in TEXT.decode().split())
    assert stored["result"]["words"] == dict(expected)
    assert stored["result"]["lines"] == 300
    job = fan_out_env["tracker"].get_job("job-1")
    assert job["status"] == JobStatus.SUCCEEDED
    assert job["result"]["key"] == "results/job-1.json"


def test_exhausted_subtasks_make_the_job_partial_with_exactly_those_ids(fan_out_env, lambda_context, consolidations):
    from fan_in_consolidator import handler as consolidator
    from fan_out_dlq_handler import handler as dlq_handler

    submit(lambda_context, chunk_size_bytes=512)
    bodies = sorted(
        (m["Body"] for m in drain(fan_out_env["queue_url"])), key=lambda body: json.loads(body)["subtask_id"]
    )
    poisoned = {2, 5}
    run_workers([b for b in bodies if json.loads(b)["subtask_id"] not in poisoned], lambda_context)
    assert consolidations == []

    dead = [b for b in bodies if json.loads(b)["subtask_id"] in poisoned]
    response = dlq_handler.lambda_handler(sqs_event(*dead, dead[0]), lambda_context)  # one duplicate

    assert response["batchItemFailures"] == []
    assert consolidations == ["job-1"]
    assert consolidator.lambda_handler({"job_id": "job-1"}, lambda_context)["status"] == "PARTIAL"
    job = fan_out_env["tracker"].get_job("job-1")
    assert job["result"]["failed_subtask_ids"] == sorted(poisoned)
    assert job["result"]["failed"] == 2


def test_a_subtask_whose_chunk_cannot_be_processed_is_a_batch_item_failure(fan_out_env, lambda_context):
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=TEXT[:600] + b"\xff\xfe bad\n")
    submit(lambda_context, chunk_size_bytes=512)
    bodies = [m["Body"] for m in drain(fan_out_env["queue_url"])]

    result = run_workers(bodies, lambda_context)

    assert len(result["failures"]) == 1


def test_the_sweeper_times_out_overdue_jobs_and_retries_lost_consolidations(
    fan_out_env, lambda_context, consolidations, monkeypatch
):
    from fan_in_sweeper import handler as sweeper

    tracker = fan_out_env["tracker"]
    past = datetime.now(UTC) - timedelta(hours=2)
    JobTracker(fan_out_env["table"], clock=lambda: past).register_job("overdue", 3, 1, "c1", 60, {})
    tracker.register_job("healthy", 3, 1, "c2", 3600, {})
    JobTracker(fan_out_env["table"], clock=lambda: past).register_job("stuck", 1, 1, "c3", 7200, {})
    JobTracker(fan_out_env["table"], clock=lambda: past).record_completion("stuck", 0, 1, Outcome.SUCCEEDED)

    swept = sweeper.lambda_handler({}, lambda_context)

    assert swept == {"timed_out": ["overdue"], "consolidation_retried": ["stuck"]}
    assert sorted(consolidations) == ["overdue", "stuck"]
    assert tracker.get_job("overdue")["status"] == JobStatus.TIMED_OUT
    assert tracker.get_job("healthy")["status"] == JobStatus.RUNNING


def test_word_count_merge_is_the_count_of_the_whole():
    parts = [b"a b\n", b"B c\n"]

    assert merge_counts(count_words(part) for part in parts) == {
        "lines": 2,
        "distinct_words": 3,
        "words": {"a": 1, "b": 2, "c": 1},
    }


def test_a_non_utf8_chunk_fails_the_word_count():
    with pytest.raises(UnicodeDecodeError):
        count_words(io.BytesIO(b"\xff\xfe").read())


def test_every_worker_log_line_carries_the_correlation_id(fan_out_env, lambda_context, consolidations, monkeypatch):
    from fan_out_worker import handler as worker

    submit(lambda_context, chunk_size_bytes=512, correlation_id="corr-42")
    bodies = [m["Body"] for m in drain(fan_out_env["queue_url"])]
    log = io.StringIO()
    monkeypatch.setattr(worker.logger.registered_handler, "stream", log)

    run_workers(bodies[:3] + bodies[:1], lambda_context)  # three subtasks and one duplicate

    records = [json.loads(line) for line in log.getvalue().splitlines()]
    subtask_records = [record for record in records if "subtask_id" in record]
    assert len(subtask_records) == 4
    assert {record["correlation_id"] for record in subtask_records} == {"corr-42"}


def test_only_the_entries_that_failed_are_sent_again(monkeypatch):
    from fan_out_ventilator import handler as ventilator

    class FlakySqs:
        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        def send_message_batch(self, QueueUrl, Entries):
            ids = [entry["Id"] for entry in Entries]
            self.calls.append(ids)
            failed = ids[1:3] if len(self.calls) == 1 else []
            return {"Failed": [{"Id": entry_id, "Code": "InternalError"} for entry_id in failed]}

    sqs = FlakySqs()
    monkeypatch.setattr(aws_clients, "client", lambda name: sqs)
    monkeypatch.setattr(ventilator.time, "sleep", lambda seconds: None)
    subtasks = [Subtask("j", i, 1, "c", "b", "k", 10, 100) for i in range(5)]

    ventilator._send_batch("queue", subtasks)

    assert sqs.calls == [["0", "1", "2", "3", "4"], ["1", "2"]]


def test_entries_that_keep_failing_fail_the_dispatch(monkeypatch):
    from fan_out_ventilator import handler as ventilator

    class BrokenSqs:
        def send_message_batch(self, QueueUrl, Entries):
            return {"Failed": [{"Id": entry["Id"], "Code": "InternalError"} for entry in Entries]}

    monkeypatch.setattr(aws_clients, "client", lambda name: BrokenSqs())
    monkeypatch.setattr(ventilator.time, "sleep", lambda seconds: None)

    with pytest.raises(RuntimeError, match=r"could not send subtasks \['0'\]"):
        ventilator._send_batch("queue", [Subtask("j", 0, 1, "c", "b", "k", 10, 100)])


def test_a_resubmitted_job_keeps_its_registration_and_is_counted_once(fan_out_env, lambda_context, consolidations):
    first = submit(lambda_context, chunk_size_bytes=512)
    second = submit(lambda_context, chunk_size_bytes=512)

    bodies = [m["Body"] for m in drain(fan_out_env["queue_url"])]
    assert len(bodies) == first["total"] + second["total"]  # dispatched twice...
    run_workers(bodies, lambda_context)

    progress = fan_out_env["tracker"].progress("job-1")
    assert (progress.total, progress.succeeded) == (first["total"], first["total"])  # ...counted once
    assert consolidations == ["job-1"]
