"""The base every part of the tracker builds on: the table, its clock and backoff, and the DynamoDB calls they share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from serverless_patterns.shared.retries import Backoff, cancellation_reasons

# DynamoDB's limits on one request.
BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100


def _now() -> datetime:
    return datetime.now(UTC)


def projection_of(attributes: tuple[str, ...]) -> dict[str, Any]:
    """The read parameters that return only `attributes` of each item (all of them when none are named)."""
    if not attributes:
        return {}
    names = {f"#a{index}": name for index, name in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def failed_condition(error: ClientError, index: int | None = None) -> bool:
    """Whether a request (or item `index` of a transaction) was refused by its condition."""
    code = error.response.get("Error", {}).get("Code")
    if index is None:
        return code == "ConditionalCheckFailedException"
    if code != "TransactionCanceledException":
        return False
    reasons = cancellation_reasons(error)
    return index < len(reasons) and reasons[index] == "ConditionalCheckFailed"


def dynamodb_value(document: Any) -> Any:
    """A JSON-able value as DynamoDB stores it (it takes no floats)."""
    return json.loads(json.dumps(document), parse_float=Decimal)


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's Decimals back to ints where they are whole numbers."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: convert(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [convert(inner) for inner in value]
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return value

    return convert(item)


class TrackerStore:
    """The tracker table and the calls every part makes on it: each retried with the backoff."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = _now, backoff: Backoff | None = None) -> None:
        self._table = table
        self._client = table.meta.client  # the resource's client: takes and returns plain Python values
        self._clock = clock
        self.backoff = backoff or Backoff()

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        return self.backoff.call(lambda: operation(**kwargs))

    def _read(self, key: dict[str, str]) -> dict[str, Any] | None:
        """One item, strongly consistent, or None."""
        return self._call(self._table.get_item, Key=key, ConsistentRead=True).get("Item")

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query answers, plain, page after page; a page is let go before the next is read."""
        while True:
            page = self._call(self._table.query, **kwargs)
            yield from (plain(item) for item in page.pop("Items"))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _read_together(self, keys: list[dict[str, str]], attributes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The items of these keys that exist (only `attributes` of them, if named), read with BatchGetItem,
        strongly consistent, in no given order."""
        found: list[dict[str, Any]] = []
        projection = projection_of(attributes)
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table.name: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True, **projection}
            }
            for _ in range(self.backoff.attempts):
                answer = self._call(self._client.batch_get_item, RequestItems=request)
                found.extend(answer.get("Responses", {}).get(self._table.name, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                self.backoff.sleep(self.backoff.cap_seconds / 4)
            else:
                raise RuntimeError(
                    f"DynamoDB kept {len(keys)} reads unprocessed after {self.backoff.attempts} attempts"
                )
        return found

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table.name: [{"PutRequest": {"Item": item}} for item in items]}
        for _ in range(self.backoff.attempts):
            answer = self._call(self._client.batch_write_item, RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            self.backoff.sleep(self.backoff.cap_seconds / 4)
        raise RuntimeError(f"DynamoDB left {len(pending[self._table.name])} shard items unwritten: retry the job")

    def _conditional_update(self, key: dict[str, str], **kwargs: Any) -> dict[str, Any] | None:
        """An UpdateItem returning the new values, or None when its condition failed."""
        try:
            return self._call(self._table.update_item, Key=key, ReturnValues="ALL_NEW", **kwargs)["Attributes"]
        except ClientError as error:
            if failed_condition(error):
                return None
            raise

    def _timestamp(self) -> str:
        return self._clock().isoformat()
