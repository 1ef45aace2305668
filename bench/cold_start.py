"""5. Cold-start proxies: zip size per function and handler import time in a fresh interpreter."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.common import REPO_ROOT, Table

RUNS = 7
SIZE_TARGET_MB = 5.0
IMPORT_TARGET_MS = 300.0
ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}
# What a handler module would pay at import if it created its clients there
# instead of on first use (serverless_patterns.shared.aws_clients defers them).
EAGER_CLIENTS = "import boto3; [boto3.client(name) for name in ('sqs', 'dynamodb', 's3', 'lambda')]"


def _import_ms(site: Path, module: str, extra: str = "") -> float:
    statements = ["import time", "started = time.perf_counter()", f"import {module}", extra]
    code = "; ".join(filter(None, [*statements, "print((time.perf_counter() - started) * 1000)"]))
    samples = []
    for _ in range(RUNS):
        output = subprocess.run(
            [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(site)!r}]; {code}"],
            env={**ENVIRONMENT, "PATH": "/usr/bin:/bin", "PYTHONPATH": _boto3_site()},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        samples.append(float(output.strip().splitlines()[-1]))
    return statistics.median(samples)


def _boto3_site() -> str:
    """boto3 is in the Lambda runtime, not in the zips: take the test environment's."""
    import boto3

    return str(Path(boto3.__file__).resolve().parents[1])


def run() -> Table:
    table = Table(
        "cold_start",
        "5. Cold-start proxies: zip size and handler import time (median of 7 fresh interpreters)",
        [
            "function",
            "zip MB",
            "import ms (clients on first use)",
            "import ms (clients at import)",
            "ratio",
            "targets met",
        ],
    )
    zips = sorted((REPO_ROOT / "build" / "lambda").glob("*.zip"))
    if not zips:
        raise RuntimeError("no zips in build/lambda: `make bench` runs `make package` first")
    for archive in zips:
        with tempfile.TemporaryDirectory() as directory:
            zipfile.ZipFile(archive).extractall(directory)
            module = f"{archive.stem}.handler"
            lazy = _import_ms(Path(directory), module)
            eager = _import_ms(Path(directory), module, EAGER_CLIENTS)
        size_mb = archive.stat().st_size / 1024 / 1024
        met = size_mb < SIZE_TARGET_MB and lazy < IMPORT_TARGET_MS
        table.rows.append([archive.stem, size_mb, lazy, eager, f"{eager / lazy:.1f}x", "yes" if met else "NO"])
    table.notes += [
        f"Targets: every zip under {SIZE_TARGET_MB:g} MB and the handler's import under {IMPORT_TARGET_MS:g} ms here.",
        "Imported from the extracted zip (the project's code and its pinned dependencies) with boto3 from the "
        f"test environment, as the Lambda runtime provides it; Python {sys.version.split()[0]} here, 3.12 on Lambda.",
        '"Clients at import" adds what creating the SQS, DynamoDB, S3 and Lambda clients at import time would '
        "cost; the handlers create each client on first use instead (serverless_patterns.shared.aws_clients).",
    ]
    return table
