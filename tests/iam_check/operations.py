"""The IAM actions each SDK operation needs, on which resource ARNs: the table OPERATIONS.

Each entry maps a (service, operation) call to its IamRequests, after the AWS Service Authorization
Reference and its special cases (a batch needs its single action, a copy reads its source, a
transaction needs each entry's action). `operation_requests(call, stack)` looks a call up; a call the
table does not know raises UnmappedOperation. requests.py adds what a customer managed key implies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, unquote

from iam_check.model import IamRequest, RecordedCall
from iam_check.stack import Stack

Mapper = Callable[[RecordedCall, Stack], list[IamRequest]]


class UnmappedOperation(LookupError):
    """A call the table does not know: new code must not make a call the check cannot prove."""

    def __init__(self, call: RecordedCall) -> None:
        super().__init__(
            f"no IAM mapping for {call.service} {call.operation} (called by {call.principal}): "
            "add it to OPERATIONS in tests/iam_check/operations.py"
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


def operation_requests(call: RecordedCall, stack: Stack) -> list[IamRequest]:
    """The IAM requests of the call's own actions, by the table."""
    operation = call.operation.upper() if call.service == "execute-api" else call.operation
    mapper = OPERATIONS.get((call.service, operation))
    if mapper is None:
        raise UnmappedOperation(call)
    return mapper(call, stack)
