"""The README's "Your first workload" walkthrough, run as it is written.

Its bash block writes a workload package in a folder outside the repository,
adds it to envs/local, runs a job over it in this process (`make job-local`),
deploys it with `make apply ENV=local` and runs the same job on the emulator.
The walkthrough gets a stack and state of its own (the Makefile's LOCAL_*
variables), so it touches neither the suite's stack nor a developer's demo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from readme_blocks import readme_block

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOADS_FILE = REPO_ROOT / "envs" / "local" / "workloads.auto.tfvars.json"
# What the suite or an outer make set that a user's shell would not have.
NOT_THE_USERS = ("TF_VAR_", "MAKE", "MFLAGS", "PYTHONPATH", "VIRTUAL_ENV", "SERVERLESS_PATTERNS_OUTPUTS")


def _make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture
def user_shell(tmp_path):
    """A user's environment (the emulator's endpoint and credentials), with the walkthrough's own stack and
    TMPDIR in pytest's temporary folder, so `mktemp -d` makes a folder outside the repository."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(NOT_THE_USERS)}
    state = tmp_path / "stack"
    env.update(
        LOCAL_NAME=f"wt{uuid.uuid4().hex[:6]}",
        LOCAL_STATE=str(state / "terraform.tfstate"),
        LOCAL_TF_DATA=str(state / "tfdata"),
        LOCAL_OUTPUTS=str(state / "outputs.json"),
        TMPDIR=str(tmp_path),
    )
    saved = WORKLOADS_FILE.read_bytes()
    try:
        yield env
    finally:
        _make(env, "destroy", "ENV=local")
        WORKLOADS_FILE.write_bytes(saved)
        # The zips back to the bytes they had, for the stacks applied after this test.
        repackaged = _make(env, "package")
        assert repackaged.returncode == 0, repackaged.stderr


def _highest(readings: Path) -> dict[str, int]:
    highs: dict[str, int] = {}
    for line in readings.read_text().splitlines():
        reading = json.loads(line)
        highs[reading["city"]] = max(reading["temp"], highs.get(reading["city"], reading["temp"]))
    return highs


def _last_json_document(output: str) -> dict:
    start = output.rindex("\n{\n") + 1
    return json.loads(output[start : output.index("\n}\n", start) + 2])


def test_the_first_workload_walkthrough_runs_as_written(user_shell, tmp_path):
    walkthrough = readme_block("walkthrough")

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough],
        cwd=REPO_ROOT,
        env=user_shell,
        capture_output=True,
        text=True,
        timeout=1200,
    )

    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    [own_folder] = [path for path in tmp_path.iterdir() if path.name.startswith("tmp.")]
    assert not own_folder.resolve().is_relative_to(REPO_ROOT)
    expected = _highest(own_folder / "readings.jsonl")
    assert len(expected) == 3
    assert json.loads(WORKLOADS_FILE.read_text())["workloads"]["weather"]["package"] == str(own_folder / "weather")
    local = re.search(r"^job weather-1: (\w+) .*?^  result\s+(\{[^\n]*\})$", ran.stdout, re.MULTILINE | re.DOTALL)
    assert local, ran.stdout[-4000:]
    assert (local[1], json.loads(local[2])) == ("SUCCEEDED", expected)
    deployed = _last_json_document(ran.stdout)
    assert (deployed["job_id"], deployed["status"], deployed["failed"]) == ("weather-1", "SUCCEEDED", 0)
    assert deployed["result"] == expected
