"""Issue 27, point 2: a job gets the shards its size needs, no more; large jobs are laid out as before."""

# ruff: noqa: F811 (pytest fixtures imported from test_fan_out are parameters here)

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serverless_patterns.fan_in.tracker import MAX_SHARDS, JobStatus, ShardLayout
from serverless_patterns.fan_in.tracker.keys import SHARD_COMPLETIONS_PER_SECOND
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    EXPECTED_WORDS,
    consolidations,
    drive_consolidator,
    fan_out_env,
    run_workers,
    stored_result,
    submit,
    subtask_bodies,
)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def layout_before_issue_27(total: int, subtasks_per_shard: int, parallel_shards: int) -> ShardLayout:
    """The plan every job got before: parallel_shards wide whatever the job's size."""
    width = max(1, min(parallel_shards, total, MAX_SHARDS))
    shards_needed = _ceil_div(total, subtasks_per_shard)
    rounds = max(1, min(_ceil_div(shards_needed, width), MAX_SHARDS // width, total // width))
    return ShardLayout(total, width * rounds, width)


@pytest.mark.parametrize(
    ("total", "subtasks_per_shard", "parallel_shards", "expected"),
    [
        (10, 1000, 10, ShardLayout(10, 1, 1)),  # was 10 shards of one subtask: 10 reductions + a final merge
        (250, 250, 2, ShardLayout(250, 1, 1)),  # the local stack's settings: one shard absorbs 250/s
        (251, 250, 2, ShardLayout(251, 2, 2)),
        (1_000, 1000, 10, ShardLayout(1_000, 4, 4)),  # 4 shards of 250
        (2_100, 250, 2, ShardLayout(2_100, 10, 2)),  # the fault test's job on the local stack: as before
        (100_000, 1000, 10, ShardLayout(100_000, 100, 10)),  # 10 wide x 10 rounds, unchanged
    ],
)
def test_the_shard_count_grows_with_the_job_and_the_worker_concurrency(
    total, subtasks_per_shard, parallel_shards, expected
):
    assert ShardLayout.plan(total, subtasks_per_shard, parallel_shards) == expected


def test_the_constant_is_what_one_partition_absorbs_per_second():
    # 1,000 WCU/s per partition, 4 WCU per completion counted alone (2 transactional writes of 1 KB items).
    assert SHARD_COMPLETIONS_PER_SECOND == 1000 // 4


@given(
    total=st.integers(1, 30_000),
    subtasks_per_shard=st.integers(1, 5_000),
    parallel_shards=st.integers(1, 1_200),
)
def test_any_plan_keeps_every_guarantee_of_the_layout(total, subtasks_per_shard, parallel_shards):
    layout = ShardLayout.plan(total, subtasks_per_shard, parallel_shards)
    members: dict[int, list[int]] = {}
    for subtask in range(total):
        members.setdefault(layout.shard_of(subtask), []).append(subtask)

    expected_width = max(1, min(parallel_shards, _ceil_div(total, SHARD_COMPLETIONS_PER_SECOND), MAX_SHARDS))
    assert layout.width == expected_width
    assert set(members) == set(range(layout.shard_count))  # no empty shard: every one gets sealed
    assert all(len(members[shard]) == layout.expected(shard) for shard in members)
    assert all(
        members[shard] == list(range(layout.first_of(shard), layout.last_of(shard) + 1, layout.width))
        for shard in members
    )
    assert 1 <= layout.shard_count <= min(total, MAX_SHARDS)
    assert layout.shard_count % layout.width == 0
    # No shard over subtasks_per_shard, unless the job would need more shards than it may have.
    biggest = max(len(subtasks) for subtasks in members.values())
    assert biggest <= subtasks_per_shard or layout.rounds in (MAX_SHARDS // layout.width, total // layout.width)


@given(total=st.integers(1, SHARD_COMPLETIONS_PER_SECOND), parallel_shards=st.integers(1, 1_000))
def test_a_job_one_shard_absorbs_gets_one_shard(total, parallel_shards):
    assert ShardLayout.plan(total, SHARD_COMPLETIONS_PER_SECOND, parallel_shards).shard_count == 1


@given(
    parallel_shards=st.integers(1, 100),
    extra=st.integers(0, 200_000),
    subtasks_per_shard=st.sampled_from([250, 1000, 5000]),
)
def test_a_job_large_enough_for_every_parallel_shard_is_laid_out_as_before(parallel_shards, extra, subtasks_per_shard):
    total = SHARD_COMPLETIONS_PER_SECOND * parallel_shards + extra
    assert ShardLayout.plan(total, subtasks_per_shard, parallel_shards) == layout_before_issue_27(
        total, subtasks_per_shard, parallel_shards
    )


def test_a_ten_subtask_job_is_consolidated_in_one_invocation(fan_out_env, lambda_context, consolidations, monkeypatch):
    # The fan_out defaults for 50 workers: 1,000 subtasks per shard, 10 parallel shards.
    monkeypatch.setenv("SUBTASKS_PER_SHARD", "1000")
    monkeypatch.setenv("PARALLEL_SHARDS", "10")
    submit(lambda_context, chunk_size_bytes=512)
    bodies = subtask_bodies(fan_out_env["queue_url"])
    assert len(bodies) == 10

    assert run_workers(bodies, lambda_context)["failures"] == []
    invocations = drive_consolidator(consolidations)  # one answer per invocation, those it triggers included

    job = fan_out_env["tracker"].get_job("job-1")
    assert (job["shard_count"], job["status"]) == (1, JobStatus.SUCCEEDED)
    assert len(invocations) == 1  # the only shard's reduction runs the final merge too
    assert stored_result(fan_out_env)["result"]["words"] == EXPECTED_WORDS
