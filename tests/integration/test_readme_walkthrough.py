"""The README's "Your first workload" walkthrough, run as it is written.

Its bash block writes a workload package in a folder outside the repository,
adds it to envs/local, runs a job over it in this process (`make job-local`),
deploys it with `make apply ENV=local` and runs the same job on the emulator.
It runs in a copy of the checkout, which it edits (the env's workloads file,
the zips), under a stack name of its own: the suite's stack, the zips the
other tests deploy and a developer's demo stay as they are, even if it dies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from integration.conftest import job_user_environment, write_stack_dump
from readme_blocks import readme_block

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the suite or an outer make set that a user's shell would not have.
NOT_THE_USERS = ("TF_VAR_", "MAKE", "MFLAGS", "PYTHONPATH", "VIRTUAL_ENV", "SERVERLESS_PATTERNS_OUTPUTS", "LOCAL_")
# Installed once per machine, not part of a checkout: linked into the copy instead of installed again.
SHARED_INSTALLS = (".venv", "build/deps", "build/terraform-plugins")


def checkout_copy(destination: Path) -> Path:
    """The files git lists (committed or not, never ignored ones), symbolic links kept as links."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = REPO_ROOT / name, destination / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    for name in SHARED_INSTALLS:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).symlink_to(REPO_ROOT / name)
    return destination


def _make(checkout: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture
def checkout(tmp_path) -> Path:
    return checkout_copy(tmp_path / "serverless-patterns")


@pytest.fixture
def user_shell(checkout, tmp_path):
    """A user's environment (the emulator's endpoint and credentials), a stack name of the walkthrough's own,
    and TMPDIR in pytest's temporary folder, so `mktemp -d` makes a folder outside the repository.

    For the IAM check, the AWS calls of its commands are recorded as the job user's (the call recorder on
    PYTHONPATH: only the job commands make any), and the stack it applied is dumped before it is destroyed.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith(NOT_THE_USERS)}
    env.update(LOCAL_NAME=f"wt{uuid.uuid4().hex[:6]}", TMPDIR=str(tmp_path), **job_user_environment())
    yield env
    try:
        state = checkout / "build" / "demo" / "terraform.tfstate"  # make's LOCAL_STATE in the copy
        if state.is_file() and json.loads(state.read_text()).get("resources"):
            write_stack_dump(env["LOCAL_NAME"], "local", json.loads(state.read_text()))
    finally:
        _make(checkout, env, "destroy", "ENV=local")


def _highest(readings: Path) -> dict[str, int]:
    highs: dict[str, int] = {}
    for line in readings.read_text().splitlines():
        reading = json.loads(line)
        highs[reading["city"]] = max(reading["temp"], highs.get(reading["city"], reading["temp"]))
    return highs


def _last_json_document(output: str) -> dict:
    start = output.rindex("\n{\n") + 1
    return json.loads(output[start : output.index("\n}\n", start) + 2])


def test_the_first_workload_walkthrough_runs_as_written(checkout, user_shell, tmp_path):
    walkthrough = readme_block("walkthrough")

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough],
        cwd=checkout,
        env=user_shell,
        capture_output=True,
        text=True,
        timeout=1200,
    )

    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    [own_folder] = [path for path in tmp_path.iterdir() if path.name.startswith("tmp.")]
    assert not own_folder.resolve().is_relative_to(checkout.resolve())
    expected = _highest(own_folder / "readings.jsonl")
    assert len(expected) == 3
    workloads = json.loads((checkout / "envs" / "local" / "workloads.auto.tfvars.json").read_text())["workloads"]
    assert workloads["weather"]["package"] == str(own_folder / "weather")
    assert {"csv_totals", "object_stats", "line_digest", "word_count"} < set(workloads)  # the examples stay
    local = re.search(r"^job weather-1: (\w+) .*?^  result\s+(\{[^\n]*\})$", ran.stdout, re.MULTILINE | re.DOTALL)
    assert local, ran.stdout[-4000:]
    assert (local[1], json.loads(local[2])) == ("SUCCEEDED", expected)
    deployed = _last_json_document(ran.stdout)
    assert (deployed["job_id"], deployed["status"], deployed["failed"]) == ("weather-1", "SUCCEEDED", 0)
    assert deployed["result"] == expected
