"""The CLI's inputs in and results out (upload, submit FILE|FOLDER, download), its messages and exit codes,
the stack outputs it finds, and the make job targets' checks, on moto."""

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from serverless_patterns.fan_in.tracker import JobStatus, JobTracker, Outcome
from serverless_patterns_ops import __main__ as cli
from serverless_patterns_ops import stack_outputs, transfer
from serverless_patterns_ops.http_api import JsonResponse
from serverless_patterns_ops.jobs_client import JobsClient, JobState, NoResult, UnknownJob
from unit.conftest import finish_job, register

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "jobs"
STACK = {"tracker_table_name": "jobs", "bucket_name": BUCKET, "ventilator_function_name": "ventilator"}


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def outputs_file(tmp_path, tracker_table, s3):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"fan_out": {"value": STACK, "type": ["object", {}], "sensitive": False}}))
    return path


@pytest.fixture
def run(outputs_file, capsys):
    """cli.main with the stack's outputs: (exit code, stdout, stderr)."""

    def run_cli(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(["--outputs", str(outputs_file), *argv])
        except SystemExit as exited:
            code = exited.code if isinstance(exited.code, int) else 1
            if isinstance(exited.code, str):
                print(exited.code, file=sys.stderr)
        out, err = capsys.readouterr()
        return code, out, err

    return run_cli


def objects(s3, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listed}


def a_folder(root: Path) -> Path:
    folder = root / "logs"
    (folder / "2026" / "01").mkdir(parents=True)
    (folder / "a.log").write_text("alpha\n")
    (folder / "2026" / "01" / "b.log").write_text("beta\n")
    (folder / ".DS_Store").write_text("finder")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    return folder


# Inputs in


def test_upload_puts_a_file_under_inputs_by_its_content_and_prints_the_source(run, s3, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("region,amount\neu,3\n")

    code, out, err = run("upload", str(orders))

    source = json.loads(out)
    assert code == 0
    assert source == {"type": "csv", "bucket": BUCKET, "key": transfer.input_key(orders)}
    assert source["key"].startswith("inputs/")
    assert source["key"].endswith("/orders.csv")
    assert objects(s3, "") == {source["key"]: b"region,amount\neu,3\n"}  # nothing under incoming/
    assert "job spec's source" in err


@pytest.mark.parametrize(("name", "given", "expected"), [("a.jsonl", None, "jsonl"), ("a.txt", None, "lines")])
def test_a_files_source_type_comes_from_its_suffix(s3, tmp_path, name, given, expected):
    path = tmp_path / name
    path.write_text("x\n")

    assert transfer.upload(s3, BUCKET, path, given)["type"] == expected
    assert transfer.upload(s3, BUCKET, path, "bytes")["type"] == "bytes"


def test_upload_puts_a_folder_under_one_prefix_as_an_objects_source(run, s3, tmp_path):
    folder = a_folder(tmp_path)

    code, out, _ = run("upload", str(folder))
    again = json.loads(run("upload", str(folder))[1])
    (folder / "a.log").write_text("changed\n")
    changed = json.loads(run("upload", str(folder))[1])

    source = json.loads(out)
    assert code == 0
    assert source["type"] == "objects"
    assert source["bucket"] == BUCKET
    assert source["prefix"].startswith("inputs/")
    assert source["prefix"].endswith("/logs/")
    assert objects(s3, source["prefix"]) == {
        source["prefix"] + "2026/01/b.log": b"beta\n",
        source["prefix"] + "a.log": b"alpha\n",
    }
    assert again == source  # the same files: the same prefix
    assert changed["prefix"] != source["prefix"]  # other content: a prefix of its own, the first one intact
    assert objects(s3, changed["prefix"])[changed["prefix"] + "a.log"] == b"changed\n"


@pytest.mark.parametrize(
    ("make", "argv", "message"),
    [
        (lambda root: a_folder(root), ["--type", "csv"], "is a folder, uploaded as an `objects` prefix"),
        (lambda root: (root / "empty").mkdir() or root / "empty", [], "holds no files to upload"),
    ],
)
def test_a_folder_that_cannot_be_an_objects_source_is_one_line(run, tmp_path, make, argv, message):
    path = make(tmp_path)

    code, out, err = run("upload", str(path), *argv)

    assert (code, out) == (1, "")
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1


def test_submit_of_a_folder_runs_the_workload_over_its_objects(run, monkeypatch, tmp_path):
    sent = []
    monkeypatch.setattr(cli, "submit_job", lambda client, name, spec: sent.append(spec) or {"job_id": spec["job_id"]})
    folder = a_folder(tmp_path)

    code, _, _ = run(
        "submit", str(folder), "--items-per-subtask", "2", "--workload", "object_stats", "--job-id", "j1", "--no-wait"
    )

    [spec] = sent
    assert code == 0
    prefix = spec["source"].pop("prefix")
    assert spec == {
        "job_id": "j1",
        "source": {"type": "objects", "bucket": BUCKET, "items_per_subtask": 2},
        "workload": "object_stats",
    }
    assert prefix.endswith("/logs/")
    assert prefix.startswith("inputs/")


def test_submit_passes_max_concurrency_and_set_concurrency_asks_the_ventilator(run, monkeypatch, tmp_path):
    sent = []

    def ventilator(client, name, request):
        sent.append(request)
        if "concurrency" in request:
            return {
                "job_id": "j1",
                "status": "REFUSED",
                "error": {"field": "concurrency.job_id", "message": "m", "fix": "f"},
            }
        return {"job_id": request["job_id"]}

    monkeypatch.setattr(cli, "submit_job", ventilator)
    folder = a_folder(tmp_path)

    submitted, _, _ = run("submit", str(folder), "--max-concurrency", "5", "--job-id", "j1", "--no-wait")
    changed, _, err = run("set-concurrency", "j1", "8")

    assert (submitted, sent[0]["max_concurrency"]) == (0, 5)
    assert sent[1] == {"concurrency": {"job_id": "j1", "max_concurrency": 8}}
    assert changed == 1
    assert err.strip().endswith("concurrency.job_id: m; f")


# Results out


def finished_job(tracker_table, s3, job_id: str = "j1", status: JobStatus = JobStatus.PARTIAL, merged: bool = True):
    """A finished job as the consolidator leaves it: results/<job>/ in the bucket, its location in the tracker."""
    tracker = JobTracker(tracker_table)
    register(tracker, job_id, total=2)
    tracker.record_completion(job_id, 0, 0, Outcome.SUCCEEDED)
    tracker.record_completion(job_id, 1, 0, Outcome.FAILED)
    prefix = f"results/{job_id}"
    files = {
        f"{prefix}/succeeded/shard-0000.jsonl": b'{"item":"a","result":{"n":1},"subtask_id":0}\n',
        f"{prefix}/failed/shard-0000.jsonl": b'{"message":"bad row","subtask_id":1,"type":"ValueError"}\n',
    }
    if merged:
        files[f"{prefix}/result.json"] = b'{"n":1}'
    manifest = {
        "job_id": job_id,
        "status": status.value,
        "files": {
            "succeeded": [{"key": f"{prefix}/succeeded/shard-0000.jsonl", "count": 1}],
            "failed": [{"key": f"{prefix}/failed/shard-0000.jsonl", "count": 1}],
        },
        **({"result_key": f"{prefix}/result.json"} if merged else {}),
    }
    files[f"{prefix}/manifest.json"] = json.dumps(manifest).encode()
    for key, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/unrelated.tmp", Body=b"not named by the manifest")
    finish_job(tracker, job_id, status, {"bucket": BUCKET, "key": f"{prefix}/manifest.json"})
    return {key.removeprefix(prefix + "/"): body for key, body in files.items()}


def local_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_download_writes_the_results_in_their_layout(run, tracker_table, s3, tmp_path):
    expected = finished_job(tracker_table, s3)
    folder = tmp_path / "out"

    code, out, _ = run("download", "j1", "--to", str(folder))

    assert code == 0  # PARTIAL, but the download itself succeeded
    assert local_files(folder) == expected
    assert out.splitlines()[0] == f"job j1 (PARTIAL): 4 files in {folder}"


def test_download_again_after_a_redrive_keeps_only_what_the_manifest_names(run, tracker_table, s3, tmp_path):
    finished_job(tracker_table, s3)
    folder = tmp_path / "out"
    run("download", "j1", "--to", str(folder))
    (folder / "notes.txt").write_text("mine")
    # The redrive's failures now succeeded: the consolidator deleted failed/shard-0000.jsonl.
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="results/j1/manifest.json")["Body"].read())
    manifest["files"]["failed"] = []
    s3.put_object(Bucket=BUCKET, Key="results/j1/manifest.json", Body=json.dumps(manifest).encode())

    assert run("download", "j1", "--to", str(folder))[0] == 0

    assert sorted(local_files(folder)) == ["manifest.json", "notes.txt", "result.json", "succeeded/shard-0000.jsonl"]


def test_a_manifest_naming_a_key_outside_the_jobs_results_is_refused(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="results/j9/manifest.json", Body=b'{"result_key": "results/j9/../../x"}')

    with pytest.raises(transfer.TransferError, match="not under results/j9/"):
        transfer.download_results(s3, BUCKET, "results/j9/manifest.json", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_jobs_client_uploads_and_downloads(tracker_table, s3, tmp_path):
    expected = finished_job(tracker_table, s3, merged=False)
    answers = {
        "/jobs/j1": JsonResponse(
            200,
            {
                "job_id": "j1",
                "status": "PARTIAL",
                "result": {"bucket": BUCKET, "key": "results/j1/manifest.json"},
            },
        ),
        "/jobs/running": JsonResponse(200, {"job_id": "running", "status": "RUNNING"}),
        "/jobs/failed": JsonResponse(
            200,
            {"job_id": "failed", "status": "FAILED", "error": {"field": "source.key", "message": "does not exist"}},
        ),
    }

    class Answers:
        def request(self, method, path, payload=b""):
            return answers.get(path, JsonResponse(404, {"field": "job_id"}))

    jobs = JobsClient(transport=Answers(), bucket=BUCKET)
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n')

    source = jobs.upload(path, s3=s3)
    written = jobs.download("j1", tmp_path / "out", s3=s3)

    assert source == {"type": "jsonl", "bucket": BUCKET, "key": transfer.input_key(path)}
    assert local_files(tmp_path / "out") == expected
    assert written[-1] == tmp_path / "out" / "manifest.json"  # the manifest last
    with pytest.raises(UnknownJob, match=r"^unknown job nope:"):
        jobs.download("nope", tmp_path / "x", s3=s3)
    with pytest.raises(NoResult, match=r"no result yet: it is RUNNING$"):
        jobs.download("running", tmp_path / "x", s3=s3)
    with pytest.raises(NoResult, match=r"ended FAILED without a result: source\.key: does not exist$"):
        jobs.download("failed", tmp_path / "x", s3=s3)


# Unknown jobs and jobs without a result


@pytest.mark.parametrize(
    "argv",
    [["status", "nope"], ["result", "nope"], ["download", "nope"], ["cancel", "nope"], ["redrive-job", "nope"]],
)
def test_an_unknown_job_is_called_unknown_by_every_command(run, argv):
    code, out, err = run(*argv)

    assert (code, out) == (1, "")
    assert err == "error: unknown job nope: `list` shows the jobs of this stack\n"


@pytest.mark.parametrize("command", ["result", "download"])
def test_a_running_job_has_no_result_yet(run, tracker_table, command):
    register(JobTracker(tracker_table), "j1", total=2)

    code, _, err = run(command, "j1")

    assert code == 1
    assert err == "error: job j1 has no result yet: it is RUNNING (`status j1 --watch` follows it to its end)\n"


# Usage errors: one line naming the argument, exit code 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit"], "serverless-patterns submit: error: FILE is required: give a file or a folder"),
        (["submit", ""], "serverless-patterns submit: error: argument FILE: is empty: give a file or a folder"),
        (["submit", "no-such.txt"], "serverless-patterns submit: error: FILE no-such.txt does not exist"),
        (["upload", "no-such.txt"], "serverless-patterns upload: error: PATH no-such.txt does not exist"),
        (["status", ""], "serverless-patterns status: error: argument JOB: is empty: give a job id"),
        (["status"], "serverless-patterns status: error: the following arguments are required: JOB"),
        (["download", " "], "serverless-patterns download: error: argument JOB: is empty"),
    ],
)
def test_a_missing_argument_is_one_line_naming_it(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # and no stack outputs: the usage is checked first

    with pytest.raises(SystemExit) as exited:
        cli.main(argv)

    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1


# Exit codes


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (JobStatus.SUCCEEDED, 0),
        (JobStatus.PARTIAL, 3),
        (JobStatus.FAILED, 4),
        (JobStatus.TIMED_OUT, 4),
        (JobStatus.CANCELLED, 5),
    ],
)
def test_a_followed_job_exits_with_its_outcome(run, monkeypatch, tmp_path, status, code):
    monkeypatch.setattr(cli, "submit_job", lambda client, name, spec: {"job_id": spec["job_id"], "status": "RUNNING"})
    monkeypatch.setattr(cli, "wait_for_job", lambda tracker, job_id, timeout, on_progress: {"status": status.value})
    path = tmp_path / "input.txt"
    path.write_text("a b\n")

    assert run("submit", str(path))[0] == code
    assert run("status", "j1", "--watch")[0] == code


def test_status_without_watch_result_and_download_exit_0_whatever_the_outcome(run, tracker_table, s3, tmp_path):
    finished_job(tracker_table, s3, status=JobStatus.PARTIAL)

    codes = [run("status", "j1")[0], run("result", "j1")[0], run("download", "j1", "--to", str(tmp_path / "o"))[0]]

    assert codes == [0, 0, 0]


def test_the_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])

    out = capsys.readouterr().out
    for line in (
        "0  done",
        "1  an error",
        "2  usage",
        "3  a job followed",
        "4  ... ended FAILED",
        "5  ... ended CANCELLED",
    ):
        assert line in out
    assert cli.OUTCOME_EXIT_CODES[JobStatus.PARTIAL] == 3


# The stack's outputs


def test_the_outputs_come_from_the_environment_when_not_given(tracker_table, s3, tmp_path, monkeypatch, capsys):
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"fan_out": STACK}))  # the values alone, as a test fixture or a script saves them
    monkeypatch.setenv(cli.OUTPUTS_ENV, str(path))
    monkeypatch.chdir(tmp_path)

    assert cli.main(["list"]) == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda env: env.setenv(cli.OUTPUTS_ENV, "/no/such.json"), "SERVERLESS_PATTERNS_OUTPUTS=/no/such.json"),
        (
            lambda env: None,
            "no stack outputs: no --outputs, no SERVERLESS_PATTERNS_OUTPUTS, no build/demo/outputs.json",
        ),
    ],
)
def test_missing_outputs_say_what_was_tried_and_how_to_fix_it(tmp_path, monkeypatch, setup, message):
    monkeypatch.delenv(cli.OUTPUTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    # As installed: no checkout to fall back on.
    monkeypatch.setattr(stack_outputs, "CHECKOUT", tmp_path / "not-a-checkout")
    setup(monkeypatch)

    with pytest.raises(SystemExit) as exited:
        cli.main(["list"])

    assert str(exited.value.code).startswith("error: ")
    assert message in str(exited.value.code)
    assert "--outputs FILE or SERVERLESS_PATTERNS_OUTPUTS=FILE" in str(exited.value.code)


def test_outputs_without_fan_out_are_refused_in_one_line(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text('{"load_leveler": {"value": {}}}')

    with pytest.raises(SystemExit, match="is not the outputs of a stack with a fan_out output"):
        cli.main(["--outputs", str(path), "list"])


# The make job targets


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("target", "line"),
    [
        ("job-submit", "FILE is required: make job-submit FILE=path (or SPEC=spec.json)"),
        ("job-upload", "FILE is required: make job-upload FILE=path"),
        ("job-status", "JOB is required: make job-status JOB=<job id>"),
        ("job-download", "JOB is required: make job-download JOB=<job id>"),
        ("dlq-export", "QUEUE is required: make dlq-export QUEUE=<dead-letter queue name or URL>"),
    ],
)
def test_a_make_job_target_without_its_variable_is_one_line_naming_it(target, line):
    done = make(target, "JOB=", "FILE=")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert line in done.stderr


@pytest.mark.parametrize(("cli_code", "make_code"), [(0, 0), (3, 0), (5, 0), (4, 2), (1, 2)])
def test_make_ends_partial_and_cancelled_jobs_without_an_error(cli_code, make_code):
    # The CLI stood in for by a command that prints and exits as the CLI would.
    done = make("job-status", "JOB=j1", f"JOBS_CLI=sh -c 'echo the outcome; exit {cli_code}' --")

    assert done.returncode == make_code
    assert done.stdout == "the outcome\n"  # nothing echoed: no recipe, no PYTHONPATH
    assert ("Error" in done.stderr) == (make_code != 0)


def test_status_through_the_api_shows_the_retries_and_the_stop(capsys):
    answer = {
        "job_id": "j1",
        "status": "RUNNING",
        "total": 20,
        "counts": {"SUCCEEDED": 19},
        "retrying": {"subtasks": 1, "attempts": 3, "last_error": {"type": "ValueError", "message": "row 7"}},
        "stop": {"reason": "CANCELLED", "at": "2026-12-03T14:00:00+00:00"},
    }

    cli._print_state(JobState.from_answer(answer))

    assert json.loads(capsys.readouterr().out) == answer


def test_status_through_the_api_leaves_out_what_the_job_does_not_have(capsys):
    cli._print_state(JobState.from_answer({"job_id": "j1", "status": "SUCCEEDED", "total": 2, "counts": {}}))

    assert json.loads(capsys.readouterr().out) == {"job_id": "j1", "status": "SUCCEEDED", "total": 2, "counts": {}}
