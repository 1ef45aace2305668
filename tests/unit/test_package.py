"""`make package` builds byte-identical zips, so source_code_hash never drifts."""

import hashlib
import importlib.util
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
