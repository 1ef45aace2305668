"""scripts/workloads.py: an env's workloads file (envs/<env>/workloads.auto.tfvars.json), edited by make workload-*."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORD_COUNT = {
    "process": "serverless_patterns.workloads.word_count:process",
    "merge": "serverless_patterns.workloads.word_count:merge_counts",
    "reads": ["bytes"],
}


@pytest.fixture(scope="module")
def workloads_module():
    spec = importlib.util.spec_from_file_location("workloads_file", REPO_ROOT / "scripts" / "workloads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo(workloads_module, tmp_path, monkeypatch) -> Path:
    """A repository with one env, `local`, running word_count; the module pointed at it."""
    env = tmp_path / "envs" / "local"
    env.mkdir(parents=True)
    (env / "main.tf").write_text("")
    (env / "terraform.tfvars").write_text('environment = "local"\n')
    (env / "workloads.auto.tfvars.json").write_text(json.dumps({"workloads": {"word_count": WORD_COUNT}}))
    package = tmp_path / "examples" / "my_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.setattr(workloads_module, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(workloads_module, "ENVS_DIR", tmp_path / "envs")
    return tmp_path


def _file(repo: Path) -> Path:
    return repo / "envs" / "local" / "workloads.auto.tfvars.json"


def _run(workloads_module, *argv: str) -> None:
    workloads_module.main(list(argv))


def test_add_keeps_the_others_and_writes_a_stable_sorted_file(workloads_module, repo, capsys):
    _run(
        workloads_module,
        *("add", "--env", "local", "--name", "mine", "--process", "my_pkg.workload:process"),
        *("--package", str(repo / "examples" / "my_pkg"), "--reads", "items, records", "--resumable"),
    )

    assert _file(repo).read_text() == (
        "{\n"
        '  "workloads": {\n'
        '    "mine": {\n'
        '      "process": "my_pkg.workload:process",\n'
        '      "resumable": true,\n'
        '      "reads": ["records", "items"],\n'
        '      "package": "examples/my_pkg"\n'
        "    },\n"
        '    "word_count": {\n'
        '      "process": "serverless_patterns.workloads.word_count:process",\n'
        '      "merge": "serverless_patterns.workloads.word_count:merge_counts",\n'
        '      "reads": ["bytes"]\n'
        "    }\n"
        "  }\n"
        "}\n"
    )
    assert "mine added to envs/local/workloads.auto.tfvars.json" in capsys.readouterr().out


def test_add_replaces_an_entry_of_the_same_name_and_the_same_add_again_changes_nothing(workloads_module, repo, capsys):
    path = _file(repo)
    _run(
        workloads_module,
        "add",
        "--name",
        "mine",
        "--process",
        "my_pkg.workload:process",
        "--merge",
        "my_pkg.w:m",
        "--reads",
        "items",
    )
    _run(workloads_module, "add", "--name", "mine", "--process", "my_pkg.workload:run", "--reads", "items")
    text = path.read_text()
    _run(workloads_module, "add", "--name", "mine", "--process", "my_pkg.workload:run", "--reads", "items")

    assert json.loads(text)["workloads"] == {
        "mine": {"process": "my_pkg.workload:run", "reads": ["items"]},
        "word_count": WORD_COUNT,
    }
    assert path.read_text() == text
    assert capsys.readouterr().out.endswith("already says so: nothing changed\n")


def test_remove_keeps_the_others(workloads_module, repo):
    _run(workloads_module, "add", "--name", "mine", "--process", "my_pkg.workload:process", "--reads", "items")

    _run(workloads_module, "remove", "--name", "mine")

    assert json.loads(_file(repo).read_text()) == {"workloads": {"word_count": WORD_COUNT}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "--process", "a.b:c"], "NAME is required: make workload-add NAME=..."),
        (["add", "--name", " ", "--process", "a.b:c"], "NAME is required: make workload-add NAME=..."),
        (["add", "--name", "mine"], "PROCESS is required: make workload-add PROCESS=..."),
        (["remove"], "NAME is required: make workload-remove NAME=..."),
        (["add", "--env", "staging", "--name", "x", "--process", "a.b:c"], "ENV: there is no environment 'staging'"),
        (["add", "--name", "my workload", "--process", "a.b:c"], "NAME: 'my workload' must be 1-64 characters"),
        (["add", "--name", "mine", "--process", "my_pkg.workload"], "PROCESS: 'my_pkg.workload' must look like"),
        (["add", "--name", "mine", "--process", "a.b:c", "--merge", "merge"], "MERGE: 'merge' must look like"),
        (["add", "--name", "mine", "--process", "a.b:c", "--reads", "rows"], "READS: 'rows' is not a kind of input"),
        (["add", "--name", "mine", "--process", "a.b:c"], "READS: declare what its process reads"),
        (
            ["add", "--name", "mine", "--process", "a.b:c", "--reads", "items", "--package", "/no/such/pkg"],
            "PACKAGE: /no/such/pkg is not",
        ),
        (
            ["add", "--name", "mine", "--process", "a.b:c", "--reads", "items", "--package", "examples"],
            "PACKAGE: examples has no __init__",
        ),
        (["remove", "--name", "mine"], "NAME: envs/local/workloads.auto.tfvars.json has no workload 'mine'"),
        (["remove", "--name", "word_count"], "NAME: word_count is the only workload"),
    ],
)
def test_bad_input_is_one_line_naming_the_variable_and_leaves_the_file(
    workloads_module, repo, monkeypatch, argv, message
):
    monkeypatch.chdir(repo)
    before = _file(repo).read_text()

    with pytest.raises(SystemExit) as refused:
        _run(workloads_module, *argv)

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)
    assert _file(repo).read_text() == before


def test_the_default_workload_cannot_be_removed(workloads_module, repo):
    _run(workloads_module, "add", "--name", "mine", "--process", "my_pkg.workload:process", "--reads", "items")
    (repo / "envs" / "local" / "terraform.tfvars").write_text('default_workload = "mine"\n')

    with pytest.raises(SystemExit, match="NAME: mine is the default_workload of envs/local"):
        _run(workloads_module, "remove", "--name", "mine")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "is not JSON"),
        ({"workloads": {}}, "with one or more"),
        ({"workloads": {"a": {"process": "a.b:c"}}, "default_workload": "a"}, "keep it in terraform.tfvars"),
        ({"workloads": {"a": {"process": "a.b:c", "reeds": ["bytes"]}}}, "workloads.a.reeds: is not a field"),
        ({"workloads": {"a": {"process": "a.b:c", "reads": []}}}, "workloads.a.reads: must list one or more"),
        ({"workloads": {"a": {"process": "a.b:c", "reads": ["bytes", "bytes"]}}}, "names a kind twice"),
        ({"workloads": {"a": {"process": "a.b:c", "resumable": "yes"}}}, "workloads.a.resumable: must be true or"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_field(workloads_module, repo, document, message):
    path = _file(repo)
    path.write_text(document if isinstance(document, str) else json.dumps(document))

    with pytest.raises(workloads_module.WorkloadsFileError, match=message) as refused:
        workloads_module.load(path)

    assert str(refused.value).startswith("envs/local/workloads.auto.tfvars.json: ")


def test_the_repository_env_files_are_valid_and_written_as_the_tool_writes_them(workloads_module):
    for env in ("local", "dev", "prod"):
        path = REPO_ROOT / "envs" / env / "workloads.auto.tfvars.json"

        workloads = workloads_module.load(path)

        assert path.read_text() == workloads_module.dumps(workloads), f"{path}: run make workload-add to rewrite it"
        assert workloads["word_count"] == WORD_COUNT


def test_the_local_env_runs_every_example_workload_with_what_it_reads(workloads_module):
    workloads = workloads_module.load(REPO_ROOT / "envs" / "local" / "workloads.auto.tfvars.json")

    assert {name: entry.get("reads") for name, entry in workloads.items()} == {
        "word_count": ["bytes"],
        "csv_totals": ["records"],
        "object_stats": ["objects"],
        "line_digest": ["records", "items"],
        "timed_wait": ["items"],  # the tests' and benchmarks' waiting workload, in serverless_patterns
    }
    assert {name: entry["package"] for name, entry in workloads.items() if "package" in entry} == {
        name: f"examples/workloads/{name}" for name in ("csv_totals", "object_stats", "line_digest")
    }


def _make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("workload-add", "NAME="), "NAME is required: make workload-add NAME=my_workload"),
        (("workload-add", "NAME=mine"), "PROCESS is required: make workload-add PROCESS=my_pkg.workload:process"),
        (("workload-remove",), "NAME is required: make workload-remove NAME=my_workload"),
        (
            ("package", "WORKLOADS=path/to/my_pkg"),
            "WORKLOADS= is gone: the workloads an env bundles are in envs/local/workloads.auto.tfvars.json",
        ),
    ],
)
def test_make_targets_refuse_missing_or_retired_variables_in_one_line(args, line):
    done = _make(*args)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert line in done.stderr


@pytest.mark.parametrize(
    ("file", "package", "expected"),
    [
        ("my-repo/workloads.json", "pkgs/mine", "my-repo/pkgs/mine"),  # another repository's file: its folder
        ("checkout/envs/dev/workloads.auto.tfvars.json", "examples/mine", "checkout/examples/mine"),  # an env's
    ],
)
def test_make_package_and_the_local_runner_find_a_relative_package_in_the_same_folder(
    workloads_module, tmp_path, file, package, expected
):
    from serverless_patterns_ops.local_run import configured_workloads

    path = tmp_path / file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"workloads": {"mine": {"process": "mine.w:process", "package": package}}}))

    by_make = workloads_module.package_path(package, workloads_module.package_base(path))
    by_local_runner = Path(configured_workloads(path)["mine"]["package"])

    assert by_make == by_local_runner == (tmp_path / expected).resolve()
