"""The IAM check can fail: each test gives the real engine (iam-simulate, run by Node) a case that
must be denied, and checks that the denial names what a developer has to fix.

The engine is installed by `make iam-simulate` into build/iam-simulate (IAM_SIMULATE_DIR).
"""

from __future__ import annotations

import json

import pytest

from iam_check.evaluate import EngineMissing, evaluate, explain_denial
from iam_check.least_privilege import grant_usage, render_table, unexplained
from iam_check.model import Case, Decision, IamRequest, NamedPolicy

ACCOUNT = "000000000000"
FOREIGN_ACCOUNT = "111111111111"
STACK = "it1a2b3c"
WORKER = f"{STACK}-fo-worker"
WORKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{WORKER}-us-east-1"
BUCKET = f"{STACK}-fo-jobs-20261203173848424300000001"
OTHER_BUCKET = "someone-elses-bucket"
VENTILATOR_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{STACK}-fo-ventilator"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TLS = {"aws:SecureTransport": "true"}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


WORKER_POLICY = NamedPolicy(
    name=f"role {WORKER}-us-east-1, inline policy least-privilege",
    document=policy(
        {
            "Sid": "ReadInputs",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/inputs/*",
        },
        {
            "Sid": "ConsumeSubtasks",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
            "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{STACK}-fo-subtasks",
        },
        {"Sid": "Decrypt", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
    ),
)
RUNTIME_POLICY = NamedPolicy(
    name=f"role {WORKER}-us-east-1, inline policy runtime",
    document=policy({"Sid": "Tracing", "Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"}),
)
TLS_ONLY_BUCKET_POLICY = NamedPolicy(
    name=f"bucket policy of {BUCKET}",
    document=policy(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ),
)


def worker_case(action: str, resource: str, context: dict | None = None, **policies: object) -> Case:
    return Case(
        principal=WORKER_ROLE,
        principal_label=WORKER,
        request=IamRequest(action=action, resource=resource, context=dict(TLS if context is None else context)),
        resource_account=ACCOUNT,
        identity_policies=policies.pop("identity_policies", (WORKER_POLICY, RUNTIME_POLICY)),  # type: ignore[arg-type]
        **policies,  # type: ignore[arg-type]
    )


def only(decisions: list[Decision]) -> Decision:
    (decision,) = decisions
    return decision


def test_a_missing_statement_denies_and_the_report_gives_the_statement_that_would_allow_it() -> None:
    partial = f"arn:aws:s3:::{BUCKET}/partials/job-1/0.json"
    allowed, denied = evaluate(
        [
            worker_case("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/job-1.txt"),
            worker_case("s3:PutObject", partial),
        ]
    )

    assert allowed.result == "Allowed"
    assert allowed.allowed_by == ((WORKER_POLICY.name, "ReadInputs"),)
    assert denied.result == "ImplicitlyDenied"
    assert denied.denied_by == f"identity policies: no statement of role {WORKER}-us-east-1's policies allows it"
    report = explain_denial(denied)
    assert "s3:PutObject" in report
    assert partial in report
    assert f"in the identity policy of role {WORKER}-us-east-1" in report
    assert json.dumps({"Action": "s3:PutObject", "Effect": "Allow", "Resource": partial}, sort_keys=True) in report


def test_an_explicit_deny_in_the_bucket_policy_wins_over_an_identity_allow() -> None:
    input_object = f"arn:aws:s3:::{BUCKET}/inputs/job-1.txt"
    deny_the_worker = NamedPolicy(
        name=f"bucket policy of {BUCKET}",
        document=policy(
            {
                "Sid": "NoWorkerReads",
                "Effect": "Deny",
                "Principal": {"AWS": WORKER_ROLE},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ),
    )
    over_tls, plain_http, denied_principal = evaluate(
        [
            worker_case("s3:GetObject", input_object, resource_policy=TLS_ONLY_BUCKET_POLICY),
            worker_case(
                "s3:GetObject", input_object, {"aws:SecureTransport": "false"}, resource_policy=TLS_ONLY_BUCKET_POLICY
            ),
            worker_case("s3:GetObject", input_object, resource_policy=deny_the_worker),
        ]
    )

    assert over_tls.result == "Allowed"
    assert plain_http.result == "ExplicitlyDenied"
    assert plain_http.denied_by == f"bucket policy of {BUCKET}, statement DenyInsecureTransport"
    report = explain_denial(plain_http)
    assert f"bucket policy of {BUCKET}, statement DenyInsecureTransport" in report
    assert '"aws:SecureTransport": "false"' in report  # the denying statement, shown
    assert denied_principal.result == "ExplicitlyDenied"
    assert denied_principal.denied_by == f"bucket policy of {BUCKET}, statement NoWorkerReads"


def test_a_condition_that_does_not_match_denies_a_foreign_source_and_a_prefix() -> None:
    function_policy = NamedPolicy(
        name=f"function policy of {STACK}-fo-ventilator",
        document=policy(
            {
                "Sid": "AllowS3Invoke",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": VENTILATOR_ARN,
                # As Lambda writes an aws_lambda_permission with source_arn and source_account.
                "Condition": {
                    "ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::{BUCKET}"},
                    "StringEquals": {"AWS:SourceAccount": ACCOUNT},
                },
            }
        ),
    )

    def s3_invokes(source_bucket: str, source_account: str) -> Case:
        return Case(
            principal="s3.amazonaws.com",
            principal_label="s3.amazonaws.com",
            request=IamRequest(
                action="lambda:InvokeFunction",
                resource=VENTILATOR_ARN,
                context={"aws:SourceArn": f"arn:aws:s3:::{source_bucket}", "aws:SourceAccount": source_account},
            ),
            resource_account=ACCOUNT,
            resource_policy=function_policy,
        )

    list_inputs = NamedPolicy(
        name="role lister, inline policy access",
        document=policy(
            {
                "Sid": "ListInputs",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{BUCKET}",
                "Condition": {"StringLike": {"s3:prefix": "inputs/*"}},
            }
        ),
    )
    own_bucket, foreign_bucket, foreign_account, inputs, results = evaluate(
        [
            s3_invokes(BUCKET, ACCOUNT),
            s3_invokes(OTHER_BUCKET, ACCOUNT),
            s3_invokes(BUCKET, FOREIGN_ACCOUNT),
            worker_case(
                "s3:ListBucket",
                f"arn:aws:s3:::{BUCKET}",
                {**TLS, "s3:prefix": "inputs/"},
                identity_policies=(list_inputs,),
            ),
            worker_case(
                "s3:ListBucket",
                f"arn:aws:s3:::{BUCKET}",
                {**TLS, "s3:prefix": "results/"},
                identity_policies=(list_inputs,),
            ),
        ]
    )

    assert own_bucket.result == "Allowed"
    assert own_bucket.allowed_by == ((function_policy.name, "AllowS3Invoke"),)
    for confused_deputy in (foreign_bucket, foreign_account):
        assert confused_deputy.result == "ImplicitlyDenied"
        assert (
            confused_deputy.denied_by
            == f"resource policy: no statement of {function_policy.name} allows this principal"
        )
    assert f'ArnLike AWS:SourceArn ["arn:aws:s3:::{BUCKET}"]' in foreign_bucket.detail
    report = explain_denial(foreign_bucket)
    assert '"Service": "s3.amazonaws.com"' in report
    assert f'"aws:SourceArn": "arn:aws:s3:::{OTHER_BUCKET}"' in report  # what it would take: named, not hidden
    assert inputs.result == "Allowed"
    assert results.result == "ImplicitlyDenied"
    assert "s3:prefix" in results.detail


def test_a_permissions_boundary_without_the_action_denies_what_the_identity_policy_allows() -> None:
    boundary = NamedPolicy(
        name="permissions boundary sp-prod-boundary",
        document=policy({"Sid": "StorageOnly", "Effect": "Allow", "Action": ["s3:*", "dynamodb:*"], "Resource": "*"}),
    )
    receive = ("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:{STACK}-fo-subtasks")
    read = ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/job-1.txt")
    denied, allowed = evaluate(
        [worker_case(*receive, permissions_boundary=boundary), worker_case(*read, permissions_boundary=boundary)]
    )

    assert denied.result == "ImplicitlyDenied"
    assert denied.denied_by == "permissions boundary: permissions boundary sp-prod-boundary does not allow it"
    assert "in permissions boundary sp-prod-boundary (the permissions boundary)" in explain_denial(denied)
    assert allowed.result == "Allowed"
    assert allowed.allowed_by == ((WORKER_POLICY.name, "ReadInputs"),)  # the boundary caps, it does not grant


def test_a_key_policy_must_delegate_to_the_account_for_the_identity_policy_to_count() -> None:
    admin_only = policy(
        {
            "Sid": "KeyAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admin"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    delegating = policy(
        *admin_only["Statement"],
        {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
    )
    context = {**TLS, "kms:ViaService": "sqs.us-east-1.amazonaws.com"}
    without, with_delegation = evaluate(
        [
            worker_case(
                "kms:Decrypt", KEY_ARN, context, resource_policy=NamedPolicy("key policy of sp-prod", admin_only)
            ),
            worker_case(
                "kms:Decrypt", KEY_ARN, context, resource_policy=NamedPolicy("key policy of sp-prod", delegating)
            ),
        ]
    )

    assert without.result == "ImplicitlyDenied"
    assert without.denied_by.startswith("key policy: key policy of sp-prod neither allows the principal")
    report = explain_denial(without)
    assert f'"Principal": {{"AWS": "{WORKER_ROLE}"}}' in report
    assert f'"Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}' in report
    assert with_delegation.result == "Allowed"
    assert (WORKER_POLICY.name, "Decrypt") in with_delegation.allowed_by


def test_an_input_the_engine_refuses_is_an_error_never_an_allow() -> None:
    allow_all = NamedPolicy("allow everything", policy({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    misspelt, wrong_resource = evaluate(
        [
            worker_case("s3:GetObjekt", f"arn:aws:s3:::{BUCKET}/inputs/a", identity_policies=(allow_all,)),
            worker_case("s3:GetObject", f"arn:aws:sqs:us-east-1:{ACCOUNT}:queue", identity_policies=(allow_all,)),
        ]
    )

    assert (misspelt.result, misspelt.allowed) == ("Error", False)
    assert "invalid.action" in misspelt.detail
    assert wrong_resource.result == "Error"
    assert "fits none of the action's resource types" in wrong_resource.detail
    assert "the engine refused the input" in explain_denial(misspelt)


def test_a_missing_engine_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("IAM_SIMULATE_DIR", str(tmp_path))
    with pytest.raises(EngineMissing, match="make iam-simulate"):
        evaluate([worker_case("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/a")])


def test_grant_usage_counts_each_statement_and_flags_unused_and_wildcard_grants() -> None:
    decisions = evaluate(
        [
            worker_case("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/job-1.txt"),
            worker_case("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/job-2.txt"),
            worker_case("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:{STACK}-fo-subtasks"),
            worker_case("xray:PutTraceSegments", "*"),
        ]
    )
    assert all(decision.allowed for decision in decisions)

    rows = grant_usage({WORKER: (WORKER_POLICY, RUNTIME_POLICY)}, decisions, stack_names=[STACK])
    uses = {(row.statement, row.action): row.uses for row in rows}
    assert uses == {
        ("ReadInputs", "s3:GetObject"): 2,
        ("ConsumeSubtasks", "sqs:ReceiveMessage"): 1,
        ("ConsumeSubtasks", "sqs:DeleteMessage"): 0,
        ("Decrypt", "kms:Decrypt"): 0,
        ("Tracing", "xray:PutTraceSegments"): 1,
    }
    read_inputs = next(row for row in rows if row.statement == "ReadInputs")
    assert read_inputs.reason_key == ("fo-worker", "s3:GetObject", "arn:aws:s3:::<name>-fo-jobs-<id>/inputs/*")

    reasons = {
        ("fo-worker", "xray:PutTraceSegments", "*"): "X-Ray has no resource-level permissions",
        read_inputs.reason_key: "any job's input, under inputs/",
    }
    flagged = {(row.statement, row.action) for row in unexplained(rows, reasons)}
    assert flagged == {("ConsumeSubtasks", "sqs:DeleteMessage"), ("Decrypt", "kms:Decrypt")}
    # Without reasons, the used `*` resource is flagged too; a used grant on one prefix (inputs/*) is not.
    assert {(row.statement, row.action) for row in unexplained(rows, {})} == flagged | {
        ("Tracing", "xray:PutTraceSegments"),
    }

    # The stack can be named when the rows are rendered instead (one function: nothing to infer it from).
    unnamed = grant_usage({WORKER: (WORKER_POLICY, RUNTIME_POLICY)}, decisions)
    assert render_table(unnamed, reasons, stack_name=STACK) == render_table(rows, reasons)
    assert unexplained(unnamed, reasons, stack_name=STACK) == unexplained(rows, reasons)
    assert str(unexplained(rows, reasons)[0]).startswith("fo-worker: ")

    table = render_table(rows, reasons)
    assert "### fo-worker" in table
    assert "| `sqs:DeleteMessage` | `arn:aws:sqs:us-east-1:<account>:<name>-fo-subtasks` | no |  |" in table
    assert "| `s3:GetObject` | `arn:aws:s3:::<name>-fo-jobs-<id>/inputs/*` | 2 |" in table
    assert "| `xray:PutTraceSegments` | `*` | 1 | X-Ray has no resource-level permissions |" in table
