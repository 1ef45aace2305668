"""Integration tests: apply envs/local to a real emulator with pytest-terraform.

The emulator is MiniStack by default (`make test-integration` starts and stops
it); AWS_ENDPOINT_URL points the same tests at LocalStack or any other
LocalStack-compatible endpoint.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any, TypeVar, cast

import boto3
import pytest
from py.path import local as py_path
from pytest_terraform import tf

from iam_check.model import JOB_USER
from iam_check.recorder.call_recorder import recording_as
from serverless_patterns.fan_in.tracker import JobTracker
from webhook_receiver import WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
RUN_NAME = f"it{uuid.uuid4().hex[:6]}"

# The IAM check (tests/iam_check) reads what the suite leaves here: the AWS calls of the deployed functions
# (recorded by the emulator's Lambda processes, scripts/emulator.sh) and of the job user (iam_check.model.JOB_USER), and
# a dump of each stack the suite applied (write_stack_dump). The same default as scripts/emulator.sh.
CALL_LOG_DIR = Path(os.environ.setdefault("IAM_CALL_LOG_DIR", str(REPO_ROOT / "build" / "iam" / "calls")))
STACK_DUMP_DIR = CALL_LOG_DIR.parent / "stacks"
RECORDER_DIR = REPO_ROOT / "tests" / "iam_check" / "recorder"
# The stack's chat forwarder posts every alarm change here (a Lambda on the
# emulator runs as a local process, so 127.0.0.1 reaches this test process).
CHAT_WEBHOOK = WebhookReceiver().__enter__()

# Read by the AWS clients here and by Terraform (TF_VAR_*) in the fixture.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "TF_VAR_name": RUN_NAME,
        "TF_VAR_aws_endpoint_url": ENDPOINT,
        "TF_VAR_lambda_build_dir": str(REPO_ROOT / "build" / "lambda"),
        "TF_VAR_chat_webhook_urls": json.dumps({"tests": CHAT_WEBHOOK.url}),
    }
)

# Resources MiniStack reports back incompletely, so Terraform plans an update
# right after apply. Listed in README.md under "Emulator quirks".
MINISTACK_PLAN_DRIFT = {"aws_cloudwatch_metric_alarm", "aws_lambda_function_event_invoke_config"}


def _emulator_is_healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _emulator_is_healthy():
        raise pytest.UsageError(
            f"no emulator answers at {ENDPOINT}: run `make test-integration` (starts MiniStack), "
            "`make up`, or set AWS_ENDPOINT_URL to a running LocalStack"
        )
    if not (REPO_ROOT / "build" / "lambda" / "load_leveler_consumer.zip").is_file():
        raise pytest.UsageError("the Lambda zips are missing: run `make package` first")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first: `make test-integration` hands files to its workers in collection order.

    Each worker applies a stack of its own and runs whole files (pytest-xdist's loadfile), so the suite
    takes as long as its busiest worker; starting the files that wait longest (queues whose messages
    wait out their receives, a second stack, a job of 1,000+ subtasks) first keeps the workers even.
    Measured with --durations; the order changes no test's outcome.
    """
    rank = {name: index for index, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


LONGEST_FILES_FIRST = (
    "test_load_leveler.py",
    "test_sns_transport.py",
    "test_readme_walkthrough.py",
    "test_prod_shape.py",  # about 2 min alone: envs/prod applied (95 s) and destroyed (30 s), no job
    "test_fan_out.py",
    "test_stack.py",
)


def pytest_sessionfinish(session: pytest.Session) -> None:
    CHAT_WEBHOOK.__exit__(None, None, None)


@pytest.fixture(scope="session")
def stack_name() -> str:
    return RUN_NAME


@pytest.fixture(scope="session")
def chat_webhook() -> WebhookReceiver:
    return CHAT_WEBHOOK


@pytest.fixture(scope="session")
def known_plan_drift() -> set[str]:
    return MINISTACK_PLAN_DRIFT if os.environ.get("EMULATOR", "ministack") == "ministack" else set()


@pytest.fixture(scope="session")
def sqs():
    return boto3.client("sqs")


@pytest.fixture(scope="session")
def dynamodb():
    return boto3.resource("dynamodb")


def apply_stack(root_module: str, scope: str, request, tmpdir_factory):
    """A root module applied through pytest-terraform for `scope`, destroyed at its end.

    `root_module` is found under envs/ (pyproject's terraform-mod-dir), else
    under tests/integration/terraform/. Its state is dumped for the IAM check
    under RUN_NAME (envs/local) or RUN_NAME-<root module>.
    """
    fixture = tf.TerraformFixture(
        tf.LazyTfBin,
        tf.LazyPluginCacheDir,
        scope,
        root_module,
        py_path(__file__).dirpath(),
        False,
        None,
        request.config,
    )
    applied = fixture(request, tmpdir_factory, "master")
    dump_name = RUN_NAME if root_module == "local" else f"{RUN_NAME}-{root_module}"
    write_stack_dump(dump_name, "local", json.loads(Path(applied.terraform.state_path).read_text()))
    return applied


def _data_source_attribute(state: dict[str, Any], data_type: str, *attributes: str) -> str | None:
    """The first of `attributes` of a data source of this type, in any module of a raw state."""
    for resource in state.get("resources", ()):
        if resource.get("mode") == "data" and resource.get("type") == data_type:
            for instance in resource.get("instances", ()):
                for attribute in attributes:
                    if instance.get("attributes", {}).get(attribute):
                        return instance["attributes"][attribute]
    return None


def write_stack_dump(
    name: str, shape: str, state: dict[str, Any], extra_policies: dict[str, Any] | None = None
) -> Path:
    """STACK_DUMP_DIR/<name>.json: a stack as the IAM check reads it (tests/iam_check/stack.py).

    `state` is the raw terraform.tfstate (format version 4) of the applied root; `shape` "local" (a stack as
    the suite applies it) or "prod" (the prod configuration, test_prod_shape.py); `extra_policies` the
    documents made outside Terraform, by ARN. The account and region are the state's own (its
    aws_caller_identity and aws_region data sources), else the emulator's.
    """
    account = _data_source_attribute(state, "aws_caller_identity", "account_id")
    if not account:
        account = boto3.client("sts").get_caller_identity()["Account"]
    region = _data_source_attribute(state, "aws_region", "name", "region") or os.environ["AWS_DEFAULT_REGION"]
    dump = {
        "name": name,
        "shape": shape,
        "account": account,
        "region": region,
        "state": state,
        "extra_policies": extra_policies or {},
    }
    STACK_DUMP_DIR.mkdir(parents=True, exist_ok=True)
    path = STACK_DUMP_DIR / f"{name}.json"
    written = path.with_suffix(".json.tmp")
    written.write_text(json.dumps(dump))
    written.replace(path)  # whole or not at all, for a reader running beside the suite
    return path


Client = TypeVar("Client")


class _RecordedAs:
    """Runs every method of the object it wraps inside recording_as(label); attributes pass through."""

    def __init__(self, target: Any, label: str) -> None:
        self._target = target
        self._label = label

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            with recording_as(self._label):
                return attribute(*args, **kwargs)

        return recorded


def as_job_user(client: Client) -> Client:
    """The client's AWS calls (not the test's own around them) recorded as the job user's, for the IAM check."""
    return cast(Client, _RecordedAs(client, JOB_USER))


def job_user_environment() -> dict[str, str]:
    """What a process run as the job user (the installed CLI, `make job-*`) adds to its environment: the
    recorder on PYTHONPATH (its sitecustomize starts it), where to write, and under which label."""
    return {"PYTHONPATH": str(RECORDER_DIR), "IAM_CALL_LOG_DIR": str(CALL_LOG_DIR), "IAM_CALL_PRINCIPAL": JOB_USER}


@pytest.fixture(scope="session")
def local(request, tmpdir_factory):
    """envs/local applied once for the whole session, destroyed at the end.

    Built here rather than with the `terraform` decorator, which attaches its
    fixture to a single test module: every pattern's tests share this stack.
    """
    return apply_stack("local", "session", request, tmpdir_factory)


@pytest.fixture(scope="session")
def outputs(local) -> dict:
    return {name: output["value"] for name, output in local.outputs.items()}


@pytest.fixture(scope="session")
def fan_out(outputs) -> dict:
    return outputs["fan_out"]


@pytest.fixture(scope="session")
def tracker(fan_out, dynamodb) -> JobTracker:
    """The fan-in tracker of the applied stack."""
    return JobTracker(dynamodb.Table(fan_out["tracker_table_name"]))


@pytest.fixture(scope="session")
def terraform_plan(local):
    """Plan envs/local against the applied state; return the JSON plan."""

    def plan() -> dict:
        runner = local.terraform
        env = {**os.environ, "TF_DATA_DIR": runner.work_dir, "TF_IN_AUTOMATION": "1"}
        plan_file = os.path.join(runner.work_dir, "drift.tfplan")
        common = {"cwd": runner.module_dir, "env": env, "check": True, "capture_output": True, "text": True}
        subprocess.run(
            ["terraform", "plan", "-input=false", "-no-color", f"-state={runner.state_path}", f"-out={plan_file}"],
            **common,
        )
        return json.loads(subprocess.run(["terraform", "show", "-json", plan_file], **common).stdout)

    return plan
