"""`make package` builds byte-identical zips, so source_code_hash never drifts, and checks every workload in them."""

import hashlib
import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def package_module():
    spec = importlib.util.spec_from_file_location("package", REPO_ROOT / "scripts" / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def first_build(package_module, tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("first")
    return build_dir, package_module.build(build_dir)


def test_every_function_package_gets_a_zip(first_build, package_module):
    build_dir, hashes = first_build

    assert set(hashes) == set(package_module.function_packages())
    assert {"load_leveler_producer", "load_leveler_consumer"} <= set(hashes)
    for name in hashes:
        assert (build_dir / "lambda" / f"{name}.zip").is_file()


def test_a_build_in_another_folder_is_byte_identical(first_build, package_module, tmp_path):
    _, first_hashes = first_build

    assert package_module.build(tmp_path) == first_hashes


def test_rebuilding_without_changes_keeps_every_zip_and_its_mtime(first_build, package_module):
    build_dir, first_hashes = first_build
    zips = sorted((build_dir / "lambda").glob("*.zip"))
    mtimes = [path.stat().st_mtime_ns for path in zips]

    assert package_module.build(build_dir) == first_hashes
    assert [path.stat().st_mtime_ns for path in zips] == mtimes
    assert {path.stem: hashlib.sha256(path.read_bytes()).hexdigest() for path in zips} == first_hashes


def test_zip_entries_are_sorted_with_fixed_metadata_and_no_bytecode(first_build):
    build_dir, _ = first_build
    with zipfile.ZipFile(build_dir / "lambda" / "load_leveler_consumer.zip") as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]

    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]


def test_zip_bundles_the_handler_shared_package_and_powertools_but_not_boto3(first_build):
    build_dir, _ = first_build
    with zipfile.ZipFile(build_dir / "lambda" / "load_leveler_producer.zip") as archive:
        top_level = {name.split("/")[0] for name in archive.namelist()}

    assert {"load_leveler_producer", "serverless_patterns", "aws_lambda_powertools"} <= top_level
    assert "load_leveler_consumer" not in top_level
    assert not top_level & {"boto3", "botocore"}


def _elf_machines(zip_path: Path) -> set[int]:
    """The e_machine field of every ELF shared object in a zip (62: x86-64, 183: AArch64)."""
    machines = set()
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if name.endswith(".so"):
                header = archive.read(name)[:20]
                if header[:4] == b"\x7fELF":
                    machines.add(int.from_bytes(header[18:20], "little"))
    return machines


def test_zips_are_built_for_the_architecture_asked(first_build, package_module, tmp_path):
    build_dir, _ = first_build

    package_module.build(tmp_path, "arm64")

    assert _elf_machines(build_dir / "lambda" / "fan_out_worker.zip") == {62}
    assert _elf_machines(tmp_path / "lambda" / "fan_out_worker.zip") == {183}
    assert (tmp_path / "lambda" / "ARCHITECTURE").read_text() == "arm64\n"
    with pytest.raises(ValueError, match="x86_64, arm64"):
        package_module.build(tmp_path, "sparc")


def test_workload_packages_go_into_the_worker_and_consolidator_zips_only(package_module, tmp_path):
    workload = REPO_ROOT / "examples" / "workloads" / "csv_totals"

    package_module.build(tmp_path, workloads=(workload,))

    for name in package_module.function_packages():
        with zipfile.ZipFile(tmp_path / "lambda" / f"{name}.zip") as archive:
            bundled = "csv_totals/workload.py" in archive.namelist()
        assert bundled == (name in ("fan_out_worker", "fan_in_consolidator")), name


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("lambdas", "is not a Python package"),
        ("lambdas/serverless_patterns", "is a package of this project already"),
    ],
)
def test_a_workload_path_that_is_no_package_of_its_own_is_refused_naming_the_fix(
    package_module, tmp_path, path, message
):
    with pytest.raises(package_module.PackagingError, match=message):
        package_module.build(tmp_path, workloads=(REPO_ROOT / path,))


def test_a_workload_folder_named_unimportably_is_refused(package_module, tmp_path):
    folder = tmp_path / "my-workload"
    folder.mkdir()
    (folder / "__init__.py").write_text("")

    with pytest.raises(package_module.PackagingError, match="rename the folder"):
        package_module.build(tmp_path / "build", workloads=(folder,))


# Workloads: bundled from the env's workloads file, then imported from the built worker zip.


def _write_package(root: Path, name: str, source: str) -> Path:
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "workload.py").write_text(source)
    return package


def _zip_of(destination: Path, *packages: Path) -> Path:
    with zipfile.ZipFile(destination, "w") as archive:
        for package in packages:
            for path in sorted(package.rglob("*.py")):
                archive.write(path, f"{package.name}/{path.relative_to(package).as_posix()}")
    return destination


def _workloads_file(package_module, path: Path, workloads: dict) -> object:
    declared = {name: {"reads": ["items"], **entry} for name, entry in workloads.items()}
    path.write_text(json.dumps({"workloads": declared}))
    return package_module.WorkloadsFile(path)


MY_WORKLOAD = """
import boto3  # the Lambda runtime provides it: a workload may import it

def process(task):
    return {"n": 1}

def process_resumable(task, invocation):
    return {"n": 1}

def merge(results):
    return {"n": sum(result["n"] for result in results)}

def merge_two(results, extra):
    return {}

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def my_zip(tmp_path) -> Path:
    return _zip_of(tmp_path / "fan_out_worker.zip", _write_package(tmp_path / "src", "my_pkg", MY_WORKLOAD))


def _refusal(package_module, worker_zip: Path, tmp_path: Path, entry: dict) -> str:
    workloads_file = _workloads_file(package_module, tmp_path / "workloads.json", {"mine": entry})
    with pytest.raises(package_module.PackagingError) as refused:
        package_module.verify(worker_zip, workloads_file)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_workloads_importable_from_the_zip_with_the_right_signatures_pass(package_module, my_zip, tmp_path):
    workloads_file = _workloads_file(
        package_module,
        tmp_path / "workloads.json",
        {
            "mine": {"process": "my_pkg.workload:process", "merge": "my_pkg.workload:merge"},
            "long": {"process": "my_pkg.workload:process_resumable", "resumable": True},
        },
    )

    package_module.verify(my_zip, workloads_file)


def test_a_workload_whose_package_is_not_in_the_zips_is_refused_naming_it_and_the_fix(package_module, my_zip, tmp_path):
    # examples/workloads/csv_totals is in this repository, but not in the zip: it must not be found.
    message = _refusal(package_module, my_zip, tmp_path, {"process": "csv_totals.workload:process"})

    assert message == (
        "workload mine: module csv_totals.workload is not in the zips "
        f'(set "package" to the folder of package csv_totals in {tmp_path / "workloads.json"})'
    )


def test_a_module_missing_from_a_bundled_package_is_refused(package_module, my_zip, tmp_path):
    message = _refusal(package_module, my_zip, tmp_path, {"process": "my_pkg.nothing:process", "package": "x"})

    assert message.startswith('workload mine: module my_pkg.nothing is not in the zips (fix "process" in ')


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"process": "my_pkg.workload:proces"}, 'workload mine: my_pkg.workload has no function proces (fix "process"'),
        ({"process": "my_pkg.workload:process", "merge": "my_pkg.workload:merj"}, 'has no function merj (fix "merge"'),
        ({"process": "my_pkg.workload:NOT_A_FUNCTION"}, "my_pkg.workload:NOT_A_FUNCTION is a int, not a function"),
    ],
)
def test_a_missing_function_is_refused_naming_the_field_to_fix(package_module, my_zip, tmp_path, entry, expected):
    assert expected in _refusal(package_module, my_zip, tmp_path, entry)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"process": "my_pkg.workload:process_resumable"},
            "workload mine: my_pkg.workload:process_resumable(task, invocation) cannot be called as process(task) "
            '(take one argument, the task; if it takes (task, invocation), set "resumable": true in ',
        ),
        (
            {"process": "my_pkg.workload:process", "resumable": True},
            "workload mine: my_pkg.workload:process(task) cannot be called as process(task, invocation)",
        ),
        (
            {"process": "my_pkg.workload:process", "merge": "my_pkg.workload:merge_two"},
            "workload mine: my_pkg.workload:merge_two(results, extra) cannot be called as merge(results)",
        ),
    ],
)
def test_a_bad_signature_is_refused_naming_the_call_expected(package_module, my_zip, tmp_path, entry, expected):
    assert _refusal(package_module, my_zip, tmp_path, entry).startswith(expected)


def test_a_workload_importing_what_the_zips_do_not_hold_is_refused(package_module, tmp_path):
    # pytest is installed here, not in the zips nor in the Lambda runtime.
    worker_zip = _zip_of(tmp_path / "worker.zip", _write_package(tmp_path, "needs_pytest", "import pytest\n"))

    message = _refusal(package_module, worker_zip, tmp_path, {"process": "needs_pytest.workload:process"})

    assert message == (
        "workload mine: needs_pytest.workload imports pytest, which the zips do not hold "
        "(put it in the workload's package, or add it to requirements/lambda.txt)"
    )


def test_a_workload_failing_at_import_is_refused_with_its_error(package_module, tmp_path):
    worker_zip = _zip_of(tmp_path / "worker.zip", _write_package(tmp_path, "broken", "raise RuntimeError('no')\n"))

    message = _refusal(package_module, worker_zip, tmp_path, {"process": "broken.workload:process"})

    assert message.startswith("workload mine: importing broken.workload raised RuntimeError: no (fix the module")


def test_every_failing_workload_is_named_on_one_line(package_module, my_zip, tmp_path):
    workloads_file = _workloads_file(
        package_module,
        tmp_path / "workloads.json",
        {name: {"process": "my_pkg.workload:nope"} for name in ("b", "a", "c")},
    )

    with pytest.raises(package_module.PackagingError, match=r"^workload a: .*; also failing: b, c$"):
        package_module.verify(my_zip, workloads_file)


def test_a_missing_package_folder_is_one_line_naming_the_workload_and_the_file(tmp_path):
    workloads = tmp_path / "workloads.json"
    workloads.write_text(
        json.dumps({"workloads": {"mine": {"process": "my_pkg.w:process", "reads": ["items"], "package": "no/such"}}})
    )

    completed = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "package.py"),
            "--build-dir",
            str(tmp_path / "build"),
            "--workloads-file",
            str(workloads),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 2
    assert completed.stderr == (
        f"package: workload mine: package folder {tmp_path / 'no' / 'such'} does not exist "
        f'(fix its "package" in {workloads})\n'
    )


def test_the_env_files_name_every_example_workload_package_that_exists(package_module):
    workloads_file = package_module.WorkloadsFile(REPO_ROOT / "envs" / "local" / "workloads.auto.tfvars.json")

    assert [path.name for path in workloads_file.packages()] == ["csv_totals", "line_digest", "object_stats"]


@pytest.fixture
def quick_build(package_module, monkeypatch):
    """build() writing only a worker zip of the shared package and the workload packages: no dependencies, no pip."""

    def build(build_dir: Path, architecture: str = "x86_64", workloads: tuple[Path, ...] = ()) -> dict[str, str]:
        (build_dir / "lambda").mkdir(parents=True, exist_ok=True)
        worker_zip = _zip_of(
            build_dir / "lambda" / "fan_out_worker.zip", REPO_ROOT / "lambdas" / "serverless_patterns", *workloads
        )
        return {"fan_out_worker": hashlib.sha256(worker_zip.read_bytes()).hexdigest()}

    monkeypatch.setattr(package_module, "build", build)
    return build


def test_package_writes_the_manifest_of_the_checked_workloads_only_when_it_changes(
    package_module, quick_build, tmp_path
):
    workloads_file = _workloads_file(
        package_module,
        tmp_path / "workloads.json",
        {
            "word_count": {
                "process": "serverless_patterns.workloads.word_count:process",
                "merge": "serverless_patterns.workloads.word_count:merge_counts",
                "reads": ["bytes"],
            },
            "csv_totals": {
                "process": "csv_totals.workload:process",
                "merge": "csv_totals.workload:merge",
                "reads": ["records"],
                "package": str(REPO_ROOT / "examples" / "workloads" / "csv_totals"),
            },
        },
    )
    manifest = tmp_path / "build" / "lambda" / "workloads.json"

    package_module.package(tmp_path / "build", workloads_file)
    written = manifest.stat().st_mtime_ns
    package_module.package(tmp_path / "build", workloads_file)

    assert json.loads(manifest.read_text()) == {
        "workloads": {
            "csv_totals": {
                "process": "csv_totals.workload:process",
                "merge": "csv_totals.workload:merge",
                "resumable": False,
                "reads": ["records"],
            },
            "word_count": {
                "process": "serverless_patterns.workloads.word_count:process",
                "merge": "serverless_patterns.workloads.word_count:merge_counts",
                "resumable": False,
                "reads": ["bytes"],
            },
        }
    }
    assert manifest.stat().st_mtime_ns == written
    assert manifest.read_text() == package_module.manifest_text(workloads_file.workloads)


def test_a_failed_package_removes_the_manifest_so_plan_refuses_too(package_module, quick_build, tmp_path):
    manifest = tmp_path / "build" / "lambda" / "workloads.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"workloads": {"csv_totals": {}}}')
    workloads_file = _workloads_file(
        package_module, tmp_path / "workloads.json", {"csv_totals": {"process": "csv_totals.workload:process"}}
    )

    with pytest.raises(package_module.PackagingError, match=r"module csv_totals\.workload is not in the zips"):
        package_module.package(tmp_path / "build", workloads_file)

    assert not manifest.exists()


def test_a_workload_reading_a_file_beside_its_module_passes_as_on_lambda(package_module, tmp_path):
    # Lambda unpacks the zip, so a module may read its data files; imported from the zip itself it could not.
    package = _write_package(
        tmp_path / "src",
        "with_table",
        "import json, pathlib\nTABLE = json.loads(pathlib.Path(__file__).with_name('table.json').read_text())\n"
        "def process(task):\n    return TABLE\n",
    )
    (package / "table.json").write_text('{"rate": 2}')
    worker_zip = tmp_path / "fan_out_worker.zip"
    with zipfile.ZipFile(worker_zip, "w") as archive:
        for path in sorted(package.rglob("*")):
            archive.write(path, f"with_table/{path.relative_to(package).as_posix()}")
    workloads_file = _workloads_file(
        package_module, tmp_path / "workloads.json", {"rated": {"process": "with_table.workload:process"}}
    )

    package_module.verify(worker_zip, workloads_file)


def test_workloads_are_checked_with_the_runtimes_python_when_the_machine_has_it(package_module):
    interpreter = package_module.checking_interpreter()
    version = subprocess.run(
        [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()

    assert version in {package_module.LAMBDA_PYTHON_VERSION, f"{sys.version_info.major}.{sys.version_info.minor}"}
    if Path(interpreter) != Path(sys.executable):
        assert version == package_module.LAMBDA_PYTHON_VERSION


def test_a_workload_printing_at_import_does_not_hide_the_answer(package_module, tmp_path):
    worker_zip = _zip_of(
        tmp_path / "worker.zip",
        _write_package(tmp_path, "chatty", "print('hello', end='')\ndef process(task):\n    return 1\n"),
    )
    workloads_file = _workloads_file(package_module, tmp_path / "w.json", {"c": {"process": "chatty.workload:process"}})

    package_module.verify(worker_zip, workloads_file)
