"""Apply envs/local to the emulator under a name of its own, for the demo and the benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = REPO_ROOT / "envs" / "local"


EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def use_emulator_credentials() -> None:
    """Dummy credentials and a region for the emulator, unless the caller set their own."""
    for name, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(name, value)


def emulator_backend_args(env_name: str, data_dir: Path) -> list[str]:
    """`terraform init` arguments putting an env's S3 backend on the emulator (AWS_ENDPOINT_URL), as `make init` does.

    Creates the state bucket there. Empty for an env with local state.
    """
    if not (REPO_ROOT / "envs" / env_name / "backend.hcl").is_file():
        return []
    settings = data_dir / "backend-emulator.hcl"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "tf_backend.py"), "emulator", f"envs/{env_name}", str(settings)],
        cwd=REPO_ROOT,
        check=True,
    )
    return ["-backend-config=backend.hcl", f"-backend-config={settings}"]


class LocalStack:
    """envs/local applied as `name`, its Terraform data and state kept in `work_dir`."""

    def __init__(self, name: str, work_dir: Path) -> None:
        self.name = name
        self.work_dir = work_dir
        self._state = f"-state={work_dir / 'terraform.tfstate'}"

    def _terraform(self, *args: str, capture: bool = False) -> str:
        env = {
            **os.environ,
            "TF_DATA_DIR": str(self.work_dir / "tfdata"),
            "TF_VAR_name": self.name,
            "TF_VAR_aws_endpoint_url": os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        }
        command = ["terraform", f"-chdir={ENV_DIR}", *args, "-no-color"]
        if capture:
            return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return ""

    def apply(self) -> dict:
        """Apply (or bring up to date) and return the outputs; they are also saved as outputs.json."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        print("Applying envs/local to the emulator (the provider waits ~25 s for each queue to settle)...", flush=True)
        self._terraform("init", "-input=false")
        self._terraform("apply", "-input=false", "-auto-approve", self._state)
        raw = self._terraform("output", "-json", self._state, capture=True)
        (self.work_dir / "outputs.json").write_text(raw)
        print(f"  deployed in {time.monotonic() - started:.0f} s (outputs in {self.work_dir / 'outputs.json'})\n")
        return {name: output["value"] for name, output in json.loads(raw).items()}
