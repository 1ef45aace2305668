"""boto3 clients and resources, created once per Lambda container.

Endpoints are never hard-coded: boto3 reads AWS_ENDPOINT_URL (and the
per-service AWS_ENDPOINT_URL_<SERVICE>) itself, so the same code talks to
AWS, LocalStack or MiniStack.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config


def sdk_config() -> Config:
    """Few SDK retries by default; a function whose timeout is short gets its budget from its module.

    A throttled record is better handed back to SQS (which retries it later,
    after the visibility timeout) than retried in a tight loop that keeps the
    downstream saturated.
    """
    return Config(
        retries={"mode": "standard", "max_attempts": int(os.environ.get("SDK_MAX_ATTEMPTS", "3"))},
        connect_timeout=float(os.environ.get("SDK_CONNECT_TIMEOUT_SECONDS", "5")),
        read_timeout=float(os.environ.get("SDK_READ_TIMEOUT_SECONDS", "15")),
    )


@cache
def client(service_name: str) -> Any:
    return boto3.client(service_name, config=sdk_config())


@cache
def dynamodb_table(table_name: str) -> Any:
    return boto3.resource("dynamodb", config=sdk_config()).Table(table_name)
