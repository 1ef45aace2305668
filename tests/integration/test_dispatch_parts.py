"""A job sent whole in parts by several ventilator invocations, end to end on the emulator (issue 29).

The deployed ventilator is given parts of 200 subtasks for this module (the module's own minimum is 1,000, which
would need a job five times the size to show the same), so a job of 600 is cut into 3 parts: the registering
invocation starts two more and sends the first part itself.
"""

from __future__ import annotations

import uuid

import boto3
import pytest

from integration.test_fan_in_faults import _set_endpoint  # sets a deployed function's environment
from serverless_patterns.fan_in.tracker import JobStatus, part_range
from serverless_patterns_ops.fan_out_jobs import submit_job, wait_for_job

pytestmark = pytest.mark.lambda_runtime

SUBTASKS = 600
PARTS = 3
JOB_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="module")
def ventilator(fan_out):
    """The deployed ventilator, with parts of SUBTASKS / PARTS subtasks while this module runs."""
    lambda_client = boto3.client("lambda")
    name = fan_out["ventilator_function_name"]
    original = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    _set_endpoint(
        lambda_client,
        name,
        {**original, "DISPATCH_PART_SUBTASKS": str(SUBTASKS // PARTS), "MAX_DISPATCHERS": str(PARTS)},
    )
    try:
        yield name
    finally:
        _set_endpoint(lambda_client, name, original)


def test_a_job_sent_in_parts_by_several_invocations_counts_every_subtask_once(ventilator, tracker):
    job_id = f"parts-{uuid.uuid4().hex[:8]}"
    lambda_client = boto3.client("lambda")
    answer = submit_job(
        lambda_client,
        ventilator,
        {
            "job_id": job_id,
            "workload": "timed_wait",
            "source": {"type": "items", "items": [0] * SUBTASKS, "items_per_subtask": 1},
            "max_concurrency": SUBTASKS,  # at least its total: the job is sent whole
        },
    )
    assert answer.get("dispatch_parts") == PARTS, answer

    job = wait_for_job(tracker, job_id, JOB_TIMEOUT_SECONDS, 1)

    assert (job["status"], job["result"]["succeeded"], job["result"]["failed"]) == (JobStatus.SUCCEEDED, SUBTASKS, 0)
    recorded = tracker.get_job(job_id)
    assert (recorded["dispatched_until"], recorded["parts_done"]) == (SUBTASKS, PARTS)
    parts = tracker.parts_of(job_id)
    assert [(part["next"], part["end"], part["done"]) for part in parts] == [
        (part_range(SUBTASKS, PARTS, index)[1], part_range(SUBTASKS, PARTS, index)[1], True) for index in range(PARTS)
    ]
    senders = {part["dispatcher"].partition("/")[0] for part in parts}
    assert len(senders) == PARTS, "each part was sent by an invocation of its own"

    # A copy of a part's invocation, as Lambda may deliver one, sends nothing once the part is done.
    copy = submit_job(lambda_client, ventilator, {"dispatch_part": {"job_id": job_id, "part": 1}})
    assert copy == {"job_id": job_id, "part": 1, "sent": False}
    assert tracker.get_job(job_id)["parts_done"] == PARTS
