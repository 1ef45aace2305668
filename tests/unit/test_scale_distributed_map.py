"""bench/scale_model/distributed_map.py: its times follow its documented limits, its calls follow its children."""

from __future__ import annotations

import math

import pytest
from bench.scale_model import distributed_map
from bench.scale_model.distributed_map import Limits, lambda_capacity, predict
from bench.scale_model.prices import EXPRESS_CHILD_GB

ITEM_S, MEMORY_GB = 0.1, 0.125
CHILD_S = ITEM_S + distributed_map.EXPRESS_OVERHEAD_SECONDS
NO_S3_LIMIT = Limits(s3_get_per_prefix_s=None)  # the tests of the other limits, alone


def test_a_job_that_fits_in_the_concurrency_takes_one_child() -> None:
    prediction = predict(500, ITEM_S, MEMORY_GB, limits=NO_S3_LIMIT)
    assert prediction.time_to_full_dispatch_s == pytest.approx(0.0)
    assert prediction.time_to_result_s == pytest.approx(CHILD_S)
    assert prediction.peak_concurrency == 500


def test_time_grows_with_the_job_over_the_lambda_account_concurrency() -> None:
    # 1,000 concurrent Lambda executions by default: N children of d seconds take about N x d / 1,000.
    small, large = predict(100_000, ITEM_S, MEMORY_GB), predict(1_000_000, ITEM_S, MEMORY_GB)
    assert small.time_to_result_s == pytest.approx(100_000 * CHILD_S / 1_000, rel=0.02)
    assert large.time_to_result_s == pytest.approx(10 * small.time_to_result_s, rel=0.02)
    assert large.peak_concurrency == 1_000
    assert "account concurrency" in large.bounding_stage


def test_a_lower_max_concurrency_bounds_the_run_as_documented() -> None:
    limits = Limits(max_concurrency=250, account_concurrency=10_000)
    prediction = predict(100_000, ITEM_S, MEMORY_GB, limits=limits)
    assert prediction.time_to_result_s == pytest.approx(100_000 * CHILD_S / 250, rel=0.02)
    assert prediction.peak_concurrency == 250
    assert "MaxConcurrency" in prediction.bounding_stage


def test_halving_max_concurrency_doubles_the_time() -> None:
    runs = [predict(50_000, ITEM_S, MEMORY_GB, limits=Limits(max_concurrency=c)) for c in (400, 200)]
    assert runs[1].time_to_result_s == pytest.approx(2 * runs[0].time_to_result_s, rel=0.03)


def test_a_raised_account_concurrency_is_reached_at_lambdas_scaling_rate() -> None:
    limits = Limits(account_concurrency=5_000)
    assert [lambda_capacity(t, limits) for t in (0, 9.9, 10, 25, 60)] == [1_000, 1_000, 2_000, 3_000, 5_000]


def test_the_start_rate_bounds_children_once_concurrency_is_plenty() -> None:
    limits = Limits(
        account_concurrency=1_000_000,
        max_concurrency=1_000_000,
        environments_per_scaling_step=1_000_000,
        s3_get_per_prefix_s=None,
    )
    prediction = predict(600_000, ITEM_S, MEMORY_GB, limits=limits)
    # The 6,000-token bucket, then 6,000 starts a second.
    assert prediction.time_to_full_dispatch_s == pytest.approx((600_000 - 6_000) / 6_000, rel=0.02)
    assert "start rate" in prediction.bounding_stage


def test_the_input_prefixs_get_rate_bounds_children_that_each_get_their_chunk() -> None:
    # 5,500 GETs a second on one prefix: 110,000 children of one GET each take about 20 s, even with concurrency
    # to spare; children that read nothing from S3 are bound by the next limit, the 6,000 starts a second.
    limits = Limits(account_concurrency=100_000, max_concurrency=100_000, environments_per_scaling_step=100_000)
    bound = predict(110_000, ITEM_S, MEMORY_GB, limits=limits)
    assert bound.time_to_full_dispatch_s == pytest.approx(110_000 / 5_500, rel=0.03)
    assert "S3 GETs" in bound.bounding_stage
    unbound = predict(110_000, ITEM_S, MEMORY_GB, limits=limits, s3_gets_per_item=0)
    assert unbound.time_to_full_dispatch_s == pytest.approx((110_000 - 6_000) / 6_000, rel=0.03)
    assert "start rate" in unbound.bounding_stage


def test_calls_count_one_child_per_item_or_per_batch() -> None:
    one, batched = predict(10_000, ITEM_S, MEMORY_GB), predict(10_000, ITEM_S, MEMORY_GB, items_per_child=10)
    assert one.calls["express_requests"] == one.calls["lambda_requests"] == 10_000
    assert one.calls["sfn_state_transitions"] == 10_000 + distributed_map.PARENT_OWN_TRANSITIONS
    assert batched.calls["express_requests"] == 1_000
    # The same work in Lambda either way; the S3 GET of each item's input either way.
    assert batched.calls["lambda_gb_s"] == pytest.approx(one.calls["lambda_gb_s"])
    assert batched.calls["s3_get"] == one.calls["s3_get"] == 10_000


def test_express_duration_is_billed_in_100_ms_steps_at_64_mb() -> None:
    prediction = predict(1_000, 0.13, MEMORY_GB)  # 0.23 s per child: billed 0.3 s
    assert prediction.calls["express_gb_s"] == pytest.approx(1_000 * 0.3 * EXPRESS_CHILD_GB)
    assert distributed_map.billed_express_seconds(0.2) == pytest.approx(0.2)
    assert distributed_map.billed_express_seconds(0.01) == pytest.approx(0.1)


def test_a_child_over_expresss_five_minutes_is_refused() -> None:
    with pytest.raises(ValueError, match="items_per_child"):
        predict(10_000, 1.0, MEMORY_GB, items_per_child=400)


def test_items_per_child_divides_the_children() -> None:
    prediction = predict(10_001, ITEM_S, MEMORY_GB, items_per_child=10)
    assert prediction.calls["express_requests"] == math.ceil(10_001 / 10)
