"""The records the IAM check passes between its parts.

A RecordedCall is one AWS request the code made (tests/iam_check/recorder);
an IamRequest is one IAM authorization that request needs (requests.py);
a Case is an IamRequest with the principal and the policies that decide it
(requests.py and services.py build them from a Stack); a Decision is the evaluation engine's answer
(evaluate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PolicyDocument = dict[str, Any]
# The caller label of a person using the job client: the integration tests record the CLI's and
# JobsClient's calls under it, and the IAM check decides them by job_client_policy_json alone.
JOB_USER = "job-user"


@dataclass(frozen=True)
class RecordedCall:
    """One SDK call, as the recorder wrote it (one JSON line)."""

    principal_kind: str  # "function" (a deployed function's role) or "caller" (a person's policy)
    principal: str  # the function name, or the caller's label ("job-user")
    service: str  # botocore's service name: "s3", "sqs", "dynamodb", "lambda", "sns", "execute-api", ...
    operation: str  # botocore's operation name: "GetObject", "SendMessageBatch", ...
    params: dict[str, Any]  # the parameters that identify resources (see recorder/call_recorder.py)
    region: str

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> RecordedCall:
        return cls(
            principal_kind=line["principal_kind"],
            principal=line["principal"],
            service=line["service"],
            operation=line["operation"],
            params=line.get("params") or {},
            region=line.get("region") or "us-east-1",
        )


@dataclass(frozen=True)
class IamRequest:
    """One IAM authorization a call needs: action, resource ARN and the condition keys of the request."""

    action: str  # "s3:GetObject"
    resource: str  # "arn:aws:s3:::bucket/key"
    context: dict[str, str | list[str]] = field(default_factory=dict)  # {"aws:SecureTransport": "true", ...}
    why: str = ""  # what asked for it: "GetObject of s3://bucket/key", "implied: SendMessage to a queue under key K"


@dataclass(frozen=True)
class NamedPolicy:
    name: str  # where it comes from: "role it1-fo-worker, inline policy access", "bucket policy of it1-jobs"
    document: PolicyDocument


@dataclass(frozen=True)
class Case:
    """An IamRequest with who asks and every policy in play."""

    principal: str  # role ARN, user ARN, or a service principal ("s3.amazonaws.com")
    principal_label: str  # the function name, the caller's label, or the service
    request: IamRequest
    resource_account: str
    identity_policies: tuple[NamedPolicy, ...] = ()
    permissions_boundary: NamedPolicy | None = None
    resource_policy: NamedPolicy | None = None


@dataclass(frozen=True)
class Decision:
    case: Case
    result: str  # "Allowed", "ImplicitlyDenied", "ExplicitlyDenied", or "Error" (the engine refused the input)
    denied_by: str = ""  # the policy (and statement) that denied, for a denial
    allowed_by: tuple[
        tuple[str, str], ...
    ] = ()  # (policy name, statement id or index) of each allowing identity/resource statement
    detail: str = ""  # the engine's explanation, or its validation errors

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"
