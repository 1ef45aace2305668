"""Item sources, workloads by name, results by status, failure tolerance, cancel and redrive, against moto."""

import csv
import io
import json

import pytest

from serverless_patterns.fan_in.tracker import JobStatus, StopReason
from serverless_patterns.fan_out import completions, workload_registry
from serverless_patterns.fan_out.jobs import Subtask
from serverless_patterns.shared import aws_clients
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    BUCKET,
    consolidations,
    drive_consolidator,
    fan_out_env,
    run_workers,
    subtask_bodies,
)

WORKLOADS = {
    "describe": {"process": "unit.sample_workloads:describe"},
    "sum": {"process": "unit.sample_workloads:fail_marked", "merge": "unit.sample_workloads:add"},
    "word_count": workload_registry.DEFAULT_WORKLOADS["word_count"],
}


@pytest.fixture
def jobs(fan_out_env, consolidations, monkeypatch):  # noqa: F811
    monkeypatch.setenv("WORKLOADS", json.dumps(WORKLOADS))
    monkeypatch.setenv("STOP_CHECK_SECONDS", "0.000001")  # every subtask looks: the tests stop jobs midway
    workload_registry.configured.cache_clear()
    workload_registry.workload.cache_clear()
    completions._states.clear()
    from fan_out_ventilator import handler as ventilator

    def capture(job_id, correlation_id, shard=None):
        consolidations.append({"job_id": job_id, **({"shard": shard} if shard is not None else {})})

    monkeypatch.setattr(ventilator, "trigger_consolidator", capture)
    yield {**fan_out_env, "started": consolidations}
    workload_registry.configured.cache_clear()
    workload_registry.workload.cache_clear()


def submit(lambda_context, spec):
    from fan_out_ventilator import handler as ventilator

    return ventilator.lambda_handler({"job_id": "job-1", **spec}, lambda_context)


def run_job(jobs, lambda_context, spec) -> dict:
    """Submit, run every subtask once, consolidate: the job's manifest, with its merged result and status files."""
    answer = submit(lambda_context, spec)
    assert "error" not in answer, answer
    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    drive_consolidator(jobs["started"])
    return results(jobs)


def results(jobs, job_id="job-1") -> dict:
    s3 = jobs["s3"]

    def read(key):
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    manifest = json.loads(read(f"results/{job_id}/manifest.json"))
    lines = {
        outcome: [json.loads(line) for file in manifest["files"][outcome] for line in read(file["key"]).splitlines()]
        for outcome in ("succeeded", "failed")
    }
    merged = json.loads(read(manifest["result_key"])) if "result_key" in manifest else None
    return {**manifest, "result": merged, "lines": lines}


def put(jobs, key, body: bytes) -> None:
    jobs["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)


def test_a_bytes_source_gives_exact_ranges_whatever_the_content(jobs, lambda_context):
    blob = bytes(range(256)) * 10  # 2,560 bytes, newlines anywhere
    put(jobs, "inputs/blob.bin", blob)

    stored = run_job(
        jobs,
        lambda_context,
        {
            "workload": "describe",
            "source": {"type": "bytes", "bucket": BUCKET, "key": "inputs/blob.bin", "chunk_size_bytes": 300},
        },
    )

    assert (stored["status"], stored["total"]) == ("SUCCEEDED", 9)
    lines = sorted(stored["lines"]["succeeded"], key=lambda line: line["subtask_id"])
    assert [line["item"]["range"] for line in lines] == [[i * 300, min(2560, (i + 1) * 300)] for i in range(9)]
    assert b"".join(line["result"]["data"].encode("latin-1") for line in lines) == blob
    assert stored["result"] is None  # no merge: the per-subtask results are the output


@pytest.mark.parametrize("cut", [{"items_per_subtask": 7}, {"chunk_size_bytes": 128}])
def test_json_lines_reach_the_workload_parsed_each_exactly_once(jobs, lambda_context, cut):
    records = [{"n": i, "text": "x" * (i % 13)} for i in range(60)]
    body = "".join(json.dumps(record) + ("\n\n" if i == 30 else "\n") for i, record in enumerate(records))
    put(jobs, "inputs/records.jsonl", body.encode())

    stored = run_job(
        jobs,
        lambda_context,
        {"workload": "describe", "source": {"type": "jsonl", "bucket": BUCKET, "key": "inputs/records.jsonl", **cut}},
    )

    seen = [item for line in stored["lines"]["succeeded"] for item in line["result"]["items"]]
    assert sorted(seen, key=lambda record: record["n"]) == records
    if "items_per_subtask" in cut:
        assert stored["total"] == 9  # 60 records, 7 a subtask; the blank line is no record
        assert all(len(line["result"]["items"]) == 7 for line in stored["lines"]["succeeded"] if line["subtask_id"] < 8)


@pytest.mark.parametrize("cut", [{"items_per_subtask": 25}, {"chunk_size_bytes": 256}])
def test_csv_records_come_with_the_header_each_exactly_once(jobs, lambda_context, cut):
    rows = [{"id": str(i), "region": f"r{i % 3}", "note": f"a, quoted {i}"} for i in range(100)]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["id", "region", "note"])
    writer.writeheader()
    writer.writerows(rows)
    put(jobs, "inputs/rows.csv", text.getvalue().encode())

    stored = run_job(
        jobs,
        lambda_context,
        {"workload": "describe", "source": {"type": "csv", "bucket": BUCKET, "key": "inputs/rows.csv", **cut}},
    )

    assert stored["status"] == "SUCCEEDED"
    assert all(line["result"]["header"] == ["id", "region", "note"] for line in stored["lines"]["succeeded"])
    seen = [item for line in stored["lines"]["succeeded"] for item in line["result"]["items"]]
    assert sorted(seen, key=lambda row: int(row["id"])) == rows


def test_a_csv_record_of_another_width_fails_its_subtask_naming_it(jobs, lambda_context):
    put(jobs, "inputs/bad.csv", b"a,b\n1,2\n3\n5,6\n")

    stored = run_job(
        jobs,
        lambda_context,
        {
            "workload": "describe",
            "source": {"type": "csv", "bucket": BUCKET, "key": "inputs/bad.csv", "items_per_subtask": 1},
        },
    )

    assert (stored["status"], stored["succeeded"], stored["failed"]) == ("PARTIAL", 2, 1)
    [failure] = stored["lines"]["failed"]
    assert failure["type"] == "InvalidRecord"
    assert "1 fields and the header 2" in failure["message"]
    assert failure["item"]["range"] == [8, 10]  # the bytes of "3\n": enough to find and fix it


def test_every_object_under_a_prefix_is_processed_once_over_listing_hand_overs(jobs, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    expected = {f"inputs/docs/{i:04d}.txt": f"document {i}\n" * (i % 4) for i in range(1205)}
    for key, text in expected.items():
        put(jobs, key, text.encode())
    put(jobs, "inputs/docs/folder/", b"")  # a folder marker holds nothing: not an object to process
    put(jobs, "inputs/other.txt", b"not under the prefix\n")
    remaining = iter([60_000, 1_000, 60_000, 60_000, 1_000] + [60_000] * 50)  # one page, hand over, two pages...
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: next(remaining))
    invoked = []

    class FakeLambda:
        def invoke(self, **kwargs):
            invoked.append(json.loads(kwargs["Payload"]))

    spec = {
        "workload": "describe",
        "source": {"type": "objects", "bucket": BUCKET, "prefix": "inputs/docs/", "items_per_subtask": 10},
    }
    with monkeypatch.context() as patch:
        real = aws_clients.client
        patch.setattr(aws_clients, "client", lambda name: FakeLambda() if name == "lambda" else real(name))
        assert submit(lambda_context, spec) == {"job_id": "job-1", "status": "LISTING"}
        [handover] = invoked
        assert len(json.dumps(handover)) < 64 * 1024  # pending objects and part offsets only, never the listing
        answer = ventilator.lambda_handler(handover, lambda_context)
    assert (answer["total"], answer["dispatched_until"]) == (121, 121)

    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    drive_consolidator(jobs["started"])
    stored = results(jobs)

    seen: dict[str, str] = {}
    for line in stored["lines"]["succeeded"]:
        for key, text in line["result"]["objects"].items():
            assert key not in seen
            seen[key] = text
    assert seen == {key: text for key, text in expected.items()}


def test_inline_items_are_cut_into_subtasks_and_merged(jobs, lambda_context):
    stored = run_job(
        jobs,
        lambda_context,
        {"workload": "sum", "source": {"type": "items", "items": list(range(1, 101)), "items_per_subtask": 8}},
    )

    assert (stored["status"], stored["total"], stored["result"]) == ("SUCCEEDED", 13, 5050)
    assert sorted(line["item"]["items"] for line in stored["lines"]["succeeded"])[:2] == [[0, 8], [8, 16]]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"source": {"type": "parquet", "bucket": BUCKET, "key": "k"}}, "source.type"),
        (
            {"source": {"type": "csv", "bucket": BUCKET, "key": "k", "chunk_size_bytes": 1024, "items_per_subtask": 2}},
            "source.items_per_subtask",
        ),
        ({"source": {"type": "items", "items": []}}, "source.items"),
        ({"source": {"type": "items", "items": [1], "items_per_subtask": 0}}, "source.items_per_subtask"),
        (
            {"source": {"type": "objects", "bucket": BUCKET, "prefix": "nothing/here/"}, "workload": "describe"},
            "source.prefix",
        ),
        ({"source": {"type": "objects", "bucket": BUCKET, "items_per_subtask": 101}}, "source.items_per_subtask"),
        ({"source": {"type": "lines", "bucket": BUCKET, "key": "k", "prefix": "p"}}, "source.prefix"),
        ({"source": {"type": "items", "items": [1]}, "input": {"bucket": BUCKET, "key": "k"}}, "source"),
        ({"source": {"type": "items", "items": [1]}, "workload": "nope"}, "workload"),
        (
            {"source": {"type": "items", "items": [1]}, "tolerated_failure_percentage": 101},
            "tolerated_failure_percentage",
        ),
        ({"source": {"type": "items", "items": [1]}, "tolerated_failure_count": -1}, "tolerated_failure_count"),
        (
            {
                "source": {
                    "type": "items",
                    "items": ["x" * 300_000, "y" * 300_000, "z" * 300_000, "w" * 300_000],
                    "items_per_subtask": 4,
                },
                "workload": "describe",
            },
            "source.items_per_subtask",
        ),
        ({"source": {"type": "items", "items": list(range(1001))}, "workload": "describe"}, "source.items_per_subtask"),
    ],
)
def test_a_bad_source_is_refused_naming_the_field_and_the_fix(jobs, lambda_context, spec, field):
    answer = submit(lambda_context, spec)

    assert answer["status"] == "FAILED"
    assert answer["error"]["field"] == field, answer["error"]
    assert answer["error"]["fix"]
    assert subtask_bodies(jobs["queue_url"]) == []


def counts(stored) -> tuple:
    return stored["status"], stored["succeeded"], stored["failed"], stored["skipped"], stored["missing"]


def items_with_failures(count: int, negatives: set[int]) -> list[int]:
    return [-1 if i in negatives else 1 for i in range(count)]


def test_past_its_tolerated_failures_a_job_stops_early_and_ends_failed_with_exact_counts(jobs, lambda_context):
    submit(
        lambda_context,
        {
            "workload": "sum",
            "source": {"type": "items", "items": items_with_failures(12, {1, 3, 4})},
            "tolerated_failure_count": 1,
        },
    )
    bodies = subtask_bodies(jobs["queue_url"])

    run_workers(bodies[:5], lambda_context)  # 0 ok, 1 fails, 2 ok, 3 fails: past 1 failure, the job stops
    job = jobs["tracker"].get_job("job-1")
    assert job["stop"]["reason"] == StopReason.FAILURE_TOLERANCE
    run_workers(bodies[5:] + bodies[:1], lambda_context)  # skipped, not run; a duplicate of 0 counts nothing
    drive_consolidator(jobs["started"])

    stored = results(jobs)
    assert counts(stored) == ("FAILED", 2, 2, 8, 0)  # subtask 4 (a failure too) was skipped, never run
    assert stored["stop"]["reason"] == "FAILURE_TOLERANCE"
    assert stored["result"] == 2
    assert sorted(line["subtask_id"] for line in stored["lines"]["failed"]) == [1, 3]


def test_a_percentage_tolerance_counts_against_the_total(jobs, lambda_context):
    stored = run_job(
        jobs,
        lambda_context,
        {
            "workload": "sum",
            "source": {"type": "items", "items": items_with_failures(20, {0, 19})},
            "tolerated_failure_percentage": 10,
        },
    )

    assert counts(stored) == ("PARTIAL", 18, 2, 0, 0)  # 2 of 20 is 10%: tolerated


def test_a_cancelled_job_skips_what_is_left_finishes_what_runs_and_ends_cancelled_exactly(jobs, lambda_context):
    submit(lambda_context, {"workload": "sum", "source": {"type": "items", "items": [1] * 10}})
    bodies = subtask_bodies(jobs["queue_url"])
    run_workers(bodies[:4], lambda_context)

    assert jobs["tracker"].request_stop("job-1", StopReason.CANCELLED) is not None
    assert jobs["tracker"].request_stop("job-1", StopReason.CANCELLED) is None  # once
    run_workers(bodies[4:] + bodies[4:6], lambda_context)  # redeliveries of skipped ones count nothing
    drive_consolidator(jobs["started"])

    assert counts(results(jobs)) == ("CANCELLED", 4, 0, 6, 0)
    assert jobs["tracker"].get_job("job-1")["status"] == JobStatus.CANCELLED


def test_a_job_cancelled_while_dispatching_sends_nothing_more_and_counts_the_rest_skipped(
    jobs, lambda_context, monkeypatch
):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setattr(ventilator, "WAVE", 3)
    real_record = jobs["tracker"].record_dispatch.__func__

    def cancel_after_the_first_wave(tracker, job_id, until):
        real_record(tracker, job_id, until)
        tracker.request_stop(job_id, StopReason.CANCELLED)

    monkeypatch.setattr(ventilator.JobTracker, "record_dispatch", cancel_after_the_first_wave)
    answer = submit(
        lambda_context, {"workload": "sum", "source": {"type": "items", "items": [1] * 250, "items_per_subtask": 1}}
    )
    bodies = subtask_bodies(jobs["queue_url"])

    # The first wave, and the second that was being sent while the first was recorded: nothing after the stop.
    assert (len(bodies), answer["dispatched_until"]) == (6, 250)
    run_workers(bodies, lambda_context)  # sent before the cancel, received after it: skipped as well
    drive_consolidator(jobs["started"])
    assert counts(results(jobs)) == ("CANCELLED", 0, 0, 250, 0)


def test_a_redrive_runs_only_the_failed_subtasks_again_and_writes_a_new_result(jobs, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    first = run_job(
        jobs, lambda_context, {"workload": "sum", "source": {"type": "items", "items": items_with_failures(10, {2, 7})}}
    )
    assert counts(first) == ("PARTIAL", 8, 2, 0, 0)
    assert first["result"] == 8

    monkeypatch.setenv("NEGATIVES_FAIL", "0")  # the cause is fixed
    answer = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert (answer["status"], answer["run"], answer["redriven"]) == ("RUNNING", 1, 2)
    bodies = subtask_bodies(jobs["queue_url"])
    assert sorted(Subtask.from_message(body).subtask_id for body in bodies) == [2, 7]
    run_workers(bodies + bodies[:1], lambda_context)  # one duplicate: counted once
    drive_consolidator(jobs["started"])

    second = results(jobs)
    assert counts(second) == ("SUCCEEDED", 10, 0, 0, 0)
    assert second["result"] == 8 - 2  # the redriven items are -1 each: merged exactly once
    assert jobs["tracker"].get_job("job-1")["redrives"] == 1


def test_a_redrive_is_refused_for_a_running_job_and_past_its_cap(jobs, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setenv("MAX_REDRIVES", "1")
    submit(lambda_context, {"workload": "sum", "source": {"type": "items", "items": items_with_failures(4, {0})}})
    refused = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert refused["error"]["field"] == "redrive.job_id"
    assert "RUNNING" in refused["error"]["message"]

    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    drive_consolidator(jobs["started"])
    assert ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)["redriven"] == 1
    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)  # still failing
    drive_consolidator(jobs["started"])
    assert counts(results(jobs)) == ("PARTIAL", 3, 1, 0, 0)

    capped = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert "redriven 1 times" in capped["error"]["message"]
    unknown = ventilator.lambda_handler({"redrive": {"job_id": "no-such-job"}}, lambda_context)
    assert unknown["error"]["field"] == "redrive.job_id"


def test_a_stop_seen_in_an_earlier_run_never_skips_a_redriven_subtask(jobs, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    submit(
        lambda_context,
        {
            "workload": "sum",
            "source": {"type": "items", "items": items_with_failures(6, {0, 1})},
            "tolerated_failure_count": 1,
        },
    )
    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)  # 0, 1 fail; 2.. skipped (the stop is cached)
    drive_consolidator(jobs["started"])
    assert counts(results(jobs)) == ("FAILED", 0, 2, 4, 0)
    monkeypatch.setenv("STOP_CHECK_SECONDS", "3600")  # from now on workers keep the stop they saw for an hour

    monkeypatch.setenv("NEGATIVES_FAIL", "0")
    assert ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)["redriven"] == 6
    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    drive_consolidator(jobs["started"])

    assert counts(results(jobs)) == ("SUCCEEDED", 6, 0, 0, 0)


def test_a_late_duplicate_from_before_a_redrive_is_never_counted_in_the_reopened_shard(
    jobs, lambda_context, monkeypatch
):
    from fan_out_ventilator import handler as ventilator

    submit(lambda_context, {"workload": "sum", "source": {"type": "items", "items": items_with_failures(10, {2})}})
    first_run = subtask_bodies(jobs["queue_url"])
    run_workers(first_run, lambda_context)
    drive_consolidator(jobs["started"])
    monkeypatch.setenv("NEGATIVES_FAIL", "0")
    ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    second_run = subtask_bodies(jobs["queue_url"])

    run_workers([first_run[2]], lambda_context)  # a copy SQS kept from run 0 arrives first: it is stale
    assert jobs["tracker"].progress("job-1").completed == 9
    run_workers(second_run, lambda_context)
    drive_consolidator(jobs["started"])

    assert counts(results(jobs)) == ("SUCCEEDED", 10, 0, 0, 0)
    assert results(jobs)["files"]["failed"] == []
    listed = jobs["s3"].list_objects_v2(Bucket=BUCKET, Prefix="results/job-1/failed/")
    assert listed.get("KeyCount", 0) == 0  # run 0's failure file is gone with its failure


def test_a_redrive_in_progress_is_left_alone_and_a_stalled_one_is_taken_over(jobs, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    run_job(
        jobs, lambda_context, {"workload": "sum", "source": {"type": "items", "items": items_with_failures(6, {1})}}
    )
    monkeypatch.setenv("NEGATIVES_FAIL", "0")
    claimed = jobs["tracker"].begin_redrive("job-1", 3, 3600, "a-redrive-that-died")
    assert claimed["status"] == JobStatus.REDRIVING

    busy = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert "is being redriven since" in busy["error"]["message"]
    jobs["table"].update_item(
        Key={"pk": "JOB#job-1", "sk": "JOB"},
        UpdateExpression="SET redriven_at = :long_ago",
        ExpressionAttributeValues={":long_ago": "2000-01-01T00:00:00+00:00"},
    )
    taken = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert (taken["status"], taken["run"], taken["redriven"]) == ("RUNNING", 1, 1)
    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    drive_consolidator(jobs["started"])

    assert counts(results(jobs)) == ("SUCCEEDED", 6, 0, 0, 0)
    assert jobs["tracker"].get_job("job-1")["redrives"] == 1


def test_a_timed_out_or_long_finished_job_is_not_redriven_and_says_what_to_do(jobs, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    run_job(
        jobs, lambda_context, {"workload": "sum", "source": {"type": "items", "items": items_with_failures(4, {1})}}
    )
    key = {"pk": "JOB#job-1", "sk": "JOB"}
    jobs["table"].update_item(
        Key=key,
        UpdateExpression="SET finished_at = :old",
        ExpressionAttributeValues={":old": "2000-01-01T00:00:00+00:00"},
    )
    expired = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert "partial results have expired" in expired["error"]["message"]
    assert "results/<job>/failed/" in expired["error"]["fix"]

    jobs["table"].update_item(
        Key=key, UpdateExpression="SET timed_out_at = :t", ExpressionAttributeValues={":t": "2000-01-01T00:00:00+00:00"}
    )
    timed_out = ventilator.lambda_handler({"redrive": {"job_id": "job-1"}}, lambda_context)
    assert "timed out" in timed_out["error"]["message"]
    assert jobs["tracker"].get_job("job-1")["status"] == JobStatus.PARTIAL


def test_jobs_naming_no_workload_run_the_default_whatever_the_order_of_the_map(jobs, lambda_context, monkeypatch):
    monkeypatch.setenv("WORKLOADS", json.dumps(dict(sorted({**WORKLOADS, "aaa": WORKLOADS["describe"]}.items()))))
    workload_registry.configured.cache_clear()
    assert workload_registry.names()[0] == "word_count"
    monkeypatch.setenv("DEFAULT_WORKLOAD", "sum")
    assert workload_registry.names()[0] == "sum"

    submit(lambda_context, {"source": {"type": "items", "items": [1, 2]}})

    assert {Subtask.from_message(body).workload for body in subtask_bodies(jobs["queue_url"])} == {"sum"}
