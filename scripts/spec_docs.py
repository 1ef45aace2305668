"""Keep the job spec's fields in modules/fan_out/README.md in sync with the code that checks them.

    python scripts/spec_docs.py           rewrite the tables
    python scripts/spec_docs.py --check   fail, showing what differs, if the README is out of date

The tables are rendered from SPEC_FIELD_DOCS (serverless_patterns.fan_out.jobs) and
SOURCE_FIELDS, SOURCE_FIELD_DOCS and SOURCE_READS (serverless_patterns.fan_out.sources),
between <!-- BEGIN_SPEC_DOCS --> and <!-- END_SPEC_DOCS -->.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "lambdas"))

from serverless_patterns.fan_out import jobs, sources  # noqa: E402 (after the path it is found on)
from serverless_patterns.fan_out.sources import FieldDoc  # noqa: E402

README = REPO_ROOT / "modules" / "fan_out" / "README.md"
BEGIN, END = "<!-- BEGIN_SPEC_DOCS -->", "<!-- END_SPEC_DOCS -->"
FIX = "run `make docs` (descriptions: SPEC_FIELD_DOCS in jobs.py, SOURCE_FIELD_DOCS in sources.py)"


class UndocumentedField(Exception):
    """A field the code takes but does not describe, or describes but no longer takes."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(name: str, doc: FieldDoc, *extra: str) -> str:
    cells = [f"`{name}`", doc.type, doc.default, doc.meaning, *extra]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def render(
    spec_docs: Mapping[str, FieldDoc] | None = None,
    source_fields: Mapping[str, Sequence[str]] | None = None,
    source_docs: Mapping[str, FieldDoc] | None = None,
    source_reads: Mapping[str, str] | None = None,
) -> str:
    """The tables: every spec field, every source field and which types take it, and what each type needs read.

    Each argument defaults to the code's own definition (read at call time).
    """
    spec_docs = jobs.SPEC_FIELD_DOCS if spec_docs is None else spec_docs
    source_fields = sources.SOURCE_FIELDS if source_fields is None else source_fields
    source_docs = sources.SOURCE_FIELD_DOCS if source_docs is None else source_docs
    source_reads = sources.SOURCE_READS if source_reads is None else source_reads
    taken = {name for fields in source_fields.values() for name in fields}
    if missing := sorted(taken - set(source_docs)):
        kinds = {name: [kind for kind, fields in source_fields.items() if name in fields] for name in missing}
        raise UndocumentedField(
            "; ".join(f"source field {name} (of {', '.join(kinds[name])}) has no description" for name in missing)
            + ": add its type, default and meaning to SOURCE_FIELD_DOCS in "
            + "lambdas/serverless_patterns/fan_out/sources.py"
        )
    if stale := sorted(set(source_docs) - taken):
        raise UndocumentedField(
            f"SOURCE_FIELD_DOCS describes {', '.join(stale)}, which no source takes: "
            "remove it from lambdas/serverless_patterns/fan_out/sources.py"
        )
    lines = [
        "Generated from the code that checks a spec (`make docs`; `make lint-docs` fails when this differs).",
        "",
        "| Spec field | Type | Default | Meaning |",
        "|---|---|---|---|",
        *(_row(name, doc) for name, doc in spec_docs.items()),
        "",
        "| Source field | Type | Default | Meaning | Source types |",
        "|---|---|---|---|---|",
    ]
    for name, doc in source_docs.items():
        kinds = [kind for kind, fields in source_fields.items() if name in fields]
        lines.append(_row(name, doc, "all" if len(kinds) == len(source_fields) else ", ".join(kinds)))
    lines += ["", "| Source `type` | Its fields | A workload must read |", "|---|---|---|"]
    for kind, fields in source_fields.items():
        listed = ", ".join(f"`{name}`" for name in fields if name != "type")
        lines.append(f"| `{kind}` | {listed} | `{source_reads[kind]}` |")
    return "\n".join(lines)


def updated(text: str, tables: str) -> str:
    if BEGIN not in text or END not in text:
        raise UndocumentedField(f"{README.relative_to(REPO_ROOT)}: add {BEGIN} and {END} where the spec tables belong")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables}\n{END}{tail}"


def drift(readme: Path, tables: str) -> str:
    """What the README's tables lack or hold beyond the code's ('' when in sync), as a diff."""
    current, wanted = readme.read_text(), updated(readme.read_text(), tables)
    diff = difflib.unified_diff(
        current.splitlines(), wanted.splitlines(), "README (now)", "the code (wanted)", n=0, lineterm=""
    )
    return "\n".join(line for line in diff if not line.startswith("@@"))


def main(argv: Sequence[str] | None = None, readme: Path = README) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the README is out of date")
    args = parser.parse_args(argv)
    name = readme.relative_to(REPO_ROOT) if readme.is_relative_to(REPO_ROOT) else readme
    try:
        tables = render()
        difference = drift(readme, tables)
    except UndocumentedField as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not difference:
        return 0
    if args.check:
        print(f"{name}: the job spec tables differ from the code:\n{difference}\n{FIX}", file=sys.stderr)
        return 1
    readme.write_text(updated(readme.read_text(), tables))
    print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
