"""Ventilator, worker, DLQ handler, consolidator and sweeper against moto."""

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, Outcome, ShardLayout
from serverless_patterns.fan_out import subtask_sends
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.fan_out.workload_registry import Workload
from serverless_patterns.shared import aws_clients
from serverless_patterns.workloads.word_count import count_words, merge_counts
from unit.conftest import LEASE, STATUS_INDEX, sqs_event

BUCKET = "jobs-bucket"
TEXT = b"".join(f"alpha beta line{i % 7}\n".encode() for i in range(300))
CHUNK = 512
TOTAL = -(-len(TEXT) // CHUNK)  # 10 subtasks, in 4 shards of at most 3
EXPECTED_WORDS = dict(Counter(word.lower() for word in TEXT.decode().split()))


@pytest.fixture
def fan_out_env(aws, tracker_table, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="subtasks")["QueueUrl"]
    topic_arn = boto3.client("sns").create_topic(Name="job-events")["TopicArn"]
    # Every job-finished event lands here, so tests can count them.
    events_url = sqs.create_queue(QueueName="job-events")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=events_arn, Attributes={"RawMessageDelivery": "true"}
    )
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
        "SUBTASKS_PER_SHARD": "3",
        "PARALLEL_SHARDS": "1",
        "MAX_LINE_BYTES": "256",
        "JOB_RETENTION_DAYS": "1",
        "CONSOLIDATION_MAX_FAILURES": "3",
        "CONSOLIDATION_GRACE_SECONDS": "60",
        # moto is not thread-safe (its counters lose concurrent updates): records run one at a time here,
        # and test_worker_threads checks the threads themselves.
        "WORKER_THREADS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=TEXT)
    return {
        "s3": s3,
        "queue_url": queue_url,
        "events_url": events_url,
        "table": tracker_table,
        "tracker": JobTracker(tracker_table),
    }


@pytest.fixture
def consolidations(monkeypatch):
    """Consolidator triggers, captured instead of invoking Lambda: the events it would receive."""
    from fan_in_consolidator import handler as consolidator
    from fan_in_sweeper import handler as sweeper
    from serverless_patterns.fan_out import completions

    started: list[dict] = []

    def capture(job_id, correlation_id, shard=None):
        started.append({"job_id": job_id, **({"shard": shard} if shard is not None else {})})

    for module in (completions, sweeper, consolidator):
        monkeypatch.setattr(module, "trigger_consolidator", capture)
    return started


def drive_consolidator(started: list[dict]) -> list[dict]:
    """Run the consolidator on every captured trigger, and on those it triggers, until none is left."""
    from fan_in_consolidator import handler as consolidator

    answers = []
    while started:
        answers.append(consolidator.handle(started.pop(0)))
    return answers


def reduce_every_shard(started: list[dict]) -> None:
    """Run the captured shard reductions; leave only the final merge they start in `started`."""
    shard_events = [event for event in started if "shard" in event]
    started.clear()
    drive_consolidator(shard_events)
    assert started == [{"job_id": "job-1"}]


def job_events(events_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    events = []
    while batch := sqs.receive_message(QueueUrl=events_url, MaxNumberOfMessages=10).get("Messages", []):
        events.extend(json.loads(message["Body"]) for message in batch)
        for message in batch:
            sqs.delete_message(QueueUrl=events_url, ReceiptHandle=message["ReceiptHandle"])
    return events


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


def subtask_bodies(queue_url: str) -> list[str]:
    return sorted((m["Body"] for m in drain(queue_url)), key=lambda body: json.loads(body)["subtask_id"])


def stored_result(fan_out_env, job_id="job-1") -> dict:
    """The job's manifest, with its merged result (None without one) under "result"."""
    s3 = fan_out_env["s3"]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{job_id}/manifest.json")["Body"].read())
    merged = (
        s3.get_object(Bucket=BUCKET, Key=manifest["result_key"])["Body"].read() if "result_key" in manifest else b"null"
    )
    return {**manifest, "result": json.loads(merged)}


def test_the_ventilator_registers_the_total_and_shards_before_dispatching_every_subtask(fan_out_env, lambda_context):
    result = submit(lambda_context, chunk_size_bytes=CHUNK)

    assert result == {"job_id": "job-1", "status": "RUNNING", "total": TOTAL, "dispatched_until": TOTAL}
    tracker = fan_out_env["tracker"]
    job = tracker.get_job("job-1")
    assert (job["total"], job["shard_count"], job["status"], job["dispatched_until"]) == (
        TOTAL,
        4,
        JobStatus.RUNNING,
        TOTAL,
    )
    assert [shard["expected"] for shard in tracker.shards("job-1", 4)] == [3, 3, 2, 2]
    subtasks = [Subtask.from_message(message["Body"]) for message in drain(fan_out_env["queue_url"])]
    assert sorted(subtask.subtask_id for subtask in subtasks) == list(range(TOTAL))
    assert {(subtask.correlation_id, subtask.expires_at) for subtask in subtasks} == {("job-1", job["expires_at"])}
    assert job["expires_at"] > datetime.now(UTC).timestamp() + 86400  # deadline + retention


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"chunk_size_bytes": 10}, "chunk_size_bytes"),
        ({"chunk_size_bytes": "big"}, "chunk_size_bytes"),
        ({"chunk_size_bytes": 4096.0}, "chunk_size_bytes"),
        ({"chunk_size_bytes": True}, "chunk_size_bytes"),
        ({"input": {"bucket": BUCKET, "key": "missing.txt"}}, "input"),
        ({"input": {"bucket": "no-such-bucket", "key": "x.txt"}}, "input"),
        ({"input": {"bucket": BUCKET}}, "input.key"),
        ({"input": {"bucket": BUCKET, "key": ""}}, "input.key"),
        ({"input": {"bucket": BUCKET, "key": ["a"]}}, "input.key"),
        ({"input": {"bucket": BUCKET, "key": "k" * 1025}}, "input.key"),
        ({"input": {"bucket": BUCKET, "key": "bad-\ud800"}}, "input.key"),
        ({"input": {"bucket": ["b"], "key": "x"}}, "input.bucket"),
        ({"input": {"bucket": "Not_A_Bucket", "key": "x"}}, "input.bucket"),
        ({"input": {"bucket": BUCKET, "key": "x", "version": 1}}, "input.version"),
        ({"input": "s3://jobs-bucket/x"}, "input"),
        ({"chunk_size": 4096}, "chunk_size"),
        ({"": None}, '""'),
        ({"correlation_id": 42}, "correlation_id"),
        ({"correlation_id": "c" * 10_000}, "correlation_id"),
        ({"correlation_id": {"nested": [1.5, {"deep": None}]}}, "correlation_id"),
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


def test_a_bad_job_id_fails_under_a_generated_id_whatever_the_spec_holds(fan_out_env, lambda_context):
    from fan_out_ventilator import handler as ventilator

    document = {"job_id": {"x": 1.5}, "input": {"bucket": BUCKET, "key": "inputs/text.txt"}, "blob": "x" * 500_000}

    result = ventilator.lambda_handler(document, lambda_context)

    assert result["status"] == "FAILED"
    assert result["error"]["field"] == "blob"
    assert result["job_id"] == f"rejected-{lambda_context.aws_request_id}"
    stored = fan_out_env["tracker"].get_job(result["job_id"])
    assert stored["status"] == JobStatus.FAILED
    assert len(stored["spec"]["submitted"]) <= 2000


def test_an_input_the_ventilator_may_not_read_is_told_apart_from_a_missing_one(
    fan_out_env, lambda_context, monkeypatch
):
    from botocore.exceptions import ClientError

    from serverless_patterns.shared import aws_clients

    def forbidden(**_):
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    monkeypatch.setattr(aws_clients.client("s3"), "head_object", forbidden)

    result = submit(lambda_context)

    assert result["status"] == "FAILED"
    assert "may not read" in result["error"]["message"]
    assert "s3:GetObject" in result["error"]["fix"]


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
    first = submit(lambda_context, chunk_size_bytes=CHUNK)
    assert first["dispatched_until"] == 5
    assert fan_out_env["tracker"].get_job("job-1")["dispatched_until"] == 5
    [continuation] = invoked

    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 60_000)
    rest = ventilator.lambda_handler(continuation, lambda_context)

    assert rest["dispatched_until"] == first["total"]
    ids = sorted(Subtask.from_message(m["Body"]).subtask_id for m in drain(fan_out_env["queue_url"]))
    assert ids == list(range(first["total"]))


def test_workers_count_each_subtask_once_and_each_full_shard_starts_its_reduction(
    fan_out_env, lambda_context, consolidations
):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])

    result = run_workers(bodies + bodies[:7], lambda_context)  # 7 duplicate deliveries

    assert result["failures"] == []
    progress = fan_out_env["tracker"].progress("job-1")
    assert (progress.succeeded, progress.failed) == (TOTAL, 0)
    assert sorted(event["shard"] for event in consolidations) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "change",
    [
        {"subtask_id": TOTAL},  # past the job's last chunk
        {"subtask_id": -1},
        {"subtask_id": "3"},
        {"shard": True},
        {"job_id": "../other"},
    ],
)
def test_a_subtask_message_no_ventilator_sent_is_never_counted(fan_out_env, lambda_context, change):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    [body, *_] = subtask_bodies(fan_out_env["queue_url"])

    result = run_workers([json.dumps({**json.loads(body), **change}), "not json"], lambda_context)

    assert len(result["failures"]) == 2
    assert fan_out_env["tracker"].progress("job-1").completed == 0


def test_a_subtask_outside_its_shard_is_refused_by_the_tracker(fan_out_env, lambda_context):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    [body, *_] = subtask_bodies(fan_out_env["queue_url"])
    message = json.loads(body)
    # A consistent message for the shard layout of a job that does not exist: subtask 0 in shard 3.
    forged = {**message, "subtask_id": 0, "shard": 3}

    result = run_workers([json.dumps(forged)], lambda_context)

    assert len(result["failures"]) == 1
    assert fan_out_env["tracker"].progress("job-1").completed == 0


def test_an_input_overwritten_during_the_job_fails_its_subtasks_at_once_without_mixing(fan_out_env, lambda_context):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=b"other content\n" * 500)

    result = run_workers(bodies[:3], lambda_context)

    assert result["failures"] == []  # failed for good, at once: no retry can bring the old content back
    progress = fan_out_env["tracker"].progress("job-1")
    assert (progress.succeeded, progress.failed) == (0, 3)
    errors = [task["error"] for task in fan_out_env["tracker"].shard_tasks("job-1", 0) if "error" in task]
    assert errors
    assert errors[0]["type"] == "InputChanged"


def test_shards_are_reduced_then_merged_into_the_exact_result_with_one_event(
    fan_out_env, lambda_context, consolidations
):
    from fan_in_consolidator import handler as consolidator

    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)

    answers = drive_consolidator(consolidations)

    assert sorted(answer["shard"] for answer in answers[:-1]) == [0, 1, 2, 3]  # four reductions,
    assert "shard" not in answers[-1]  # then one final merge
    assert answers[-1] == {"job_id": "job-1", "status": "SUCCEEDED", "consolidated": True}
    stored = stored_result(fan_out_env)
    assert stored["result"]["words"] == EXPECTED_WORDS
    assert stored["result"]["lines"] == 300
    assert (stored["succeeded"], stored["failed"], stored["missing"]) == (TOTAL, 0, 0)
    job = fan_out_env["tracker"].get_job("job-1")
    assert (job["status"], job["shards_reduced"], job["result"]["key"]) == (
        JobStatus.SUCCEEDED,
        4,
        "results/job-1/manifest.json",
    )
    [event] = job_events(fan_out_env["events_url"])
    assert (event["event"], event["job_id"], event["status"], event["succeeded"]) == (
        "job-finished",
        "job-1",
        "SUCCEEDED",
        TOTAL,
    )

    # Duplicate triggers of every kind change nothing and announce nothing.
    again = [consolidator.handle({"job_id": "job-1"}), consolidator.handle({"job_id": "job-1", "shard": 2})]
    assert [answer["consolidated"] for answer in again] == [False, False]
    assert job_events(fan_out_env["events_url"]) == []
    assert stored_result(fan_out_env) == stored


def test_two_final_merges_at_once_record_one_result_and_publish_one_event(
    fan_out_env, lambda_context, consolidations, monkeypatch
):
    from fan_in_consolidator import handler as consolidator

    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)
    reduce_every_shard(consolidations)
    real_record = consolidator._record_result
    rival: list[dict] = []
    started: list[bool] = []

    def record_after_a_rival(tracker, job):
        # The rival attempt merges, stages and records first; this one merged the same job meanwhile.
        if not started:
            started.append(True)
            rival.append(consolidator.finish(tracker, tracker.get_job("job-1"), LEASE))
        return real_record(tracker, job)

    monkeypatch.setattr(consolidator, "_record_result", record_after_a_rival)
    # A run outliving its lease (lapsed at once here), so a rival may take the lapsed lease over meanwhile.
    answer = consolidator.handle({"job_id": "job-1"}, seconds_left=-10)

    assert rival[0]["consolidated"] is True
    assert answer["consolidated"] is False
    assert len(job_events(fan_out_env["events_url"])) == 1
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS


def test_exhausted_subtasks_end_the_job_partial_with_exactly_those_ids_and_their_last_errors(
    fan_out_env, lambda_context, consolidations, monkeypatch
):
    from fan_out_dlq_handler import handler as dlq_handler
    from fan_out_worker import handler as worker

    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    poisoned = {2, 5}

    service_down = [False]

    def flaky_service(task):
        if service_down[0]:
            raise ConnectionError("the remote service hung up")
        return count_words(task.data)

    monkeypatch.setattr(worker, "workload", lambda name: Workload(name, flaky_service, merge_counts))
    healthy = [b for b in bodies if json.loads(b)["subtask_id"] not in poisoned]
    assert run_workers(healthy, lambda_context)["failures"] == []
    service_down[0] = True
    for body in (bodies[i] for i in sorted(poisoned)):
        # Every receive fails: the reason is kept for the DLQ handler.
        for _ in range(2):
            assert len(run_workers([body], lambda_context)["failures"]) == 1

    dead = [bodies[i] for i in sorted(poisoned)]
    response = dlq_handler.lambda_handler(sqs_event(*dead, dead[0]), lambda_context)  # one duplicate
    assert response["batchItemFailures"] == []

    answers = drive_consolidator(consolidations)
    assert answers[-1]["status"] == "PARTIAL"
    stored = stored_result(fan_out_env)
    assert stored["failed_subtask_ids"] == sorted(poisoned)
    assert {(f["subtask_id"], f["type"], f["message"], f["attempts"]) for f in stored["failures"]} == {
        (2, "ConnectionError", "the remote service hung up", 2),
        (5, "ConnectionError", "the remote service hung up", 2),
    }
    job = fan_out_env["tracker"].get_job("job-1")
    assert job["result"]["failed"] == 2
    assert [failure["type"] for failure in job["result"]["failures"]] == ["ConnectionError", "ConnectionError"]


def quarantined(fan_out_env) -> list[dict]:
    listed = fan_out_env["s3"].list_objects_v2(Bucket=BUCKET, Prefix="quarantine/").get("Contents", [])
    return [json.loads(fan_out_env["s3"].get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()) for o in listed]


def test_a_dead_message_that_can_never_be_recorded_is_quarantined_at_once(fan_out_env, lambda_context):
    from fan_out_dlq_handler import handler as dlq_handler

    submit(lambda_context, chunk_size_bytes=CHUNK)
    [body, *_] = subtask_bodies(fan_out_env["queue_url"])
    of_no_job = json.dumps({**json.loads(body), "job_id": "never-registered"})

    response = dlq_handler.lambda_handler(sqs_event("not a subtask", of_no_job), lambda_context)

    assert response["batchItemFailures"] == []  # both leave the DLQ, kept in S3 with the reason
    kept = sorted(quarantined(fan_out_env), key=lambda entry: entry["body"])
    assert [entry["body"] for entry in kept] == sorted(["not a subtask", of_no_job])
    assert {entry["reason"]["type"] for entry in kept} == {"InvalidSubtaskMessage", "UnknownJobError"}
    assert fan_out_env["tracker"].progress("job-1").completed == 0


def test_a_dead_message_that_keeps_failing_is_quarantined_after_its_receives(fan_out_env, lambda_context, monkeypatch):
    from fan_out_dlq_handler import handler as dlq_handler

    submit(lambda_context, chunk_size_bytes=CHUNK)
    [body, *_] = subtask_bodies(fan_out_env["queue_url"])

    def tracker_down(*args, **kwargs):
        raise ConnectionError("tracker unreachable")

    monkeypatch.setattr(dlq_handler, "complete_subtask", tracker_down)
    monkeypatch.setenv("SOURCE_MAX_RECEIVE_COUNT", "5")

    # SQS keeps counting the source queue's 5 receives in the DLQ: 6 is the DLQ's first.
    early = dlq_handler.lambda_handler(sqs_event(body, receive_count=9, message_ids=["m1"]), lambda_context)
    late = dlq_handler.lambda_handler(sqs_event(body, receive_count=10, message_ids=["m1"]), lambda_context)

    assert [failure["itemIdentifier"] for failure in early["batchItemFailures"]] == ["m1"]  # retried first
    assert late["batchItemFailures"] == []
    [kept] = quarantined(fan_out_env)
    assert kept["reason"] == {"type": "ConnectionError", "message": "tracker unreachable"}
    assert kept["receive_count"] == 10


def test_input_the_processor_can_never_handle_fails_at_once_with_its_reason(
    fan_out_env, lambda_context, consolidations
):
    line = b"alpha beta gamm\n"  # 16 bytes: 32 lines fill a chunk
    not_utf8 = b"\xff\xfe not utf-8 !!\n"  # 16 bytes too
    too_long = b"z" * 799 + b"\n"  # runs 288 bytes past its chunk (max_line_bytes 256)
    # subtask 0: good lines; 1: bytes that are not UTF-8; 2: the long line; 3 and 4: good lines
    text = line * 32 + not_utf8 + line * 31 + too_long + line * 32
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=text)
    submit(lambda_context, chunk_size_bytes=CHUNK)

    result = run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)

    assert result["failures"] == []  # no receive is spent on it: the message is done
    answers = drive_consolidator(consolidations)
    assert answers[-1]["status"] == "PARTIAL"
    [unicode_failure, long_line] = stored_result(fan_out_env)["failures"]
    assert (unicode_failure["subtask_id"], unicode_failure["type"]) == (1, "UnicodeDecodeError")
    assert (long_line["subtask_id"], long_line["type"]) == (2, "LineTooLongError")
    assert "max_line_bytes" in long_line["message"]


def test_a_job_whose_every_subtask_failed_ends_failed(fan_out_env, lambda_context, consolidations):
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=b"\xff\xfe\n" * 300)
    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)

    answers = drive_consolidator(consolidations)

    assert answers[-1]["status"] == "FAILED"
    stored = stored_result(fan_out_env)
    assert (stored["succeeded"], stored["failed"], stored["result"]) == (0, 2, None)
    [event] = job_events(fan_out_env["events_url"])
    assert event["status"] == "FAILED"


def test_a_shard_reduction_that_keeps_failing_ends_the_job_failed_once_with_its_reason(
    fan_out_env, lambda_context, consolidations, monkeypatch
):
    from fan_in_consolidator import handler as consolidator

    def merge_out_of_memory(partials):
        raise MemoryError("the merge ran out of memory")

    monkeypatch.setattr(consolidator, "merge_results", merge_out_of_memory)
    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)
    shard_zero = {"job_id": "job-1", "shard": 0}

    # Never raised (Lambda does not retry the consolidator): each failure is charged, for the sweeper to retry.
    retries = [consolidator.handle(shard_zero) for _ in range(2)]
    abandoned = consolidator.handle(shard_zero)  # the third failure spends the budget (CONSOLIDATION_MAX_FAILURES)
    after = consolidator.handle(shard_zero)

    assert [retry["retried_by"] for retry in retries] == ["sweeper", "sweeper"]
    assert abandoned == {"job_id": "job-1", "status": "FAILED", "consolidated": False}
    job = fan_out_env["tracker"].get_job("job-1")
    assert job["status"] == JobStatus.FAILED
    assert job["error"]["field"] == "consolidation"
    assert (
        "consolidation failed 3 times (the budget is 3), last in the reduction of shard 0 "
        "with MemoryError: the merge ran out of memory" in job["error"]["message"]
    )
    assert after["consolidated"] is False
    [event] = job_events(fan_out_env["events_url"])
    assert (event["status"], event["error"]["field"]) == ("FAILED", "consolidation")
    assert fan_out_env["tracker"].shard("job-1", 0).get("status") is None  # out of the sweeper's sight


def test_a_final_merge_that_keeps_failing_ends_the_job_failed(fan_out_env, lambda_context, consolidations, monkeypatch):
    from fan_in_consolidator import handler as consolidator

    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)
    reduce_every_shard(consolidations)

    def broken(*args):
        raise TimeoutError("S3 did not answer")

    monkeypatch.setattr(consolidator, "consolidate", broken)
    for _ in range(2):
        assert consolidator.handle({"job_id": "job-1"})["retried_by"] == "sweeper"

    assert consolidator.handle({"job_id": "job-1"})["status"] == "FAILED"
    assert "last in the final merge with TimeoutError" in fan_out_env["tracker"].get_job("job-1")["error"]["message"]


def test_the_sweeper_times_out_overdue_jobs_and_retries_lost_work_once_per_grace_period(
    fan_out_env, lambda_context, consolidations
):
    from fan_in_sweeper import handler as sweeper

    table = fan_out_env["table"]
    now = datetime.now(UTC)
    two_hours_ago = JobTracker(table, clock=lambda: now - timedelta(hours=2))
    fingerprint = {"fingerprint": "f", "retention_seconds": 86400, "spec": {}}
    two_hours_ago.register_job("overdue", ShardLayout(3, 1, 1), "c1", 60, **fingerprint)
    fan_out_env["tracker"].register_job("healthy", ShardLayout(3, 1, 1), "c2", 3600, **fingerprint)
    # A job whose last shard was sealed two hours ago, and whose reduction was lost.
    two_hours_ago.register_job("stuck", ShardLayout(2, 2, 2), "c3", 10800, **fingerprint)
    two_hours_ago.record_completion("stuck", 0, 0, Outcome.SUCCEEDED)
    two_hours_ago.record_completion("stuck", 1, 1, Outcome.SUCCEEDED)
    two_hours_ago.begin_reduction("stuck", 0, now - timedelta(hours=2))
    two_hours_ago.record_reduction("stuck", 0, {"result_key": "k", "succeeded": 1, "failed": 0})

    swept = sweeper.lambda_handler({}, lambda_context)

    assert swept == {"timed_out": ["overdue"], "consolidation_retried": [], "reduction_retried": ["stuck#1"]}
    assert consolidations == [{"job_id": "overdue"}, {"job_id": "stuck", "shard": 1}]
    assert fan_out_env["tracker"].get_job("overdue")["status"] == JobStatus.COMPLETING
    assert fan_out_env["tracker"].get_job("healthy")["status"] == JobStatus.RUNNING

    # An attempt (here: the reduction starting) moves the clock forward: no retry within the grace period.
    fan_out_env["tracker"].begin_reduction("stuck", 1, now + timedelta(minutes=15))
    consolidations.clear()
    assert sweeper.lambda_handler({}, lambda_context)["reduction_retried"] == []


def test_a_timed_out_job_is_consolidated_on_what_finished(fan_out_env, lambda_context, consolidations):
    from fan_in_sweeper import handler as sweeper

    submit(lambda_context, chunk_size_bytes=CHUNK)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    finished = [0, 1, 3, 4, 6, 8]  # shards {0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9} each miss one
    run_workers([bodies[i] for i in finished], lambda_context)
    assert consolidations == []
    fan_out_env["table"].update_item(
        Key={"pk": "JOB#job-1", "sk": "JOB"},
        UpdateExpression="SET deadline = :past",
        ExpressionAttributeValues={":past": "2000-01-01T00:00:00+00:00"},
    )

    assert sweeper.lambda_handler({}, lambda_context)["timed_out"] == ["job-1"]
    answers = drive_consolidator(consolidations)

    assert answers[-1]["status"] == "TIMED_OUT"
    stored = stored_result(fan_out_env)
    assert (stored["succeeded"], stored["missing"]) == (6, TOTAL - 6)
    # A subtask owns the lines that start in its chunk.
    owned, offset = [], 0
    for line in TEXT.splitlines(keepends=True):
        if offset // CHUNK in finished:
            owned.append(line)
        offset += len(line)
    assert stored["result"]["words"] == dict(Counter(word.lower() for word in b"".join(owned).decode().split()))


def test_the_same_spec_again_is_answered_without_dispatching_twice(fan_out_env, lambda_context, consolidations):
    first = submit(lambda_context, chunk_size_bytes=CHUNK)
    second = submit(lambda_context, chunk_size_bytes=CHUNK, correlation_id="a-retrying-client")

    assert second == {**first, "repeated": True}
    assert len(drain(fan_out_env["queue_url"])) == TOTAL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"chunk_size_bytes": 1024}, "exists with another spec"),
        ({"input": {"bucket": BUCKET, "key": "inputs/other.txt"}}, "exists with another spec"),
    ],
)
def test_another_spec_under_a_job_id_is_refused_naming_the_fix(fan_out_env, lambda_context, change, message):
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/other.txt", Body=TEXT)
    submit(lambda_context, chunk_size_bytes=CHUNK)

    answer = submit(lambda_context, **{"chunk_size_bytes": CHUNK, **change})

    assert answer["status"] == "RUNNING"  # the job is untouched
    assert answer["error"]["field"] == "job_id"
    assert message in answer["error"]["message"]
    assert "new job_id" in answer["error"]["fix"]
    assert len(drain(fan_out_env["queue_url"])) == TOTAL


def test_changed_input_content_under_the_same_job_id_is_refused(fan_out_env, lambda_context):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    fan_out_env["s3"].put_object(Bucket=BUCKET, Key="inputs/text.txt", Body=TEXT + b"one more line\n")

    assert submit(lambda_context, chunk_size_bytes=CHUNK)["error"]["field"] == "job_id"


def test_a_finished_or_rejected_job_id_is_refused(fan_out_env, lambda_context, consolidations):
    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)
    drive_consolidator(consolidations)
    submit(lambda_context, chunk_size_bytes=10, job_id="rejected")

    finished = submit(lambda_context, chunk_size_bytes=CHUNK)
    rejected = submit(lambda_context, chunk_size_bytes=CHUNK, job_id="rejected")

    assert (finished["status"], finished["error"]["field"]) == ("SUCCEEDED", "job_id")
    assert "has finished (SUCCEEDED)" in finished["error"]["message"]
    assert (rejected["status"], rejected["error"]["field"]) == ("FAILED", "job_id")
    assert "was rejected" in rejected["error"]["message"]
    assert drain(fan_out_env["queue_url"]) == []


def test_a_stalled_dispatch_is_resumed_where_it_stopped(fan_out_env, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setattr(ventilator, "WAVE", 4)
    calls = iter([60_000, 1_000])  # one wave, then the invocation "dies" (its hand-over is lost)
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: next(calls, 60_000))
    monkeypatch.setattr(ventilator, "_continue_elsewhere", lambda plan, next_subtask, context: None)
    assert submit(lambda_context, chunk_size_bytes=CHUNK)["dispatched_until"] == 4
    fan_out_env["table"].update_item(
        Key={"pk": "JOB#job-1", "sk": "JOB"},
        UpdateExpression="SET dispatch_updated_at = :long_ago",
        ExpressionAttributeValues={":long_ago": "2000-01-01T00:00:00+00:00"},
    )

    resumed = submit(lambda_context, chunk_size_bytes=CHUNK)

    assert resumed["dispatched_until"] == TOTAL
    ids = sorted(Subtask.from_message(m["Body"]).subtask_id for m in drain(fan_out_env["queue_url"]))
    assert ids == list(range(TOTAL))  # each subtask sent once


def test_word_count_merge_is_the_count_of_the_whole_and_merges_its_own_output():
    parts = [b"a b\n", b"B c\n"]
    merged = merge_counts(count_words(part) for part in parts)

    assert merged == {"lines": 2, "distinct_words": 3, "words": {"a": 1, "b": 2, "c": 1}}
    assert merge_counts([merged, count_words(b"c d\n")])["words"] == {"a": 1, "b": 2, "c": 2, "d": 1}


def test_a_non_utf8_chunk_fails_the_word_count():
    with pytest.raises(UnicodeDecodeError):
        count_words(io.BytesIO(b"\xff\xfe").read())


def test_every_worker_log_line_carries_the_correlation_id(fan_out_env, lambda_context, consolidations, monkeypatch):
    from fan_out_worker import handler as worker

    submit(lambda_context, chunk_size_bytes=CHUNK, correlation_id="corr-42")
    bodies = [m["Body"] for m in drain(fan_out_env["queue_url"])]
    log = io.StringIO()
    monkeypatch.setattr(worker.logger.registered_handler, "stream", log)

    run_workers(bodies[:3] + bodies[:1], lambda_context)  # three subtasks and one duplicate

    records = [json.loads(line) for line in log.getvalue().splitlines()]
    subtask_records = [record for record in records if "subtask_id" in record]
    assert len(subtask_records) >= 4
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
    monkeypatch.setattr(subtask_sends.time, "sleep", lambda seconds: None)
    subtasks = [Subtask("j", i, 0, "c", 0, {"type": "items", "items": [i], "first_item": i}) for i in range(5)]

    ventilator._send_batch("queue", [(subtask, subtask.to_message()) for subtask in subtasks])

    assert sqs.calls == [["0", "1", "2", "3", "4"], ["1", "2"]]


def test_entries_that_keep_failing_fail_the_dispatch(monkeypatch):
    from fan_out_ventilator import handler as ventilator

    class BrokenSqs:
        def send_message_batch(self, QueueUrl, Entries):
            return {"Failed": [{"Id": entry["Id"], "Code": "InternalError"} for entry in Entries]}

    monkeypatch.setattr(aws_clients, "client", lambda name: BrokenSqs())
    monkeypatch.setattr(subtask_sends.time, "sleep", lambda seconds: None)

    subtask = Subtask("j", 0, 0, "c", 0, {"type": "items", "items": [0], "first_item": 0})
    with pytest.raises(RuntimeError, match=r"could not send subtasks \['0'\]"):
        ventilator._send_batch("queue", [(subtask, subtask.to_message())])


def test_a_recorded_result_is_published_once_and_never_abandoned_when_finishing_fails(
    fan_out_env, lambda_context, consolidations, monkeypatch
):
    from fan_in_consolidator import handler as consolidator

    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)
    reduce_every_shard(consolidations)
    tracker = fan_out_env["tracker"]
    real_finish = JobTracker.finish

    def unreachable_table(self, job_id, status):
        raise ConnectionError("DynamoDB did not answer")

    monkeypatch.setattr(JobTracker, "finish", unreachable_table)
    with pytest.raises(ConnectionError):
        consolidator.handle({"job_id": "job-1"})  # recorded, copied, published, then could not finish
    monkeypatch.setattr(JobTracker, "finish", real_finish)
    assert len(job_events(fan_out_env["events_url"])) == 1

    # Retries within the grace period leave the publisher's claim alone, however many there are.
    for _ in range(5):
        assert consolidator.handle({"job_id": "job-1"})["consolidated"] is False
    assert tracker.get_job("job-1")["status"] == JobStatus.COMPLETING
    # After it, the sweeper's trigger takes over: it finishes the job with the recorded result, announced already.
    fan_out_env["table"].update_item(
        Key={"pk": "JOB#job-1", "sk": "JOB"},
        UpdateExpression="SET publication_claimed_at = :long_ago",
        ExpressionAttributeValues={":long_ago": "2000-01-01T00:00:00+00:00"},
    )
    assert consolidator.handle({"job_id": "job-1"}) == {"job_id": "job-1", "status": "SUCCEEDED", "consolidated": True}
    assert job_events(fan_out_env["events_url"]) == []
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS


def test_a_retried_ventilator_invocation_resumes_its_own_dispatch_at_once(fan_out_env, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setattr(ventilator, "WAVE", 4)
    real_send = ventilator._send_batch
    sent = []

    def sqs_down_after_one_wave(queue_url, subtasks):
        if len(sent) >= 4:
            raise RuntimeError("SQS is unavailable")
        sent.extend(subtasks)
        real_send(queue_url, subtasks)

    monkeypatch.setattr(ventilator, "_send_batch", sqs_down_after_one_wave)
    with pytest.raises(RuntimeError):
        submit(lambda_context, chunk_size_bytes=CHUNK)
    monkeypatch.setattr(ventilator, "_send_batch", real_send)
    other_client = type(lambda_context)()  # a new request: the dispatch is not stale yet, so it is left alone
    assert submit(other_client, chunk_size_bytes=CHUNK)["dispatched_until"] == 4

    retried = submit(lambda_context, chunk_size_bytes=CHUNK)  # Lambda's retry: the same request id

    assert retried["dispatched_until"] == TOTAL
    ids = sorted(Subtask.from_message(m["Body"]).subtask_id for m in drain(fan_out_env["queue_url"]))
    assert ids == list(range(TOTAL))


def test_the_sweeper_completes_a_job_whose_shards_are_reduced_but_was_never_moved_on(
    fan_out_env, lambda_context, consolidations, monkeypatch
):
    from fan_in_consolidator import handler as consolidator
    from fan_in_sweeper import handler as sweeper

    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)
    start_completing = JobTracker.start_completing
    monkeypatch.setattr(JobTracker, "start_completing", lambda self, job_id: False)  # the last reduction stops there
    drive_consolidator(consolidations)
    monkeypatch.setattr(JobTracker, "start_completing", start_completing)
    assert fan_out_env["tracker"].get_job("job-1")["status"] == JobStatus.RUNNING

    assert sweeper.lambda_handler({}, lambda_context)["consolidation_retried"] == ["job-1"]
    assert consolidator.handle(consolidations.pop())["status"] == "SUCCEEDED"


def test_outcomes_are_counted_even_when_the_merge_stops_reading_early(fan_out_env, lambda_context, consolidations):
    from serverless_patterns.fan_in.reduction import Reader, reduce_tasks

    submit(lambda_context, chunk_size_bytes=CHUNK)
    run_workers(subtask_bodies(fan_out_env["queue_url"]), lambda_context)

    reduction = reduce_tasks(
        fan_out_env["tracker"], Reader(fan_out_env["s3"], BUCKET), lambda results: next(iter(results)), "job-1", 0
    )

    assert reduction["succeeded"] == 3


# Any JSON document a caller may send as a job spec: right and wrong fields, any types, any sizes.
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(exclude_categories=()), max_size=40),
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_spec_fields = st.fixed_dictionaries(
    {},
    optional={
        "input": st.one_of(
            _json_values,
            st.fixed_dictionaries(
                {
                    "bucket": st.one_of(st.just(BUCKET), _json_values),
                    "key": st.one_of(st.just("inputs/text.txt"), _json_values),
                }
            ),
        ),
        "chunk_size_bytes": st.one_of(st.integers(-10, 10**12), _json_values),
        "job_id": st.one_of(st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True), _json_values),
        "correlation_id": _json_values,
        "unexpected": _json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(_spec_fields, _json_values))
def test_whatever_spec_is_submitted_the_answer_is_a_job_or_a_refusal_naming_the_field(
    fan_out_env, lambda_context, document
):
    from fan_out_ventilator import handler as ventilator

    answer = ventilator.lambda_handler(document, lambda_context)

    if "error" in answer:
        assert answer["error"]["field"]
        assert answer["error"]["fix"]
        assert fan_out_env["tracker"].get_job(answer["job_id"]) is not None  # recorded, never lost
    else:
        assert answer["status"] == "RUNNING"
        assert answer["total"] >= 1


@pytest.mark.parametrize(
    "event",
    [{"continuation": 5}, {"continuation": {"plan": "x"}}, {"Records": [{"s3": 1}]}, {"Records": []}, None, "text"],
)
def test_events_that_are_neither_specs_nor_hand_overs_are_refused_in_an_answer(fan_out_env, lambda_context, event):
    from fan_out_ventilator import handler as ventilator

    answer = ventilator.lambda_handler(event, lambda_context)

    assert answer["status"] == "FAILED"
    assert answer["error"]["field"] in {"continuation", "spec", "Records"}
