"""The client as a user installs it: the wheel built from this checkout, installed in a fresh virtual
environment, its `serverless-patterns` command run against the deployed stack, away from the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import venv
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from integration.conftest import job_user_environment
from readme_blocks import readme_block
from serverless_patterns_ops.fan_out_jobs import sample_text

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"serverless_patterns", "serverless_patterns_ops"}
# What a build reads: the rest of a clone (tests, modules, envs) is beside it, not part of it.
BUILD_SOURCES = ("pyproject.toml", "VERSION", "README.md", "LICENSE", "lambdas", "ops")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel --no-deps` of the checkout's sources (its build backend from the package index, as for any
    user), copied as a fresh clone has them (no build/ folder), so the build leaves nothing in the checkout."""
    clone, out = tmp_path_factory.mktemp("clone"), tmp_path_factory.mktemp("wheel")
    for name in BUILD_SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, clone / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(clone)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("serverless_patterns-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies from the package index, in one install.

    Created without pip (ensurepip takes seconds): this interpreter's pip installs into it (--python).
    """
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    return home


@pytest.fixture
def user_env(tmp_path) -> dict[str, str]:
    """The user's environment: the emulator's endpoint and credentials, nothing pointing into the checkout's
    packages. The IAM check's call recorder alone is on PYTHONPATH (it holds no package of the project), so
    the command's AWS calls are recorded as the job user's."""
    env = {name: value for name, value in os.environ.items() if name not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.pop("SERVERLESS_PATTERNS_OUTPUTS", None)
    return {**env, **job_user_environment()}


def run(installed: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(installed / "bin" / "serverless-patterns"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_wheel_holds_the_two_packages_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}

    assert top_level == PACKAGES
    assert "serverless_patterns/inputs.py" in names
    assert "serverless_patterns_ops/transfer.py" in names
    assert not [name for name in names if "/tests/" in name or name.endswith("/handler.py")]


def test_the_installed_packages_import_without_the_checkout(installed, user_env, tmp_path):
    imported = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import serverless_patterns_ops, serverless_patterns.inputs; print(serverless_patterns_ops.__file__)",
        ],
        cwd=tmp_path,
        env=user_env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert Path(imported.stdout.strip()).is_relative_to(installed)


def test_the_installed_command_uploads_submits_and_downloads_the_exact_result(installed, user_env, outputs, tmp_path):
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    user_env["SERVERLESS_PATTERNS_OUTPUTS"] = str(tmp_path / "outputs.json")
    text = sample_text(4000, seed=24)
    (tmp_path / "words.txt").write_bytes(text)
    job_id = f"installed-{uuid.uuid4().hex[:8]}"

    uploaded = run(installed, user_env, tmp_path, "upload", "words.txt")
    source = json.loads(uploaded.stdout)
    (tmp_path / "spec.json").write_text(json.dumps({"job_id": job_id, "source": {**source, "chunk_size_bytes": 1024}}))
    submitted = run(installed, user_env, tmp_path, "submit", "--spec", "spec.json", "--timeout", "300")
    downloaded = run(installed, user_env, tmp_path, "download", job_id, "--to", "results")
    # The CLI's direct cancel (a conditional write to the tracker) of a job that has ended is refused.
    cancelled = run(installed, user_env, tmp_path, "cancel", job_id)

    assert uploaded.returncode == 0, uploaded.stderr
    assert source["type"] == "lines"
    assert source["key"].startswith("inputs/")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert downloaded.returncode == 0, downloaded.stderr
    assert cancelled.returncode != 0
    assert f"job {job_id} is not running, or is stopping already" in cancelled.stderr
    folder = tmp_path / "results"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["job_id"], manifest["status"], manifest["failed"]) == (job_id, "SUCCEEDED", 0)
    succeeded = [
        json.loads(line) for path in sorted(folder.glob("succeeded/*.jsonl")) for line in path.read_text().splitlines()
    ]
    assert sorted(record["subtask_id"] for record in succeeded) == list(range(manifest["total"]))
    assert not list(folder.glob("failed/*.jsonl"))
    words = Counter(word.lower() for word in text.decode().split())
    expected = {"lines": text.count(b"\n"), "distinct_words": len(words), "words": dict(sorted(words.items()))}
    assert json.loads((folder / "result.json").read_text()) == expected


def test_the_readme_notebook_cell_runs_in_the_fresh_environment(installed, user_env, outputs, tmp_path):
    install, cell = readme_block("notebook").split("\n", 1)
    # `%pip install ./serverless-patterns` installs the checkout: `installed` holds the wheel built from it.
    assert install.startswith("%pip install ./serverless-patterns")
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))

    ran = subprocess.run(
        [str(installed / "bin" / "python"), "-c", cell],
        cwd=tmp_path,
        env=user_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    poem = (tmp_path / "poem.txt").read_text()
    assert ran.stdout.split() == ["SUCCEEDED", str(poem.split().count("sat"))]
