"""The workloads of an environment: envs/<env>/workloads.auto.tfvars.json.

Terraform auto-loads the file (the env's `workloads` variable); `make package`
reads it to know which workload packages to bundle and check. One entry:

    "csv_totals": {"process": "csv_totals.workload:process", "merge": "csv_totals.workload:merge",
                   "reads": ["records"], "package": "examples/workloads/csv_totals"}

    python scripts/workloads.py list --env local
    python scripts/workloads.py add --env local --name mine --process my_pkg.workload:process \
        [--package /abs/my_pkg] [--merge my_pkg.workload:merge] [--reads "records objects"] [--resumable]
    python scripts/workloads.py remove --env local --name mine

Every error is one line naming the make variable (NAME, PACKAGE, ...) or the
file's field, and the fix.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "lambdas"))
from serverless_patterns.fan_out.sources import READ_KINDS as KINDS  # noqa: E402  (what the ventilator checks specs with)

ENVS_DIR = REPO_ROOT / "envs"
FILE_NAME = "workloads.auto.tfvars.json"
FIELDS = ("process", "merge", "resumable", "reads", "package")  # also the order they are written in
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as the modules' workloads validation has it
FUNCTION_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_WORKLOAD_LINE = re.compile(r'^\s*default_workload\s*=\s*"([^"]*)"', re.MULTILINE)

Entry = dict[str, Any]
Label = Callable[[str], str]  # a field name -> how an error names it (a make variable, or the file's path)


class WorkloadsFileError(ValueError):
    """One line: what is wrong, where, and the fix."""


def env_file(env: str) -> Path:
    """envs/<env>/workloads.auto.tfvars.json of an existing environment."""
    envs = sorted(path.name for path in ENVS_DIR.iterdir() if (path / "main.tf").exists() and path.name != "shared")
    if env not in envs:
        raise WorkloadsFileError(f"ENV: there is no environment {env!r}: use one of {', '.join(envs)}")
    return ENVS_DIR / env / FILE_NAME


def shown(path: Path) -> str:
    """A path as the user knows it: relative to the repository when inside it."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def package_base(workloads_file: Path) -> Path:
    """What a relative `package` is relative to: the repository of an env's file (envs/<env>/), else the
    file's own folder. serverless_patterns_ops.local_run resolves it the same way."""
    workloads_file = workloads_file.resolve()
    return workloads_file.parents[2] if workloads_file.parent.parent.name == "envs" else workloads_file.parent


def package_path(package: str, base: Path = REPO_ROOT) -> Path:
    """A workload's package folder: relative to `base` (package_base of its file), or absolute."""
    path = Path(package)
    return path if path.is_absolute() else base / path


def check_entry(name: str, entry: Any, label: Label) -> Entry:
    """One workload entry, normalized (only the fields set, in FIELDS order); raises WorkloadsFileError."""
    if not NAME_PATTERN.match(name):
        raise WorkloadsFileError(f"{label('name')}: {name!r} must be 1-64 characters from A-Z a-z 0-9 _ -: rename it")
    if not isinstance(entry, dict):
        raise WorkloadsFileError(f"{label('')}: must be an object with process (and merge, reads, package...)")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise WorkloadsFileError(f"{label(unknown[0])}: is not a field of a workload: use {', '.join(FIELDS)}")
    for field in ("process", "merge"):
        value = entry.get(field)
        if value is None and field == "merge":
            continue
        if not isinstance(value, str) or not FUNCTION_PATTERN.match(value):
            raise WorkloadsFileError(
                f"{label(field)}: {value!r} must look like package.module:function (e.g. my_pkg.workload:{field})"
            )
    if not isinstance(entry.get("resumable", False), bool):
        raise WorkloadsFileError(f"{label('resumable')}: must be true or false")
    reads = entry.get("reads")
    if reads is None:
        # Undeclared, any source would be sent to it: a records job given to a bytes workload ends with nothing.
        raise WorkloadsFileError(f"{label('reads')}: declare what its process reads: one or more of {', '.join(KINDS)}")
    if reads is not None:
        if not isinstance(reads, list) or not reads or not all(isinstance(kind, str) for kind in reads):
            raise WorkloadsFileError(f"{label('reads')}: must list one or more of {', '.join(KINDS)}")
        unknown_kinds = [kind for kind in reads if kind not in KINDS]
        if unknown_kinds:
            raise WorkloadsFileError(
                f"{label('reads')}: {unknown_kinds[0]!r} is not a kind of input: use {', '.join(KINDS)}"
            )
        if len(set(reads)) != len(reads):
            raise WorkloadsFileError(f"{label('reads')}: names a kind twice: list each once")
    package = entry.get("package")
    if package is not None and (not isinstance(package, str) or not package.strip()):
        raise WorkloadsFileError(f"{label('package')}: must be the path of the workload's package folder")
    normalized: Entry = {"process": entry["process"]}
    if entry.get("merge") is not None:
        normalized["merge"] = entry["merge"]
    if entry.get("resumable"):
        normalized["resumable"] = True
    if reads is not None:
        normalized["reads"] = [kind for kind in KINDS if kind in reads]
    if package is not None:
        normalized["package"] = package
    return normalized


def load(path: Path) -> dict[str, Entry]:
    """The workloads of a workloads file, checked; raises WorkloadsFileError naming the file and the field."""
    where = shown(path)
    if not path.is_file():
        raise WorkloadsFileError(f"{where}: no such file: create it with `make workload-add` or point at another")
    try:
        document = json.loads(path.read_text())
    except ValueError as error:
        raise WorkloadsFileError(f"{where}: is not JSON ({error}): fix it") from None
    workloads = document.get("workloads") if isinstance(document, dict) else None
    if not isinstance(workloads, dict) or not workloads:
        raise WorkloadsFileError(f'{where}: must be {{"workloads": {{"<name>": {{"process": ...}}}}}} with one or more')
    if set(document) != {"workloads"}:
        other = sorted(set(document) - {"workloads"})[0]
        raise WorkloadsFileError(f"{where}: {other!r} does not belong here: keep it in terraform.tfvars")
    return {
        name: check_entry(name, entry, lambda field, name=name: f"{where}: workloads.{name}.{field}".rstrip("."))
        for name, entry in workloads.items()
    }


def dumps(workloads: dict[str, Entry]) -> str:
    """The file's text: names sorted, fields in FIELDS order, so edits make small diffs."""
    entries = []
    for name in sorted(workloads):
        fields = [
            f"      {json.dumps(field)}: {json.dumps(workloads[name][field])}"
            for field in FIELDS
            if field in workloads[name]
        ]
        entries.append(f"    {json.dumps(name)}: {{\n" + ",\n".join(fields) + "\n    }")
    return '{\n  "workloads": {\n' + ",\n".join(entries) + "\n  }\n}\n"


def save(path: Path, workloads: dict[str, Entry]) -> bool:
    """Write the file when its content changes; True when it did."""
    text = dumps(workloads)
    if path.is_file() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def default_workload(env_dir: Path) -> str:
    """The env's default_workload, as its terraform.tfvars sets it (the variable defaults to word_count)."""
    tfvars = env_dir / "terraform.tfvars"
    match = DEFAULT_WORKLOAD_LINE.search(tfvars.read_text()) if tfvars.is_file() else None
    return match.group(1) if match else "word_count"


def stored_package(package: str) -> str:
    """PACKAGE as the file keeps it: relative to the repository when inside it, else absolute."""
    path = Path(package).expanduser().resolve()
    if not path.is_dir():
        raise WorkloadsFileError(f"PACKAGE: {package} is not a folder: give the path of your workload's package")
    if not (path / "__init__.py").is_file():
        raise WorkloadsFileError(f"PACKAGE: {package} has no __init__.py: point at the Python package folder itself")
    return shown(path)


def add(path: Path, name: str, entry: Entry) -> bool:
    """Add or replace workload `name`, keeping the others; True when the file changed."""
    labels = {"name": "NAME", "process": "PROCESS", "merge": "MERGE", "reads": "READS", "package": "PACKAGE"}
    checked = check_entry(name, entry, lambda field: labels.get(field, field.upper() or "NAME"))
    if "package" in checked:
        checked["package"] = stored_package(checked["package"])
    workloads = load(path) if path.is_file() else {}
    workloads[name] = checked
    return save(path, workloads)


def remove(path: Path, name: str) -> bool:
    """Remove workload `name`; refuses the last one and the env's default_workload."""
    workloads = load(path)
    if name not in workloads:
        raise WorkloadsFileError(f"NAME: {shown(path)} has no workload {name!r}: it has {', '.join(sorted(workloads))}")
    if len(workloads) == 1:
        raise WorkloadsFileError(f"NAME: {name} is the only workload of {shown(path)}: add another first")
    default = default_workload(path.parent)
    if name == default:
        raise WorkloadsFileError(
            f"NAME: {name} is the default_workload of {shown(path.parent)} (jobs that name none run it): "
            f"set default_workload in {shown(path.parent / 'terraform.tfvars')} to another first"
        )
    del workloads[name]
    return save(path, workloads)


def listing(workloads: dict[str, Entry]) -> str:
    rows = [("NAME", "PROCESS", "MERGE", "READS", "RESUMABLE", "PACKAGE")]
    for name in sorted(workloads):
        entry = workloads[name]
        rows.append(
            (
                name,
                entry["process"],
                entry.get("merge", "-"),
                ",".join(entry.get("reads", [])) or "any",
                "yes" if entry.get("resumable") else "no",
                entry.get("package", "(built in)"),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    padded = [[cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)] + [row[-1]] for row in rows]
    return "\n".join("  ".join(row) for row in padded)


def required(value: str | None, variable: str, command: str) -> str:
    if value is None or not value.strip():
        raise WorkloadsFileError(f"{variable} is required: make {command} {variable}=...")
    return value.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("list", "add", "remove"):
        sub = commands.add_parser(command)
        sub.add_argument("--env", default="local")
        if command != "list":
            sub.add_argument("--name")
        if command == "add":
            sub.add_argument("--process")
            sub.add_argument("--merge")
            sub.add_argument("--package")
            sub.add_argument("--reads", help='kinds separated by spaces or commas, e.g. "records objects"')
            sub.add_argument("--resumable", action="store_true")
    args = parser.parse_args(argv)
    try:
        target = "workloads" if args.command == "list" else f"workload-{args.command}"
        path = env_file(required(args.env, "ENV", target))
        if args.command == "list":
            print(listing(load(path)))
            return
        name = required(args.name, "NAME", target)
        if args.command == "remove":
            changed = remove(path, name)
        else:
            entry: Entry = {"process": required(args.process, "PROCESS", "workload-add")}
            if args.merge and args.merge.strip():
                entry["merge"] = args.merge.strip()
            if args.package and args.package.strip():
                entry["package"] = args.package.strip()
            if args.reads is not None and args.reads.strip():
                entry["reads"] = args.reads.replace(",", " ").split()
            if args.resumable:
                entry["resumable"] = True
            changed = add(path, name, entry)
    except WorkloadsFileError as error:
        sys.exit(str(error))
    verb = {"add": "added to", "remove": "removed from"}[args.command]
    print(f"{name} {verb} {shown(path)}" if changed else f"{shown(path)} already says so: nothing changed")
    if changed:
        print(f"next: make package ENV={args.env} (bundles and checks it), then make apply ENV={args.env}")


if __name__ == "__main__":
    main()
