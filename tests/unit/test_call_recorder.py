"""The IAM check's call recorder (tests/iam_check/recorder): what it writes, for whom, and when it stays silent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from iam_check.recorder import call_recorder
from iam_check.recorder.call_recorder import recording_as

RECORDER_DIR = Path(call_recorder.__file__).parent


@pytest.fixture
def call_log(tmp_path, monkeypatch) -> Path:
    """IAM_CALL_LOG_DIR in a temporary folder; no principal of the process's own."""
    log_dir = tmp_path / "calls"
    monkeypatch.setenv("IAM_CALL_LOG_DIR", str(log_dir))
    monkeypatch.delenv("IAM_CALL_PRINCIPAL", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setattr(call_recorder, "_process_principal", None)
    return log_dir


def lines_of(log_dir: Path) -> dict[str, list[dict]]:
    """Each log file's name (without the pid) and its records."""
    if not log_dir.exists():
        return {}
    return {
        path.stem.rsplit("-", 1)[0]: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(log_dir.glob("*.jsonl"))
    }


def test_a_call_inside_recording_as_is_one_line_with_its_identifying_params(aws, call_log):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="jobs")

    with recording_as("job-user"):
        s3.put_object(Bucket="jobs", Key="inputs/a.txt", Body=b"secret words", ServerSideEncryption="aws:kms")

    assert lines_of(call_log) == {
        "job-user": [
            {
                "principal_kind": "caller",
                "principal": "job-user",
                "service": "s3",
                "operation": "PutObject",
                "params": {"Bucket": "jobs", "Key": "inputs/a.txt", "ServerSideEncryption": "aws:kms"},
                "region": "us-east-1",
            }
        ]
    }
    [log_file] = call_log.glob("*.jsonl")
    assert log_file.name == f"job-user-{os.getpid()}.jsonl"


def test_calls_outside_recording_as_are_not_recorded(aws, call_log):
    s3 = boto3.client("s3", region_name="us-east-1")
    with recording_as("job-user"):
        pass

    s3.create_bucket(Bucket="jobs")
    s3.list_objects_v2(Bucket="jobs")

    assert lines_of(call_log) == {}


def test_a_failed_call_is_recorded_as_attempted(aws, call_log):
    s3 = boto3.client("s3", region_name="us-east-1")

    with recording_as("job-user"), pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket="missing", Key="k")

    assert [(line["operation"], line["params"]) for line in lines_of(call_log)["job-user"]] == [
        ("GetObject", {"Bucket": "missing", "Key": "k"})
    ]


def test_a_lambda_environment_records_under_its_function(aws, call_log, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "it1-fo-worker")
    monkeypatch.setenv("IAM_CALL_PRINCIPAL", "job-user")  # inherited from a caller's shell: the function wins
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the import hook goes into a copy
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]  # before: nothing to record it under yet

    assert call_recorder.activate_for_process(os.environ)
    sqs.send_message(QueueUrl=url, MessageBody="a subtask")

    [line] = lines_of(call_log)["it1-fo-worker"]
    assert (line["principal_kind"], line["service"], line["operation"]) == ("function", "sqs", "SendMessage")
    assert line["params"] == {"QueueUrl": url}


def test_an_environment_naming_no_principal_activates_nothing(call_log, monkeypatch):
    assert call_recorder.principal_of_environment({"IAM_CALL_LOG_DIR": "/tmp/x"}) is None
    assert call_recorder.principal_of_environment({"IAM_CALL_PRINCIPAL": "job-user"}) is None  # no log folder
    assert not call_recorder.activate_for_process({"IAM_CALL_LOG_DIR": "/tmp/x"})


def test_transactions_and_batches_are_reduced_to_their_tables(aws, call_log):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for name in ("jobs", "tasks"):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    with recording_as("job-user"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "tasks", "Item": {"pk": {"S": "t1"}, "result": {"S": "secret"}}}},
                {
                    "Update": {
                        "TableName": "jobs",
                        "Key": {"pk": {"S": "j"}},
                        "UpdateExpression": "SET done = :d",
                        "ExpressionAttributeValues": {":d": {"N": "1"}},
                    }
                },
            ]
        )
        dynamodb.batch_write_item(
            RequestItems={
                "tasks": [
                    {"PutRequest": {"Item": {"pk": {"S": "t2"}}}},
                    {"PutRequest": {"Item": {"pk": {"S": "t3"}}}},
                    {"DeleteRequest": {"Key": {"pk": {"S": "t1"}}}},
                ]
            }
        )
        dynamodb.batch_get_item(RequestItems={"jobs": {"Keys": [{"pk": {"S": "j"}}]}})
        dynamodb.get_item(TableName="jobs", Key={"pk": {"S": "j"}})

    transaction, batch_write, batch_get, get = (line["params"] for line in lines_of(call_log)["job-user"])
    assert transaction == {"TransactItems": [{"Put": {"TableName": "tasks"}}, {"Update": {"TableName": "jobs"}}]}
    assert batch_write == {"RequestItems": {"tasks": ["PutRequest", "DeleteRequest"]}}
    assert batch_get == {"RequestItems": {"jobs": ["Keys"]}}
    assert get == {"TableName": "jobs"}  # an item's key is data, not a resource


def test_delete_objects_keeps_the_keys_it_deletes(aws, call_log):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="jobs")

    with recording_as("job-user"):
        s3.delete_objects(Bucket="jobs", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": True})

    [line] = lines_of(call_log)["job-user"]
    assert line["params"] == {"Bucket": "jobs", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b"}]}}


def test_a_request_signed_for_execute_api_is_recorded_with_its_method_and_url(call_log, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    request = AWSRequest(method="DELETE", url="https://abc.execute-api.eu-west-1.amazonaws.com/jobs/j1", data=b"")
    signer = SigV4Auth(boto3.Session().get_credentials(), "execute-api", "eu-west-1")
    other = SigV4Auth(boto3.Session().get_credentials(), "sqs", "eu-west-1")

    with recording_as("job-user"):
        signer.add_auth(request)
        other.add_auth(AWSRequest(method="POST", url="https://sqs.eu-west-1.amazonaws.com/", data=b""))

    assert "Authorization" in request.headers
    assert lines_of(call_log)["job-user"] == [
        {
            "principal_kind": "caller",
            "principal": "job-user",
            "service": "execute-api",
            "operation": "DELETE",
            "params": {"url": "https://abc.execute-api.eu-west-1.amazonaws.com/jobs/j1"},
            "region": "eu-west-1",
        }
    ]


def test_a_log_folder_that_cannot_be_written_never_fails_the_call(aws, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("IAM_CALL_LOG_DIR", str(blocker / "calls"))
    s3 = boto3.client("s3", region_name="us-east-1")

    with recording_as("job-user"):
        s3.create_bucket(Bucket="jobs")

    assert s3.list_buckets()["Buckets"][0]["Name"] == "jobs"


# A process started with the recorder folder on PYTHONPATH: sitecustomize starts it before any import.
CHILD_CALLS = """
import sys
import boto3
from botocore.config import Config
client = boto3.client("sqs", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
                      config=Config(retries={"max_attempts": 1}, connect_timeout=1))
try:
    client.send_message(QueueUrl="http://127.0.0.1:9/000000000000/work", MessageBody="x")
except Exception as error:
    print(type(error).__name__)
print(type(sys.modules["botocore.client"].__loader__).__name__)
"""


def run_child(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("IAM_CALL_", "AWS_LAMBDA_"))}
    env.update(PYTHONPATH=str(RECORDER_DIR), AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", **variables)
    return subprocess.run(
        [sys.executable, "-c", CHILD_CALLS], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_a_process_with_the_recorder_on_its_pythonpath_records_its_calls(tmp_path):
    log_dir = tmp_path / "calls"

    child = run_child(tmp_path, IAM_CALL_LOG_DIR=str(log_dir), IAM_CALL_PRINCIPAL="job-user")

    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["EndpointConnectionError", "PatchingLoader"]
    [line] = lines_of(log_dir)["job-user"]
    assert (line["principal_kind"], line["service"], line["operation"], line["region"]) == (
        "caller",
        "sqs",
        "SendMessage",
        "eu-west-1",
    )


def test_a_process_naming_no_principal_is_left_untouched(tmp_path):
    """The emulator's server: the log folder is set, no function or caller is named."""
    log_dir = tmp_path / "calls"

    child = run_child(tmp_path, IAM_CALL_LOG_DIR=str(log_dir))

    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["EndpointConnectionError", "SourceFileLoader"]
    assert not log_dir.exists()


def test_a_log_file_deleted_while_its_process_runs_is_written_again(aws, call_log):
    """A warm function process outlives the run that started it; the next run empties the folder first."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="jobs")
    with recording_as("job-user"):
        s3.head_bucket(Bucket="jobs")
    for path in call_log.glob("*.jsonl"):
        path.unlink()

    with recording_as("job-user"):
        s3.list_objects_v2(Bucket="jobs", Prefix="results/")

    assert [(line["operation"], line["params"]) for line in lines_of(call_log)["job-user"]] == [
        ("ListObjectsV2", {"Bucket": "jobs", "Prefix": "results/"})
    ]
