"""From a recorded call to the IAM authorizations it needs, and from those to the Cases an engine decides.

`iam_requests(call, stack)` maps one SDK call to its IAM actions on their resource ARNs (the table
OPERATIONS in operations.py, with the AWS Service Authorization Reference's special cases) and to the KMS
requests its service makes with the caller's credentials when the resource is under a customer
managed key. `function_cases` and `caller_cases` add who asks and every policy in play. What AWS
services do on a function's behalf, and the triggers that let services in, are in services.py
(`service_cases`, `trigger_cases`, importable from here too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from iam_check.model import Case, IamRequest, NamedPolicy, RecordedCall

# iam_requests raises UnmappedOperation: its callers import it from here.
from iam_check.operations import UnmappedOperation as UnmappedOperation
from iam_check.operations import operation_requests
from iam_check.stack import Stack, arn_parts

# The functions' and clients' SDKs use HTTPS on AWS. (The emulator is plain HTTP, so what it saw would be wrong.)
SECURE_TRANSPORT = {"aws:SecureTransport": "true"}


# -- what a customer managed key adds -----------------------------------------------------------------------

# The KMS actions a service calls with the caller's credentials when the resource is under a customer
# managed key (AWS: "Key management" in the SQS, SNS and S3 developer guides, "Encryption at rest" in DynamoDB's).
KMS_IMPLIED: dict[str, tuple[str, ...]] = {
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "s3:PutObject": ("kms:GenerateDataKey",),
    "s3:GetObject": ("kms:Decrypt",),
    "s3:GetObjectVersion": ("kms:Decrypt",),
    # DynamoDB decrypts the table key with the caller's permission when it reads or writes its items.
    **{
        f"dynamodb:{action}": ("kms:Decrypt",)
        for action in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "ConditionCheckItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
        )
    },
}
# A multipart upload's parts are encrypted under data keys the completion decrypts: GenerateDataKey and Decrypt.
MULTIPART_OPERATIONS = {"CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload"}


def resource_region(arn: str, fallback: str) -> str:
    """The region in an ARN; S3's ARNs have none (the call's region is the bucket's)."""
    if not arn.startswith("arn:"):
        return fallback
    return arn_parts(arn)[2] or fallback


def implied_kms_requests(
    request: IamRequest, stack: Stack, region: str, key: str | None = None, multipart: bool = False
) -> list[IamRequest]:
    """The KMS requests a service makes for `request` under the resource's customer managed key (or `key`)."""
    actions = KMS_IMPLIED.get(request.action, ())
    if not actions or request.resource == "*":
        return []
    key = key or stack.encryption_key(request.resource)
    if key is None:
        return []
    if multipart and request.action == "s3:PutObject":
        actions = ("kms:GenerateDataKey", "kms:Decrypt")
    service = request.action.split(":", 1)[0]
    context = {
        **SECURE_TRANSPORT,
        "kms:ViaService": f"{service}.{resource_region(request.resource, region)}.amazonaws.com",
        "kms:CallerAccount": stack.account,
    }
    # The parent's reason first: a service's requests keep reading "service: ... on behalf of <function>".
    why = f"{request.why or request.action}, under key {key} (implied)"
    return [IamRequest(action, key, context, why) for action in actions]


def _explicit_key(call: RecordedCall, request: IamRequest, stack: Stack) -> str | None:
    """The key a write names itself (SSEKMSKeyId) instead of the bucket's default."""
    if request.action == "s3:PutObject" and call.params.get("SSEKMSKeyId"):
        return stack.customer_key(call.params["SSEKMSKeyId"])
    return None


def iam_requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    """Every IAM authorization the call needs: its own actions, then the KMS requests they imply."""
    found = []
    for request in operation_requests(call, stack):
        request = replace(request, context={**SECURE_TRANSPORT, **request.context})
        found.append(request)
        found += implied_kms_requests(
            request,
            stack,
            call.region,
            key=_explicit_key(call, request, stack),
            multipart=call.operation in MULTIPART_OPERATIONS,
        )
    return found


# -- who asks, and the policies that decide -----------------------------------------------------------------


def function_principal(stack: Stack, function_name: str) -> tuple[str, str]:
    """(the session ARN a function's calls are signed with, its role's ARN).

    Lambda assumes the execution role in a session named after the function; identity policies and the
    boundary attach to the role, and a resource policy naming the role matches its sessions.
    """
    role_arn = stack.role_arn(function_name)
    role_name = role_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{arn_parts(role_arn)[3]}:assumed-role/{role_name}/{function_name}", role_arn


def principal_context(principal_arn: str, account: str) -> dict[str, str]:
    return {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": account}


class _ResourcePolicies:
    """Each resource's policy read once: thousands of calls name the same few resources."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._known: dict[str, NamedPolicy | None] = {}

    def of(self, arn: str) -> NamedPolicy | None:
        if arn == "*" or not arn.startswith("arn:"):
            return None
        # An object's policy is its bucket's: one look-up per bucket.
        key = arn.split("/", 1)[0] if arn.startswith("arn:aws:s3:::") else arn
        if key not in self._known:
            self._known[key] = self._stack.resource_policy(arn)
        return self._known[key]


def _distinct(cases: Iterable[Case]) -> list[Case]:
    """The cases without repeats (a job makes the same call thousands of times), in their first order."""
    seen: dict[str, Case] = {}
    for case in cases:
        request = case.request
        key = json.dumps(
            [case.principal, request.action, request.resource, sorted(request.context.items()), request.why],
            default=str,
        )
        seen.setdefault(key, case)
    return list(seen.values())


def _cases_of(
    call: RecordedCall,
    stack: Stack,
    policies: _ResourcePolicies,
    principal: str,
    principal_arn: str,
    identity: tuple[NamedPolicy, ...],
    boundary: NamedPolicy | None = None,
) -> list[Case]:
    """One case per IAM request of `call`, asked by `principal` (its context names `principal_arn`)."""
    cases = []
    for request in iam_requests(call, stack):
        request = replace(request, context={**request.context, **principal_context(principal_arn, stack.account)})
        cases.append(
            Case(
                principal=principal,
                principal_label=call.principal,
                request=request,
                resource_account=stack.account,
                identity_policies=identity,
                permissions_boundary=boundary,
                resource_policy=policies.of(request.resource),
            )
        )
    return cases


def function_cases(calls: Sequence[RecordedCall], stack: Stack) -> list[Case]:
    """The calls of the stack's deployed functions, each decided by its role's policies and the resource's."""
    policies = _ResourcePolicies(stack)
    roles: dict[str, tuple[str, str, Any, Any]] = {}
    cases = []
    for call in calls:
        if call.principal not in roles:
            session, role_arn = function_principal(stack, call.principal)
            roles[call.principal] = (
                session,
                role_arn,
                stack.identity_policies(role_arn),
                stack.permissions_boundary(role_arn),
            )
        session, role_arn, identity, boundary = roles[call.principal]
        cases += _cases_of(call, stack, policies, session, role_arn, identity, boundary)
    return _distinct(cases)


def caller_cases(calls: Sequence[RecordedCall], stack: Stack, user_policy: NamedPolicy) -> list[Case]:
    """The job client's calls, made by a user whose only policy is `user_policy`."""
    policies = _ResourcePolicies(stack)
    cases = []
    for call in calls:
        user_arn = f"arn:aws:iam::{stack.account}:user/{call.principal}"
        cases += _cases_of(call, stack, policies, user_arn, user_arn, (user_policy,))
    return _distinct(cases)
