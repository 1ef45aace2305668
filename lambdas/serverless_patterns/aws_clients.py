"""boto3 clients and resources, created once per Lambda container.

Endpoints are never hard-coded: boto3 reads AWS_ENDPOINT_URL (and the
per-service AWS_ENDPOINT_URL_<SERVICE>) itself, so the same code talks to
AWS, LocalStack or MiniStack.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Few SDK retries: a throttled record is better handed back to SQS (which
# retries it later, after the visibility timeout) than retried in a tight loop
# that keeps the downstream saturated.
SDK_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=15,
)


@cache
def client(service_name: str) -> Any:
    return boto3.client(service_name, config=SDK_CONFIG)


@cache
def dynamodb_table(table_name: str) -> Any:
    return boto3.resource("dynamodb", config=SDK_CONFIG).Table(table_name)
