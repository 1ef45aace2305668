"""What each function is granted against what the suite used of it.

One GrantRow per (function, policy, Allow statement, action, resource pattern); `uses` counts the
allowed decisions of that function that the engine credited to that statement, for an action and a
resource the row covers. A grant the suite never used, or one with a wildcard, needs a reason (the
`reasons` mapping, keyed by GrantRow.reason_key); `unexplained` lists those that have none.
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path

from iam_check.evaluate import statements_of
from iam_check.model import Decision, NamedPolicy

# Terraform's bucket_prefix adds a 26-character unique id (a timestamp and a hex counter) that
# changes with every stack: the reasons must not depend on it.
_TERRAFORM_UNIQUE_ID = re.compile(r"(?<=-)\d{18}[0-9a-f]{8}\b")
_ARN_ACCOUNT = re.compile(r"^(arn:[^:]+:[^:]+:[^:]*:)\d{12}(?=:)")
_POLICY_VARIABLE = re.compile(r"\$\{[^}]*\}")
# An HTTP API's id is random per stack, like the bucket suffix.
_API_ID = re.compile(r"(?<=:execute-api:)([^:]+:[^:]+:)[a-z0-9]+(?=/)")

ReasonKey = tuple[str, str, str]  # (function suffix, action label, resource label)


@dataclass(frozen=True)
class GrantRow:
    function: str  # the principal label: the function name (or a caller's label)
    policy: str  # NamedPolicy.name
    statement: str  # Sid, else the statement's 1-based index
    action: str  # as written, e.g. "s3:GetObject" or "s3:*"
    resource: str  # as written, e.g. "arn:aws:s3:::it1-fo-jobs-.../inputs/*"
    uses: int
    wildcard: bool  # action or resource contains "*", or the statement uses NotAction / NotResource
    not_action: bool = False  # the statement grants every action but `action`
    not_resource: bool = False  # the statement grants on every resource but `resource`
    stack: str = ""  # the stack name the function's name starts with ("" if unknown)

    @property
    def function_suffix(self) -> str:
        """The function's name without the stack's: "fo-worker"."""
        prefix = f"{self.stack}-"
        return self.function.removeprefix(prefix) if self.stack else self.function

    @property
    def action_label(self) -> str:
        return f"NotAction {self.action}" if self.not_action else self.action

    @property
    def resource_label(self) -> str:
        """The resource with the stack's name, the account and Terraform's unique ids generalised."""
        resource = _ARN_ACCOUNT.sub(r"\1<account>", self.resource)
        resource = _TERRAFORM_UNIQUE_ID.sub("<id>", resource)
        resource = _API_ID.sub(r"\1<api>", resource)
        if self.stack:
            resource = resource.replace(self.stack, "<name>")
        return f"NotResource {resource}" if self.not_resource else resource

    @property
    def reason_key(self) -> ReasonKey:
        return (self.function_suffix, self.action_label, self.resource_label)

    def __str__(self) -> str:
        findings = [
            finding for finding, present in (("unused", self.uses == 0), ("wildcard", self.wildcard)) if present
        ]
        return (
            f"{self.function_suffix}: {self.action_label} on {self.resource_label} "
            f"({self.policy}, statement {self.statement}; {', '.join(findings) or f'used {self.uses}x'})"
        )


def grant_usage(
    policies: dict[str, tuple[NamedPolicy, ...]],
    decisions: Sequence[Decision],
    stack_names: Iterable[str] = (),
) -> list[GrantRow]:
    """Every Allow of each function's policies, with how often the suite's allowed decisions used it.

    `policies` is keyed by principal label (the function name). `stack_names` lets the rows name
    each function by its suffix; without it, the stack is taken as the longest "-"-ended prefix
    that all the functions' names share.
    """
    stacks = sorted(stack_names, key=len, reverse=True) or [_common_stack_prefix(policies)]
    credited = _credited_requests(decisions)
    rows = []
    for function, named_policies in policies.items():
        stack = next((name for name in stacks if name and function.startswith(f"{name}-")), "")
        for policy in named_policies:
            for label, statement in statements_of(policy.document):
                if statement.get("Effect") != "Allow":
                    continue
                requests = credited.get((function, policy.name, label), [])
                rows.extend(_rows_of_statement(function, stack, policy.name, label, statement, requests))
    return rows


def _credited_requests(decisions: Sequence[Decision]) -> dict[tuple[str, str, str], list[tuple[str, str]]]:
    """(function, policy, statement) -> the (action, resource) of each allowed request it allowed."""
    credited: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    for decision in decisions:
        if not decision.allowed:
            continue
        request = decision.case.request
        for policy_name, label in decision.allowed_by:
            credited[(decision.case.principal_label, policy_name, label)].append((request.action, request.resource))
    return credited


def _rows_of_statement(
    function: str,
    stack: str,
    policy: str,
    label: str,
    statement: dict,
    requests: list[tuple[str, str]],
) -> list[GrantRow]:
    not_action = "NotAction" in statement
    not_resource = "NotResource" in statement
    actions = _as_list(statement.get("NotAction" if not_action else "Action", []))
    # A resource policy statement may leave Resource out; it then means the resource itself.
    resources = _as_list(statement.get("NotResource" if not_resource else "Resource", "*"))
    rows = []
    for action in actions:
        for resource in resources:
            uses = sum(
                1
                for requested_action, requested_resource in requests
                if _action_matches(action, requested_action) != not_action
                and _resource_matches(resource, requested_resource) != not_resource
            )
            rows.append(
                GrantRow(
                    function=function,
                    policy=policy,
                    statement=label,
                    action=action,
                    resource=resource,
                    uses=uses,
                    wildcard=is_wildcard(action, resource) or not_action or not_resource,
                    not_action=not_action,
                    not_resource=not_resource,
                    stack=stack,
                )
            )
    return rows


# Grants whose `*` stays inside one named resource: the objects under one prefix of one bucket, one log
# group's streams, one route of one API in any stage. Any other `*` in a resource is a wildcard.
_SCOPED_PATTERNS = (
    re.compile(r"^arn:aws[a-z-]*:s3:::[^*/]+/[^*]*\*$"),
    re.compile(r"^arn:aws[a-z-]*:logs:[^:*]+:\d{12}:log-group:[^*:]+:\*$"),
    re.compile(r"^arn:aws[a-z-]*:execute-api:[^:*]+:\d{12}:[a-z0-9]+/\*/[A-Z]+/[^*]+(/\*)?$"),
)


def is_wildcard(action: str, resource: str) -> bool:
    """A grant wider than one resource: a `*` in the action, or one in the resource no scoped pattern explains."""
    return "*" in action or ("*" in resource and not any(pattern.match(resource) for pattern in _SCOPED_PATTERNS))


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _action_matches(pattern: str, action: str) -> bool:
    # Actions are case-insensitive; "*" and "?" are IAM's only wildcards, and fnmatch's "[" never
    # appears in an action.
    return fnmatchcase(action.lower(), pattern.lower())


def _resource_matches(pattern: str, resource: str) -> bool:
    # The engine has already decided; here a policy variable (${aws:username}) may stand for anything.
    pattern = _POLICY_VARIABLE.sub("*", pattern)
    return fnmatchcase(resource, pattern.replace("[", "[[]"))


def _common_stack_prefix(policies: Mapping[str, object]) -> str:
    names = [name.split("-") for name in policies]
    if len(names) < 2:
        return ""
    shared: list[str] = []
    for parts in zip(*names, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return "-".join(shared)


def with_stack(rows: Sequence[GrantRow], stack_name: str | None) -> list[GrantRow]:
    """The rows, with `stack_name` as the stack of each function whose name starts with it."""
    if not stack_name:
        return list(rows)
    return [replace(row, stack=stack_name) if row.function.startswith(f"{stack_name}-") else row for row in rows]


def render_table(rows: Sequence[GrantRow], reasons: Mapping[ReasonKey, str], stack_name: str | None = None) -> str:
    """A Markdown table per function: action | resource | used by the suite | reason.

    `stack_name` overrides the stack grant_usage found for the rows (see with_stack).
    """
    merged = _merge_by_key(with_stack(rows, stack_name))
    by_function: dict[str, list[tuple[ReasonKey, int]]] = defaultdict(list)
    for key, uses in merged.items():
        by_function[key[0]].append((key, uses))
    sections = []
    for function in sorted(by_function):
        lines = [
            f"### {function}",
            "",
            "| action | resource | used by the suite | reason |",
            "|---|---|---|---|",
        ]
        for key, uses in sorted(by_function[function]):
            _, action, resource = key
            used = str(uses) if uses else "no"
            lines.append(f"| `{_cell(action)}` | `{_cell(resource)}` | {used} | {_cell(reasons.get(key, ''))} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def _merge_by_key(rows: Sequence[GrantRow]) -> dict[ReasonKey, int]:
    """The same action on the same pattern granted twice (two statements, two stacks) is one line."""
    merged: dict[ReasonKey, int] = {}
    for row in rows:
        merged[row.reason_key] = merged.get(row.reason_key, 0) + row.uses
    return merged


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def unexplained(
    rows: Sequence[GrantRow], reasons: Mapping[ReasonKey, str], stack_name: str | None = None
) -> list[GrantRow]:
    """Grants the suite never used, and wildcard grants, that `reasons` says nothing about.

    Rows are judged by their reason key, across stacks: each integration worker runs part of the
    suite on its own stack, so a grant is unused only if no stack used it. One row per key, with
    the uses of all its rows.
    """
    by_key: dict[ReasonKey, GrantRow] = {}
    for row in with_stack(rows, stack_name):
        seen = by_key.get(row.reason_key)
        if seen is None:
            by_key[row.reason_key] = row
        else:
            by_key[row.reason_key] = replace(seen, uses=seen.uses + row.uses, wildcard=seen.wildcard or row.wildcard)
    return [row for key, row in by_key.items() if (row.uses == 0 or row.wildcard) and key not in reasons]


class GrantReasons(dict[ReasonKey, str]):
    """Why a grant no call used (or a wildcard) is kept, keyed by (function suffix, action, resource).

    A function of "*" gives the reason for that action and resource in every function's policy
    (the tracing statement every function carries).
    """

    @classmethod
    def load(cls, path: Path) -> GrantReasons:
        document = tomllib.loads(path.read_text())
        return cls(
            {
                (entry["function"], entry["action"], entry["resource"]): entry["reason"]
                for entry in document.get("grant", [])
            }
        )

    def _for_any_function(self, key: object) -> object:
        return ("*", *key[1:]) if isinstance(key, tuple) and len(key) == 3 else key

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or dict.__contains__(self, self._for_any_function(key))

    def get(self, key: ReasonKey, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, key, dict.get(self, self._for_any_function(key), default))
