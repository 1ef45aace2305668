"""The time an invocation keeps back, and handing the rest of its work to a new invocation of the same function."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.shared import aws_clients

# Kept back to hand the rest of the job over; after the last look, up to two waves (the one in flight and
# the next) are still sent, seconds at most.
RESERVED_MILLIS = 15_000


def hand_over(context: LambdaContext, payload: dict[str, Any]) -> None:
    """Start this function again, asynchronously, with `payload` as its event."""
    aws_clients.client("lambda").invoke(
        FunctionName=context.invoked_function_arn,
        InvocationType="Event",
        Payload=json.dumps(payload).encode(),
    )
