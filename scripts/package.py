"""Build one reproducible zip per Lambda function.

Every function package under lambdas/ (a folder with a handler.py) becomes
build/lambda/<function>.zip holding the function package, the shared
serverless_patterns package and the pinned third-party dependencies of
requirements/lambda.txt. boto3 is left out: the Lambda runtime provides it.

Workload packages (your own, outside lambdas/: --workload path/to/package,
repeatable) are bundled into the zips of the functions that import them: the
fan-out worker and the consolidator.

The zips are byte-identical across runs and machines: entries are sorted,
timestamps and permissions are fixed and nothing machine-specific (bytecode,
absolute paths) is included, so Terraform's source_code_hash only changes
when the code does.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / "lambdas"
SHARED_PACKAGE = "serverless_patterns"
REQUIREMENTS = REPO_ROOT / "requirements" / "lambda.txt"

# The Lambda runtime the zips target; wheels are chosen for it, not for the
# interpreter running this script.
LAMBDA_PYTHON_VERSION = "3.12"
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
ARCHITECTURE_FILE = "ARCHITECTURE"  # in build/lambda: what the zips were built for

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
EXCLUDED_DIR_NAMES = {"__pycache__", "bin", ".pytest_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
WORKLOAD_FUNCTIONS = ("fan_out_worker", "fan_in_consolidator")  # the functions that import workloads


class PackagingError(ValueError):
    pass


def check_workload(path: Path) -> Path:
    """A workload is a Python package: a folder with __init__.py, named as it is imported."""
    path = path.resolve()
    if not (path / "__init__.py").is_file():
        raise PackagingError(f"WORKLOADS: {path} is not a Python package (a folder with __init__.py): point at one")
    if not path.name.isidentifier():
        raise PackagingError(f"WORKLOADS: {path.name} is not an importable package name: rename the folder")
    taken = {SHARED_PACKAGE, *function_packages()}
    if path.name in taken:
        raise PackagingError(f"WORKLOADS: {path.name} is a package of this project already: rename yours")
    if path.name in sys.stdlib_module_names or path.name in {"aws_lambda_powertools", "boto3", "botocore"}:
        raise PackagingError(f"WORKLOADS: {path.name} would hide the module of that name: rename your package")
    return path


def function_packages() -> list[str]:
    return sorted(
        path.name
        for path in LAMBDAS_DIR.iterdir()
        if path.is_dir() and (path / "handler.py").is_file() and path.name != SHARED_PACKAGE
    )


def install_dependencies(build_dir: Path, architecture: str) -> Path:
    """Install requirements/lambda.txt once per distinct requirements file and architecture."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    deps_dir = build_dir / "deps" / f"{digest}-{architecture}"
    marker = deps_dir / ".complete"
    if marker.is_file():
        return deps_dir
    if deps_dir.exists():
        shutil.rmtree(deps_dir)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            "--platform",
            PLATFORMS[architecture],
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--implementation",
            "cp",
            "--target",
            str(deps_dir),
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    marker.write_text(REQUIREMENTS.read_text())
    return deps_dir


def iter_files(root: Path, arc_prefix: str = ""):
    """Yield (archive name, path) for every file below root worth shipping."""
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part in EXCLUDED_DIR_NAMES for part in relative.parts):
            continue
        if path.is_file() and path.suffix not in EXCLUDED_SUFFIXES and path.name != ".complete":
            yield f"{arc_prefix}{relative.as_posix()}", path


def write_zip(destination: Path, entries: dict[str, Path]) -> None:
    temporary = destination.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[arcname].read_bytes(), compresslevel=9)
    # Keep the old file (and its mtime) when nothing changed, so make sees no work.
    if destination.is_file() and destination.read_bytes() == temporary.read_bytes():
        temporary.unlink()
    else:
        temporary.replace(destination)


def build(build_dir: Path, architecture: str = "x86_64", workloads: tuple[Path, ...] = ()) -> dict[str, str]:
    """Build every zip for `architecture` (x86_64 or arm64: the wheels of compiled dependencies differ)."""
    workload_paths = [check_workload(path) for path in workloads]
    if len({path.name for path in workload_paths}) != len(workload_paths):
        raise PackagingError("WORKLOADS: two workload packages have the same name: rename one")
    if architecture not in PLATFORMS:
        raise ValueError(f"architecture must be one of {', '.join(PLATFORMS)}, not {architecture!r}")
    output_dir = build_dir / "lambda"
    output_dir.mkdir(parents=True, exist_ok=True)
    deps_dir = install_dependencies(build_dir, architecture)
    shared = dict(iter_files(deps_dir))
    shared.update(iter_files(LAMBDAS_DIR / SHARED_PACKAGE, f"{SHARED_PACKAGE}/"))
    hashes = {}
    for name in function_packages():
        entries = dict(shared)
        entries.update(iter_files(LAMBDAS_DIR / name, f"{name}/"))
        if name in WORKLOAD_FUNCTIONS:
            for path in workload_paths:
                entries.update(iter_files(path, f"{path.name}/"))
        destination = output_dir / f"{name}.zip"
        write_zip(destination, entries)
        hashes[name] = hashlib.sha256(destination.read_bytes()).hexdigest()
    marker = output_dir / ARCHITECTURE_FILE
    if not marker.is_file() or marker.read_text().strip() != architecture:
        marker.write_text(architecture + "\n")
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    parser.add_argument(
        "--architecture", choices=sorted(PLATFORMS), default="x86_64", help="the functions' instruction set"
    )
    parser.add_argument(
        "--workload", type=Path, action="append", default=[], help="a workload package to bundle (repeatable)"
    )
    args = parser.parse_args()
    try:
        hashes = build(args.build_dir.resolve(), args.architecture, tuple(args.workload))
    except PackagingError as error:
        parser.exit(2, f"package: {error}\n")
    for name, digest in hashes.items():
        print(f"{digest}  {args.build_dir}/lambda/{name}.zip")


if __name__ == "__main__":
    main()
