"""Integration tests: apply envs/local to a real emulator with pytest-terraform.

The emulator is MiniStack by default (`make test-integration` starts and stops
it); AWS_ENDPOINT_URL points the same tests at LocalStack or any other
LocalStack-compatible endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from py.path import local as py_path
from pytest_terraform import tf

from serverless_patterns.fan_in.tracker import JobTracker
from webhook_receiver import WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
RUN_NAME = f"it{uuid.uuid4().hex[:6]}"
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
    under tests/integration/terraform/.
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
    return fixture(request, tmpdir_factory, "master")


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
