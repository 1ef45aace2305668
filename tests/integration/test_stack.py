"""The applied envs/local stack as a whole."""

from __future__ import annotations


def test_plan_right_after_apply_changes_nothing_but_documented_emulator_drift(terraform_plan, known_plan_drift):
    plan = terraform_plan()

    changed = {
        change["type"]
        for change in plan.get("resource_changes", [])
        if change["change"]["actions"] not in (["no-op"], ["read"])
    }
    assert changed <= known_plan_drift, f"unexpected changes after apply: {sorted(changed - known_plan_drift)}"
