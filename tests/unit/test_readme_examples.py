"""The README's Python examples that need no stack, run as they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from readme_blocks import readme_block

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_workload_test_example_passes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO_ROOT)  # its package path is relative to the checkout, as a user's is to theirs
    namespace: dict = {}
    exec(compile(readme_block("workload-test"), "README.md", "exec"), namespace)

    namespace["test_totals"]()
