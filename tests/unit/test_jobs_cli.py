import io
import json

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, Outcome, Progress
from serverless_patterns_ops import __main__ as cli
from serverless_patterns_ops.fan_out_jobs import progress_printer, render_progress, wait_for_job
from unit.conftest import STATUS_INDEX, finish_job, register


@pytest.fixture
def outputs_file(tmp_path, tracker_table):
    boto3.client("s3").create_bucket(Bucket="jobs")
    path = tmp_path / "outputs.json"
    stack = {"tracker_table_name": "jobs", "bucket_name": "jobs", "ventilator_function_name": "ventilator"}
    path.write_text(json.dumps({"fan_out": {"value": stack}}))
    return path


def test_the_progress_bar_shows_done_failed_and_open_subtasks():
    progress = Progress(job={"status": "RUNNING"}, total=10, succeeded=5, failed=1)

    assert render_progress(progress, width=10) == "[#####x....] 6/10 (5 ok, 1 failed) RUNNING"


def test_a_watched_job_is_followed_to_its_final_status(tracker_table):
    tracker = JobTracker(tracker_table)
    register(tracker, total=2)
    tracker.record_completion("job-1", 0, 0, Outcome.SUCCEEDED)
    tracker.record_completion("job-1", 1, 0, Outcome.FAILED)
    stream = io.StringIO()
    calls = []

    def finish_on_second_look(progress):
        calls.append(progress)
        progress_printer(stream)(progress)
        if len(calls) == 2:
            finish_job(tracker, "job-1", JobStatus.PARTIAL, {"bucket": "b", "key": "k"})

    job = wait_for_job(tracker, "job-1", timeout=10, interval=0, on_progress=finish_on_second_look)

    assert job["status"] == JobStatus.PARTIAL
    assert "2/2 (1 ok, 1 failed)" in stream.getvalue()


def test_waiting_for_a_job_that_never_finishes_times_out(tracker_table):
    tracker = JobTracker(tracker_table)
    register(tracker, total=2)

    with pytest.raises(TimeoutError, match="still RUNNING"):
        wait_for_job(tracker, "job-1", timeout=0, interval=0)


def test_cli_submit_uploads_the_file_by_its_content_and_reports_a_refusal(outputs_file, tmp_path, monkeypatch, capsys):
    sent = []

    def fake_submit(lambda_client, ventilator, spec):
        sent.append((ventilator, spec))
        error = {"field": "job_id", "message": "job j1 exists with another spec", "fix": "use a new job_id"}
        return {"job_id": spec["job_id"], "status": "RUNNING", "error": error}

    monkeypatch.setattr(cli, "submit_job", fake_submit)
    first, second = tmp_path / "a" / "input.txt", tmp_path / "b" / "input.txt"
    for path, text in ((first, "a b\n"), (second, "c d\n")):
        path.parent.mkdir()
        path.write_text(text)

    codes = [
        cli.main(["--outputs", str(outputs_file), "submit", str(path), "--job-id", "j1", "--chunk-size", "5"])
        for path in (first, second)
    ]

    assert codes == [1, 1]
    keys = [spec["source"]["key"] for _, spec in sent]
    assert keys[0] != keys[1]  # same name, other content: another object, nothing overwritten
    assert all(key.startswith("inputs/") and key.endswith("/input.txt") for key in keys)
    assert sent[0][1] == {
        "job_id": "j1",
        "source": {"type": "lines", "bucket": "jobs", "key": keys[0], "chunk_size_bytes": 5},
    }
    s3 = boto3.client("s3")
    assert [s3.get_object(Bucket="jobs", Key=key)["Body"].read() for key in keys] == [b"a b\n", b"c d\n"]
    assert "refused: job_id: job j1 exists with another spec (fix: use a new job_id)" in capsys.readouterr().err


def test_cli_status_list_and_result(outputs_file, tracker_table, capsys):
    tracker = JobTracker(tracker_table)
    register(tracker, "j1", total=1)
    tracker.record_completion("j1", 0, 0, Outcome.SUCCEEDED)
    s3 = boto3.client("s3")
    s3.put_object(Bucket="jobs", Key="results/j1/manifest.json", Body=b'{"result_key": "results/j1/result.json"}')
    s3.put_object(Bucket="jobs", Key="results/j1/result.json", Body=b'{"lines": 1}')
    finish_job(tracker, "j1", JobStatus.SUCCEEDED, {"bucket": "jobs", "key": "results/j1/manifest.json"})

    assert cli.main(["--outputs", str(outputs_file), "status", "j1"]) == 0
    assert cli.main(["--outputs", str(outputs_file), "list", "--status", "SUCCEEDED"]) == 0
    assert cli.main(["--outputs", str(outputs_file), "result", "j1"]) == 0

    out = capsys.readouterr().out
    assert "1/1 (1 ok, 0 failed) SUCCEEDED" in out
    assert "j1  SUCCEEDED" in out
    assert '"lines": 1' in out
    assert cli.STATUS_INDEX == STATUS_INDEX


def test_cli_status_shows_why_subtasks_failed(outputs_file, tracker_table, capsys):
    tracker = JobTracker(tracker_table)
    register(tracker, "j2", total=2)
    error = {"type": "LineTooLongError", "message": "raise max_line_bytes"}
    tracker.record_completion("j2", 0, 0, Outcome.SUCCEEDED)
    tracker.record_completion("j2", 1, 0, Outcome.FAILED, {"error": error})
    finish_job(
        tracker,
        "j2",
        JobStatus.PARTIAL,
        {"key": "k", "failed": 1, "failures": [{"subtask_id": 1, **error}]},
    )

    assert cli.main(["--outputs", str(outputs_file), "status", "j2"]) == 0

    assert "subtask 1 failed: LineTooLongError: raise max_line_bytes" in capsys.readouterr().out


def test_cli_result_of_a_job_that_ended_without_one_says_why(outputs_file, tracker_table):
    tracker = JobTracker(tracker_table)
    register(tracker, "j3", total=1)
    tracker.abandon("j3", {"field": "consolidation", "message": "failed 5 times", "fix": "see the runbook"})

    with pytest.raises(SystemExit, match="error: consolidation: failed 5 times"):
        cli.main(["--outputs", str(outputs_file), "result", "j3"])


def test_cli_explains_a_missing_outputs_file(tmp_path):
    with pytest.raises(SystemExit, match="make demo"):
        cli.main(["--outputs", str(tmp_path / "nope.json"), "list"])


@pytest.mark.parametrize(
    "argv",
    [
        ["submit", "input.txt", "--chunk-size", "0"],
        ["submit", "input.txt", "--chunk-size", "-5"],
        ["submit", "input.txt", "--timeout", "0"],
        ["redrive", "--queue", "q-dlq", "--max-per-second", "0"],
        ["redrive", "--queue", "q-dlq", "--max-per-second", "-1"],
        ["redrive", "--queue", "q-dlq", "--max-per-second", "fast"],
    ],
)
def test_values_out_of_range_are_refused_not_replaced(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "must be greater than 0" in error or "is not a float" in error


@pytest.mark.parametrize(
    "argv",
    [
        ["redrive", "--queue", "no-such-dlq"],
        ["export", "--queue", "no-such-dlq"],
        ["redrive", "--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-dlq"],
    ],
)
def test_a_missing_queue_is_one_line_saying_what_to_run(aws, argv, capsys):
    assert cli.main(argv) == 1

    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert "make demo" in error
    assert "Traceback" not in error


def test_a_queue_that_is_not_a_dlq_is_one_line(aws, capsys):
    boto3.client("sqs").create_queue(QueueName="plain")

    assert cli.main(["redrive", "--queue", "plain"]) == 1

    assert "is not the dead-letter queue of any queue" in capsys.readouterr().err


def test_an_emulator_that_is_down_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port

    assert cli.main(["export", "--queue", "orders-dlq"]) == 1

    error = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:9" in error
    assert "make up" in error


def test_an_unknown_job_is_one_line(outputs_file, tracker_table, capsys):
    with pytest.raises(SystemExit, match=r"^error: unknown job no-such-job: `list` shows"):
        cli.main(["--outputs", str(outputs_file), "status", "no-such-job"])
    assert cli.main(["--outputs", str(outputs_file), "status", "no-such-job", "--watch", "--timeout", "1"]) == 1
    assert capsys.readouterr().err == "error: unknown job no-such-job: `list` shows the jobs of this stack\n"


def test_submit_never_invokes_the_ventilator_twice_when_a_read_times_out(outputs_file, tmp_path, monkeypatch):
    used = []
    monkeypatch.setattr(
        cli, "submit_job", lambda client, name, spec: used.append(client.meta.config) or {"job_id": "j"}
    )
    path = tmp_path / "input.txt"
    path.write_text("a b\n")

    cli.main(["--outputs", str(outputs_file), "submit", str(path), "--no-wait"])

    [config] = used
    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout >= 900  # longer than the longest ventilator run
