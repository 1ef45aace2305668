"""9. Local runner: the 200,000-row CSV example (csv_totals) run in this process, from a file and from S3.

The input is the one tests/integration/test_workloads.py sends to the stack
(orders_csv, 200,000 rows, seed 11) in subtasks of 2,000 records. Each run
goes through serverless_patterns_ops.local_run.run_job: the ventilator's
planning, the worker's reading, the workload, the consolidator's results
written to a folder. The baseline is the same totals computed in one call,
every row read with csv.DictReader and given to the workload at once: what
the runner adds (planning, 100 subtasks, the results files) is the ratio.
"""

from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import REPO_ROOT, Table, timed

ROWS = 200_000
ITEMS_PER_SUBTASK = 2_000
RUNS = 3
TARGET_SECONDS = 10.0
POOLS = [(1, False), (4, False), (4, True)]  # (workers, as processes)
WORKLOADS_FILE = REPO_ROOT / "envs" / "local" / "workloads.auto.tfvars.json"


def _orders(folder: Path) -> tuple[Path, dict]:
    """The test suite's 200,000-row CSV, and its totals computed without the workload's code."""
    from integration.test_workloads import orders_csv, totals_of

    body, rows = orders_csv(ROWS, seed=11)
    path = folder / "orders.csv"
    path.write_bytes(body)
    return path, {"regions": totals_of(rows)}


def _one_call(path: Path) -> dict:
    """The baseline: the workload over every row at once, no planning, no subtasks, no results files."""
    from csv_totals import workload  # put on sys.path by configured_workloads' package

    from serverless_patterns.inputs import SubtaskInput

    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    return workload.merge([workload.process(SubtaskInput("baseline", 0, "csv", items=rows, header=header))])


def _s3_input(body: bytes) -> tuple[object, str, str] | None:
    """The CSV in a bucket of the emulator, when there is one (make bench starts it)."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        return None
    import boto3

    s3, bucket = boto3.client("s3"), f"bench-local-run-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="orders.csv", Body=body)
    return s3, bucket, "orders.csv"


def run() -> Table:
    from serverless_patterns_ops.local_run import configured_workloads, load_workload, run_job

    workloads = configured_workloads(WORKLOADS_FILE)
    load_workload("csv_totals", workloads["csv_totals"])  # imported once, as a worker imports it on first use
    table = Table(
        "local_run",
        f"9. Local runner: the {ROWS:,}-row CSV example (csv_totals) in this process, median of {RUNS} runs",
        [
            "input",
            "workers",
            "subtasks",
            "seconds",
            "rows per second",
            "vs one call",
            "exact",
            f"under {TARGET_SECONDS:.0f} s",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="bench-local-run-") as scratch:
        folder = Path(scratch)
        path, expected = _orders(folder)
        baseline = statistics.median(timed(lambda: _one_call(path))[1] for _ in range(RUNS))
        assert _one_call(path) == expected
        table.rows.append(["file, one call (baseline)", 1, 1, baseline, ROWS / baseline, "1.0x", "yes", "yes"])
        sources = {"file": {"type": "csv", "path": str(path), "items_per_subtask": ITEMS_PER_SUBTASK}}
        s3_input = _s3_input(path.read_bytes())
        s3 = None
        if s3_input:
            s3, bucket, key = s3_input
            sources["S3 (emulator)"] = {
                "type": "csv",
                "bucket": bucket,
                "key": key,
                "items_per_subtask": ITEMS_PER_SUBTASK,
            }
        pools = {"file": POOLS, "S3 (emulator)": POOLS[:2]}  # processes would each open an S3 client of their own
        for name, source in sources.items():
            for workers, processes in pools[name]:
                jobs, seconds = [], []
                for _ in range(RUNS):
                    started = time.perf_counter()
                    spec = {"workload": "csv_totals", "source": source}
                    jobs.append(
                        run_job(
                            spec,
                            output=folder / "results",
                            workloads=workloads,
                            workers=workers,
                            processes=processes,
                            s3=s3,
                        )
                    )
                    seconds.append(time.perf_counter() - started)
                median = statistics.median(seconds)
                exact = all(job.status == "SUCCEEDED" and job.result == expected for job in jobs)
                table.rows.append(
                    [
                        name,
                        f"{workers} process{'es' * (workers > 1)}" if processes else workers,
                        jobs[0].total,
                        median,
                        ROWS / median,
                        f"{median / baseline:.1f}x",
                        "yes" if exact else "NO",
                        "yes" if median < TARGET_SECONDS else "NO",
                    ]
                )
        if s3_input:
            s3.delete_object(Bucket=bucket, Key=key)
            s3.delete_bucket(Bucket=bucket)
    table.notes += [
        f"Each run: the ventilator's planning (a scan of the CSV for record boundaries), {ROWS // ITEMS_PER_SUBTASK} "
        "subtasks read by the worker's read_input and run by csv_totals, and the consolidator's final merge writing "
        "results/<job>/ (manifest.json, succeeded/, result.json) to a local folder; timed from the call to its return.",
        "Baseline: the same rows read with csv.DictReader and given to the workload in one call (no planning, no "
        "subtasks, no results files). Exact: the merged totals equal those computed from the generated rows "
        "without the workload's code.",
        "Workers are threads, or processes (run-local --processes): csv_totals is pure Python, so threads overlap "
        "the reads (S3) more than the parsing; processes also pay their start and the workload's import.",
        "S3 (emulator): the same CSV in a bucket of the emulator, read by range as a worker reads it; nothing is "
        "written to S3.",
    ]
    return table
