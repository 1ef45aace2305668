"""Test a workload in a few lines of pytest: run it as a deployed job would, here, on inline inputs.

    from serverless_patterns_ops.testing import run_workload

    def test_totals():
        run = run_workload("csv_totals.workload:process", merge="csv_totals.workload:merge",
                           package="examples/workloads/csv_totals",  # put on sys.path: its parent folder
                           csv=b"order_id,region,quantity,amount\\n1,north,2,1.50\\n")
        assert run.status == "SUCCEEDED"
        assert run.result == {"regions": {"north": {"orders": 1, "quantity": 2, "amount_cents": 150}}}

run_workload takes the workload's `process` (a function, or "pkg.mod:fn" as
the env file names it), its optional `merge`, and exactly one input: `items`
(an inline list), `csv`, `jsonl`, `lines` or `data` (a `bytes` source: exact
byte ranges), each a path or the content as bytes, or `objects` (a folder).
`chunk_size_bytes` or `items_per_subtask` cut it as a job spec's source
would. The job runs through serverless_patterns_ops.local_run.run_job: the
ventilator's planning and checks, the worker's reading and error
classification, checkpoints for `resumable=True`, the consolidator's results.
The answer holds the status, the merged result, each subtask's result in
order (`results`) and the failures with their reasons (`failures`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serverless_patterns_ops.local_run import LocalJobResult, run_job

WORKLOAD_NAME = "workload_under_test"
FILE_SOURCES = ("csv", "jsonl", "lines", "data")  # `data` is the `bytes` source


@dataclass(frozen=True)
class WorkloadRun:
    """What a test checks: the job's status and merged result, each subtask's result, the failures."""

    status: str
    result: Any  # merged, with a merge; else None
    results: list[Any]  # each succeeded subtask's result, in subtask order
    records: list[dict[str, Any]]  # the succeeded/ lines: {"subtask_id", "item", "result"}
    failures: list[dict[str, Any]]  # the failed/ lines: {"subtask_id", "type", "message", "attempts", "item"}
    manifest: dict[str, Any]
    job: LocalJobResult


def _source(inputs: dict[str, Any], folder: Path) -> dict[str, Any]:
    given = {name: value for name, value in inputs.items() if value is not None}
    if len(given) != 1:
        names = ", ".join(inputs)
        raise TypeError(f"run_workload takes exactly one input of {names}; got {', '.join(given) or 'none'}")
    [(name, value)] = given.items()
    if name == "items":
        return {"type": "items", "items": list(value)}
    if name == "objects":
        return {"type": "objects", "path": str(value)}
    kind = "bytes" if name == "data" else name
    if isinstance(value, bytes | bytearray):
        path = folder / f"input.{kind}"
        path.write_bytes(value)
        value = path
    return {"type": kind, "path": str(value)}


def run_workload(
    process: str | Callable[..., Any],
    *,
    items: list[Any] | None = None,
    csv: str | Path | bytes | None = None,
    jsonl: str | Path | bytes | None = None,
    lines: str | Path | bytes | None = None,
    data: str | Path | bytes | None = None,
    objects: str | Path | None = None,
    merge: str | Callable[..., Any] | None = None,
    resumable: bool = False,
    chunk_size_bytes: int | None = None,
    items_per_subtask: int | None = None,
    package: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    output: Path | None = None,
    **options: Any,
) -> WorkloadRun:
    """Run `process` (and `merge`) over one input as a local job; see the module's docstring.

    package: the workload's package folder, put on sys.path to import "pkg.mod:fn" references.
    spec: more job spec fields (tolerated_failure_count, job_id...). output: keep the results
    folder there (default: a temporary one, removed). options: run_job's (workers, max_attempts,
    invocation_seconds, max_continuations, subtasks_per_shard).
    """
    entry: dict[str, Any] = {"process": process, "merge": merge, "resumable": resumable}
    if package is not None:
        entry["package"] = str(Path(package).resolve())
    with tempfile.TemporaryDirectory(prefix="run-workload-") as scratch:
        folder = Path(scratch)
        source = _source(
            {"items": items, "csv": csv, "jsonl": jsonl, "lines": lines, "data": data, "objects": objects}, folder
        )
        if chunk_size_bytes is not None:
            source["chunk_size_bytes"] = chunk_size_bytes
        if items_per_subtask is not None:
            source["items_per_subtask"] = items_per_subtask
        job = run_job(
            {**(spec or {}), "workload": WORKLOAD_NAME, "source": source},
            workloads={WORKLOAD_NAME: entry},
            output=output or folder / "results",
            **options,
        )
        records, failures = job.records("succeeded"), job.records("failed")
    return WorkloadRun(
        status=job.status,
        result=job.result,
        results=[record["result"] for record in records],
        records=records,
        failures=failures,
        manifest=job.manifest,
        job=job,
    )
