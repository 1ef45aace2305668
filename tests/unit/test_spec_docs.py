"""The job spec tables of modules/fan_out/README.md are rendered from the code, and `make lint-docs` notices drift."""

import importlib.util
from pathlib import Path

import pytest

from serverless_patterns.fan_out import jobs, sources
from serverless_patterns.fan_out.sources import FieldDoc

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("spec_docs", ROOT / "scripts" / "spec_docs.py")
spec_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(spec_docs)


def test_the_readme_shows_every_field_the_code_takes():
    assert spec_docs.main(["--check"]) == 0
    readme = (ROOT / "modules" / "fan_out" / "README.md").read_text()
    generated = readme.split(spec_docs.BEGIN)[1].split(spec_docs.END)[0]
    for name in [*jobs.SPEC_FIELDS, *sources.SOURCE_FIELD_DOCS]:
        assert f"| `{name}` |" in generated
    for kind, read in sources.SOURCE_READS.items():
        rows = [line for line in generated.splitlines() if line.startswith(f"| `{kind}` | `")]
        assert [row.rsplit("|", 2)[1].strip() for row in rows] == [f"`{read}`"]


def test_a_field_added_in_code_fails_the_check_naming_it_and_make_docs_writes_it(tmp_path, monkeypatch, capsys):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "modules" / "fan_out" / "README.md").read_text())
    added = {**jobs.SPEC_FIELD_DOCS, "priority": FieldDoc("integer", "0", "higher runs first")}
    monkeypatch.setattr(jobs, "SPEC_FIELD_DOCS", added)

    refused = spec_docs.main(["--check"], readme=readme)
    report = capsys.readouterr().err
    rewritten = spec_docs.main([], readme=readme)
    after = spec_docs.main(["--check"], readme=readme)

    assert refused == 1
    assert "+| `priority` | integer | 0 | higher runs first |" in report
    assert "run `make docs`" in report
    assert (rewritten, after) == (0, 0)
    assert "| `priority` | integer | 0 | higher runs first |" in readme.read_text()


def test_a_source_field_without_a_description_is_refused_naming_it_and_where_to_add_it():
    fields = {**sources.SOURCE_FIELDS, "csv": (*sources.SOURCE_FIELDS["csv"], "delimiter")}

    with pytest.raises(spec_docs.UndocumentedField, match="source field delimiter \\(of csv\\) has no description"):
        spec_docs.render(source_fields=fields)


def test_a_description_of_a_field_no_source_takes_is_refused():
    docs = {**sources.SOURCE_FIELD_DOCS, "compression": FieldDoc("string", "none", "gzip or none")}

    with pytest.raises(spec_docs.UndocumentedField, match="describes compression, which no source takes"):
        spec_docs.render(source_docs=docs)
