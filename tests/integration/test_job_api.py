"""The job API deployed: jobs started, followed and refused over HTTP (SigV4-signed, as on AWS)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import boto3
import pytest

from iam_check.recorder.call_recorder import recording_as
from integration.conftest import JOB_USER, as_job_user
from integration.test_fan_out import CHUNK_SIZE, make_text
from serverless_patterns_ops.http_api import HttpApiClient, JsonResponse
from serverless_patterns_ops.jobs_client import JobApiError, JobsClient

# Runs the stack's functions: LocalStack does that only in Docker (README, "Emulators").
pytestmark = pytest.mark.lambda_runtime


@pytest.fixture(scope="module")
def jobs(fan_out) -> JobsClient:
    """The job API's client, its calls recorded as the job user's (the IAM check evaluates them)."""
    return as_job_user(JobsClient.of_stack(fan_out))


@pytest.fixture(scope="module")
def text_spec(fan_out) -> tuple[dict, dict]:
    text, counts = make_text(30_000, seed=7)
    key = f"inputs/api-{uuid.uuid4().hex[:8]}/text.txt"
    boto3.client("s3").put_object(Bucket=fan_out["bucket_name"], Key=key, Body=text)
    spec = {"source": {"type": "lines", "bucket": fan_out["bucket_name"], "key": key, "chunk_size_bytes": CHUNK_SIZE}}
    return spec, dict(counts)


def get_as_is(url: str) -> JsonResponse:
    """GET this URL, signed as the client signs, from where it names: a *.localhost name is the loopback
    (RFC 6761), as curl and browsers resolve it."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loopback = f"{parts.scheme}://127.0.0.1:{port}" if (parts.hostname or "").endswith(".localhost") else None
    return HttpApiClient(f"{parts.scheme}://{parts.netloc}", emulator_endpoint=loopback).request("GET", parts.path)


def test_a_job_submitted_over_http_is_accepted_at_once_and_ends_with_the_exact_result(jobs, text_spec):
    spec, expected = text_spec
    job_id = f"api-{uuid.uuid4().hex[:8]}"

    accepted = jobs.submit({**spec, "job_id": job_id})
    done = jobs.wait(job_id, timeout=300, interval=1)

    assert (accepted.job_id, accepted.status) == (job_id, "SUBMITTED")
    assert accepted.status_url.endswith(f"/jobs/{job_id}")
    assert done.status == "SUCCEEDED"
    assert done.counts == {"succeeded": done.total, "failed": 0, "skipped": 0, "pending": 0}
    assert set(done.timings) >= {"created_at", "finished_at"}
    assert jobs.result(done)["words"] == expected
    with recording_as(JOB_USER):  # the user following the URL the API answered
        followed = get_as_is(accepted.status_url)
    assert (followed.status, followed.body["job_id"], followed.body["status"]) == (200, job_id, "SUCCEEDED")


def test_a_bad_spec_is_400_naming_the_field_and_the_fix(jobs, fan_out):
    with pytest.raises(JobApiError) as refused:
        jobs.submit({"source": {"type": "lines", "bucket": fan_out["bucket_name"], "key": "k", "chunk_size_bytes": -1}})

    assert refused.value.status == 400
    assert refused.value.field == "source.chunk_size_bytes"
    assert refused.value.fix


def test_a_job_id_reused_with_another_spec_is_409_and_the_same_spec_again_is_the_same_job(jobs, text_spec):
    spec, _ = text_spec
    job_id = f"api-{uuid.uuid4().hex[:8]}"
    jobs.submit({**spec, "job_id": job_id})
    first = jobs.wait(job_id, timeout=300, interval=1)

    again = jobs.submit({**spec, "job_id": job_id})
    with pytest.raises(JobApiError) as conflict:
        jobs.submit({**spec, "job_id": job_id, "tolerated_failure_count": 5})

    assert (again.job_id, again.status, again.total) == (job_id, first.status, first.total)
    assert (conflict.value.status, conflict.value.field) == (409, "job_id")


def test_an_unknown_job_is_none_and_cannot_be_cancelled(jobs):
    assert jobs.status("no-such-job") is None
    with pytest.raises(JobApiError) as missing:
        jobs.cancel("no-such-job")
    assert missing.value.status == 404


def test_max_concurrency_of_an_unknown_job_or_out_of_range_is_refused_naming_the_field(jobs):
    with pytest.raises(JobApiError) as missing:
        jobs.set_concurrency("no-such-job", 5)
    with pytest.raises(JobApiError) as out_of_range:
        jobs.set_concurrency("no-such-job", 0)

    assert (missing.value.status, missing.value.field) == (404, "job_id")
    assert (out_of_range.value.status, out_of_range.value.field) == (400, "max_concurrency")
    assert out_of_range.value.fix
