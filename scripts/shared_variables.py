"""Keep the inputs every module repeats identical to scripts/shared_variables.tf.

    python scripts/shared_variables.py           rewrite the modules' copies
    python scripts/shared_variables.py --check   fail on any difference

A module's copy is the shared block, optionally followed by validation blocks
of the module's own; rewriting keeps those.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT / "scripts" / "shared_variables.tf"
# A top-level block of a terraform-fmt'ed file: `variable "x" {` to the first `}` in column 0.
VARIABLE_BLOCK = re.compile(r'^variable "(?P<name>[^"]+)" \{\n(?P<body>.*?)^\}\n', re.MULTILINE | re.DOTALL)
VALIDATION_BLOCK = re.compile(r"^  validation \{\n.*?^  \}\n", re.MULTILINE | re.DOTALL)


def variable_blocks(text: str) -> dict[str, re.Match[str]]:
    return {match["name"]: match for match in VARIABLE_BLOCK.finditer(text)}


def own_validations(module_body: str, shared_body: str) -> list[str]:
    shared = set(VALIDATION_BLOCK.findall(shared_body))
    return [block for block in VALIDATION_BLOCK.findall(module_body) if block not in shared]


def wanted_body(module_body: str, shared_body: str) -> str:
    """The shared body with the module's own validation blocks appended."""
    return "".join([shared_body, *(f"\n{block}" for block in own_validations(module_body, shared_body))])


def module_files() -> list[Path]:
    return sorted([*REPO_ROOT.glob("modules/*/variables.tf"), *REPO_ROOT.glob("modules/*/modules/*/variables.tf")])


def shared_variables(text: str) -> dict[str, str]:
    return {name: match["body"] for name, match in variable_blocks(text).items()}


def rewrite(text: str, shared: dict[str, str]) -> tuple[str, list[str]]:
    """The module file with its shared variables as the template has them, and the names that differed."""
    differing = []
    # From the last block to the first, so earlier offsets stay valid.
    for name, match in sorted(variable_blocks(text).items(), key=lambda item: -item[1].start()):
        if name not in shared:
            continue
        body = wanted_body(match["body"], shared[name])
        if body != match["body"]:
            differing.insert(0, name)
            text = f'{text[: match.start()]}variable "{name}" {{\n{body}}}\n{text[match.end() :]}'
    return text, differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a module's copy differs")
    args = parser.parse_args()
    shared = shared_variables(SHARED.read_text())
    differences = []
    for path in module_files():
        text = path.read_text()
        rewritten, differing = rewrite(text, shared)
        relative = path.relative_to(REPO_ROOT)
        differences += [f"{relative}: variable {name!r} differs from {SHARED.name}" for name in differing]
        if differing and not args.check:
            path.write_text(rewritten)
            print(f"updated {path.relative_to(REPO_ROOT)}")
    if differences and args.check:
        sys.exit("\n".join([*differences, "run `make inputs` to rewrite them (a module's own extra validations stay)"]))


if __name__ == "__main__":
    main()
