"""Workloads that cannot run, or cannot read the job's source, say so at once; retried subtasks show in the status."""
# ruff: noqa: F811 (pytest fixtures imported from other test modules are parameters here)

import io
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from serverless_patterns.errors import PermanentSubtaskError, WorkloadUnavailable
from serverless_patterns.fan_in.job_status import status_document
from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, Outcome, Progress, Retrying, StopReason
from serverless_patterns.fan_out import completions, workload_registry
from serverless_patterns.inputs import SubtaskInput
from serverless_patterns.shared.settings import SettingError
from serverless_patterns_ops.fan_out_jobs import describe_job, progress_printer, render_progress, waiting_reason
from unit.conftest import register, sqs_event
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    BUCKET,
    consolidations,
    drive_consolidator,
    fan_out_env,
    run_workers,
    stored_result,
    subtask_bodies,
)
from unit.test_job_api import api  # noqa: F401 (fixture)

FIX = "add it to envs/<env>/workloads.auto.tfvars.json and run make package"
WORKLOADS = {
    "word_count": workload_registry.DEFAULT_WORKLOADS["word_count"],  # reads bytes
    "rows": {"process": "unit.sample_workloads:describe", "reads": ["records"]},
    "anything": {"process": "unit.sample_workloads:describe", "reads": None},  # not declared: any source
    "ghost": {"process": "ghost_pkg.workload:process", "reads": ["items"]},  # not in this "zip"
    "flaky": {"process": "unit.test_workload_faults:flaky", "merge": "unit.sample_workloads:add"},
}
ITEMS = {"type": "items", "items": list(range(20)), "items_per_subtask": 2}  # 10 subtasks, 4 shards


def flaky(task: SubtaskInput) -> int:
    """A workload whose calls on negative items fail, as a service that is down would, until FLAKY_FIXED=1."""
    if os.environ.get("FLAKY_FIXED") != "1" and any(item < 0 for item in task.items):
        raise RuntimeError(f"service unavailable for {task.items}")
    return sum(task.items)


@pytest.fixture(autouse=True)
def deployed(monkeypatch):
    """WORKLOADS as a deployment sets them; every cache that holds them, or a job's stop, starts empty."""
    from fan_out_worker import handler as worker

    monkeypatch.setenv("WORKLOADS", json.dumps(WORKLOADS))
    monkeypatch.setenv("STOP_CHECK_SECONDS", "0.000001")  # every subtask reads its job's stop
    workload_registry.configured.cache_clear()
    workload_registry.workload.cache_clear()
    completions._states.clear()
    worker._stopped_here.clear()
    yield
    workload_registry.configured.cache_clear()
    workload_registry.workload.cache_clear()


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """A package on the path whose module raises while it is imported, and one with a name that is no function."""
    package = tmp_path / "broken_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "explodes.py").write_text("raise RuntimeError('no credentials for the model store')\n")
    (package / "constant.py").write_text("process = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def deploy(monkeypatch, **entries) -> None:
    monkeypatch.setenv("WORKLOADS", json.dumps({**WORKLOADS, **entries}))
    workload_registry.configured.cache_clear()


# -- loading a workload -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "cause"),
    [
        ({"process": "ghost_pkg.workload:process"}, "cannot import ghost_pkg.workload (ModuleNotFoundError: No module"),
        ({"process": "broken_pkg.explodes:process"}, "(RuntimeError: no credentials for the model store)"),
        ({"process": "unit.sample_workloads:nope"}, "unit.sample_workloads has no function nope"),
        ({"process": "broken_pkg.constant:process"}, "broken_pkg.constant has a non-callable process"),
        ({"process": "unit.sample_workloads"}, "must look like 'package.module:function'"),
        (
            {"process": "unit.sample_workloads:describe", "merge": "unit.sample_workloads:combine"},
            "WORKLOADS[mine].merge='unit.sample_workloads:combine'",
        ),
    ],
)
def test_a_workload_that_cannot_load_is_unavailable_naming_it_its_reference_and_the_fix(
    monkeypatch, broken_package, entry, cause
):
    deploy(monkeypatch, mine=entry)

    with pytest.raises(WorkloadUnavailable) as raised:
        workload_registry.workload("mine")

    message = str(raised.value)
    assert message.startswith("workload mine cannot run here: WORKLOADS[mine].")
    assert cause in message
    assert message.endswith(f"fix: bundle its package: {FIX}")
    assert isinstance(raised.value, PermanentSubtaskError)


def test_a_workload_not_deployed_here_is_unavailable_naming_the_deployed_ones():
    with pytest.raises(
        WorkloadUnavailable, match=r"workload 'other' is not deployed here \(deployed: word_count, rows"
    ):
        workload_registry.workload("other")


def test_what_a_workload_reads_comes_from_its_entry_and_is_checked(monkeypatch):
    assert workload_registry.reads("rows") == ("records",)
    assert workload_registry.reads("anything") is None
    assert workload_registry.workload("rows").reads == ("records",)
    assert workload_registry.reads_by_name()["word_count"] == ("bytes",)

    deploy(monkeypatch, mine={"process": "unit.sample_workloads:describe", "reads": ["rows"]})
    with pytest.raises(SettingError, match=r"WORKLOADS\[mine\].reads is \[\"rows\"\]: list one or more of bytes"):
        workload_registry.configured()


# -- the worker: fail at once, stop the job ----------------------------------------------


@pytest.fixture
def jobs(fan_out_env, consolidations, lambda_context, monkeypatch):
    from fan_out_ventilator import handler as ventilator

    def capture(job_id, correlation_id, shard=None):
        consolidations.append({"job_id": job_id, **({"shard": shard} if shard is not None else {})})

    monkeypatch.setattr(ventilator, "trigger_consolidator", capture)

    def submit(spec: dict) -> dict:
        return ventilator.lambda_handler({"job_id": "job-1", **spec}, lambda_context)

    return {**fan_out_env, "started": consolidations, "submit": submit}


def test_a_workload_missing_from_the_zip_fails_its_subtask_at_once_and_stops_the_job_failed(jobs, lambda_context):
    assert "error" not in jobs["submit"]({"source": ITEMS, "workload": "ghost"})

    retried = run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)

    assert retried["failures"] == []  # nothing goes back to SQS for another receive
    tracker = jobs["tracker"]
    job = tracker.get_job("job-1")
    assert job["stop"]["reason"] == StopReason.WORKLOAD_UNAVAILABLE
    assert job["stop"]["error"]["type"] == "WorkloadUnavailable"
    assert "workload ghost cannot run here" in job["stop"]["error"]["message"]
    progress = tracker.progress("job-1")
    assert (progress.failed, progress.skipped, progress.succeeded) == (1, 9, 0)  # the rest skipped, not run

    answers = drive_consolidator(jobs["started"])  # the consolidator cannot load it either: nothing to merge

    assert answers[-1]["status"] == JobStatus.FAILED
    stored = stored_result(jobs)
    assert (stored["status"], stored["failed"], stored["skipped"], stored["merged"]) == ("FAILED", 1, 9, False)
    assert stored["stop"]["reason"] == "WORKLOAD_UNAVAILABLE"
    [failure] = stored["failures"]
    assert failure["type"] == "WorkloadUnavailable"
    assert FIX in failure["message"]
    document = status_document(tracker, tracker.get_job("job-1"))
    assert document["status"] == "FAILED"
    assert document["stop"]["error"]["message"] == job["stop"]["error"]["message"]
    assert "stopped: WORKLOAD_UNAVAILABLE: WorkloadUnavailable: workload ghost" in "\n".join(
        describe_job(tracker.get_job("job-1"))
    )


def test_a_workload_redeployed_to_read_another_kind_stops_a_running_job_at_its_first_subtask(
    jobs, lambda_context, monkeypatch
):
    assert "error" not in jobs["submit"]({"source": ITEMS, "workload": "anything"})
    deploy(monkeypatch, anything={"process": "unit.sample_workloads:describe", "reads": ["records"]})

    assert run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)["failures"] == []

    stop = jobs["tracker"].get_job("job-1")["stop"]
    assert stop["reason"] == StopReason.WORKLOAD_UNAVAILABLE
    assert stop["error"]["message"].startswith("workload anything reads records, not the items of this job's items")
    assert jobs["tracker"].progress("job-1").skipped == 9


def test_a_stop_for_an_older_run_of_the_job_is_not_recorded(tracker_table):
    tracker = JobTracker(tracker_table)
    register(tracker)

    assert tracker.request_stop("job-1", StopReason.WORKLOAD_UNAVAILABLE, {"type": "T", "message": "m"}, run=1) is None
    assert tracker.request_stop("job-1", StopReason.WORKLOAD_UNAVAILABLE, {"type": "T", "message": "m"}, run=0)
    assert tracker.stop_of("job-1")["error"] == {"type": "T", "message": "m"}


# -- the source must be one the workload reads --------------------------------------------


def put_jsonl(jobs) -> dict:
    jobs["s3"].put_object(Bucket=BUCKET, Key="inputs/rows.jsonl", Body=b'{"a": 1}\n{"a": 2}\n')
    return {"type": "jsonl", "bucket": BUCKET, "key": "inputs/rows.jsonl"}


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"workload": "word_count"}, "workload"), ({}, "source.type")],  # named, or the default (word_count)
)
def test_the_ventilator_refuses_a_source_the_workload_does_not_read_naming_both(jobs, extra, field):
    answer = jobs["submit"]({"source": put_jsonl(jobs), **extra})

    assert answer["status"] == "FAILED"
    assert answer["error"] == {
        "field": field,
        "message": "workload word_count reads bytes, not a jsonl source (records)",
        "fix": "send a lines or bytes source, or a workload that reads records (rows, anything, flaky)",
    }
    assert subtask_bodies(jobs["queue_url"]) == []
    assert jobs["tracker"].get_job("job-1")["error"]["field"] == field  # recorded, as every rejected spec is


def test_a_workload_that_declares_nothing_or_the_kind_gets_the_source(jobs):
    assert jobs["submit"]({"source": put_jsonl(jobs), "workload": "rows"})["status"] == "RUNNING"
    assert jobs["submit"]({"source": put_jsonl(jobs), "workload": "anything", "job_id": "job-2"})["status"] == "RUNNING"


def test_an_upload_to_incoming_is_refused_when_the_default_workload_does_not_read_lines(
    jobs, lambda_context, monkeypatch
):
    from fan_out_ventilator import handler as ventilator

    monkeypatch.setenv("DEFAULT_WORKLOAD", "rows")
    jobs["s3"].put_object(Bucket=BUCKET, Key="incoming/orders.csv", Body=b"a,b\n1,2\n")
    notification = {
        "Records": [
            {
                "s3": {
                    "bucket": {"name": BUCKET},
                    "object": {"key": "incoming/orders.csv", "eTag": "e", "sequencer": "1"},
                }
            }
        ]
    }

    [answer] = ventilator.lambda_handler(notification, lambda_context)

    assert answer["status"] == "FAILED"
    assert answer["error"]["field"] == "workload"
    assert answer["error"]["message"] == (
        "workload rows reads records, not a lines source (bytes) "
        '(an upload to incoming/, or an "input" spec, is a lines source)'
    )
    assert jobs["tracker"].get_job(answer["job_id"])["status"] == JobStatus.FAILED
    assert subtask_bodies(jobs["queue_url"]) == []


def test_the_job_api_refuses_a_source_the_workload_does_not_read_with_a_400(api):
    api.env["s3"].put_object(Bucket=BUCKET, Key="inputs/rows.jsonl", Body=b'{"a": 1}\n')
    source = {"type": "jsonl", "bucket": BUCKET, "key": "inputs/rows.jsonl"}

    status, body, _ = api("POST", "/jobs", {"source": source, "workload": "word_count"})

    assert status == 400
    assert body["field"] == "workload"
    assert body["message"] == "workload word_count reads bytes, not a jsonl source (records)"
    assert api.invokes.payloads == []  # nothing handed to the ventilator
    assert api("POST", "/jobs", {"source": source, "workload": "rows"})[0] == 202


# -- retried subtasks in the status ------------------------------------------------------


def test_the_status_shows_the_subtasks_being_retried_and_the_last_error(jobs, lambda_context, monkeypatch):
    items = {"type": "items", "items": [1, 2, -3, 4, -5, 6], "items_per_subtask": 1}
    assert "error" not in jobs["submit"]({"source": items, "workload": "flaky"})
    bodies = subtask_bodies(jobs["queue_url"])
    failing = [body for body in bodies if json.loads(body)["work"]["items"][0] < 0]
    tracker = jobs["tracker"]

    assert len(run_workers(bodies, lambda_context)["failures"]) == 2
    from fan_out_worker import handler as worker

    worker.lambda_handler(sqs_event(*failing, receive_count=2), lambda_context)  # SQS delivers them again

    document = status_document(tracker, tracker.get_job("job-1"))
    assert document["counts"]["pending"] == 2
    retrying = document["retrying"]
    assert (retrying["subtasks"], retrying["attempts"]) == (2, 4)
    assert retrying["last_error"]["type"] == "RuntimeError"
    assert retrying["last_error"]["message"].startswith("service unavailable for [-")
    assert retrying["last_error"]["attempts"] == 2
    shards = tracker.shards("job-1", tracker.get_job("job-1")["shard_count"])
    assert sum(shard.get("retried", 0) for shard in shards) == 2  # each retried subtask counted once

    monkeypatch.setenv("FLAKY_FIXED", "1")
    worker.lambda_handler(sqs_event(*failing, receive_count=3), lambda_context)

    assert "retrying" not in status_document(tracker, tracker.get_job("job-1"))


def test_retrying_counts_only_subtasks_without_an_outcome_and_names_the_latest_error(tracker_table):
    now = [datetime(2026, 1, 1, tzinfo=UTC)]

    def clock():
        now[0] += timedelta(seconds=1)
        return now[0]

    tracker = JobTracker(tracker_table, clock=clock)
    register(tracker, total=4, shards=2)
    tracker.record_attempt_error("job-1", 1, 1, {"type": "TimeoutError", "message": "slow"}, 0)
    tracker.record_attempt_error("job-1", 2, 0, {"type": "ValueError", "message": "first"}, 0)
    tracker.record_attempt_error("job-1", 2, 0, {"type": "ValueError", "message": "second"}, 0)
    tracker.record_attempt_error("job-1", 3, 1, {"type": "KeyError", "message": "'x'"}, 0)
    tracker.record_completion("job-1", 3, 1, Outcome.SUCCEEDED)  # retried, then succeeded: no longer retrying

    retrying = tracker.progress("job-1").retrying

    assert (retrying.subtasks, retrying.attempts, retrying.exact) == (2, 3, True)
    assert retrying.last_error == {
        "type": "ValueError",
        "message": "second",
        "subtask_id": 2,
        "attempts": 2,
        "at": "2026-01-01T00:00:04+00:00",
    }


def test_many_retried_subtasks_that_succeeded_since_never_hide_one_failing_now(tracker_table):
    tracker = JobTracker(tracker_table)
    register(tracker, total=300, shards=1)
    for subtask_id in range(150):  # retried, then succeeded: their errors stay behind in the unsealed shard
        tracker.record_attempt_error("job-1", subtask_id, 0, {"type": "TimeoutError", "message": "slow"}, 0)
        tracker.record_completion("job-1", subtask_id, 0, Outcome.SUCCEEDED)
    tracker.record_attempt_error("job-1", 299, 0, {"type": "ValueError", "message": "row 7"}, 0)

    retrying = tracker.progress("job-1").retrying

    assert retrying is not None
    assert (retrying.subtasks, retrying.attempts) == (1, 1)
    assert (retrying.last_error["subtask_id"], retrying.last_error["message"]) == (299, "row 7")


# -- the CLI ------------------------------------------------------------------------------


RETRYING = Retrying(subtasks=2, attempts=5, last_error={"type": "ValueError", "message": "row 7:\n not a number"})


def test_the_progress_line_shows_retries_and_their_last_error():
    progress = Progress(job={"status": "RUNNING"}, total=4, succeeded=2, failed=0, retrying=RETRYING)

    assert render_progress(progress, width=4) == (
        "[##..] 2/4 (2 ok, 0 failed) RUNNING, retrying 2 subtasks (5 failed attempts), "
        "last: ValueError: row 7: not a number"
    )


def test_a_watch_that_sees_no_completion_for_a_minute_says_why_once():
    stream, now = io.StringIO(), [0.0]
    show = progress_printer(stream, clock=lambda: now[0])
    stuck = Progress(job={"status": "RUNNING", "total": 4, "dispatched_until": 4}, total=4, succeeded=1, failed=0)
    stuck_retrying = Progress(stuck.job, 4, 1, 0, retrying=RETRYING)

    show(stuck)
    now[0] = 59.0
    show(stuck)
    assert "no subtask completed" not in stream.getvalue()
    now[0] = 61.0
    show(stuck_retrying)
    show(stuck_retrying)

    lines = stream.getvalue().splitlines()
    reason = (
        "no subtask completed for over 60 s: retrying 2 subtasks (5 failed attempts), last: ValueError: row 7: "
        "not a number"
    )
    assert lines.count(reason) == 1
    now[0] = 200.0
    show(Progress(stuck.job, 4, 2, 0))  # progress again: the clock starts over
    now[0] = 230.0
    show(Progress(stuck.job, 4, 2, 0))
    assert stream.getvalue().count("no subtask completed") == 1


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (
            {"stop": {"reason": "WORKLOAD_UNAVAILABLE", "error": {"type": "WorkloadUnavailable", "message": "gone"}}},
            "the job is stopping (gone); workers skip its 3 remaining subtasks",
        ),
        ({"dispatched_until": 2}, "2 of 4 subtasks dispatched so far"),
        ({"dispatched_until": 0, "dispatch_parts": 3, "parts_done": 1}, "1 of 3 dispatch parts sent so far"),
        ({}, "and none is failing: 3 subtasks are queued or running"),
    ],
)
def test_the_reason_for_waiting_names_what_the_tracker_knows(job, expected):
    progress = Progress({"status": "RUNNING", "total": 4, "dispatched_until": 4, **job}, 4, 1, 0)

    assert expected in waiting_reason(progress, 60)


@pytest.mark.parametrize("raised", ["ConnectionResetError('model store')", "MemoryError()", "TimeoutError('s3')"])
def test_an_import_that_fails_for_a_passing_reason_is_retried_not_unavailable(tmp_path, monkeypatch, raised):
    package = tmp_path / "reaching_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "workload.py").write_text(f"raise {raised}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    deploy(monkeypatch, reaching={"process": "reaching_pkg.workload:process"})

    with pytest.raises((OSError, MemoryError)) as raised_error:
        workload_registry.workload("reaching")

    assert not isinstance(raised_error.value, PermanentSubtaskError)


def test_a_stop_that_could_not_be_recorded_is_asked_again_by_the_next_failing_subtask(
    jobs, lambda_context, monkeypatch
):
    from fan_out_worker import handler as worker

    assert "error" not in jobs["submit"]({"source": ITEMS, "workload": "ghost"})
    tracker = jobs["tracker"]
    asked = []
    real_request_stop = tracker.request_stop

    def not_running_yet(*args, **kwargs):
        asked.append(args[0])
        return None if len(asked) == 1 else real_request_stop(*args, **kwargs)  # the first: still dispatching

    monkeypatch.setattr(JobTracker, "request_stop", lambda self, *args, **kwargs: not_running_yet(*args, **kwargs))

    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)

    assert len(asked) >= 2
    assert tracker.get_job("job-1")["stop"]["reason"] == StopReason.WORKLOAD_UNAVAILABLE
    assert worker._stopped_here == {("job-1", 0)}


def test_a_cancelled_job_whose_workload_cannot_load_ends_without_retrying_its_consolidation(jobs, lambda_context):
    assert "error" not in jobs["submit"]({"source": ITEMS, "workload": "ghost"})
    assert jobs["tracker"].request_stop("job-1", StopReason.CANCELLED) is not None

    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    answers = drive_consolidator(jobs["started"])

    assert answers[-1]["status"] == JobStatus.CANCELLED
    assert stored_result(jobs)["merged"] is False
