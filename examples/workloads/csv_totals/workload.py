"""Totals per region of a CSV of orders: rows, quantity and amount (in cents, so sums are exact).

Run it over a `csv` source: each subtask gets its records as dicts keyed by
the header. `merge` adds totals up, and accepts its own output, as the
consolidator merges shard by shard, then the shards.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from serverless_patterns.errors import PermanentSubtaskError
from serverless_patterns.inputs import SubtaskInput

REQUIRED_COLUMNS = ("region", "quantity", "amount")


class BadOrder(PermanentSubtaskError):
    """A record no retry can fix: the subtask fails at once, naming the record."""


def _cents(amount: str, order: dict[str, str]) -> int:
    try:
        cents = Decimal(amount) * 100
    except InvalidOperation:
        raise BadOrder(f"order {order.get('order_id', '?')}: amount {amount!r} is not a number") from None
    if cents != cents.to_integral_value():
        raise BadOrder(f"order {order.get('order_id', '?')}: amount {amount!r} has more than 2 decimals")
    return int(cents)


def process(task: SubtaskInput) -> dict[str, Any]:
    missing = [column for column in REQUIRED_COLUMNS if column not in task.header]
    if missing:
        raise BadOrder(f"the CSV has no column {', '.join(missing)}: its header is {','.join(task.header)}")
    regions: dict[str, dict[str, int]] = {}
    for order in task.items:
        totals = regions.setdefault(order["region"], {"orders": 0, "quantity": 0, "amount_cents": 0})
        totals["orders"] += 1
        totals["quantity"] += int(order["quantity"])
        totals["amount_cents"] += _cents(order["amount"], order)
    return {"regions": regions}


def merge(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    regions: dict[str, dict[str, int]] = {}
    for result in results:
        for region, totals in result["regions"].items():
            merged = regions.setdefault(region, {"orders": 0, "quantity": 0, "amount_cents": 0})
            for name, value in totals.items():
                merged[name] += value
    return {"regions": dict(sorted(regions.items()))}
