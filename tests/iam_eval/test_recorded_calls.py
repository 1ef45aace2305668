"""Every AWS call the integration suite made, evaluated by a real IAM engine against the stacks' policies.

`make test-integration` runs this after tests/integration: the emulator never evaluates IAM, so
the suite records each call the deployed functions and the job clients made
(build/iam/calls) and the state of each stack it applied (build/iam/stacks), and this file
asks @cloud-copilot/iam-simulate whether each call is allowed by the identity policy of its
role as Terraform rendered it, the permissions boundary and the resource policies in play:
on the local stack as applied, and on the prod shape (customer managed key, permissions
boundary, prod's tfvars) with the same calls mapped onto its ARNs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from iam_check.evaluate import evaluate, explain_denial
from iam_check.least_privilege import GrantReasons, grant_usage, render_table, unexplained
from iam_check.model import JOB_USER, Case, Decision, NamedPolicy, RecordedCall
from iam_check.recorded import load_calls, load_stacks
from iam_check.requests import caller_cases, function_cases
from iam_check.services import service_cases, trigger_cases
from iam_check.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
IAM_BUILD = Path(os.environ.get("IAM_BUILD_DIR", REPO_ROOT / "build" / "iam"))
GRANT_REASONS = REPO_ROOT / "tests" / "iam_check" / "grant_reasons.toml"
REPORT = IAM_BUILD / "granted-vs-used.md"
SECURITY_DOC = REPO_ROOT / "docs" / "security.md"
# Calls a test makes a function send to a missing resource on purpose, to make it fail: faults the test
# injects, not permissions the stack must grant (on AWS they fail too, with AccessDenied). Keyed by
# (function suffix, parameter, value); each must match a recorded call, so a stale entry shows.
INJECTED_FAULTS = {
    ("-ll-consumer", "TableName", "table-that-does-not-exist"): "tests/integration/test_load_leveler.py "
    "(consumer_outage) points the consumer at a missing table, a broken deploy, to fill its DLQ",
}


@pytest.fixture(scope="module")
def stacks() -> list[Stack]:
    found = load_stacks(IAM_BUILD / "stacks")
    if not found:
        pytest.fail(
            f"no stack dumps in {IAM_BUILD / 'stacks'}: run `make test-integration`, "
            "which applies the stacks and records their calls"
        )
    return found


@pytest.fixture(scope="module")
def calls() -> list[RecordedCall]:
    return load_calls(IAM_BUILD / "calls")


@pytest.fixture(scope="module")
def local_stacks(stacks: list[Stack]) -> list[Stack]:
    return [stack for stack in stacks if stack.shape == "local"]


@pytest.fixture(scope="module")
def prod_stack(stacks: list[Stack]) -> Stack:
    prod = [stack for stack in stacks if stack.shape == "prod"]
    assert len(prod) == 1, (
        f"expected one prod-shaped stack dump (tests/integration/test_prod_shape.py), found {len(prod)}"
    )
    return prod[0]


def function_calls_of(stack: Stack, calls: Sequence[RecordedCall]) -> list[RecordedCall]:
    names = set(stack.function_names())
    return [
        call
        for call in calls
        if call.principal_kind == "function" and call.principal in names and not injected_fault(call)
    ]


def injected_fault(call: RecordedCall) -> bool:
    return any(
        call.principal.endswith(suffix) and call.params.get(parameter) == value
        for suffix, parameter, value in INJECTED_FAULTS
    )


def caller_calls_on(stack: Stack, calls: Sequence[RecordedCall]) -> list[RecordedCall]:
    """The job client's calls that reached this stack (a caller's call names the stack's resources)."""
    return [
        call for call in calls if call.principal_kind == "caller" and call.principal == JOB_USER and stack.owns(call)
    ]


def envs_local_stacks(local_stacks: Sequence[Stack]) -> list[Stack]:
    """The envs/local stacks (one per integration worker), not the test roots under tests/integration/terraform."""
    return [stack for stack in local_stacks if stack.has_output("job_client_policy_json")]


def fail_on_denials(decisions: Sequence[Decision], what: str) -> None:
    denied = [decision for decision in decisions if not decision.allowed]
    if denied:
        shown = "\n\n".join(explain_denial(decision) for decision in denied[:20])
        more = f"\n\n... and {len(denied) - 20} more" if len(denied) > 20 else ""
        pytest.fail(f"{len(denied)} of {len(decisions)} {what} denied:\n\n{shown}{more}", pytrace=False)


def test_the_suite_recorded_the_calls_of_every_pattern(local_stacks: list[Stack], calls: list[RecordedCall]) -> None:
    """Without calls there is nothing to prove: the recorder must have run in the functions and the clients."""
    stacks = envs_local_stacks(local_stacks)
    assert stacks, "no envs/local stack dump: tests/integration/conftest.py writes one per applied stack"
    called = {call.principal for stack in stacks for call in function_calls_of(stack, calls)}
    suffixes = {name.removeprefix(stack.name) for stack in stacks for name in called if name.startswith(stack.name)}
    for function in (
        "-fo-ventilator",
        "-fo-worker",
        "-fo-consolidator",
        "-fo-jobs-api",
        "-ll-producer",
        "-ll-consumer",
    ):
        assert function in suffixes, (
            f"no recorded AWS call of a{function} function: "
            "is the recorder on the emulator's PYTHONPATH (scripts/emulator.sh)?"
        )
    assert any(caller_calls_on(stack, calls) for stack in stacks), (
        "no recorded call of the job client (recording_as / IAM_CALL_PRINCIPAL)"
    )


def test_every_recorded_call_is_evaluated(stacks: list[Stack], calls: list[RecordedCall]) -> None:
    """No call escapes the check: each function's call belongs to a dumped stack, each client call to an
    envs/local one, and each injected fault was made (the only calls left out, each with its reason)."""
    functions = {name for stack in stacks for name in stack.function_names()}
    # A function named after one of the suite's stacks (RUN_NAME, RUN_NAME + "p" for the prod shape, ...)
    # is the suite's; others on a shared emulator (`make up` then `make demo`: sp-demo's sweeper) are not.
    orphans = {
        call.principal
        for call in calls
        if call.principal_kind == "function"
        and call.principal not in functions
        and any(call.principal.startswith(stack.name) for stack in stacks)
    }
    assert not orphans, f"calls of functions no stack dump holds (tests/integration/conftest.py dumps each): {orphans}"
    clients = [call for call in calls if call.principal_kind == "caller"]
    assert {call.principal for call in clients} <= {JOB_USER}, "a caller label the check has no policy for"
    unowned = [
        call for call in clients if not any(caller_calls_on(stack, [call]) for stack in envs_local_stacks(stacks))
    ]
    assert not unowned, f"job client calls on no envs/local stack: {unowned[:5]}"
    for suffix, parameter, value in INJECTED_FAULTS:
        assert any(call.principal.endswith(suffix) and call.params.get(parameter) == value for call in calls), (
            f"no call of *{suffix} with {parameter}={value}: the injected fault is gone, remove its entry"
        )


def test_every_function_call_is_allowed_on_the_stack_it_ran_on(stacks: list[Stack], calls: list[RecordedCall]) -> None:
    """Each call against the policies of the stack its function ran in: envs/local, a test root, the prod shape."""
    decisions = evaluate([case for stack in stacks for case in function_cases(function_calls_of(stack, calls), stack)])
    assert decisions
    fail_on_denials(decisions, "calls of the deployed functions (each stack as applied)")


def test_every_function_call_is_allowed_on_the_prod_shape(
    local_stacks: list[Stack], prod_stack: Stack, calls: list[RecordedCall]
) -> None:
    cases: list[Case] = []
    for stack in envs_local_stacks(local_stacks):
        translated = [stack.translate(call, prod_stack) for call in function_calls_of(stack, calls)]
        cases += function_cases(translated, prod_stack)
    decisions = evaluate(cases)
    assert decisions
    fail_on_denials(decisions, "calls of the deployed functions mapped onto the prod shape")


@pytest.mark.parametrize("shape", ["local", "prod"])
def test_what_services_do_for_each_function_is_allowed(
    shape: str, local_stacks: list[Stack], prod_stack: Stack
) -> None:
    """Event source mappings polling, destinations, logs and traces: AWS does these with the function's role."""
    stacks = local_stacks if shape == "local" else [prod_stack]
    decisions = evaluate([case for stack in stacks for case in service_cases(stack)])
    assert decisions
    fail_on_denials(decisions, f"service actions on the functions' behalf ({shape})")


@pytest.mark.parametrize("shape", ["local", "prod"])
def test_triggers_accept_their_own_sources_and_refuse_foreign_ones(
    shape: str, local_stacks: list[Stack], prod_stack: Stack
) -> None:
    stacks = local_stacks if shape == "local" else [prod_stack]
    expected = [pair for stack in stacks for pair in trigger_cases(stack)]
    # Every way in that the stacks have: S3 notifications, the sweep schedule, the HTTP APIs, the alert
    # topic's subscription, the alarms publishing (a trigger the mapping missed would go unchecked).
    for service in ("s3", "events", "apigateway", "sns", "cloudwatch"):
        principal = f"{service}.amazonaws.com"
        kinds = {allowed for case, allowed in expected if case.principal == principal}
        assert kinds == {True, False}, f"no genuine and foreign {principal} trigger cases on the {shape} shape"
    decisions = evaluate([case for case, _ in expected])
    wrong = [
        (decision, allowed)
        for decision, (_, allowed) in zip(decisions, expected, strict=True)
        if decision.allowed != allowed or decision.result == "Error"
    ]
    lines = [
        f"{decision.case.principal_label} {decision.case.request.action} on {decision.case.request.resource} "
        f"(aws:SourceArn {decision.case.request.context.get('aws:SourceArn')}): {decision.result}, expected "
        f"{'allowed' if allowed else 'denied'}\n{explain_denial(decision) if allowed else ''}"
        for decision, allowed in wrong
    ]
    assert not wrong, "\n".join(lines)


@pytest.mark.parametrize("shape", ["local", "prod"])
def test_the_job_client_policy_covers_the_clients_calls(
    shape: str, local_stacks: list[Stack], prod_stack: Stack, calls: list[RecordedCall]
) -> None:
    """The policy output job_client_policy_json lets a user do all the CLI and JobsClient did, and no more is needed."""
    cases: list[Case] = []
    for stack in envs_local_stacks(local_stacks):
        client_calls = caller_calls_on(stack, calls)
        target = stack if shape == "local" else prod_stack
        if target is not stack:
            client_calls = [stack.translate(call, target) for call in client_calls]
        policy = NamedPolicy(f"job_client_policy_json of {target.name}", target.output("job_client_policy_json"))
        cases += caller_cases(client_calls, target, policy)
    decisions = evaluate(cases)
    assert decisions
    fail_on_denials(decisions, f"calls of the job client under job_client_policy_json ({shape})")


def test_every_statement_of_the_job_client_policy_is_used_or_has_a_reason(
    local_stacks: list[Stack], calls: list[RecordedCall]
) -> None:
    """The client's policy measured as the roles' are: what the CLI and JobsClient did in the suite."""
    rows = []
    for stack in envs_local_stacks(local_stacks):
        policy = NamedPolicy(f"job_client_policy_json of {stack.name}", stack.output("job_client_policy_json"))
        decisions = evaluate(caller_cases(caller_calls_on(stack, calls), stack, policy))
        # The caller's label carries no stack name: name the stack so its resources read <name>.
        rows += [replace(row, stack=stack.name) for row in grant_usage({JOB_USER: (policy,)}, decisions)]
    assert rows
    missing = unexplained(rows, GrantReasons.load(GRANT_REASONS))
    assert not missing, (
        f"statements of job_client_policy_json no client call used, without a reason in "
        f"{GRANT_REASONS.relative_to(REPO_ROOT)}:\n" + "\n".join(f"  {row}" for row in missing)
    )


def test_every_grant_is_used_by_the_suite_or_has_a_reason(local_stacks: list[Stack], calls: list[RecordedCall]) -> None:
    """Least privilege, measured: a grant no call used is kept only with a reason (tests/iam_check/grant_reasons.toml).

    Each integration worker runs part of the suite on a stack of its own: a grant counts as used
    when a call on any of them used it.
    """
    stacks = envs_local_stacks(local_stacks)
    cases = [
        case
        for stack in stacks
        for case in function_cases(function_calls_of(stack, calls), stack) + service_cases(stack)
    ]
    policies = {
        name: stack.identity_policies(stack.role_arn(name)) for stack in stacks for name in stack.function_names()
    }
    rows = grant_usage(policies, evaluate(cases), stack_names=[stack.name for stack in stacks])
    reasons = GrantReasons.load(GRANT_REASONS)
    IAM_BUILD.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(render_table(rows, reasons))
    documented, granted = documented_grants(SECURITY_DOC.read_text()), {row.reason_key for row in rows}
    assert documented == granted, (
        f"docs/security.md's granted-vs-used table is out of date: copy {REPORT} between its markers. "
        f"Not in the table: {sorted(granted - documented)}; no longer granted: {sorted(documented - granted)}"
    )
    missing = unexplained(rows, reasons)
    assert not missing, (
        f"grants no call of the suite used, or wildcards, without a reason in {GRANT_REASONS.relative_to(REPO_ROOT)} "
        f"(remove the grant, or add its reason; the whole table is in {REPORT}):\n"
        + "\n".join(f"  {row}" for row in missing)
    )


def documented_grants(security_doc: str) -> set[tuple[str, str, str]]:
    """The (function, action, resource) rows of docs/security.md's granted-vs-used table."""
    table = security_doc.split("<!-- granted-vs-used:start -->")[1].split("<!-- granted-vs-used:end -->")[0]
    rows, function = set(), ""
    for line in table.splitlines():
        if line.startswith("### "):
            function = line.removeprefix("### ").strip()
        elif line.startswith("| `"):
            action, resource = (cell.strip().strip("`").replace("\\|", "|") for cell in line.split(" | ")[:2])
            rows.add((function, action.removeprefix("| `").strip("`"), resource))
    return rows
