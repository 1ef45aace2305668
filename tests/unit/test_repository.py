"""Repository tooling that must not drift: the pre-commit hooks run exactly what `make lint` runs."""

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def lint_parts() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    [parts] = re.findall(r"^LINT_PARTS := (.+)$", makefile, flags=re.MULTILINE)
    return parts.split()


def test_every_part_of_make_lint_is_a_target_and_lint_runs_them_all():
    makefile = (ROOT / "Makefile").read_text()

    assert re.search(r"^lint: \$\(LINT_PARTS\)", makefile, flags=re.MULTILINE)
    for part in lint_parts():
        assert re.search(rf"^{re.escape(part)}:", makefile, flags=re.MULTILINE), f"no make target {part}"


def test_the_pre_commit_hooks_are_the_parts_of_make_lint_one_each():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]

    assert all(hook["entry"].startswith("make --no-print-directory ") for hook in hooks)
    assert [hook["entry"].split()[-1] for hook in hooks] == lint_parts()
    assert all(hook["language"] == "system" and hook["pass_filenames"] is False for hook in hooks)


def _shared_variables_script():
    spec = importlib.util.spec_from_file_location("shared_variables", ROOT / "scripts" / "shared_variables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHARED_TEMPLATE = """variable "tracing_mode" {
  description = "X-Ray tracing mode of the module's functions: Active or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}
"""


def test_a_module_copy_that_drifted_from_the_template_is_reported_and_rewritten_keeping_its_own_validations():
    script = _shared_variables_script()
    shared = script.shared_variables(SHARED_TEMPLATE)
    own_rule = """  validation {
    condition     = var.tracing_mode != "PassThrough" || var.sampling
    error_message = "tracing_mode PassThrough needs sampling."
  }
"""
    drifted = (
        'variable "timeout" {\n  type = number\n}\n\n'
        'variable "tracing_mode" {\n  description = "X-Ray mode."\n  type        = string\n  default     = "Active"\n\n'
        f"{own_rule}}}\n"
    )

    rewritten, differing = script.rewrite(drifted, shared)

    assert differing == ["tracing_mode"]
    assert rewritten.startswith('variable "timeout" {\n  type = number\n}\n\n')
    expected = SHARED_TEMPLATE.removesuffix("}\n") + "\n" + own_rule + "}\n"
    assert rewritten.endswith(expected)
    assert script.rewrite(rewritten, shared) == (rewritten, [])


def test_every_module_declares_the_shared_inputs_as_the_template_does():
    script = _shared_variables_script()
    shared = script.shared_variables(script.SHARED.read_text())
    declared = set()

    for path in script.module_files():
        text = path.read_text()
        assert script.rewrite(text, shared) == (text, []), f"{path}: run `make inputs`"
        declared |= set(script.variable_blocks(text)) & set(shared)

    assert declared == set(shared), "a variable in scripts/shared_variables.tf that no module declares"
