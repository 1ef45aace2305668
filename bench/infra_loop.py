"""6. Infrastructure loop: `make package` from scratch and with nothing changed; `terraform plan` of each env."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO_ROOT, Table, median_seconds, timed
from serverless_patterns_ops.local_stack import emulator_backend_args

RUNS = 3


def _package(build_dir: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "package.py"), "--build-dir", str(build_dir)],
        check=True,
        capture_output=True,
    )


def _terraform(env_name: str, data_dir: Path, *args: str) -> None:
    environment = {**os.environ, "TF_DATA_DIR": str(data_dir), "TF_IN_AUTOMATION": "1"}
    environment.setdefault("TF_VAR_aws_endpoint_url", os.environ["AWS_ENDPOINT_URL"])
    subprocess.run(
        ["terraform", f"-chdir={REPO_ROOT / 'envs' / env_name}", *args, "-no-color"],
        env=environment,
        check=True,
        capture_output=True,
    )


def _plan_seconds(env_name: str) -> tuple[float, float]:
    """Median plan time from empty state, and the median `terraform validate` of the same env as its floor."""
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        backend = emulator_backend_args(env_name, data_dir)
        _terraform(env_name, data_dir, "init", "-input=false", "-lockfile=readonly", *backend)
        plan = median_seconds(
            lambda: _terraform(env_name, data_dir, "plan", "-input=false", "-refresh=false", "-lock=false"), RUNS
        )
        validate = median_seconds(lambda: _terraform(env_name, data_dir, "validate"), RUNS)
    return plan, validate


def run() -> Table:
    table = Table(
        "infra_loop",
        "6. Infrastructure loop",
        ["step", "seconds", "baseline", "baseline seconds", "ratio"],
    )
    with tempfile.TemporaryDirectory() as directory:
        build_dir = Path(directory) / "build"
        _, clean = timed(lambda: _package(build_dir))
        unchanged = median_seconds(lambda: _package(build_dir), RUNS)
        shutil.rmtree(build_dir)
    table.rows.append(
        [
            "`make package`, nothing changed",
            unchanged,
            "`make package` from scratch",
            clean,
            f"{unchanged / clean:.2f}x",
        ]
    )
    for env_name in ("local", "dev", "prod"):
        plan, validate = _plan_seconds(env_name)
        table.rows.append(
            [
                f"`terraform plan` envs/{env_name}",
                plan,
                "`terraform validate` (offline floor)",
                validate,
                f"{plan / validate:.1f}x",
            ]
        )
    table.notes += [
        f"Medians of {RUNS} runs (the from-scratch build runs once). Plans start from empty state against the "
        "emulator, with `-refresh=false`; dev and prod use their S3 backend on the emulator.",
        "A rebuild with nothing changed rewrites no zip: `make package` compares the bytes it would write.",
    ]
    return table
