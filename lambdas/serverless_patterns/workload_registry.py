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
serverless_patterns.resumable).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from serverless_patterns.plugins import load_function
from serverless_patterns.settings import SettingError

DEFAULT_WORKLOADS = {
    "word_count": {
        "process": "serverless_patterns.workloads.word_count:process",
        "merge": "serverless_patterns.workloads.word_count:merge_counts",
    }
}

Process = Callable[..., Any]  # (SubtaskInput) -> result, or (SubtaskInput, Invocation) -> result | Checkpoint
Merge = Callable[[Iterable[Any]], Any]


@dataclass(frozen=True)
class Workload:
    name: str
    process: Process
    merge: Merge | None
    resumable: bool = False


@cache
def configured() -> dict[str, dict[str, str]]:
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
    return document


def names() -> tuple[str, ...]:
    """The workload names, the default first (JSON objects from Terraform come with their keys sorted)."""
    entries = tuple(configured())
    default = os.environ.get("DEFAULT_WORKLOAD", "").strip() or ("word_count" if "word_count" in entries else "")
    if default and default not in entries:
        raise SettingError(f"DEFAULT_WORKLOAD={default!r} is not in WORKLOADS ({', '.join(entries)})")
    return (default, *(name for name in entries if name != default)) if default else entries


@cache
def workload(name: str) -> Workload:
    """The named workload's functions, imported on first use (a worker imports only the workloads it runs)."""
    entries = configured()
    entry = entries.get(name or next(iter(entries)))
    if entry is None:
        raise LookupError(f"workload {name!r} is not deployed here: the deployed ones are {', '.join(entries)}")
    merge = entry.get("merge")
    return Workload(
        name=name,
        process=load_function(entry["process"], f"WORKLOADS[{name}].process"),
        merge=load_function(merge, f"WORKLOADS[{name}].merge") if merge else None,
        resumable=entry.get("resumable") is True,
    )
