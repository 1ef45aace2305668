"""Bounded, jittered retries of DynamoDB calls that failed for reasons that pass.

botocore retries throttling and 5xx a few times, but never a transaction that
DynamoDB cancelled because another request touched one of its items at the
same moment (`TransactionConflict`), and its few attempts are soon spent under
sustained throttling. Both say nothing about the request itself: the same
request succeeds a little later. A cancellation caused by a failed condition
is an answer, not a transient failure, and is never retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

# Error codes of a whole request that failed for load, not for its content.
TRANSIENT_CODES = frozenset(
    {
        "TransactionConflictException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Reasons of a cancelled transaction's items that the same transaction can outlive.
TRANSIENT_CANCELLATION_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def cancellation_reasons(error: ClientError) -> list[str]:
    """The per-item reason codes of a cancelled transaction, in item order."""
    reasons = error.response.get("CancellationReasons") or []
    if reasons:
        return [reason.get("Code", "None") for reason in reasons]
    # Some endpoints send the reasons only in the message: "... [None, TransactionConflict]".
    message = error.response.get("Error", {}).get("Message", "")
    if "[" not in message:
        return []
    return [code.strip() for code in message.rsplit("[", 1)[1].rstrip("]").split(",")]


def is_transient(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code in TRANSIENT_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = set(cancellation_reasons(error))
        return bool(reasons & TRANSIENT_CANCELLATION_REASONS) and "ConditionalCheckFailed" not in reasons
    return False


@dataclass
class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n)) seconds."""

    attempts: int = 10
    base_seconds: float = 0.025
    cap_seconds: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    retried: int = 0  # transient failures absorbed so far (the benchmarks and tests read it)

    def call(self, function: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return function()
            except ClientError as error:
                if not is_transient(error) or attempt == self.attempts - 1:
                    raise
                self.retried += 1
                self.sleep(self.rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt)))
        raise AssertionError("unreachable: the last attempt returns or raises")
