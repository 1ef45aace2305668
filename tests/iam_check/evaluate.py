"""Decides Cases with a real IAM engine, and says why a denied one was denied.

The engine is @cloud-copilot/iam-simulate, run by Node through simulate.mjs: one node process per
evaluate() call, whatever the number of cases. A case the engine refuses (an unknown action, a
policy it cannot parse, an ARN that fits no resource type of the action) is decided "Error", which
the check treats as a failure, never as an allow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iam_check.model import Case, Decision, NamedPolicy, PolicyDocument

REPOSITORY = Path(__file__).resolve().parents[2]
SIMULATE_SCRIPT = Path(__file__).with_name("simulate.mjs")
PINNED_PACKAGE = Path(__file__).with_name("package.json")
ENGINE_PACKAGE = "@cloud-copilot/iam-simulate"
INSTALL_HINT = "run `make iam-simulate`"
ENGINE_TIMEOUT_SECONDS = 600

ALLOWED = "Allowed"
EXPLICITLY_DENIED = "ExplicitlyDenied"
IMPLICITLY_DENIED = "ImplicitlyDenied"
ERROR = "Error"
ENGINE_RESULTS = {ALLOWED, EXPLICITLY_DENIED, IMPLICITLY_DENIED}

# The layers an implicit denial can be blamed on; denied_by starts with one of these phrases, and
# explain_denial reads the phrase back to say which statement would allow the request.
IDENTITY_LAYER = "identity policies:"
BOUNDARY_LAYER = "permissions boundary:"
KEY_POLICY_LAYER = "key policy:"
RESOURCE_LAYER = "resource policy:"

_KMS_KEY_ARN = re.compile(r"^arn:[^:]+:kms:[^:]*:[^:]*:key/")
_ARN_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:(\d{12}):")


class EngineMissing(RuntimeError):
    """The engine (or Node) is not installed where the check looks for it."""


def engine_dir() -> Path:
    """Where `npm ci` installed the engine: IAM_SIMULATE_DIR, else build/iam-simulate."""
    configured = os.environ.get("IAM_SIMULATE_DIR")
    return Path(configured) if configured else REPOSITORY / "build" / "iam-simulate"


def evaluate(cases: Sequence[Case]) -> list[Decision]:
    """One Decision per case, in order."""
    if not cases:
        return []
    # The suite repeats the same request many times (a table updated per subtask): simulate each once.
    distinct: dict[str, int] = {}
    positions = [distinct.setdefault(_canonical(_simulation_of(case)), len(distinct)) for case in cases]
    summaries = _run_engine(list(distinct))
    if len(summaries) != len(distinct):
        raise RuntimeError(f"iam-simulate answered {len(summaries)} results for {len(distinct)} simulations")
    return [_decision_of(case, summaries[position]) for case, position in zip(cases, positions, strict=True)]


def _canonical(simulation: dict[str, Any]) -> str:
    return json.dumps(simulation, sort_keys=True)


# --- running the engine -------------------------------------------------------------------------


def _check_engine(directory: Path) -> str:
    """The node binary, once the pinned engine is known to be installed in `directory`."""
    node = shutil.which("node")
    if node is None:
        raise EngineMissing(f"node is not on PATH: install Node 20, then {INSTALL_HINT}")
    installed = directory / "node_modules" / ENGINE_PACKAGE / "package.json"
    if not installed.is_file():
        raise EngineMissing(f"{ENGINE_PACKAGE} is not installed in {directory}: {INSTALL_HINT}")
    pinned = json.loads(PINNED_PACKAGE.read_text())["dependencies"][ENGINE_PACKAGE]
    version = json.loads(installed.read_text())["version"]
    if version != pinned:
        raise EngineMissing(f"{ENGINE_PACKAGE} {version} in {directory}, {pinned} pinned: {INSTALL_HINT}")
    return node


def _run_engine(simulations: list[str]) -> list[dict[str, Any]]:
    """The engine's summaries of `simulations` (each one a Simulation as JSON text), in order."""
    directory = engine_dir()
    node = _check_engine(directory)
    completed = subprocess.run(
        [node, str(SIMULATE_SCRIPT), str(directory)],
        input=f"[{','.join(simulations)}]",
        capture_output=True,
        text=True,
        timeout=ENGINE_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"iam-simulate failed (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout)


def _simulation_of(case: Case) -> dict[str, Any]:
    simulation: dict[str, Any] = {
        "request": {
            "principal": case.principal,
            "action": case.request.action,
            "resource": {"resource": case.request.resource, "accountId": case.resource_account},
            "contextVariables": _context_of(case),
        },
        "identityPolicies": [{"name": policy.name, "policy": policy.document} for policy in case.identity_policies],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }
    if case.permissions_boundary is not None:
        boundary = case.permissions_boundary
        simulation["permissionBoundaryPolicies"] = [{"name": boundary.name, "policy": boundary.document}]
    if case.resource_policy is not None:
        simulation["resourcePolicy"] = case.resource_policy.document
    return simulation


def _context_of(case: Case) -> dict[str, str | list[str]]:
    """The case's condition keys, plus the keys AWS always sets from the principal itself.

    The engine does not derive aws:PrincipalArn or aws:PrincipalAccount from the principal, and a
    policy conditioned on them would otherwise never match. Keys the case sets win.
    """
    context: dict[str, str | list[str]] = {}
    account = _account_of(case.principal)
    if account is not None:
        context["aws:PrincipalArn"] = _role_arn_of_session(case.principal)
        context["aws:PrincipalAccount"] = account
    elif _is_service_principal(case.principal):
        context["aws:PrincipalServiceName"] = case.principal
    context.update(case.request.context)
    return context


# --- reading the engine's answer ----------------------------------------------------------------


def _decision_of(case: Case, summary: dict[str, Any]) -> Decision:
    result = summary.get("result")
    if result not in ENGINE_RESULTS:
        return Decision(case=case, result=ERROR, detail=_error_detail(summary))
    if result == ALLOWED:
        return Decision(case=case, result=ALLOWED, allowed_by=_allowed_by(case, summary))
    if result == EXPLICITLY_DENIED:
        denied_by = "; ".join(_explicit_denials(case, summary)) or "an explicit Deny the engine did not name"
    else:
        denied_by = "; ".join(_implicit_layers(case, summary))
    return Decision(case=case, result=result, denied_by=denied_by, detail=_detail(case, summary))


# What the engine's validation messages mean, for the messages a mapping mistake produces.
_ENGINE_ERRORS = {
    "invalid.action": "the action is not one IAM knows",
    "invalid.service": "the service prefix is not one IAM knows",
    "no.resource.types": "the resource ARN fits none of the action's resource types (Service Authorization Reference)",
    "multiple.resource.types": "the resource ARN fits more than one of the action's resource types",
    "must.use.wildcard": "the action has no resource-level permissions: its resource must be '*'",
    "policy.errors": "a policy does not validate",
    "invalid.principal": "the principal is not a valid principal string",
}


def _error_detail(summary: dict[str, Any]) -> str:
    errors = summary.get("errors") or summary
    message = errors.get("message", "") if isinstance(errors, dict) else ""
    meaning = _ENGINE_ERRORS.get(message)
    as_json = json.dumps(errors, sort_keys=True)
    return f"{meaning}: {as_json}" if meaning else as_json


def statement_label(sid: str | None, index: int) -> str:
    """How a statement is named throughout the check: its Sid, else its 1-based index."""
    return sid if sid else str(index)


def _policy_name(case: Case, reason: dict[str, Any]) -> str:
    policy_type = reason["policyType"]
    if policy_type == "resource":
        return case.resource_policy.name if case.resource_policy else "the resource policy"
    if policy_type == "pb" and case.permissions_boundary is not None:
        return case.permissions_boundary.name
    return reason.get("policyIdentifier") or policy_type


def _allowed_by(case: Case, summary: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    # The boundary only caps what the others grant; least privilege is about identity and resource grants.
    grants = [grant for grant in summary.get("grants", []) if grant["policyType"] in ("identity", "resource")]
    labelled = ((_policy_name(case, grant), _statement_of(grant)) for grant in grants)
    return tuple(dict.fromkeys(labelled))


def _explicit_denials(case: Case, summary: dict[str, Any]) -> list[str]:
    explicit = [denial for denial in summary.get("denials", []) if denial["denialType"] == "Explicit"]
    return [f"{_policy_name(case, denial)}, statement {_statement_of(denial)}" for denial in explicit]


def _statement_of(reason: dict[str, Any]) -> str:
    return statement_label(reason.get("statementId"), reason["statementIndex"])


def _implicit_layers(case: Case, summary: dict[str, Any]) -> list[str]:
    """Which policies did not allow: the place a statement would have to be added."""
    layers = summary.get("layers") or {}
    blocked_by = set(summary.get("blockedBy") or [])
    if "pb" in blocked_by or (layers.get("identity") == ALLOWED and layers.get("pb") == IMPLICITLY_DENIED):
        return [_boundary_layer(case)]
    if _is_service_principal(case.principal):
        return [_resource_layer(case)]
    resource_allows = layers.get("resource") in (ALLOWED, "AllowedForAccount")
    if _is_kms_key(case) and not summary.get("accountTrust") and not resource_allows:
        return [_resource_layer(case)]
    missing = [_identity_layer(case)]
    if summary.get("sameAccount") is False and not resource_allows:
        # Across accounts the resource policy must allow too.
        missing.append(_resource_layer(case))
    if layers.get("pb") == IMPLICITLY_DENIED:
        # A statement added to the identity policy would still be capped by the boundary.
        missing.append(_boundary_layer(case))
    return missing


def _identity_layer(case: Case) -> str:
    return f"{IDENTITY_LAYER} no statement of {principal_name(case)}'s policies allows it"


def _boundary_layer(case: Case) -> str:
    name = case.permissions_boundary.name if case.permissions_boundary else "(unnamed)"
    return f"{BOUNDARY_LAYER} {name} does not allow it"


def _resource_layer(case: Case) -> str:
    if case.resource_policy is None:
        if _is_kms_key(case):
            key = case.request.resource
            return f"{KEY_POLICY_LAYER} none given for {key}, and a key is usable only through its policy"
        return f"{RESOURCE_LAYER} none on {case.request.resource}, and a service principal needs one"
    if _is_kms_key(case):
        name = case.resource_policy.name
        if _is_service_principal(case.principal):
            return f"{KEY_POLICY_LAYER} no statement of {name} allows this service"
        return f"{KEY_POLICY_LAYER} {name} neither allows the principal nor delegates to the account"
    return f"{RESOURCE_LAYER} no statement of {case.resource_policy.name} allows this principal"


def _detail(case: Case, summary: dict[str, Any]) -> str:
    """The engine's reasons, one per line: the statements about the action that did not apply, and why."""
    lines = []
    for miss in summary.get("nearMisses", []):
        policy = miss.get("policy") or _layer_policy_name(case, miss["layer"])
        label = statement_label(miss.get("sid"), miss["index"])
        lines.append(f"{miss['effect']} statement {label} of {policy} did not apply: {'; '.join(miss['failed'])}")
    ignored = summary.get("ignoredContextKeys") or []
    if ignored:
        lines.append(f"condition keys the engine ignored (not valid for this action): {', '.join(ignored)}")
    if summary.get("note"):
        lines.append(summary["note"])
    return "\n".join(lines)


def _layer_policy_name(case: Case, layer: str) -> str:
    if layer == "resource" and case.resource_policy is not None:
        return case.resource_policy.name
    if layer == "pb" and case.permissions_boundary is not None:
        return case.permissions_boundary.name
    return layer


# --- principals and resources -------------------------------------------------------------------


def _is_service_principal(principal: str) -> bool:
    return not principal.startswith("arn:") and principal.endswith(".amazonaws.com")


def _is_kms_key(case: Case) -> bool:
    return bool(_KMS_KEY_ARN.match(case.request.resource))


def _account_of(principal: str) -> str | None:
    match = _ARN_ACCOUNT.match(principal)
    return match.group(1) if match else None


def _role_arn_of_session(principal: str) -> str:
    """aws:PrincipalArn of a role session is the role's ARN (path not known here, so none)."""
    parts = principal.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}"
    return principal


def principal_name(case: Case) -> str:
    """'role it1-fo-worker-us-east-1', 'user alice', or the principal as given."""
    parts = case.principal.split(":", 5)
    if len(parts) == 6 and parts[2] in ("iam", "sts"):
        kind, _, path = parts[5].partition("/")
        segments = path.split("/")
        if kind == "assumed-role" and len(segments) >= 1:
            return f"role {segments[0]}"
        if kind in ("role", "user"):
            return f"{kind} {segments[-1]}"
    return case.principal


# --- explaining a denial ------------------------------------------------------------------------


def explain_denial(decision: Decision) -> str:
    """A few lines a developer can act on: who, what, on what, why, and the statement that would allow it."""
    case = decision.case
    request = case.request
    lines = [
        f"{decision.result}: {case.principal_label} ({case.principal}) may not {request.action} on {request.resource}",
    ]
    if request.why:
        lines.append(f"  needed for: {request.why}")
    if request.context:
        lines.append(f"  request context: {json.dumps(request.context, sort_keys=True)}")
    if decision.result == ERROR:
        lines.append(f"  the engine refused the input: {decision.detail}")
        return "\n".join(lines)
    lines.append(f"  denied by: {decision.denied_by}")
    lines.extend(f"  {line}" for line in decision.detail.splitlines())
    if decision.result == EXPLICITLY_DENIED:
        lines.extend(_explicit_advice(case, decision))
    else:
        lines.extend(_implicit_advice(case, decision))
    return "\n".join(lines)


def _explicit_advice(case: Case, decision: Decision) -> list[str]:
    lines = ["  no Allow overrides an explicit Deny: the request must stop matching it, or the Deny be narrowed:"]
    for denial in decision.denied_by.split("; "):
        policy_name, _, label = denial.rpartition(", statement ")
        statement = _find_statement(_policies_of(case), policy_name, label)
        if statement is not None:
            lines.append(f"    {policy_name}, statement {label}: {json.dumps(statement, sort_keys=True)}")
    return lines


def _implicit_advice(case: Case, decision: Decision) -> list[str]:
    lines = []
    for layer in decision.denied_by.split("; "):
        where, statement = _allowing_statement(case, layer)
        lines.append(f"  would allow it, in {where}:")
        lines.append(f"    {json.dumps(statement, sort_keys=True)}")
        if "Condition" in statement and _is_service_principal(case.principal):
            lines.append("    (only if that source is this stack's own: a foreign source must stay denied)")
        if layer.startswith(KEY_POLICY_LAYER) and not _is_service_principal(case.principal):
            delegation = {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{case.resource_account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
            lines.append("    (or delegate the key to the account, so that identity policies count:")
            lines.append(f"     {json.dumps(delegation, sort_keys=True)})")
    return lines


def _allowing_statement(case: Case, layer: str) -> tuple[str, dict[str, Any]]:
    """Where a missing Allow goes, and the narrowest statement that would allow this request."""
    request = case.request
    if layer.startswith(BOUNDARY_LAYER):
        name = case.permissions_boundary.name if case.permissions_boundary else "(unnamed)"
        return f"{name} (the permissions boundary)", _identity_statement(case)
    if layer.startswith(KEY_POLICY_LAYER):
        name = case.resource_policy.name if case.resource_policy else f"the policy of key {request.resource}"
        return f"{name} (the key policy)", {**_resource_statement(case), "Resource": "*"}
    if layer.startswith(RESOURCE_LAYER):
        if case.resource_policy is None:
            return f"a resource policy on {request.resource}", _resource_statement(case)
        return f"{case.resource_policy.name} (the resource policy)", _resource_statement(case)
    return f"the identity policy of {principal_name(case)}", _identity_statement(case)


def _identity_statement(case: Case) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": case.request.action, "Resource": case.request.resource}


def _resource_statement(case: Case) -> dict[str, Any]:
    """An Allow naming the principal; a service is held to its source (no confused deputy)."""
    context = case.request.context
    if _is_service_principal(case.principal):
        principal: dict[str, str] = {"Service": case.principal}
    else:
        principal = {"AWS": _role_arn_of_session(case.principal)}
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": case.request.action,
        "Resource": case.request.resource,
    }
    condition: dict[str, dict[str, str | list[str]]] = {}
    if "aws:SourceArn" in context:
        condition["ArnLike"] = {"aws:SourceArn": context["aws:SourceArn"]}
    if "aws:SourceAccount" in context:
        condition["StringEquals"] = {"aws:SourceAccount": context["aws:SourceAccount"]}
    if condition:
        statement["Condition"] = condition
    return statement


def _policies_of(case: Case) -> list[NamedPolicy]:
    policies = list(case.identity_policies)
    if case.permissions_boundary is not None:
        policies.append(case.permissions_boundary)
    if case.resource_policy is not None:
        policies.append(case.resource_policy)
    return policies


def statements_of(document: PolicyDocument) -> list[tuple[str, dict[str, Any]]]:
    """Each statement of a policy with its label (Sid, else 1-based index)."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [(statement_label(statement.get("Sid"), index), statement) for index, statement in enumerate(statements, 1)]


def _find_statement(policies: list[NamedPolicy], policy_name: str, label: str) -> dict[str, Any] | None:
    for policy in policies:
        if policy.name != policy_name:
            continue
        for statement_label_, statement in statements_of(policy.document):
            if statement_label_ == label:
                return statement
    return None
