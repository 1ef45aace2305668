"""`run-local`: run a job spec, or a file or folder, in this process (serverless_patterns_ops.local_run).

    serverless-patterns run-local SPEC.json | FILE | FOLDER [--type lines|bytes|jsonl|csv]
        [--chunk-size N | --items-per-subtask N] [--workload NAME | --process pkg.mod:fn [--merge pkg.mod:fn]
        [--resumable] [--package DIR]] [--output DIR] [--workers N [--processes]] [--job-id ID]

A FILE is cut as `submit` cuts it (--type, else .jsonl/.csv by suffix, else
lines); a FOLDER is an `objects` source; a JSON file holding a spec
({"source": ...}) runs as it is, a source `path` in it relative to its folder.
The results go to DIR/results/<job>/ (default: the current folder's results/,
where `download` writes a deployed job's), in the deployed layout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serverless_patterns.fan_out.sources import InvalidJobSpec
from serverless_patterns_ops.fan_out_jobs import failure_line, progress_printer
from serverless_patterns_ops.local_run import LocalJobResult, configured_workloads, env_default_workload, run_job
from serverless_patterns_ops.transfer import FILE_SOURCE_TYPES, file_source_type

CUSTOM_WORKLOAD = "local"  # the name a --process workload runs under
RESULT_PREVIEW_CHARS = 400


def add_parser(commands: Any, positive: Callable[[type], Callable[[str], Any]]) -> argparse.ArgumentParser:
    """The run-local subcommand; `positive` is the CLI's argparse type for numbers above 0."""
    local = commands.add_parser(
        "run-local", help="run a job spec (or a file or folder) here, with the deployed code paths, before deploying"
    )
    local.add_argument("input", metavar="SPEC.json|FILE|FOLDER", type=Path, nargs="?")
    local.add_argument("--spec", type=Path, help="a JSON job spec (a source may name a local `path`)")
    local.add_argument("--type", choices=FILE_SOURCE_TYPES, help="how to cut FILE (default: by suffix, else lines)")
    cut = local.add_mutually_exclusive_group()
    cut.add_argument("--chunk-size", type=positive(int), help="bytes per subtask (default 1 MiB)")
    cut.add_argument("--items-per-subtask", type=positive(int), help="records, objects or items per subtask")
    local.add_argument("--workload", help="a workload of --workloads (default: word_count, else the first)")
    local.add_argument("--process", help="run this function instead: pkg.mod:fn (the current folder is importable)")
    local.add_argument("--merge", help="with --process: its merge, pkg.mod:fn")
    local.add_argument("--resumable", action="store_true", help="with --process: it returns Checkpoints")
    local.add_argument("--package", type=Path, help="with --process: the folder of its package, put on sys.path")
    local.add_argument(
        "--workloads", type=Path, help="an env's workloads file (default: envs/local/workloads.auto.tfvars.json)"
    )
    local.add_argument(
        "--output", metavar="DIR", type=Path, default=Path("."), help="results go to DIR/results/<job>/ (default: .)"
    )
    local.add_argument("--workers", type=positive(int), default=1, help="subtasks run at once (threads)")
    local.add_argument("--processes", action="store_true", help="run the workers as processes (CPU-bound workloads)")
    local.add_argument("--job-id")
    local.add_argument("--tolerated-failure-count", type=int, help="end the job FAILED past this many failures")
    local.add_argument("--tolerated-failure-percentage", type=float, help="... or past this share of subtasks")
    local.add_argument("--max-attempts", type=positive(int), default=5, help="attempts of a failing subtask")
    local.add_argument(
        "--invocation-seconds", type=positive(float), default=50.0, help="a resumable workload's time per invocation"
    )
    return local


def _is_spec_file(path: Path) -> bool:
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and ("source" in document or "input" in document)


def spec_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """The spec to run and the folder its relative paths start from."""
    given = args.spec or (args.input if args.input and not args.type and _is_spec_file(args.input) else None)
    if given is not None:
        if args.spec and args.input:
            parser.error("give SPEC.json, FILE or FOLDER, or --spec: not two of them")
        spec = json.loads(given.read_text())
        if not isinstance(spec, dict):
            parser.error(f"{given}: a job spec is a JSON object")
        base = given.resolve().parent
    else:
        if args.input is None or not str(args.input).strip():
            parser.error("give a job spec (SPEC.json or --spec), a FILE or a FOLDER to run")
        path = args.input
        if path.is_dir():
            if args.type:
                parser.error(f"--type {args.type} cuts a file, and {path} is a folder (an objects source)")
            source: dict[str, Any] = {"type": "objects", "path": str(path)}
        elif path.is_file():
            source = {"type": args.type or file_source_type(path), "path": str(path)}
        else:
            parser.error(f"{path} is neither a file nor a folder")
        spec, base = {"source": source}, Path.cwd()
    cut = {"chunk_size_bytes": args.chunk_size, "items_per_subtask": args.items_per_subtask}
    if any(value is not None for value in cut.values()):
        spec["source"] = {
            **spec.get("source", {}),
            **{name: value for name, value in cut.items() if value is not None},
        }
    optional = {
        "job_id": args.job_id,
        "workload": CUSTOM_WORKLOAD if args.process else args.workload,
        "tolerated_failure_count": args.tolerated_failure_count,
        "tolerated_failure_percentage": args.tolerated_failure_percentage,
    }
    return {**spec, **{name: value for name, value in optional.items() if value is not None}}, base


def workloads_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.process:
        if args.merge or args.resumable or args.package:
            parser.error("--merge, --resumable and --package go with --process")
        return configured_workloads(args.workloads) if args.workloads else None
    if args.workload:
        parser.error("give --workload or --process, not both")
    entry: dict[str, Any] = {"process": args.process, "merge": args.merge, "resumable": args.resumable}
    if args.package:
        entry["package"] = str(args.package.resolve())
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` does: a package in the current folder imports
    return {CUSTOM_WORKLOAD: entry}


def _files(paths: list[Path]) -> str:
    return f"{len(paths)} file" + ("" if len(paths) == 1 else "s")


def describe(job: LocalJobResult) -> list[str]:
    """What the command prints: the outcome, the counts, where the results are, and why subtasks failed."""
    folder = job.folder
    lines = [
        f"job {job.job_id}: {job.status} in {job.seconds:.1f} s on {job.workers} worker{'s' * (job.workers > 1)}",
        f"  subtasks   {job.total}: {job.succeeded} succeeded, {job.failed} failed, {job.skipped} skipped",
        f"  results    {folder}/ (manifest.json"
        + (", result.json" if job.result_path else "")
        + f", succeeded/ {_files(job.succeeded_paths)}, failed/ {_files(job.failed_paths)})",
    ]
    if job.result_path:
        text = json.dumps(job.result, separators=(",", ":"))
        shown = text if len(text) <= RESULT_PREVIEW_CHARS else text[: RESULT_PREVIEW_CHARS - 1] + "…"
        lines.append(f"  result     {shown}")
    if stop := job.manifest.get("stop"):
        why = stop.get("error", {}).get("message", "")
        lines.append(f"  stopped    {stop['reason']}" + (f": {why}" if why else ""))
    lines.extend(failure_line(failure) for failure in job.failures[:20])
    if job.failed > 20:
        lines.append(f"  ... {job.failed - 20} more failed subtasks: see {folder}/failed/")
    return lines


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, outcome: Callable[[str], int]) -> int:
    """Run the command; its exit code: `outcome` of the job's status, or 1 for a refused spec."""
    spec, base = spec_of(parser, args)
    workloads = workloads_of(parser, args)
    try:
        job = run_job(
            spec,
            output=args.output,
            workloads=workloads,
            default_workload=env_default_workload(args.workloads) if args.workloads and not args.process else None,
            workers=args.workers,
            processes=args.processes,
            base=base,
            max_attempts=args.max_attempts,
            invocation_seconds=args.invocation_seconds,
            on_progress=progress_printer() if sys.stdout.isatty() else None,
        )
    except InvalidJobSpec as error:
        print(f"refused: {error.field}: {error.message} (fix: {error.fix})", file=sys.stderr)
        return 1
    if sys.stdout.isatty():
        print()  # below the progress line
    print("\n".join(describe(job)))
    return outcome(job.status)
