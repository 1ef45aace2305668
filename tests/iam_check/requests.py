"""From a recorded call to the IAM authorizations it needs, and from those to the Cases an engine decides.

`iam_requests(call, stack)` maps one SDK call to its IAM actions on their resource ARNs (the table
OPERATIONS below, with the AWS Service Authorization Reference's special cases) and to the KMS
requests its service makes with the caller's credentials when the resource is under a customer
managed key. `function_cases` and `caller_cases` add who asks and every policy in play. What AWS
services do on a function's behalf, and the triggers that let services in, are in services.py
(`service_cases`, `trigger_cases`, importable from here too).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, unquote

from iam_check.model import Case, IamRequest, NamedPolicy, RecordedCall
from iam_check.stack import Stack, arn_parts

# The functions' and clients' SDKs use HTTPS on AWS. (The emulator is plain HTTP, so what it saw would be wrong.)
SECURE_TRANSPORT = {"aws:SecureTransport": "true"}

Mapper = Callable[[RecordedCall, Stack], list[IamRequest]]


class UnmappedOperation(LookupError):
    """A call the table does not know: new code must not make a call the check cannot prove."""

    def __init__(self, call: RecordedCall) -> None:
        super().__init__(
            f"no IAM mapping for {call.service} {call.operation} (called by {call.principal}): "
            "add it to OPERATIONS in tests/iam_check/requests.py"
        )


def _param(call: RecordedCall, name: str) -> Any:
    if call.params.get(name) is None:
        raise ValueError(
            f"{call.service} {call.operation} of {call.principal} was recorded without {name}: {call.params}"
        )
    return call.params[name]


def _why(call: RecordedCall, what: str) -> str:
    return f"{call.operation} {what}"


# -- the shapes most operations share -----------------------------------------------------------------------


def _on_object(action: str) -> Mapper:
    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        bucket, key = _param(call, "Bucket"), _param(call, "Key")
        return [IamRequest(action, stack.object_arn(bucket, key), why=_why(call, f"of s3://{bucket}/{key}"))]

    return requests


def _on_bucket(action: str) -> Mapper:
    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        bucket = _param(call, "Bucket")
        return [IamRequest(action, stack.bucket_arn(bucket), why=_why(call, f"of bucket {bucket}"))]

    return requests


def _listing(action: str) -> Mapper:
    """A listing of a bucket: its prefix and delimiter are the condition keys s3:prefix and s3:delimiter."""

    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        bucket = _param(call, "Bucket")
        context: dict[str, str | list[str]] = {}
        if call.params.get("Prefix") is not None:
            context["s3:prefix"] = call.params["Prefix"]
        if call.params.get("Delimiter") is not None:
            context["s3:delimiter"] = call.params["Delimiter"]
        prefix = call.params.get("Prefix") or ""
        return [IamRequest(action, stack.bucket_arn(bucket), context, why=_why(call, f"of s3://{bucket}/{prefix}"))]

    return requests


def _copy_source(call: RecordedCall, stack: Stack) -> IamRequest:
    """Reading the source of a copy: s3:GetObject, or s3:GetObjectVersion for a version."""
    source = _param(call, "CopySource")
    if isinstance(source, dict):
        bucket, key, version = source["Bucket"], source["Key"], source.get("VersionId")
    else:
        path, _, query = source.lstrip("/").partition("?")
        bucket, _, key = path.partition("/")
        bucket, key = unquote(bucket), unquote(key)
        version = (parse_qs(query).get("versionId") or [None])[0]
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    return IamRequest(action, stack.object_arn(bucket, key), why=_why(call, f"source s3://{bucket}/{key}"))


def _copy(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    return [_copy_source(call, stack), *_on_object("s3:PutObject")(call, stack)]


def _delete_objects(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    bucket = _param(call, "Bucket")
    keys = [item["Key"] for item in (_param(call, "Delete").get("Objects") or [])]
    return [
        IamRequest("s3:DeleteObject", stack.object_arn(bucket, key), why=_why(call, f"of s3://{bucket}/{key}"))
        for key in keys
    ]


def _queue_reference(call: RecordedCall) -> str:
    return call.params.get("QueueUrl") or _param(call, "QueueName")


def _on_queue(action: str) -> Mapper:
    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        arn = stack.queue_arn(_queue_reference(call), call.region)
        return [IamRequest(action, arn, why=_why(call, f"on queue {arn.rsplit(':', 1)[-1]}"))]

    return requests


def _start_message_move_task(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    """The task's own action on the DLQ, and what the mover does with the caller's permissions.

    AWS: the caller needs sqs:StartMessageMoveTask, sqs:ReceiveMessage, sqs:DeleteMessage and
    sqs:GetQueueAttributes on the source (the DLQ), and sqs:SendMessage on the destination: the
    DestinationArn, or else the queues whose redrive policy names the DLQ.
    """
    source = stack.queue_arn(_param(call, "SourceArn"), call.region)
    destinations = [call.params["DestinationArn"]] if call.params.get("DestinationArn") else stack.dlq_sources(source)
    name = source.rsplit(":", 1)[-1]
    found = [IamRequest("sqs:StartMessageMoveTask", source, why=_why(call, f"from {name}"))]
    found += [
        IamRequest(action, source, why=_why(call, f"moves messages out of {name}"))
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    ]
    found += [
        IamRequest(
            "sqs:SendMessage", destination, why=_why(call, f"moves messages into {destination.rsplit(':', 1)[-1]}")
        )
        for destination in destinations
    ]
    return found


def _list_message_move_tasks(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    source = stack.queue_arn(_param(call, "SourceArn"), call.region)
    return [IamRequest("sqs:ListMessageMoveTasks", source, why=_why(call, f"of {source.rsplit(':', 1)[-1]}"))]


def _on_table(action: str) -> Mapper:
    """A table's action; with IndexName (Query, Scan) on the index's ARN."""

    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        table = _param(call, "TableName")
        if call.params.get("IndexName"):
            arn = stack.index_arn(table, call.params["IndexName"], call.region)
            return [IamRequest(action, arn, why=_why(call, f"on index {call.params['IndexName']} of {table}"))]
        return [IamRequest(action, stack.table_arn(table, call.region), why=_why(call, f"on table {table}"))]

    return requests


# The action a transaction needs for each kind of entry, on the entry's table.
TRANSACTION_ENTRIES = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _transaction(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    found = []
    for entry in _param(call, "TransactItems"):
        for kind, body in entry.items():
            if kind not in TRANSACTION_ENTRIES:
                raise UnmappedOperation(replace(call, operation=f"{call.operation} entry {kind}"))
            table = body["TableName"]
            found.append(
                IamRequest(
                    TRANSACTION_ENTRIES[kind],
                    stack.table_arn(table, call.region),
                    why=_why(call, f"{kind} on table {table}"),
                )
            )
    return found


def _batch(action: str) -> Mapper:
    """BatchWriteItem / BatchGetItem: the batch action itself, on each table of the batch."""

    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        return [
            IamRequest(action, stack.table_arn(table, call.region), why=_why(call, f"on table {table}"))
            for table in _param(call, "RequestItems")
        ]

    return requests


def _invoke(action: str) -> Mapper:
    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        arn = stack.function_arn(_param(call, "FunctionName"), call.params.get("Qualifier") or "", call.region)
        kind = call.params.get("InvocationType") or "RequestResponse"
        return [IamRequest(action, arn, why=_why(call, f"({kind}) of {arn.split(':function:', 1)[-1]}"))]

    return requests


def _publish(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    topic = call.params.get("TopicArn") or _param(call, "TargetArn")
    return [IamRequest("sns:Publish", topic, why=_why(call, f"to {topic.rsplit(':', 1)[-1]}"))]


def _put_metric_data(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    # PutMetricData names no resource; a policy may only narrow it by namespace.
    namespace = _param(call, "Namespace")
    return [
        IamRequest("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace}, _why(call, f"in {namespace}"))
    ]


def _put_events(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    buses = dict.fromkeys(entry.get("EventBusName") or "default" for entry in _param(call, "Entries"))
    return [
        IamRequest("events:PutEvents", stack.event_bus_arn(bus, call.region), why=_why(call, f"to bus {bus}"))
        for bus in buses
    ]


def _on_key(action: str) -> Mapper:
    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        arn = stack.key_arn(_param(call, "KeyId"), call.region)
        return [IamRequest(action, arn, {"kms:CallerAccount": stack.account}, _why(call, f"with key {arn}"))]

    return requests


def _anywhere(action: str) -> Mapper:
    """An action that names no resource (Resource "*" is the only grant that covers it)."""

    def requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
        return [IamRequest(action, "*", why=call.operation)]

    return requests


def _no_permission(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    return []


def _api_request(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    """A SigV4-signed request to an HTTP API route with AWS_IAM authorization: execute-api:Invoke on the route."""
    url = _param(call, "url")
    arn = stack.api_request_arn(call.operation, url, call.region)
    return [IamRequest("execute-api:Invoke", arn, why=f"{call.operation.upper()} {url}")]


OBJECT_WRITES = ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")

OPERATIONS: dict[tuple[str, str], Mapper] = {
    # S3 (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html)
    ("s3", "GetObject"): _on_object("s3:GetObject"),
    ("s3", "HeadObject"): _on_object("s3:GetObject"),
    ("s3", "PutObject"): _on_object("s3:PutObject"),
    ("s3", "DeleteObject"): _on_object("s3:DeleteObject"),
    ("s3", "DeleteObjects"): _delete_objects,
    ("s3", "CopyObject"): _copy,
    **{("s3", operation): _on_object("s3:PutObject") for operation in OBJECT_WRITES},
    ("s3", "UploadPartCopy"): _copy,
    ("s3", "AbortMultipartUpload"): _on_object("s3:AbortMultipartUpload"),
    ("s3", "ListParts"): _on_object("s3:ListMultipartUploadParts"),
    ("s3", "GetObjectTagging"): _on_object("s3:GetObjectTagging"),
    ("s3", "PutObjectTagging"): _on_object("s3:PutObjectTagging"),
    ("s3", "ListObjects"): _listing("s3:ListBucket"),
    ("s3", "ListObjectsV2"): _listing("s3:ListBucket"),
    ("s3", "ListObjectVersions"): _listing("s3:ListBucketVersions"),
    ("s3", "ListMultipartUploads"): _on_bucket("s3:ListBucketMultipartUploads"),
    ("s3", "HeadBucket"): _on_bucket("s3:ListBucket"),
    ("s3", "GetBucketLocation"): _on_bucket("s3:GetBucketLocation"),
    # SQS: a batch needs its single action (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html)
    ("sqs", "SendMessage"): _on_queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _on_queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _on_queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _on_queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _on_queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _on_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _on_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _on_queue("sqs:GetQueueAttributes"),
    ("sqs", "SetQueueAttributes"): _on_queue("sqs:SetQueueAttributes"),
    ("sqs", "GetQueueUrl"): _on_queue("sqs:GetQueueUrl"),
    ("sqs", "PurgeQueue"): _on_queue("sqs:PurgeQueue"),
    ("sqs", "ListDeadLetterSourceQueues"): _on_queue("sqs:ListDeadLetterSourceQueues"),
    ("sqs", "ListQueues"): _anywhere("sqs:ListQueues"),
    ("sqs", "StartMessageMoveTask"): _start_message_move_task,
    ("sqs", "ListMessageMoveTasks"): _list_message_move_tasks,
    # DynamoDB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/api-permissions-reference.html)
    **{
        ("dynamodb", operation): _on_table(f"dynamodb:{operation}")
        for operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable")
    },
    ("dynamodb", "TransactWriteItems"): _transaction,
    ("dynamodb", "TransactGetItems"): _transaction,
    ("dynamodb", "BatchWriteItem"): _batch("dynamodb:BatchWriteItem"),
    ("dynamodb", "BatchGetItem"): _batch("dynamodb:BatchGetItem"),
    # Lambda
    ("lambda", "Invoke"): _invoke("lambda:InvokeFunction"),
    ("lambda", "InvokeWithResponseStream"): _invoke("lambda:InvokeFunction"),
    ("lambda", "GetFunction"): _invoke("lambda:GetFunction"),
    ("lambda", "GetFunctionConfiguration"): _invoke("lambda:GetFunctionConfiguration"),
    # SNS
    ("sns", "Publish"): _publish,
    ("sns", "PublishBatch"): _publish,
    # CloudWatch and EventBridge
    ("cloudwatch", "PutMetricData"): _put_metric_data,
    ("events", "PutEvents"): _put_events,
    # KMS called directly
    ("kms", "Decrypt"): _on_key("kms:Decrypt"),
    ("kms", "Encrypt"): _on_key("kms:Encrypt"),
    ("kms", "GenerateDataKey"): _on_key("kms:GenerateDataKey"),
    ("kms", "DescribeKey"): _on_key("kms:DescribeKey"),
    # STS GetCallerIdentity needs no permission: AWS answers it even when every action is denied.
    ("sts", "GetCallerIdentity"): _no_permission,
    # A SigV4-signed HTTP request to an API (the recorder names it by its method)
    **{
        ("execute-api", method): _api_request for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    },
}


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
    operation = call.operation.upper() if call.service == "execute-api" else call.operation
    mapper = OPERATIONS.get((call.service, operation))
    if mapper is None:
        raise UnmappedOperation(call)
    found = []
    for request in mapper(call, stack):
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
        for request in iam_requests(call, stack):
            request = replace(request, context={**request.context, **principal_context(role_arn, stack.account)})
            cases.append(
                Case(
                    principal=session,
                    principal_label=call.principal,
                    request=request,
                    resource_account=stack.account,
                    identity_policies=identity,
                    permissions_boundary=boundary,
                    resource_policy=policies.of(request.resource),
                )
            )
    return _distinct(cases)


def caller_cases(calls: Sequence[RecordedCall], stack: Stack, user_policy: NamedPolicy) -> list[Case]:
    """The job client's calls, made by a user whose only policy is `user_policy`."""
    policies = _ResourcePolicies(stack)
    cases = []
    for call in calls:
        user_arn = f"arn:aws:iam::{stack.account}:user/{call.principal}"
        for request in iam_requests(call, stack):
            request = replace(request, context={**request.context, **principal_context(user_arn, stack.account)})
            cases.append(
                Case(
                    principal=user_arn,
                    principal_label=call.principal,
                    request=request,
                    resource_account=stack.account,
                    identity_policies=(user_policy,),
                    resource_policy=policies.of(request.resource),
                )
            )
    return _distinct(cases)


def __getattr__(name: str) -> Any:
    # service_cases and trigger_cases live in services.py (which builds on this module); they are
    # importable from here as well, without a circular import at load time.
    if name in ("service_cases", "trigger_cases"):
        from iam_check import services

        return getattr(services, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
