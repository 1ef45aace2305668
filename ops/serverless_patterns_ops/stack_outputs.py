"""Where the CLI finds the stack it acts on: the `terraform output -json` of a deployed stack.

--outputs FILE, else $SERVERLESS_PATTERNS_OUTPUTS, else build/demo/outputs.json
in the current folder, then in the checkout the tool runs from (`make apply
ENV=local` and `make demo` write it). Every miss is one line saying what was
tried and how to fix it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from serverless_patterns_ops.jobs_client import fan_out_outputs

OUTPUTS_ENV = "SERVERLESS_PATTERNS_OUTPUTS"
DEFAULT_OUTPUTS = Path("build/demo/outputs.json")
CHECKOUT = Path(__file__).resolve().parents[2]  # the repository, when running from one (not when installed)


SAVE_OUTPUTS = (
    "save `terraform output -json` of your stack to a file and give it with --outputs FILE or "
    f"{OUTPUTS_ENV}=FILE (in the checkout, `make demo` writes {DEFAULT_OUTPUTS})"
)


def outputs_path(given: Path | None) -> Path:
    """The stack's outputs file: --outputs, else $SERVERLESS_PATTERNS_OUTPUTS, else the checkout's default."""
    if given is not None:
        if not given.is_file():
            sys.exit(f"error: --outputs {given} does not exist: {SAVE_OUTPUTS}")
        return given
    if named := os.environ.get(OUTPUTS_ENV, "").strip():
        if not Path(named).is_file():
            sys.exit(f"error: {OUTPUTS_ENV}={named} does not exist: {SAVE_OUTPUTS}")
        return Path(named)
    tried = {DEFAULT_OUTPUTS.resolve(): f"{DEFAULT_OUTPUTS} (in the current folder)"}
    if (CHECKOUT / "envs" / "shared").is_dir():
        tried.setdefault((CHECKOUT / DEFAULT_OUTPUTS).resolve(), f"{CHECKOUT / DEFAULT_OUTPUTS} (the checkout's)")
    for path in tried:
        if path.is_file():
            return path
    shown = " or ".join(tried.values())
    sys.exit(f"error: no stack outputs: no --outputs, no {OUTPUTS_ENV}, no {shown}: {SAVE_OUTPUTS}")


def fan_out_stack(given: Path | None) -> dict:
    """The fan_out outputs, from `terraform output -json` ({"fan_out": {"value": {...}}}) or its values alone."""
    path = outputs_path(given)
    try:
        return fan_out_outputs(json.loads(path.read_text()))
    except (OSError, ValueError):
        sys.exit(f"error: {path} is not the outputs of a stack with a fan_out output: {SAVE_OUTPUTS}")
