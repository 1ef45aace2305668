"""The workloads a deployment runs, by name: WORKLOADS = {"name": {"process": "pkg.mod:fn", "merge": "pkg.mod:fn"}}.

The Terraform modules set WORKLOADS from their `workloads` variable, and
DEFAULT_WORKLOAD (the ventilator's) names the workload of jobs that name none;
the ventilator writes the chosen name into every subtask. `process` is
`(task: SubtaskInput) -> result`; `merge`, optional, is
`(results: Iterable[result]) -> result` and must accept its own output (it
merges a shard's results, then the shards'). Without a merge, each subtask's
result is written to the job's results, not merged. A workload with
`"resumable": true` may take more than one invocation per subtask: its
`process` is `(task, invocation) -> result | Checkpoint` (see
serverless_patterns.resumable). `"reads": ["records"]` declares the kinds of
input the workload understands (serverless_patterns.fan_out.sources.READ_KINDS), so a
spec whose source it cannot read is refused before it runs; without it, any
source is sent to it.

A workload that cannot be loaded (its package not bundled, an import error, a
missing function, a name not deployed) raises WorkloadUnavailable, which
names the workload, the reference and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from serverless_patterns.errors import WorkloadUnavailable
from serverless_patterns.fan_out.sources import READ_KINDS, valid_reads
from serverless_patterns.shared.plugins import UnloadableFunction, load_function
from serverless_patterns.shared.settings import SettingError

DEFAULT_WORKLOADS = {
    "word_count": {
        "process": "serverless_patterns.workloads.word_count:process",
        "merge": "serverless_patterns.workloads.word_count:merge_counts",
        "reads": ["bytes"],
    }
}
BUNDLE_FIX = "bundle its package: add it to envs/<env>/workloads.auto.tfvars.json and run make package"

Process = Callable[..., Any]  # (SubtaskInput) -> result, or (SubtaskInput, Invocation) -> result | Checkpoint
Merge = Callable[[Iterable[Any]], Any]


@dataclass(frozen=True)
class Workload:
    name: str
    process: Process
    merge: Merge | None
    resumable: bool = False
    reads: tuple[str, ...] | None = None  # None: not declared, any source


@cache
def configured() -> dict[str, dict[str, Any]]:
    raw = os.environ.get("WORKLOADS", "").strip()
    if not raw:
        return DEFAULT_WORKLOADS
    try:
        document = json.loads(raw)
    except ValueError:
        raise SettingError("environment variable WORKLOADS is not JSON") from None
    if (
        not isinstance(document, dict)
        or not document
        or not all(isinstance(entry, dict) and isinstance(entry.get("process"), str) for entry in document.values())
    ):
        raise SettingError(
            'WORKLOADS must map names to {"process": "pkg.mod:fn", "merge"?: "pkg.mod:fn", "resumable"?: true}'
        )
    for name, entry in document.items():
        _check_reads(name, entry.get("reads"))
    return document


def _check_reads(name: str, reads: Any) -> None:
    if not valid_reads(reads):
        raise SettingError(
            f"WORKLOADS[{name}].reads is {json.dumps(reads)[:80]}: list one or more of {', '.join(READ_KINDS)} "
            "(or leave it out: any source)"
        )


def reads(name: str) -> tuple[str, ...] | None:
    """The input kinds the named workload declared (READ_KINDS), or None when it declared none: any source."""
    declared = configured().get(name, {}).get("reads")
    return None if declared is None else tuple(declared)


def reads_by_name() -> dict[str, tuple[str, ...] | None]:
    """What each deployed workload reads, for the spec check (serverless_patterns.fan_out.jobs.parse_spec)."""
    return {name: reads(name) for name in configured()}


def names() -> tuple[str, ...]:
    """The workload names, the default first (JSON objects from Terraform come with their keys sorted)."""
    entries = tuple(configured())
    default = os.environ.get("DEFAULT_WORKLOAD", "").strip() or ("word_count" if "word_count" in entries else "")
    if default and default not in entries:
        raise SettingError(f"DEFAULT_WORKLOAD={default!r} is not in WORKLOADS ({', '.join(entries)})")
    return (default, *(name for name in entries if name != default)) if default else entries


@cache
def workload(name: str) -> Workload:
    """The named workload's functions, imported on first use (a worker imports only the workloads it runs).

    WorkloadUnavailable when it cannot be: not deployed here, or its code not
    importable from this function's zip (a failure is not cached: each
    subtask that meets it says so).
    """
    entries = configured()
    entry = entries.get(name or next(iter(entries)))
    if entry is None:
        raise WorkloadUnavailable(
            f"workload {name!r} is not deployed here (deployed: {', '.join(entries)}): {BUNDLE_FIX}, then make apply"
        )
    return from_entry(name, entry, "WORKLOADS", BUNDLE_FIX)


def from_entry(name: str, entry: dict[str, Any], setting: str, fix: str) -> Workload:
    """A workload from its entry ({"process", "merge"?, "resumable"?, "reads"?}: references "pkg.mod:fn", or the
    functions themselves); WorkloadUnavailable, naming `fix`, when a reference cannot be loaded."""

    def function(reference: Any, role: str) -> Any:
        if reference is None or callable(reference):
            return reference
        return load_function(reference, f"{setting}[{name}].{role}")

    try:
        process, merge = function(entry["process"], "process"), function(entry.get("merge"), "merge")
    except UnloadableFunction as error:
        raise WorkloadUnavailable(f"workload {name} cannot run here: {error}; fix: {fix}") from error
    declared = entry.get("reads")
    return Workload(
        name=name,
        process=process,
        merge=merge,
        resumable=entry.get("resumable") is True,
        reads=None if declared is None else tuple(declared),
    )
