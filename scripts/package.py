"""Build one reproducible zip per Lambda function.

Every function package under lambdas/ (a folder with a handler.py) becomes
build/lambda/<function>.zip holding the function package, the shared
serverless_patterns package and the pinned third-party dependencies of
requirements/lambda.txt. boto3 is left out: the Lambda runtime provides it.

Workload packages (your own, outside lambdas/) are configuration: the
`package` of each workload in envs/<env>/workloads.auto.tfvars.json (--env,
default local, or --workloads-file). They are bundled into the zips of the
functions that import them, the fan-out worker and the consolidator; then
every workload's process (and merge) is imported from the built worker zip in
a fresh interpreter that sees only the zip, the standard library and what the
Lambda runtime provides (boto3), and its signature is checked. Only then is
build/lambda/workloads.json written: the manifest the fan_out module checks
the env's workloads against at plan. A failure is one line naming the
workload and the fix, and removes the manifest (the zips are not checked).

The zips are byte-identical across runs and machines: entries are sorted,
timestamps and permissions are fixed and nothing machine-specific (bytecode,
absolute paths) is included, so Terraform's source_code_hash only changes
when the code does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# scripts/workloads.py: reads and checks the env's workloads file.
import workloads as env_workloads

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
MANIFEST = "workloads.json"  # in build/lambda: the workloads the zips were built and checked with
# What the Lambda Python runtime provides beside the zip (boto3, left out of the zips, and its dependencies).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
VERIFY_TIMEOUT_SECONDS = 120
RESULT_MARK = "workload-check-result: "  # VERIFY_SCRIPT's answer: a workload printing at import is never it


class PackagingError(ValueError):
    pass


def check_workload(path: Path, name: str = "", fix: str = "") -> Path:
    """A workload package is a Python package: a folder with __init__.py, named as it is imported."""
    where = f"workload {name}" if name else "workload"
    fix = fix or "fix its package"
    path = path.resolve()
    if not path.is_dir():
        raise PackagingError(f"{where}: package folder {path} does not exist ({fix})")
    if not (path / "__init__.py").is_file():
        raise PackagingError(f"{where}: {path} is not a Python package, a folder with __init__.py ({fix})")
    if not path.name.isidentifier():
        raise PackagingError(f"{where}: {path.name} is not an importable package name (rename the folder)")
    taken = {SHARED_PACKAGE, *function_packages()}
    if path.name in taken:
        raise PackagingError(f"{where}: {path.name} is a package of this project already (rename yours)")
    if path.name in sys.stdlib_module_names or path.name in {"aws_lambda_powertools", *RUNTIME_MODULES}:
        raise PackagingError(f"{where}: {path.name} would hide the module of that name (rename your package)")
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
    workload_paths = sorted({check_workload(path) for path in workloads})
    if len({path.name for path in workload_paths}) != len(workload_paths):
        raise PackagingError("workload: two workload packages have the same name (rename one)")
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


class WorkloadsFile:
    """The env's workloads file, and how errors point back at it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = env_workloads.shown(path)
        try:
            self.workloads = env_workloads.load(path)
        except env_workloads.WorkloadsFileError as error:
            raise PackagingError(str(error)) from None

    def packages(self) -> tuple[Path, ...]:
        """The package folders the workloads name, each checked, once each."""
        by_path: dict[Path, str] = {}
        for name, entry in sorted(self.workloads.items()):
            if "package" in entry:
                fix = f'fix its "package" in {self.shown}'
                base = env_workloads.package_base(self.path)
                path = check_workload(env_workloads.package_path(entry["package"], base), name, fix)
                by_path.setdefault(path, name)
        names: dict[str, str] = {}
        for path, workload in by_path.items():
            if path.name in names:
                raise PackagingError(
                    f"workload {workload}: its package {path} has the name of {names[path.name]}'s, another folder "
                    "(rename one: a zip holds one package of a name)"
                )
            names[path.name] = workload
        return tuple(sorted(by_path))


# Run in a fresh interpreter (-I -S: no site-packages, no user paths), the
# runtime's Python version when this machine has it: import every workload's
# functions from the worker zip, unpacked as Lambda unpacks it (so compiled
# extensions and data files beside a module load), and check they can be called
# as the worker and the consolidator call them. Reads the request as JSON on
# stdin; writes {name: problem or null} as JSON on stdout.
VERIFY_SCRIPT = r"""
import importlib, inspect, json, sys
from importlib.machinery import PathFinder


request = json.load(sys.stdin)
sys.path.insert(0, request["code"])
runtime_modules, runtime_paths = set(request["runtime_modules"]), request["runtime_paths"]


class RuntimeProvided:
    # The modules the Lambda runtime provides (boto3...), from this interpreter's site-packages; nothing else.
    @staticmethod
    def find_spec(name, path=None, target=None):
        return PathFinder.find_spec(name, runtime_paths) if path is None and name in runtime_modules else None


sys.meta_path.append(RuntimeProvided)


def load(reference):
    module_name, _, function_name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            return None, {"kind": "no_module", "module": module_name, "missing": missing}
        return None, {"kind": "imports_missing", "module": module_name, "missing": missing}
    except BaseException as error:  # a workload's import may raise anything, SystemExit included
        return None, {"kind": "import_failed", "module": module_name, "error": f"{type(error).__name__}: {error}"}
    function = getattr(module, function_name, None)
    if function is None:
        return None, {"kind": "no_function", "module": module_name, "function": function_name}
    if not callable(function):
        return None, {"kind": "not_callable", "type": type(function).__name__}
    return function, None


def check(reference, arguments):
    function, problem = load(reference)
    if problem:
        return problem
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: nothing to check
    try:
        signature.bind(*range(arguments))
    except TypeError:
        return {"kind": "signature", "signature": str(signature)}
    return None


results = {}
for name, entry in request["workloads"].items():
    problem = check(entry["process"], 2 if entry.get("resumable") else 1)
    if problem:
        problem["role"] = "process"
    elif entry.get("merge"):
        problem = check(entry["merge"], 1)
        if problem:
            problem["role"] = "merge"
    results[name] = problem
print("\n" + request["mark"] + json.dumps(results))  # on a line of its own, whatever was printed before
"""


def runtime_paths() -> list[str]:
    """Where this interpreter finds boto3 and the rest of RUNTIME_MODULES."""
    return [*site.getsitepackages(), site.getusersitepackages()]


def describe(name: str, entry: dict[str, Any], problem: dict[str, Any], workloads_file: WorkloadsFile) -> str:
    """One line: the workload, what is wrong, and the fix."""
    role = problem["role"]
    reference = entry[role]
    in_file = workloads_file.shown
    kind = problem["kind"]
    if kind == "no_module":
        top = problem["module"].split(".")[0]
        if problem["missing"] == top and "package" not in entry:
            return (
                f"workload {name}: module {problem['module']} is not in the zips "
                f'(set "package" to the folder of package {top} in {in_file})'
            )
        return (
            f"workload {name}: module {problem['module']} is not in the zips "
            f'(fix "{role}" in {in_file}, or its "package" folder)'
        )
    if kind == "imports_missing":
        return (
            f"workload {name}: {problem['module']} imports {problem['missing']}, which the zips do not hold "
            "(put it in the workload's package, or add it to requirements/lambda.txt)"
        )
    if kind == "import_failed":
        return (
            f"workload {name}: importing {problem['module']} raised {problem['error']} "
            "(fix the module: it must import with only the zip, the standard library and boto3)"
        )
    if kind == "no_function":
        return f'workload {name}: {problem["module"]} has no function {problem["function"]} (fix "{role}" in {in_file})'
    if kind == "not_callable":
        return f'workload {name}: {reference} is a {problem["type"]}, not a function (fix "{role}" in {in_file})'
    signature = f"{reference}{problem['signature']}"
    if role == "merge":
        return f"workload {name}: {signature} cannot be called as merge(results) (take one argument, the results)"
    if entry.get("resumable"):
        return (
            f"workload {name}: {signature} cannot be called as process(task, invocation), as a resumable "
            f'workload is (take both, or drop "resumable" in {in_file})'
        )
    return (
        f"workload {name}: {signature} cannot be called as process(task) (take one argument, the task; "
        f'if it takes (task, invocation), set "resumable": true in {in_file})'
    )


def checking_interpreter() -> str:
    """The Lambda runtime's Python (LAMBDA_PYTHON_VERSION) when this machine has it, else this interpreter."""
    name = f"python{LAMBDA_PYTHON_VERSION}"
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    # pyenv's shim answers only for the versions selected: look at its installed versions too.
    for candidate in [
        shutil.which(name),
        *sorted(map(str, pyenv_root.glob(f"versions/{LAMBDA_PYTHON_VERSION}*/bin/{name}"))),
    ]:
        if not candidate:
            continue
        try:
            answer = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            answer = None
        if answer is not None and answer.stdout.strip() == LAMBDA_PYTHON_VERSION:
            return candidate
    print(
        f"package: no python{LAMBDA_PYTHON_VERSION} here (the Lambda runtime's): workloads are checked with "
        f"Python {sys.version_info.major}.{sys.version_info.minor}",
        file=sys.stderr,
    )
    return sys.executable


def verify(worker_zip: Path, workloads_file: WorkloadsFile) -> None:
    """Import every workload's functions from the built worker zip; PackagingError (one line) on the first failure."""
    with tempfile.TemporaryDirectory(prefix="workload-check-") as code:
        with zipfile.ZipFile(worker_zip) as archive:
            archive.extractall(code)
        request = {
            "code": code,
            "mark": RESULT_MARK,
            "runtime_modules": RUNTIME_MODULES,
            "runtime_paths": runtime_paths(),
            "workloads": workloads_file.workloads,
        }
        completed = _run_check(checking_interpreter(), request, worker_zip)
    marked = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
    try:
        results = json.loads(marked[-1][len(RESULT_MARK) :])
    except (IndexError, ValueError):
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackagingError(
            f"workloads: importing them from {worker_zip.name} ended the interpreter ({last}) "
            "(a module exits or crashes at import: fix it)"
        ) from None
    failing = sorted(name for name, problem in results.items() if problem)
    if failing:
        first = failing[0]
        line = describe(first, workloads_file.workloads[first], results[first], workloads_file)
        others = f"; also failing: {', '.join(failing[1:])}" if failing[1:] else ""
        raise PackagingError(line + others)


def _run_check(interpreter: str, request: dict[str, Any], worker_zip: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [interpreter, "-I", "-S", "-c", VERIFY_SCRIPT],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=VERIFY_TIMEOUT_SECONDS,
            cwd=worker_zip.parent,
        )
    except subprocess.TimeoutExpired:
        raise PackagingError(
            f"workloads: importing them from {worker_zip.name} took over {VERIFY_TIMEOUT_SECONDS} s "
            "(a module does work at import: move it into the function)"
        ) from None


def manifest_text(workloads: dict[str, dict[str, Any]]) -> str:
    """The manifest: every workload as checked (process, merge, resumable, reads), keys sorted."""
    checked = {
        name: {
            "process": entry["process"],
            "merge": entry.get("merge"),
            "resumable": bool(entry.get("resumable", False)),
            "reads": entry.get("reads"),
        }
        for name, entry in workloads.items()
    }
    return json.dumps({"workloads": checked}, indent=2, sort_keys=True) + "\n"


def package(build_dir: Path, workloads_file: WorkloadsFile, architecture: str = "x86_64") -> dict[str, str]:
    """Build the zips with the file's workload packages, check every workload from them, then write the manifest."""
    manifest = build_dir / "lambda" / MANIFEST
    try:
        hashes = build(build_dir, architecture, workloads_file.packages())
        verify(build_dir / "lambda" / "fan_out_worker.zip", workloads_file)
    except PackagingError:
        # The zips on disk are not the checked ones any more: a plan must not pass on an older manifest.
        manifest.unlink(missing_ok=True)
        raise
    text = manifest_text(workloads_file.workloads)
    if not manifest.is_file() or manifest.read_text() != text:
        manifest.write_text(text)
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    parser.add_argument(
        "--architecture", choices=sorted(PLATFORMS), default="x86_64", help="the functions' instruction set"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--env", default="local", help="bundle the workloads of envs/ENV/workloads.auto.tfvars.json")
    source.add_argument("--workloads-file", type=Path, help="bundle the workloads of this file instead")
    args = parser.parse_args()
    try:
        if args.workloads_file:
            workloads_file = WorkloadsFile(args.workloads_file.resolve())
        else:
            workloads_file = WorkloadsFile(env_workloads.env_file(args.env))
        hashes = package(args.build_dir.resolve(), workloads_file, args.architecture)
    except (PackagingError, env_workloads.WorkloadsFileError) as error:
        # Whatever stopped it, the zips on disk are not the checked ones: no plan may pass on an older manifest.
        (args.build_dir / "lambda" / MANIFEST).unlink(missing_ok=True)
        parser.exit(2, f"package: {error}\n")
    except subprocess.CalledProcessError as error:
        (args.build_dir / "lambda" / MANIFEST).unlink(missing_ok=True)
        parser.exit(2, f"package: installing requirements/lambda.txt failed ({error}): see pip's output above\n")
    for name, digest in hashes.items():
        print(f"{digest}  {args.build_dir}/lambda/{name}.zip")
    print(
        f"checked {', '.join(sorted(workloads_file.workloads))} from {workloads_file.shown}: "
        f"{args.build_dir}/lambda/{MANIFEST}"
    )


if __name__ == "__main__":
    main()
