"""Integration tests: apply envs/local to a real emulator with pytest-terraform.

The emulator is MiniStack by default (`make test-integration` starts and stops
it); AWS_ENDPOINT_URL points the same tests at LocalStack or any other
LocalStack-compatible endpoint.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
RUN_NAME = f"it{uuid.uuid4().hex[:6]}"

# Read by the AWS clients here and by Terraform (TF_VAR_*) in the fixture.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "TF_VAR_name": RUN_NAME,
        "TF_VAR_aws_endpoint_url": ENDPOINT,
        "TF_VAR_lambda_build_dir": str(REPO_ROOT / "build" / "lambda"),
    }
)

# Resources MiniStack reports back incompletely, so Terraform plans an update
# right after apply. Listed in README.md under "Emulator quirks".
MINISTACK_PLAN_DRIFT = {"aws_cloudwatch_metric_alarm"}


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


@pytest.fixture(scope="session")
def known_plan_drift() -> set[str]:
    return MINISTACK_PLAN_DRIFT if os.environ.get("EMULATOR", "ministack") == "ministack" else set()


@pytest.fixture(scope="session")
def sqs():
    return boto3.client("sqs")


@pytest.fixture(scope="session")
def dynamodb():
    return boto3.resource("dynamodb")
