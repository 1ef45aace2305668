"""The fan-in tracker's exactly-once counting against the deployed table, without a function.

The workers do this through record_completions; here the test is the worker,
so the table's conditions and transactions are proven on any emulator's
DynamoDB, LocalStack's (DynamoDB Local) included, where no Lambda runs.
"""

from __future__ import annotations

import time
import uuid

import pytest

from serverless_patterns.fan_in.tracker import Completion, CompletionRequest, Outcome, ShardLayout, UnknownJobError

TOTAL, SHARDS = 40, 4


@pytest.fixture(scope="module")
def job(tracker) -> tuple[str, ShardLayout]:
    job_id = f"it-tracker-{uuid.uuid4().hex[:8]}"
    layout = ShardLayout(TOTAL, SHARDS, SHARDS)
    registration = tracker.register_job(
        job_id,
        layout,
        correlation_id=f"corr-{job_id}",
        timeout_seconds=600,
        spec={"source": {"type": "items"}, "test": "tracker-store"},
        fingerprint="tracker-store",
        retention_seconds=3600,
    )
    assert registration.created
    return job_id, layout


def _requests(job_id: str, layout: ShardLayout, subtask_ids) -> list[CompletionRequest]:
    expires_at = int(time.time()) + 3600
    return [
        CompletionRequest(job_id, subtask, layout.shard_of(subtask), Outcome.SUCCEEDED, {}, expires_at)
        for subtask in subtask_ids
    ]


def test_batches_with_duplicates_and_redeliveries_count_every_subtask_once_and_seal_every_shard_once(tracker, job):
    job_id, layout = job
    answers: list[Completion | Exception] = []
    # Batches of ten as SQS delivers them: the first with two repeats inside it,
    # then redeliveries of subtasks counted already, mixed with new ones.
    answers += tracker.record_completions(_requests(job_id, layout, [*range(10), 3, 7]))
    for first in range(10, TOTAL, 10):
        answers += tracker.record_completions(_requests(job_id, layout, range(first - 5, first + 5)))
    answers += tracker.record_completions(_requests(job_id, layout, range(TOTAL - 5, TOTAL)))

    assert [answer for answer in answers if isinstance(answer, Exception)] == []
    assert sum(answer.first for answer in answers) == TOTAL
    assert sum(answer.sealed_shard for answer in answers) == SHARDS
    progress = tracker.progress(job_id)
    assert (progress.total, progress.succeeded, progress.failed) == (TOTAL, TOTAL, 0)
    marked = [int(task["subtask_id"]) for shard in range(SHARDS) for task in tracker.shard_tasks(job_id, shard)]
    assert sorted(marked) == list(range(TOTAL))


def test_a_completion_of_an_unknown_job_is_answered_with_its_error_and_the_rest_still_count(tracker):
    job_id = f"it-tracker-{uuid.uuid4().hex[:8]}"
    layout = ShardLayout(2, 1, 1)
    tracker.register_job(
        job_id, layout, f"corr-{job_id}", 600, {"test": "tracker-store"}, "tracker-store", retention_seconds=3600
    )

    answers = tracker.record_completions([*_requests("no-such-job", layout, [0]), *_requests(job_id, layout, [0, 1])])

    assert isinstance(answers[0], UnknownJobError)
    assert [answer.first for answer in answers[1:]] == [True, True]
    assert sum(answer.sealed_shard for answer in answers[1:]) == 1
    assert tracker.progress(job_id).succeeded == 2
