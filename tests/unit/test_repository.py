"""Repository tooling that must not drift: the pre-commit hooks run exactly what `make lint` runs."""

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
