"""The local runner: a job spec run in-process with the deployed code paths, on local files or S3 (moto)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import textwrap
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from serverless_patterns.fan_out.chunks import InputChanged, get_range
from serverless_patterns.fan_out.jobs import configured_chunk_size, configured_limits, parse_spec
from serverless_patterns.fan_out.sources import InvalidJobSpec, Limits
from serverless_patterns_ops import __main__ as cli
from serverless_patterns_ops.local_run import env_default_workload, run_job
from serverless_patterns_ops.local_store import LocalObjectStore
from serverless_patterns_ops.testing import run_workload
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    BUCKET,
    consolidations,
    drive_consolidator,
    fan_out_env,
    run_workers,
    subtask_bodies,
)
from unit.test_job_sources import WORKLOADS, jobs, results  # noqa: F401 (the jobs fixture)

LIMITS = Limits(min_chunk_size_bytes=16, max_chunk_size_bytes=1 << 20, max_subtasks=1000)
LINE_DIGEST = {
    "process": "line_digest.workload:process",
    "resumable": True,
    "reads": ["records", "items"],
    "package": str(Path(__file__).resolve().parents[2] / "examples" / "workloads" / "line_digest"),
}
_attempts: dict[int, int] = {}


def flaky(task):
    """Fails its first two attempts on each subtask, then succeeds: a transient fault."""
    _attempts[task.subtask_id] = _attempts.get(task.subtask_id, 0) + 1
    if _attempts[task.subtask_id] <= 2:
        raise ConnectionError(f"attempt {_attempts[task.subtask_id]} lost its connection")
    return len(task.items)


def always_down(task):
    raise TimeoutError("the downstream did not answer")


def local(spec: dict, tmp_path: Path, **options):
    options.setdefault("workloads", WORKLOADS)
    options.setdefault("limits", LIMITS)
    # A job id of its own: a local run replaces the results of an earlier run of the same id.
    return run_job({"job_id": uuid.uuid4().hex, **spec}, output=tmp_path / "out", base=tmp_path, **options)


def test_every_source_kind_reaches_the_workload_cut_as_the_ventilator_cuts_it(tmp_path):
    (tmp_path / "text.txt").write_bytes(b"".join(f"line {i}\n".encode() for i in range(40)))
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(25)))
    (tmp_path / "rows.csv").write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(25)))
    folder = tmp_path / "objects"
    (folder / "sub").mkdir(parents=True)
    for name in ("one.txt", "sub/two.txt", "three.txt"):
        (folder / name).write_text(f"content of {name}")
    (folder / ".hidden").write_text("left out, as the folder upload leaves it")

    lines = local(
        {"workload": "describe", "source": {"type": "lines", "path": "text.txt", "chunk_size_bytes": 64}}, tmp_path
    )
    raw = local(
        {"workload": "describe", "source": {"type": "bytes", "path": "text.txt", "chunk_size_bytes": 50}}, tmp_path
    )
    jsonl = local(
        {"workload": "describe", "source": {"type": "jsonl", "path": "rows.jsonl", "items_per_subtask": 10}}, tmp_path
    )
    rows = local(
        {"workload": "describe", "source": {"type": "csv", "path": "rows.csv", "items_per_subtask": 10}}, tmp_path
    )
    objects = local(
        {"workload": "describe", "source": {"type": "objects", "path": "objects", "items_per_subtask": 2}}, tmp_path
    )
    items = local(
        {"workload": "describe", "source": {"type": "items", "items": list(range(7)), "items_per_subtask": 3}}, tmp_path
    )

    text = (tmp_path / "text.txt").read_text()
    assert "".join(record["result"]["data"] for record in lines.records()) == text
    assert all(record["result"]["data"].endswith("\n") for record in lines.records())  # whole lines only
    assert [record["item"]["range"] for record in raw.records()] == [
        [i, min(i + 50, len(text))] for i in range(0, len(text), 50)
    ]
    assert "".join(record["result"]["data"] for record in raw.records()) == text
    assert [item for record in jsonl.records() for item in record["result"]["items"]] == [{"n": i} for i in range(25)]
    assert (jsonl.total, rows.total) == (3, 3)
    assert [item for record in rows.records() for item in record["result"]["items"]] == [
        {"a": str(i), "b": f"x{i}"} for i in range(25)
    ]
    assert all(record["result"]["header"] == ["a", "b"] for record in rows.records())
    assert [record["result"]["objects"] for record in objects.records()] == [
        {"one.txt": "content of one.txt", "sub/two.txt": "content of sub/two.txt"},
        {"three.txt": "content of three.txt"},
    ]
    assert [record["result"]["items"] for record in items.records()] == [[0, 1, 2], [3, 4, 5], [6]]
    assert {job.status for job in (lines, raw, jsonl, rows, objects, items)} == {"SUCCEEDED"}


def test_local_results_are_byte_for_byte_those_of_the_deployed_handlers(jobs, lambda_context, tmp_path):  # noqa: F811
    """The same spec on the same S3 input: ventilator, workers and consolidator on moto, and run_job."""
    jobs["s3"].put_object(
        Bucket=BUCKET,
        Key="inputs/numbers.jsonl",
        Body=b"".join(b"%d\n" % n for n in [1, 2, -3, 4, 5, 6, 7, -8, 9, 10, 11]),
    )
    spec = {
        "workload": "sum",
        "source": {"type": "jsonl", "bucket": BUCKET, "key": "inputs/numbers.jsonl", "items_per_subtask": 2},
    }
    from fan_out_ventilator import handler as ventilator

    assert "error" not in ventilator.lambda_handler({"job_id": "job-1", **spec}, lambda_context)
    run_workers(subtask_bodies(jobs["queue_url"]), lambda_context)
    drive_consolidator(jobs["started"])

    job = run_job(
        {"job_id": "job-1", **spec}, output=tmp_path, workloads=WORKLOADS, s3=jobs["s3"], subtasks_per_shard=3
    )

    deployed = jobs["s3"].list_objects_v2(Bucket=BUCKET, Prefix="results/job-1/")["Contents"]
    written = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file())
    assert written == sorted(entry["Key"] for entry in deployed)
    for key in written:
        assert (tmp_path / key).read_bytes() == jobs["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read(), key
    assert (job.status, job.succeeded, job.failed, job.result) == ("PARTIAL", 4, 2, 1 + 2 + 9 + 10 + 11 + 5 + 6)
    assert results(jobs)["failed_subtask_ids"] == [1, 3]


def test_a_permanent_error_fails_at_once_and_any_other_is_retried_then_fails_with_its_last_error(tmp_path):
    _attempts.clear()
    workloads = {
        **WORKLOADS,
        "flaky": {"process": flaky},
        "down": always_down,
    }
    spec = {"source": {"type": "items", "items": [1, -2, 3, 4], "items_per_subtask": 1}}
    permanent = local({**spec, "workload": "sum"}, tmp_path, workloads=workloads)
    recovered = local({**spec, "workload": "flaky"}, tmp_path, workloads=workloads, max_attempts=3)
    exhausted = local({**spec, "workload": "down"}, tmp_path, workloads=workloads, max_attempts=3)

    assert (permanent.status, permanent.failed, permanent.result) == ("PARTIAL", 1, 8)
    assert permanent.failures == [
        {
            "subtask_id": 1,
            "type": "PermanentSubtaskError",
            "message": "negative item in [-2]",
            "attempts": 1,
            "item": {"items": [1, 2]},
        }
    ]
    assert recovered.status == "SUCCEEDED"
    assert [record["result"] for record in recovered.records()] == [1, 1, 1, 1]
    assert _attempts == {0: 3, 1: 3, 2: 3, 3: 3}
    assert exhausted.status == "FAILED"
    assert {(f["type"], f["message"], f["attempts"]) for f in exhausted.failures} == {
        ("TimeoutError", "the downstream did not answer", 3)
    }


def test_past_its_tolerance_a_job_stops_skips_the_rest_and_ends_failed(tmp_path):
    job = local(
        {
            "workload": "sum",
            "tolerated_failure_count": 1,
            "source": {"type": "items", "items": [1, -1, 2, -2, 3, 4, 5], "items_per_subtask": 1},
        },
        tmp_path,
    )
    assert (job.status, job.succeeded, job.failed, job.skipped) == ("FAILED", 2, 2, 3)
    assert job.manifest["stop"]["reason"] == "FAILURE_TOLERANCE"


def test_a_workload_that_cannot_load_fails_at_once_and_stops_the_job_naming_the_reason(tmp_path):
    job = local(
        {"workload": "broken", "source": {"type": "items", "items": [1, 2, 3], "items_per_subtask": 1}},
        tmp_path,
        workloads={"broken": {"process": "no_such_package.workload:process"}},
    )
    assert (job.status, job.succeeded, job.failed, job.skipped) == ("FAILED", 0, 1, 2)
    [failure] = job.failures
    assert failure["type"] == "WorkloadUnavailable"
    assert "cannot import no_such_package.workload" in failure["message"]
    assert job.manifest["stop"]["reason"] == "WORKLOAD_UNAVAILABLE"


def test_a_resumable_workload_runs_through_its_checkpoints_invocation_after_invocation(tmp_path, monkeypatch):
    monkeypatch.setenv("LINE_DIGEST_SECONDS_PER_ITEM", "0.004")
    items = [f"frame {i}" for i in range(12)]
    spec = {"workload": "line_digest", "source": {"type": "items", "items": items, "items_per_subtask": 6}}
    # 6 items of 4 ms in invocations of 10 ms: two items, then a checkpoint; three invocations per subtask.
    job = local(spec, tmp_path, workloads={"line_digest": LINE_DIGEST}, invocation_seconds=0.010)
    refused = local(
        spec, tmp_path, workloads={"line_digest": LINE_DIGEST}, invocation_seconds=0.010, max_continuations=1
    )

    def chained(part):
        digest = ""
        for item in part:
            digest = hashlib.sha256(f"{digest}\n{item}".encode()).hexdigest()
        return digest

    assert job.status == "SUCCEEDED"
    for record, part in zip(job.records(), (items[:6], items[6:]), strict=True):
        assert record["result"]["sha256"] == chained(part)
        assert record["result"]["items"] == 6
        assert len(record["result"]["invocations"]) >= 3
        assert record["result"]["invocations"] == list(range(1, len(record["result"]["invocations"]) + 1))
    assert refused.status == "FAILED"
    assert {failure["type"] for failure in refused.failures} == {"TooManyContinuations"}
    assert "raise max_continuations" in refused.failures[0]["message"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"source": {"type": "csv", "path": "rows.csv", "items_per_subtask": 0}}, "source.items_per_subtask"),
        ({"source": {"type": "csv", "path": "rows.csv"}, "workload": "nope"}, "workload"),
        ({"source": {"type": "tsv", "path": "rows.csv"}}, "source.type"),
        ({"source": {"type": "lines", "path": "missing.txt"}}, "source.path"),
        ({"source": {"type": "objects", "path": "rows.csv"}}, "source.path"),
        ({"source": {"type": "lines", "path": "rows.csv", "bucket": "b"}}, "source.bucket"),
        ({"source": {"type": "csv", "path": "rows.csv"}, "colour": "red"}, "colour"),
    ],
)
def test_a_spec_the_ventilator_refuses_is_refused_naming_the_field(tmp_path, spec, field):
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidJobSpec) as refused:
        local(spec, tmp_path)
    assert refused.value.field == field


def test_a_source_its_workload_does_not_read_is_refused_with_the_ventilators_message(tmp_path):
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    workloads = {
        "word_count": {"process": "serverless_patterns.workloads.word_count:process", "reads": ["bytes"]},
        "csv_totals": {"process": "csv_totals.workload:process", "reads": ["records"]},
    }
    with pytest.raises(InvalidJobSpec) as refused:
        local({"source": {"type": "csv", "path": "rows.csv"}}, tmp_path, workloads=workloads)
    readers = {name: entry["reads"] for name, entry in workloads.items()}
    with pytest.raises(InvalidJobSpec) as deployed:
        parse_spec(
            {"source": {"type": "csv", "bucket": "local-files", "key": "rows.csv"}},
            configured_chunk_size(),
            configured_limits(),
            ("word_count", "csv_totals"),
            readers,
        )
    assert refused.value.as_dict() == deployed.value.as_dict()
    assert refused.value.field == "source.type"


def test_the_local_store_answers_as_s3_does(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"0123456789")
    for index in range(1203):
        (tmp_path / "in" / f"many-{index:04d}").write_bytes(b"x")
    store = LocalObjectStore(folders={"files": tmp_path / "in"}, memory=["plans"])
    head = store.head_object(Bucket="files", Key="a.txt")
    assert head["ContentLength"] == 10
    assert store.get_object(Bucket="files", Key="a.txt", Range="bytes=2-4")["Body"].read() == b"234"
    assert store.get_object(Bucket="files", Key="a.txt", Range="bytes=8-99")["Body"].read() == b"89"

    def code(call, **kwargs):
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        return error.value.response["Error"]["Code"]

    assert code(store.head_object, Bucket="files", Key="missing") == "404"
    assert code(store.get_object, Bucket="files", Key="missing") == "NoSuchKey"
    assert code(store.get_object, Bucket="files", Key="a.txt", Range="bytes=10-12") == "InvalidRange"
    assert code(store.get_object, Bucket="files", Key="../outside") == "AccessDenied"
    assert code(store.get_object, Bucket="elsewhere", Key="a.txt") == "NoSuchBucket"
    keys, token = [], None
    while True:
        page = store.list_objects_v2(Bucket="files", Prefix="many-", **({"ContinuationToken": token} if token else {}))
        keys += [entry["Key"] for entry in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert keys == [f"many-{index:04d}" for index in range(1203)]
    store.put_object(Bucket="plans", Key="p/1.json", Body=b"[1]")
    assert store.get_object(Bucket="plans", Key="p/1.json")["Body"].read() == b"[1]"
    # A file rewritten after planning fails its subtasks as a changed S3 object does.
    (tmp_path / "in" / "a.txt").write_bytes(b"rewritten, longer")
    with pytest.raises(InputChanged):
        get_range(store, "files", "a.txt", 0, 3, head["ETag"])


def test_run_workload_tests_a_workload_in_a_few_lines():
    run = run_workload(
        "csv_totals.workload:process",
        merge="csv_totals.workload:merge",
        package=Path(__file__).resolve().parents[2] / "examples" / "workloads" / "csv_totals",
        csv=b"order_id,region,quantity,amount\n1,north,2,1.50\n2,north,1,2.25\n3,south,5,oops\n",
        items_per_subtask=2,
    )
    assert run.status == "PARTIAL"
    assert run.result == {"regions": {"north": {"orders": 2, "quantity": 3, "amount_cents": 375}}}
    assert [failure["type"] for failure in run.failures] == ["BadOrder"]
    assert run.results == [{"regions": {"north": {"orders": 2, "quantity": 3, "amount_cents": 375}}}]
    with pytest.raises(TypeError, match="exactly one input"):
        run_workload(len, items=[1], csv=b"a\n1\n")


def test_run_local_prints_the_outcome_and_exits_as_the_cli_does(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.txt").write_text("a b a\nc\n")
    (tmp_path / "orders.csv").write_text("region,quantity,amount\nnorth,1,1.00\n")
    (tmp_path / "workloads.json").write_text(json.dumps({"workloads": {"word_count": WORKLOADS["word_count"]}}))

    ok = cli.main(["run-local", "text.txt", "--job-id", "words", "--workloads", "workloads.json"])
    printed = capsys.readouterr().out
    refused = cli.main(["run-local", "orders.csv", "--workloads", "workloads.json"])  # word_count reads bytes
    stderr = capsys.readouterr().err
    partial = cli.main(
        [
            "run-local",
            "--spec",
            str(_spec(tmp_path)),
            "--process",
            "unit.sample_workloads:fail_marked",
            "--merge",
            "unit.sample_workloads:add",
        ]
    )

    assert (ok, partial) == (0, cli.OUTCOME_EXIT_CODES["PARTIAL"])
    assert "job words: SUCCEEDED" in printed
    assert '"distinct_words":3' in printed
    assert json.loads((tmp_path / "results" / "words" / "result.json").read_text())["words"] == {"a": 2, "b": 1, "c": 1}
    assert refused == 1
    assert stderr.startswith("refused: source.type: workload word_count reads bytes")
    assert "subtask 1 failed: PermanentSubtaskError: negative item in [-1]" in capsys.readouterr().out


def _spec(folder: Path) -> Path:
    path = folder / "spec.json"
    path.write_text(
        json.dumps({"job_id": "sums", "source": {"type": "items", "items": [1, -1, 2], "items_per_subtask": 1}})
    )
    return path


def test_a_csv_of_orders_cut_by_bytes_gives_every_record_once(tmp_path):
    rows = [["order_id", "region", "quantity", "amount"]] + [[str(i), "east", "1", "0.01"] for i in range(500)]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    run = run_workload(
        "csv_totals.workload:process",
        merge="csv_totals.workload:merge",
        package=Path(__file__).resolve().parents[2] / "examples" / "workloads" / "csv_totals",
        csv=text.getvalue().encode(),
        chunk_size_bytes=1024,
        limits=LIMITS,
    )
    assert run.job.total > 5
    assert run.result == {"regions": {"east": {"orders": 500, "quantity": 500, "amount_cents": 500}}}


def test_the_run_workload_example_of_its_docstring_runs_as_written(monkeypatch):
    from serverless_patterns_ops import testing

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    example = testing.__doc__.split("\n\n")[1:3]
    namespace: dict = {}
    exec(textwrap.dedent("\n\n".join(example)), namespace)  # the import and the test, as a user would copy them
    namespace["test_totals"]()


@pytest.mark.parametrize("processes", [False, True])
def test_a_pool_of_threads_or_processes_gives_the_results_of_one_worker(tmp_path, processes):
    (tmp_path / "rows.jsonl").write_text("".join(f"{n}\n" for n in [*range(30), -1, *range(5)]))
    spec = {"workload": "sum", "source": {"type": "jsonl", "path": "rows.jsonl", "items_per_subtask": 4}}
    one = local({**spec, "job_id": "one"}, tmp_path)
    pool = local({**spec, "job_id": "pool"}, tmp_path, workers=3, processes=processes)

    assert (pool.status, pool.total, pool.failed) == ("PARTIAL", 9, 1)
    assert (pool.result, pool.records(), pool.failures) == (one.result, one.records(), one.failures)


@pytest.mark.parametrize("job_id", [".", "..", "..."])
def test_a_job_id_of_dots_is_refused_before_anything_is_written(tmp_path, job_id):
    kept = tmp_path / "out" / "keep.txt"
    kept.parent.mkdir()
    kept.write_text("mine")
    (tmp_path / "out" / "results").mkdir()

    with pytest.raises(InvalidJobSpec, match="job_id"):
        run_job({"job_id": job_id, "source": {"type": "items", "items": [1, 2]}}, output=tmp_path / "out")

    assert kept.read_text() == "mine"


def test_a_spec_naming_no_workload_runs_the_default_workload_the_env_deploys(tmp_path):
    env = tmp_path / "envs" / "staging"
    env.mkdir(parents=True)
    (env / "terraform.tfvars").write_text('environment = "staging"\ndefault_workload = "sizes"\n')
    (env / "workloads.auto.tfvars.json").write_text(
        json.dumps(
            {
                "workloads": {
                    "word_count": {"process": "serverless_patterns.workloads.word_count:process", "reads": ["bytes"]},
                    "sizes": {"process": "unit.sample_workloads:describe", "reads": ["items"]},
                }
            }
        )
    )

    assert env_default_workload(env / "workloads.auto.tfvars.json") == "sizes"
    assert env_default_workload(tmp_path / "elsewhere.json") is None
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"job_id": "no-workload", "source": {"type": "items", "items": [1, 2, 3]}}))

    workloads = str(env / "workloads.auto.tfvars.json")
    code = cli.main(["run-local", str(spec), "--workloads", workloads, "--output", str(tmp_path)])

    assert code == 0  # word_count, the built-in default, reads bytes and would refuse these items
    manifest = json.loads((tmp_path / "results" / "no-workload" / "manifest.json").read_text())
    assert (manifest["status"], manifest["succeeded"]) == ("SUCCEEDED", 3)  # one item per subtask by default
