"""Drive a load leveler with a burst and account for every request afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serverless_patterns_ops.http_api import JsonPoster


@dataclass
class BurstResult:
    accepted: list[str] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)
    seconds: float = 0.0


def send_burst(client: JsonPoster, count: int, concurrency: int = 16, run_id: str | None = None) -> BurstResult:
    """POST `count` write requests as fast as `concurrency` threads allow.

    Each request carries its own request_id, so a retried POST can never store
    a request twice.
    """
    run_id = run_id or uuid.uuid4().hex[:8]

    def submit(index: int) -> tuple[str, Any]:
        request_id = f"{run_id}-{index:06d}"
        response = client.post_json("/requests", {"request_id": request_id, "payload": {"index": index}})
        if response.status == 202:
            return request_id, None
        return request_id, {"status": response.status, "body": response.body}

    result = BurstResult()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for request_id, failure in pool.map(submit, range(count)):
            if failure is None:
                result.accepted.append(request_id)
            else:
                result.rejected.append({"request_id": request_id, **failure})
    result.seconds = time.monotonic() - started
    return result


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def scan_items(table: Any, attributes: Iterable[str] = ()) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    if attributes:
        names = {f"#a{index}": name for index, name in enumerate(attributes)}
        kwargs = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def peak_concurrency(items: Iterable[dict[str, Any]]) -> int:
    """Most consumer invocations that were running at one moment.

    Each stored item names the invocation that wrote it and when that
    invocation started; an invocation ran at least from its start to its last
    write. Sweeping those intervals gives the peak number running at once.
    """
    windows: dict[str, list[datetime]] = {}
    for item in items:
        started = datetime.fromisoformat(item["invocation_started_at"])
        stored = datetime.fromisoformat(item["stored_at"])
        window = windows.setdefault(item["processed_by"], [started, stored])
        window[0] = min(window[0], started)
        window[1] = max(window[1], stored)
    # Ends sort before starts at the same instant: touching intervals do not overlap.
    events = sorted([(start, 1) for start, _ in windows.values()] + [(end, -1) for _, end in windows.values()])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
