"""The README's code blocks that tests run as written.

Each sits between `<!-- BEGIN name -->` and `<!-- END name -->`.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(name: str) -> str:
    """The code of the fenced block marked `name`, without its fence lines."""
    text = README.read_text()
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise LookupError(f"README.md must mark one block with {begin} ... {end}")
    lines = text.split(begin)[1].split(end)[0].strip().splitlines()
    if not (lines[0].startswith("```") and lines[-1] == "```"):
        raise LookupError(f"the {name} block of README.md is not one fenced code block")
    return "\n".join(lines[1:-1]) + "\n"
