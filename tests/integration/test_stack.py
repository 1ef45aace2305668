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


def test_make_plan_env_local_plans_the_applied_stack_not_an_empty_state(local, stack_name):
    """`make plan ENV=local` after `make demo` must see the demo's resources (here: this session's stack)."""
    import os
    import subprocess
    from pathlib import Path

    runner = local.terraform
    repo = Path(__file__).resolve().parents[2]
    planned = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "plan",
            "ENV=local",
            f"LOCAL_STATE={runner.state_path}",
            f"LOCAL_TF_DATA={runner.work_dir}",
            f"LOCAL_NAME={stack_name}",
        ],
        cwd=repo,
        env={**os.environ, "TF_IN_AUTOMATION": "1", "TF_CLI_ARGS_plan": "-no-color"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert planned.returncode == 0, planned.stderr[-2000:]
    summary = [line for line in planned.stdout.splitlines() if line.startswith(("Plan:", "No changes"))]
    assert summary, planned.stdout[-2000:]
    assert summary[0].startswith("No changes") or (" 0 to add" in summary[0] and " 0 to destroy" in summary[0])
