"""The IAM check's mapping (tests/iam_check/stack.py, names.py, policies.py, translation.py, requests.py,
operations.py, services.py): from a stack dump and recorded calls to the IAM requests and cases an engine
decides. No emulator, no engine: the synthetic dumps in iam_fixtures/ are one root in two shapes
(local-stack.json as the emulator renders it, prod-stack.json with a key and a permissions boundary made
outside Terraform)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from iam_check.model import NamedPolicy, RecordedCall
from iam_check.requests import UnmappedOperation, caller_cases, function_cases, iam_requests
from iam_check.services import service_cases, trigger_cases
from iam_check.stack import Stack, StackError

FIXTURES = Path(__file__).with_name("iam_fixtures")
ACCOUNT, PROD_ACCOUNT = "000000000000", "123456789012"
BUCKET = "fx-jobs-20260101000000000000000001"
PROD_BUCKET = "fxp-jobs-20260202000000000000000002"
QUEUE_URL = f"http://127.0.0.1:4566/{ACCOUNT}/fx-work"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:fx-work"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:fx-work-dlq"
QUEUE_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-1111-1111-1111-111111111111"
PROD_KEY = f"arn:aws:kms:eu-west-1:{PROD_ACCOUNT}:key/22222222-2222-2222-2222-222222222222"
ALERTS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/aaaaaaaa-0000-0000-0000-aaaaaaaaaaaa"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/fx-jobs"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:fx-subtasks"
ALERTS_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:fx-alerts"
EXECUTION_ARN = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abcd1234"


@pytest.fixture(scope="module")
def local() -> Stack:
    return Stack.load(FIXTURES / "local-stack.json")


@pytest.fixture(scope="module")
def prod() -> Stack:
    return Stack.load(FIXTURES / "prod-stack.json")


def dump_with(tmp_path: Path, change) -> Stack:
    """The local dump with one change made to its raw JSON."""
    dump = json.loads((FIXTURES / "local-stack.json").read_text())
    change(dump)
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(dump))
    return Stack.load(path)


def call(
    operation: str, service: str = "s3", principal: str = "fx-worker", kind: str = "function", **params
) -> RecordedCall:
    return RecordedCall(kind, principal, service, operation, params, "us-east-1")


def shapes(requests) -> list[tuple[str, str]]:
    return [(request.action, request.resource) for request in requests]


# -- the stack --------------------------------------------------------------------------------------------


def test_a_dump_names_its_stack_functions_and_roles(local):
    assert (local.name, local.shape, local.account, local.region) == ("fx", "local", ACCOUNT, "us-east-1")
    assert local.function_names() == ["fx-ventilator", "fx-worker"]
    assert local.role_arn("fx-worker") == f"arn:aws:iam::{ACCOUNT}:role/fx-worker-us-east-1"


def test_identity_policies_are_the_roles_inline_and_attached_policies_as_rendered(local):
    policies = local.identity_policies(local.role_arn("fx-ventilator"))

    assert [policy.name for policy in policies] == [
        "role fx-ventilator-us-east-1, inline policy least-privilege",
        f"role fx-ventilator-us-east-1, attached policy arn:aws:iam::{ACCOUNT}:policy/fx-shared",
    ]
    assert policies[0].document["Statement"][0]["Sid"] == "ReadInputs"
    assert policies[1].document["Statement"][0]["Sid"] == "ReadTheTable"


def test_an_attached_policy_whose_document_is_unknown_is_an_error_naming_it(tmp_path):
    managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

    def attach(dump):
        dump["state"]["resources"].append(
            {
                "mode": "managed",
                "type": "aws_iam_role_policy_attachment",
                "name": "basic",
                "instances": [{"attributes": {"role": "fx-worker-us-east-1", "policy_arn": managed}}],
            }
        )

    stack = dump_with(tmp_path, attach)

    with pytest.raises(StackError, match="AWSLambdaBasicExecutionRole"):
        stack.identity_policies(stack.role_arn("fx-worker"))


def test_the_permissions_boundary_comes_from_the_dumps_extra_policies(local, prod, tmp_path):
    assert local.permissions_boundary(local.role_arn("fx-worker")) is None
    boundary = prod.permissions_boundary(prod.role_arn("fxp-worker"))
    assert boundary.name == f"permissions boundary arn:aws:iam::{PROD_ACCOUNT}:policy/fxp-boundary"
    assert boundary.document["Statement"][0]["Sid"] == "StackServices"

    def unknown_boundary(dump):
        for resource in dump["state"]["resources"]:
            if resource["type"] == "aws_iam_role":
                resource["instances"][0]["attributes"]["permissions_boundary"] = "arn:aws:iam::000000000000:policy/gone"

    stack = dump_with(tmp_path, unknown_boundary)
    with pytest.raises(StackError, match="policy/gone"):
        stack.permissions_boundary(stack.role_arn("fx-worker"))


def test_resource_policies_of_buckets_objects_queues_topics_and_keys(local, prod):
    bucket_policy = local.resource_policy(f"arn:aws:s3:::{BUCKET}")
    assert bucket_policy.name == f"bucket policy of {BUCKET}"
    assert local.resource_policy(f"arn:aws:s3:::{BUCKET}/inputs/a.txt") == bucket_policy
    assert local.resource_policy(DLQ_ARN).document["Statement"][1]["Sid"] == "AcceptUndeliverableNotifications"
    # aws_sns_topic_policy replaces the topic's own (default) policy
    assert [s["Sid"] for s in local.resource_policy(ALERTS_ARN).document["Statement"]] == [
        "DenyInsecureTransport",
        "CloudWatchAlarmsPublish",
    ]
    assert local.resource_policy(TOPIC_ARN).document["Statement"][0]["Sid"] == "__default_statement_ID"
    assert local.resource_policy(QUEUE_KEY).name == f"key policy of {QUEUE_KEY}"
    assert prod.resource_policy(PROD_KEY).document["Statement"][1]["Sid"] == "SnsDeliversToTheDlq"
    assert local.resource_policy(TABLE_ARN) is None


def test_a_key_without_a_known_policy_is_an_error(local):
    with pytest.raises(StackError, match="extra_policies"):
        local.resource_policy(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/not-in-the-dump")


def test_a_functions_policy_is_assembled_from_its_permissions_as_lambda_writes_it(local):
    policy = local.resource_policy(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-ventilator")

    assert policy.name == "function policy of fx-ventilator"
    by_sid = {statement["Sid"]: statement for statement in policy.document["Statement"]}
    assert by_sid["AllowJobBucketUploads"] == {
        "Sid": "AllowJobBucketUploads",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-ventilator",
        "Condition": {
            "ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::{BUCKET}"},
            "StringEquals": {"AWS:SourceAccount": ACCOUNT},
        },
    }
    # The emulator renders execute-api ARNs without the account; AWS (and the engine) have it.
    assert by_sid["AllowHttpApiInvoke"]["Condition"] == {"ArnLike": {"AWS:SourceArn": f"{EXECUTION_ARN}/*/*/jobs*"}}
    # A qualified ARN has only the permissions made for that qualifier: none here.
    assert local.resource_policy(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-ventilator:live") is None


def test_names_urls_and_arns_resolve_to_the_stacks_arns(local):
    assert local.queue_arn(QUEUE_URL) == QUEUE_ARN
    # The emulator also answers queue URLs on other hosts: a queue is its account and name.
    assert local.queue_arn(f"http://sqs.us-east-1.localhost:4566/{ACCOUNT}/fx-work") == QUEUE_ARN
    assert local.queue_arn("fx-work") == QUEUE_ARN
    assert local.table_arn("fx-jobs") == TABLE_ARN
    assert local.index_arn("fx-jobs", "by-status") == f"{TABLE_ARN}/index/by-status"
    assert local.function_arn("fx-worker:live") == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-worker:live"
    assert (
        local.function_arn(f"{ACCOUNT}:function:fx-worker") == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-worker"
    )
    assert local.address_of(QUEUE_URL) == "module.app.aws_sqs_queue.work"
    assert local.address_of(TABLE_ARN) == "module.app.aws_dynamodb_table.jobs"
    assert local.address_of("fx-worker") == "module.app.module.worker.aws_lambda_function.this"
    with pytest.raises(StackError, match="no resource of stack fx"):
        local.address_of("somebody-elses-queue")


def test_the_encryption_key_is_a_customer_managed_one_or_none(local, prod):
    assert local.encryption_key(QUEUE_ARN) == QUEUE_KEY
    assert local.encryption_key(ALERTS_ARN) == ALERTS_KEY
    assert local.encryption_key(TOPIC_ARN) is None  # alias/aws/sns
    assert local.encryption_key(f"arn:aws:s3:::{BUCKET}/inputs/a") is None  # SSE-S3
    assert local.encryption_key(f"{TABLE_ARN}/index/by-status") is None  # alias/aws/dynamodb
    assert prod.encryption_key(f"arn:aws:s3:::{PROD_BUCKET}/inputs/a") == PROD_KEY
    assert prod.encryption_key(f"arn:aws:sqs:eu-west-1:{PROD_ACCOUNT}:fxp-work") == PROD_KEY


def test_outputs_are_read_and_a_policy_output_is_parsed(local):
    assert local.has_output("job_client_policy_json")
    assert local.output("job_client_policy_json")["Statement"][0]["Sid"] == "SubmitJobs"
    assert local.output("fan_out") == {"bucket_name": BUCKET}
    assert not local.has_output("nothing")


def test_translate_maps_every_resource_and_the_function_onto_the_other_shape(local, prod):
    calls = [
        call("PutObject", Bucket=BUCKET, Key="inputs/a.txt"),
        call("CopyObject", Bucket=BUCKET, Key="results/r", CopySource=f"{BUCKET}/reductions/x"),
        call("SendMessageBatch", "sqs", QueueUrl=QUEUE_URL),
        call("TransactWriteItems", "dynamodb", TransactItems=[{"Put": {"TableName": "fx-jobs"}}]),
        call("BatchGetItem", "dynamodb", RequestItems={"fx-jobs": ["Keys"]}),
        call("Invoke", "lambda", FunctionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-ventilator:live"),
        call("PublishBatch", "sns", TopicArn=TOPIC_ARN),
        call("POST", "execute-api", "job-user", "caller", url="http://abcd1234.execute-api.localhost:4566/jobs"),
    ]

    translated = [local.translate(each, prod) for each in calls]

    assert translated[0].principal == "fxp-worker"
    assert translated[0].region == "eu-west-1"
    assert [each.params for each in translated] == [
        {"Bucket": PROD_BUCKET, "Key": "inputs/a.txt"},
        {"Bucket": PROD_BUCKET, "Key": "results/r", "CopySource": f"{PROD_BUCKET}/reductions/x"},
        {"QueueUrl": f"http://127.0.0.1:4566/{PROD_ACCOUNT}/fxp-work"},
        {"TransactItems": [{"Put": {"TableName": "fxp-jobs"}}]},
        {"RequestItems": {"fxp-jobs": ["Keys"]}},
        {"FunctionName": f"arn:aws:lambda:eu-west-1:{PROD_ACCOUNT}:function:fxp-ventilator:live"},
        {"TopicArn": f"arn:aws:sns:eu-west-1:{PROD_ACCOUNT}:fxp-subtasks"},
        {"url": "http://prod5678.execute-api.localhost:4566/jobs"},
    ]
    assert translated[-1].principal == "job-user"


def test_translate_refuses_a_resource_the_stack_does_not_own(local, prod):
    with pytest.raises(StackError, match="no resource of stack fx"):
        local.translate(call("GetObject", Bucket="someone-elses", Key="k"), prod)


def test_a_stack_owns_the_calls_that_name_its_resources(local, prod):
    assert local.owns(call("GetObject", Bucket=BUCKET, Key="k"))
    assert local.owns(call("GET", "execute-api", url="http://abcd1234.execute-api.localhost:4566/jobs/j1"))
    assert not prod.owns(call("GetObject", Bucket=BUCKET, Key="k"))


# -- calls to IAM requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("HeadObject", {"Key": "inputs/a"}, [("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/a")]),
        ("GetObject", {"Key": "inputs/a"}, [("s3:GetObject", f"arn:aws:s3:::{BUCKET}/inputs/a")]),
        (
            "CopyObject",
            {"Key": "results/r", "CopySource": {"Bucket": BUCKET, "Key": "reductions/x"}},
            [
                ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/reductions/x"),
                ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/results/r"),
            ],
        ),
        (
            "CopyObject",
            {"Key": "results/r", "CopySource": f"/{BUCKET}/reductions/a%20b?versionId=v1"},
            [
                ("s3:GetObjectVersion", f"arn:aws:s3:::{BUCKET}/reductions/a b"),
                ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/results/r"),
            ],
        ),
        ("CreateMultipartUpload", {"Key": "inputs/big"}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/inputs/big")]),
        ("UploadPart", {"Key": "inputs/big"}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/inputs/big")]),
        ("CompleteMultipartUpload", {"Key": "inputs/big"}, [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/inputs/big")]),
        (
            "AbortMultipartUpload",
            {"Key": "inputs/big"},
            [("s3:AbortMultipartUpload", f"arn:aws:s3:::{BUCKET}/inputs/big")],
        ),
        (
            "DeleteObjects",
            {"Delete": {"Objects": [{"Key": "results/a"}, {"Key": "results/b"}]}},
            [
                ("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/results/a"),
                ("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/results/b"),
            ],
        ),
    ],
)
def test_s3_operations_map_to_the_actions_s3_authorizes(local, operation, params, expected):
    assert shapes(iam_requests(call(operation, Bucket=BUCKET, **params), local)) == expected


def test_a_listing_is_list_bucket_on_the_bucket_with_its_prefix_and_delimiter(local):
    [with_prefix] = iam_requests(call("ListObjectsV2", Bucket=BUCKET, Prefix="inputs/j/", Delimiter="/"), local)
    [without] = iam_requests(call("ListObjects", Bucket=BUCKET), local)

    assert (with_prefix.action, with_prefix.resource) == ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}")
    assert with_prefix.context == {"aws:SecureTransport": "true", "s3:prefix": "inputs/j/", "s3:delimiter": "/"}
    assert without.context == {"aws:SecureTransport": "true"}


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("SendMessageBatch", "sqs:SendMessage"),
        ("DeleteMessageBatch", "sqs:DeleteMessage"),
        ("ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
        ("ListDeadLetterSourceQueues", "sqs:ListDeadLetterSourceQueues"),
        ("GetQueueAttributes", "sqs:GetQueueAttributes"),
    ],
)
def test_an_sqs_batch_needs_its_single_action(local, operation, action):
    requests = iam_requests(call(operation, "sqs", QueueUrl=f"http://localhost:4566/{ACCOUNT}/fx-work-dlq"), local)

    assert shapes(requests)[0] == (action, DLQ_ARN)
    assert all(request.action.startswith("kms:") for request in requests[1:])


def test_get_queue_url_is_authorized_on_the_queue_it_names(local):
    assert shapes(iam_requests(call("GetQueueUrl", "sqs", QueueName="fx-work-dlq"), local)) == [
        ("sqs:GetQueueUrl", DLQ_ARN)
    ]


def test_a_message_move_task_needs_what_the_mover_does_on_both_queues(local):
    requests = iam_requests(call("StartMessageMoveTask", "sqs", SourceArn=DLQ_ARN), local)

    # Both queues are under a customer managed key: receiving decrypts, sending encrypts.
    assert shapes(requests) == [
        ("sqs:StartMessageMoveTask", DLQ_ARN),
        ("sqs:ReceiveMessage", DLQ_ARN),
        ("kms:Decrypt", QUEUE_KEY),
        ("sqs:DeleteMessage", DLQ_ARN),
        ("sqs:GetQueueAttributes", DLQ_ARN),
        ("sqs:SendMessage", QUEUE_ARN),  # back to the queue whose redrive policy names the DLQ
        ("kms:GenerateDataKey", QUEUE_KEY),
        ("kms:Decrypt", QUEUE_KEY),
    ]
    destination = f"arn:aws:sqs:us-east-1:{ACCOUNT}:elsewhere"
    named = iam_requests(call("StartMessageMoveTask", "sqs", SourceArn=DLQ_ARN, DestinationArn=destination), local)
    assert shapes(named)[-1] == ("sqs:SendMessage", destination)
    assert shapes(iam_requests(call("ListMessageMoveTasks", "sqs", SourceArn=DLQ_ARN), local)) == [
        ("sqs:ListMessageMoveTasks", DLQ_ARN)
    ]


def test_dynamodb_transactions_batches_and_index_queries(local):
    transaction = call(
        "TransactWriteItems",
        "dynamodb",
        TransactItems=[
            {"Put": {"TableName": "fx-jobs"}},
            {"Update": {"TableName": "fx-jobs"}},
            {"Delete": {"TableName": "fx-jobs"}},
            {"ConditionCheck": {"TableName": "fx-jobs"}},
        ],
    )
    assert shapes(iam_requests(transaction, local)) == [
        ("dynamodb:PutItem", TABLE_ARN),
        ("dynamodb:UpdateItem", TABLE_ARN),
        ("dynamodb:DeleteItem", TABLE_ARN),
        ("dynamodb:ConditionCheckItem", TABLE_ARN),
    ]
    reads = call("TransactGetItems", "dynamodb", TransactItems=[{"Get": {"TableName": "fx-jobs"}}])
    assert shapes(iam_requests(reads, local)) == [("dynamodb:GetItem", TABLE_ARN)]
    other = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/other"
    batch = call(
        "BatchWriteItem", "dynamodb", RequestItems={"fx-jobs": ["PutRequest", "DeleteRequest"], "other": ["PutRequest"]}
    )
    assert shapes(iam_requests(batch, local)) == [
        ("dynamodb:BatchWriteItem", TABLE_ARN),
        ("dynamodb:BatchWriteItem", other),
    ]
    assert shapes(iam_requests(call("BatchGetItem", "dynamodb", RequestItems={"fx-jobs": ["Keys"]}), local)) == [
        ("dynamodb:BatchGetItem", TABLE_ARN)
    ]
    assert shapes(iam_requests(call("Query", "dynamodb", TableName="fx-jobs", IndexName="by-status"), local)) == [
        ("dynamodb:Query", f"{TABLE_ARN}/index/by-status")
    ]
    assert shapes(iam_requests(call("Query", "dynamodb", TableName="fx-jobs"), local)) == [
        ("dynamodb:Query", TABLE_ARN)
    ]


def test_invoke_publish_metrics_and_caller_identity(local):
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-ventilator"
    assert shapes(
        iam_requests(call("Invoke", "lambda", FunctionName="fx-ventilator", InvocationType="Event"), local)
    ) == [("lambda:InvokeFunction", function)]
    assert shapes(iam_requests(call("Invoke", "lambda", FunctionName="fx-ventilator", Qualifier="live"), local)) == [
        ("lambda:InvokeFunction", f"{function}:live")
    ]
    assert shapes(iam_requests(call("PublishBatch", "sns", TopicArn=TOPIC_ARN), local)) == [("sns:Publish", TOPIC_ARN)]
    [metrics] = iam_requests(call("PutMetricData", "cloudwatch", Namespace="ServerlessPatterns"), local)
    assert (metrics.action, metrics.resource) == ("cloudwatch:PutMetricData", "*")
    assert metrics.context["cloudwatch:namespace"] == "ServerlessPatterns"
    assert iam_requests(call("GetCallerIdentity", "sts"), local) == []


@pytest.mark.parametrize(
    ("method", "url", "resource"),
    [
        ("POST", "http://abcd1234.execute-api.localhost:4566/jobs", f"{EXECUTION_ARN}/$default/POST/jobs"),
        (
            "get",
            "https://abcd1234.execute-api.us-east-1.amazonaws.com/jobs/j1?x=1",
            f"{EXECUTION_ARN}/$default/GET/jobs/j1",
        ),
        (
            "DELETE",
            "http://127.0.0.1:4566/_aws/execute-api/abcd1234/%24default/jobs/j1",
            f"{EXECUTION_ARN}/$default/DELETE/jobs/j1",
        ),
    ],
)
def test_a_signed_api_request_is_execute_api_invoke_on_its_route(local, method, url, resource):
    assert shapes(iam_requests(call(method, "execute-api", "job-user", "caller", url=url), local)) == [
        ("execute-api:Invoke", resource)
    ]


def test_an_operation_the_table_does_not_know_fails_naming_it_and_the_file(local):
    with pytest.raises(UnmappedOperation) as raised:
        iam_requests(call("PutBucketPolicy", Bucket=BUCKET), local)

    message = str(raised.value)
    assert "\n" not in message
    assert "s3 PutBucketPolicy" in message
    assert "tests/iam_check/operations.py" in message


def test_every_request_is_made_over_https(local):
    for each in iam_requests(call("SendMessage", "sqs", QueueUrl=QUEUE_URL), local):
        assert each.context["aws:SecureTransport"] == "true"


# -- what a customer managed key adds ---------------------------------------------------------------------


def test_a_customer_managed_key_implies_the_kms_requests_the_service_makes(local):
    send = iam_requests(call("SendMessage", "sqs", QueueUrl=QUEUE_URL), local)
    receive = iam_requests(call("ReceiveMessage", "sqs", QueueUrl=QUEUE_URL), local)
    alert = iam_requests(call("Publish", "sns", TopicArn=ALERTS_ARN), local)

    assert shapes(send) == [
        ("sqs:SendMessage", QUEUE_ARN),
        ("kms:GenerateDataKey", QUEUE_KEY),
        ("kms:Decrypt", QUEUE_KEY),
    ]
    assert send[1].context == {
        "aws:SecureTransport": "true",
        "kms:ViaService": "sqs.us-east-1.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
    }
    assert shapes(receive) == [("sqs:ReceiveMessage", QUEUE_ARN), ("kms:Decrypt", QUEUE_KEY)]
    assert shapes(alert) == [
        ("sns:Publish", ALERTS_ARN),
        ("kms:GenerateDataKey", ALERTS_KEY),
        ("kms:Decrypt", ALERTS_KEY),
    ]
    assert alert[1].context["kms:ViaService"] == "sns.us-east-1.amazonaws.com"


def test_aws_managed_and_service_owned_keys_imply_nothing(local):
    assert shapes(iam_requests(call("Publish", "sns", TopicArn=TOPIC_ARN), local)) == [("sns:Publish", TOPIC_ARN)]
    assert len(iam_requests(call("PutObject", Bucket=BUCKET, Key="inputs/a"), local)) == 1
    assert len(iam_requests(call("PutItem", "dynamodb", TableName="fx-jobs"), local)) == 1
    assert len(iam_requests(call("DeleteMessage", "sqs", QueueUrl=QUEUE_URL), local)) == 1  # no payload to decrypt


def test_s3_under_a_customer_managed_key_writes_generate_and_reads_decrypt(prod):
    region_call = lambda operation, **params: RecordedCall(  # noqa: E731
        "function", "fxp-worker", "s3", operation, {"Bucket": PROD_BUCKET, **params}, "eu-west-1"
    )
    put = iam_requests(region_call("PutObject", Key="inputs/a"), prod)
    part = iam_requests(region_call("UploadPart", Key="inputs/a"), prod)
    get = iam_requests(region_call("HeadObject", Key="inputs/a"), prod)
    copy_within = iam_requests(
        region_call("CopyObject", Key="results/r", CopySource=f"{PROD_BUCKET}/reductions/x"), prod
    )

    assert [action for action, _ in shapes(put)] == ["s3:PutObject", "kms:GenerateDataKey"]
    assert put[1].context["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    assert [action for action, _ in shapes(part)] == ["s3:PutObject", "kms:GenerateDataKey", "kms:Decrypt"]
    assert shapes(get)[1] == ("kms:Decrypt", PROD_KEY)
    assert [action for action, _ in shapes(copy_within)] == [
        "s3:GetObject",
        "kms:Decrypt",
        "s3:PutObject",
        "kms:GenerateDataKey",
    ]


def test_a_write_naming_its_own_key_implies_that_key(local):
    requests = iam_requests(call("PutObject", Bucket=BUCKET, Key="inputs/a", SSEKMSKeyId=QUEUE_KEY), local)
    aws_managed = iam_requests(call("PutObject", Bucket=BUCKET, Key="inputs/a", SSEKMSKeyId="alias/aws/s3"), local)

    assert shapes(requests)[1] == ("kms:GenerateDataKey", QUEUE_KEY)
    assert len(aws_managed) == 1


# -- cases ------------------------------------------------------------------------------------------------


def test_a_functions_calls_are_decided_by_its_roles_policies_and_the_resources(local):
    cases = function_cases(
        [
            call("GetObject", Bucket=BUCKET, Key="inputs/a"),
            call("SendMessage", "sqs", principal="fx-ventilator", QueueUrl=QUEUE_URL),
        ],
        local,
    )

    get, send, generate, decrypt = cases
    assert get.principal == f"arn:aws:sts::{ACCOUNT}:assumed-role/fx-worker-us-east-1/fx-worker"
    assert get.principal_label == "fx-worker"
    assert get.resource_account == ACCOUNT
    assert [policy.name for policy in get.identity_policies] == [
        "role fx-worker-us-east-1, inline policy least-privilege"
    ]
    assert get.permissions_boundary is None
    assert get.resource_policy.name == f"bucket policy of {BUCKET}"
    assert get.request.context == {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/fx-worker-us-east-1",
        "aws:PrincipalAccount": ACCOUNT,
    }
    assert send.resource_policy.name == "queue policy of fx-work"
    assert (generate.request.action, generate.resource_policy.name) == (
        "kms:GenerateDataKey",
        f"key policy of {QUEUE_KEY}",
    )
    assert decrypt.request.context["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:role/fx-ventilator-us-east-1"


def test_repeated_calls_make_one_case(local):
    repeated = [call("GetObject", Bucket=BUCKET, Key="inputs/a")] * 3 + [
        call("GetObject", Bucket=BUCKET, Key="inputs/b")
    ]

    assert [case.request.resource for case in function_cases(repeated, local)] == [
        f"arn:aws:s3:::{BUCKET}/inputs/a",
        f"arn:aws:s3:::{BUCKET}/inputs/b",
    ]


def test_the_prod_shape_decides_translated_calls_with_its_boundary_and_key(local, prod):
    translated = local.translate(call("SendMessage", "sqs", principal="fx-ventilator", QueueUrl=QUEUE_URL), prod)

    send, generate, _ = function_cases([translated], prod)
    assert send.principal == f"arn:aws:sts::{PROD_ACCOUNT}:assumed-role/fxp-ventilator-eu-west-1/fxp-ventilator"
    assert send.request.resource == f"arn:aws:sqs:eu-west-1:{PROD_ACCOUNT}:fxp-work"
    assert send.permissions_boundary.name == f"permissions boundary arn:aws:iam::{PROD_ACCOUNT}:policy/fxp-boundary"
    assert (generate.request.resource, generate.resource_policy.name) == (PROD_KEY, f"key policy of {PROD_KEY}")


def test_a_callers_calls_are_decided_by_the_user_policy_alone(local):
    policy = NamedPolicy("job_client_policy_json of fx", local.output("job_client_policy_json"))
    calls = [
        call("POST", "execute-api", "job-user", "caller", url="http://abcd1234.execute-api.localhost:4566/jobs"),
        call("PutObject", principal="job-user", kind="caller", Bucket=BUCKET, Key="inputs/a"),
    ]

    invoke, put = caller_cases(calls, local, policy)

    assert invoke.principal == f"arn:aws:iam::{ACCOUNT}:user/job-user"
    assert invoke.identity_policies == (policy,)
    assert invoke.resource_policy is None  # HTTP APIs have no resource policy
    assert invoke.request.resource == f"{EXECUTION_ARN}/$default/POST/jobs"
    assert put.resource_policy.name == f"bucket policy of {BUCKET}"
    assert put.request.context["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:user/job-user"


def test_service_cases_are_what_lambda_does_with_each_functions_role(local):
    by_function: dict[str, list[tuple[str, str]]] = {}
    for case in service_cases(local):
        assert case.request.why.startswith("service: ")
        assert case.principal.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{case.principal_label}-us-east-1/")
        by_function.setdefault(case.principal_label, []).append((case.request.action, case.request.resource))

    worker_stream = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/fx-worker:log-stream:"
    worker = by_function["fx-worker"]
    assert worker[:5] == [
        ("sqs:ReceiveMessage", QUEUE_ARN),
        ("kms:Decrypt", QUEUE_KEY),
        ("sqs:DeleteMessage", QUEUE_ARN),
        ("sqs:GetQueueAttributes", QUEUE_ARN),
        ("sqs:ChangeMessageVisibility", QUEUE_ARN),
    ]
    assert [(action, resource.startswith(worker_stream)) for action, resource in worker[5:7]] == [
        ("logs:CreateLogStream", True),
        ("logs:PutLogEvents", True),
    ]
    assert worker[7:] == [("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")]  # tracing Active
    ventilator = by_function["fx-ventilator"]
    assert ventilator[:3] == [  # its on-failure destination, under the queues' key
        ("sqs:SendMessage", DLQ_ARN),
        ("kms:GenerateDataKey", QUEUE_KEY),
        ("kms:Decrypt", QUEUE_KEY),
    ]
    assert [action for action, _ in ventilator[3:]] == ["logs:CreateLogStream", "logs:PutLogEvents"]  # PassThrough


def triggers(stack: Stack) -> list[tuple[str, str, str, str, str, bool]]:
    return [
        (
            case.principal,
            case.request.action,
            case.request.resource,
            case.request.context["aws:SourceArn"],
            case.request.context["aws:SourceAccount"],
            allowed,
        )
        for case, allowed in trigger_cases(stack)
    ]


def test_each_trigger_comes_from_a_genuine_source_and_its_foreign_twin(local):
    found = triggers(local)
    ventilator = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-ventilator"
    worker = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fx-worker"
    foreign_topic = TOPIC_ARN.replace(ACCOUNT, "111122223333")

    assert ("sns.amazonaws.com", "lambda:InvokeFunction", worker, TOPIC_ARN, ACCOUNT, True) in found
    assert ("sns.amazonaws.com", "lambda:InvokeFunction", worker, foreign_topic, "111122223333", False) in found
    # A bucket's ARN has no account: the twin is the same name in another account (deleted, then taken).
    assert ("s3.amazonaws.com", "lambda:InvokeFunction", ventilator, f"arn:aws:s3:::{BUCKET}", ACCOUNT, True) in found
    assert (
        "s3.amazonaws.com",
        "lambda:InvokeFunction",
        ventilator,
        f"arn:aws:s3:::{BUCKET}",
        "111122223333",
        False,
    ) in found
    # Each route the API integrates with the function, as a concrete request.
    routes = [
        source for principal, _, _, source, _, allowed in found if principal == "apigateway.amazonaws.com" and allowed
    ]
    assert routes == [f"{EXECUTION_ARN}/$default/GET/jobs/example", f"{EXECUTION_ARN}/$default/POST/jobs"]
    assert (
        "apigateway.amazonaws.com",
        "lambda:InvokeFunction",
        ventilator,
        "arn:aws:execute-api:us-east-1:111122223333:abcd1234/$default/POST/jobs",
        "111122223333",
        False,
    ) in found
    genuine = sum(allowed for *_, allowed in found)
    assert genuine * 2 == len(found)


def test_a_policy_statement_for_a_service_is_tried_from_a_concrete_source(local):
    found = triggers(local)
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:fx-work-depth"

    assert ("cloudwatch.amazonaws.com", "sns:Publish", ALERTS_ARN, alarm, ACCOUNT, True) in found
    assert ("sns.amazonaws.com", "sqs:SendMessage", DLQ_ARN, TOPIC_ARN, ACCOUNT, True) in found
    assert (
        "sns.amazonaws.com",
        "sqs:SendMessage",
        DLQ_ARN,
        TOPIC_ARN.replace(ACCOUNT, "111122223333"),
        "111122223333",
        False,
    ) in found


def test_a_write_to_an_encrypted_queue_or_topic_asks_the_key_policy_too(local):
    found = triggers(local)
    foreign_alarm = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:fx-work-depth"

    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert ("sns.amazonaws.com", action, QUEUE_KEY, TOPIC_ARN, ACCOUNT, True) in found
        assert ("cloudwatch.amazonaws.com", action, ALERTS_KEY, foreign_alarm, "111122223333", False) in found
    key_cases = [case for case, _ in trigger_cases(local) if case.request.resource == ALERTS_KEY]
    assert {case.resource_policy.name for case in key_cases} == {f"key policy of {ALERTS_KEY}"}


def test_a_permission_without_a_source_is_still_tried_from_a_foreign_source(tmp_path):
    def no_source(dump):
        for resource in dump["state"]["resources"]:
            if resource["type"] == "aws_lambda_permission" and resource["name"] == "subtask_topic":
                resource["instances"][0]["attributes"]["source_arn"] = None

    stack = dump_with(tmp_path, no_source)
    sources = [
        (source, allowed) for principal, _, _, source, _, allowed in triggers(stack) if principal == "sns.amazonaws.com"
    ][:2]

    # The genuine source is the topic subscribed to the function; its twin must be denied, and will not be.
    assert sources == [(TOPIC_ARN, True), (TOPIC_ARN.replace(ACCOUNT, "111122223333"), False)]


def test_the_fixture_dumps_are_valid_state(local):
    raw = json.loads((FIXTURES / "local-stack.json").read_text())
    assert raw["state"]["version"] == 4
    # The loaded stack is read as AWS renders it; the raw dump keeps the emulator's account-less ARN.
    assert "arn:aws:execute-api:us-east-1::abcd1234" in json.dumps(raw)
    assert "arn:aws:execute-api:us-east-1::" not in json.dumps(copy.deepcopy(local.state))


def test_a_dead_letter_statement_without_a_source_is_tried_from_the_topic_that_redrives_there(tmp_path):
    def no_condition(dump):
        for resource in dump["state"]["resources"]:
            if resource["type"] == "aws_sqs_queue" and resource["name"] == "dlq":
                attributes = resource["instances"][0]["attributes"]
                policy = json.loads(attributes["policy"])
                del policy["Statement"][1]["Condition"]
                attributes["policy"] = json.dumps(policy)

    stack = dump_with(tmp_path, no_condition)
    sources = [(source, allowed) for _, action, _, source, _, allowed in triggers(stack) if action == "sqs:SendMessage"]

    assert sources == [(TOPIC_ARN, True), (TOPIC_ARN.replace(ACCOUNT, "111122223333"), False)]
