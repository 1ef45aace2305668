"""bench/scale_model/prices.py: every billable quantity has a price and a source, and a job's line items add up."""

from __future__ import annotations

import pytest
from bench.scale_model import prices
from bench.scale_model.prediction import BILLABLE


def test_every_billable_quantity_has_a_price_a_label_and_a_source() -> None:
    assert set(prices.UNIT_PRICES) == set(BILLABLE)
    assert set(prices.LINE_ITEMS) == set(BILLABLE)
    assert set(prices.SOURCES) == set(BILLABLE)
    assert set(prices.UNITS) == set(BILLABLE)
    assert all(price > 0 for price in prices.UNIT_PRICES.values())
    assert all("https://" in source for source in prices.SOURCES.values())


def test_a_line_item_is_its_quantity_times_its_unit_price() -> None:
    calls = {"lambda_requests": 3_000_000, "s3_put": 2_000}
    line_items = prices.cost(calls)
    assert line_items["lambda_requests"] == pytest.approx(3_000_000 * prices.LAMBDA_PER_REQUEST)
    assert line_items["s3_put"] == pytest.approx(2_000 * prices.S3_PER_PUT)
    assert line_items["sqs_requests"] == 0


def test_the_total_is_the_sum_of_the_line_items() -> None:
    calls = {name: 1_000.0 * (index + 1) for index, name in enumerate(BILLABLE)}
    line_items = prices.cost(calls)
    assert prices.total(calls) == pytest.approx(sum(line_items.values()))
    assert prices.total(calls) == pytest.approx(sum(calls[name] * prices.UNIT_PRICES[name] for name in BILLABLE))


def test_a_quantity_with_no_price_is_refused() -> None:
    with pytest.raises(ValueError, match="lambda_invocations"):
        prices.cost({"lambda_invocations": 1})


def test_a_million_standard_transitions_cost_what_the_pricing_page_says() -> None:
    # $0.025 per 1,000 state transitions: $25 per million children of a Distributed Map.
    assert prices.total({"sfn_state_transitions": 1_000_000}) == pytest.approx(25.0)
