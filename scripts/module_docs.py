"""Keep each module README's inputs and outputs tables in sync with its .tf files.

    python scripts/module_docs.py           rewrite the tables
    python scripts/module_docs.py --check   fail if a README is out of date

The tables live between <!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS -->.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _text(value: Any) -> str:
    """An HCL string as python-hcl2 returns it, without quotes or ${...} wrapping."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"')
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{value}`" if value.startswith('"') else f"`{_text(value)}`"
    return f"`{json.dumps(value)}`"


def _blocks(path: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    if not path.is_file():
        return []
    with path.open() as handle:
        parsed = hcl2.load(handle)
    return [(_text(name), body) for block in parsed.get(kind, []) for name, body in block.items()]


def render(module_dir: Path) -> str:
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for name, body in _blocks(module_dir / "variables.tf", "variable"):
        required = "default" not in body
        default = "n/a" if required else _default(body["default"])
        type_ = _text(body.get("type", "any"))
        description = _text(body.get("description", ""))
        lines.append(
            f"| `{name}` | {_cell(description)} | `{_cell(type_)}` | {_cell(default)} | {'yes' if required else 'no'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, body in _blocks(module_dir / "outputs.tf", "output"):
        lines.append(f"| `{name}` | {_cell(_text(body.get('description', '')))} |")
    return "\n".join(lines)


def updated_readme(readme: Path, tables: str) -> str:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: add {BEGIN} and {END} where the inputs/outputs tables belong")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a README is out of date")
    args = parser.parse_args()
    stale = []
    module_dirs = [*REPO_ROOT.glob("modules/*/"), *REPO_ROOT.glob("modules/*/modules/*/"), REPO_ROOT / "envs/shared"]
    for module_dir in sorted(path for path in module_dirs if path.is_dir()):
        readme = module_dir / "README.md"
        if not readme.is_file():
            stale.append(f"{readme} is missing")
            continue
        wanted = updated_readme(readme, render(module_dir))
        if wanted != readme.read_text():
            if args.check:
                stale.append(f"{readme} is out of date: run `make docs`")
            else:
                readme.write_text(wanted)
                print(f"updated {readme.relative_to(REPO_ROOT)}")
    if stale:
        sys.exit("\n".join(stale))


if __name__ == "__main__":
    main()
