"""A typed client of the fan-out job API: submit a spec, follow the job, read its result.

    from serverless_patterns_ops.jobs_client import JobsClient

    jobs = JobsClient("https://abc123.execute-api.eu-west-1.amazonaws.com")
    job = jobs.submit({"source": {"type": "objects", "bucket": "logs", "prefix": "2026/"}, "workload": "object_stats"})
    done = jobs.wait(job.job_id, on_progress=print)
    print(done.status, done.counts, jobs.result(done))

    jobs = JobsClient.of_stack(fan_out)      # the fan_out outputs of `terraform output -json`
    source = jobs.upload(Path("orders.csv"))  # {"type": "csv", "bucket": ..., "key": "inputs/<digest>/orders.csv"}
    job = jobs.submit({"source": {**source, "items_per_subtask": 2000}, "workload": "csv_totals"})
    jobs.download(jobs.wait(job.job_id), Path("results") / job.job_id)  # manifest.json, succeeded/, failed/...

Requests are SigV4-signed with the caller's AWS credentials (the API's default
AWS_IAM authorization); `token=` sends a JWT instead. The CLI uses this client
with `--api`; without an HTTP API (LocalStack Community), `JobsClient.invoking`
sends the same requests to the API's function directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from serverless_patterns.fan_in.tracker import FINAL_STATUSES
from serverless_patterns_ops import transfer
from serverless_patterns_ops.http_api import DirectInvokeClient, HttpApiClient, JsonPoster, JsonResponse


class JobApiError(RuntimeError):
    """The API refused a request: its status and the field, message and fix it named."""

    def __init__(self, response: JsonResponse) -> None:
        body = response.body if isinstance(response.body, dict) else {"message": str(response.body)}
        self.status = response.status
        self.field = body.get("field", "")
        self.fix = body.get("fix", "")
        super().__init__(f"{response.status}: {self.field}: {body.get('message', '')} (fix: {self.fix})")


class UnknownJob(JobApiError, LookupError):
    """The API knows no job of this id (404): a JobApiError, and a LookupError like every "unknown job"."""

    def __init__(self, job_id: str, response: JsonResponse) -> None:
        super().__init__(response)
        self.job_id = job_id
        self.args = (f"unknown job {job_id}: `list` shows the jobs of this stack",)


class NoResult(LookupError):
    """A job that has no result to read: still running, or ended without one (why is in its message)."""


def fan_out_outputs(outputs: Any) -> dict[str, Any]:
    """The fan_out output's value, from `terraform output -json` ({"fan_out": {"value": {...}}}) or the values
    alone ({"fan_out": {...}}); ValueError when there is none."""
    fan_out = outputs.get("fan_out") if isinstance(outputs, dict) else None
    value = fan_out.get("value", fan_out) if isinstance(fan_out, dict) else None
    if not isinstance(value, dict):
        raise ValueError("not the outputs of a stack with a fan_out output (terraform output -json)")
    return value


@dataclass(frozen=True)
class JobState:
    """A job as GET /jobs/{id} answers it."""

    job_id: str
    status: str
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, str] = field(default_factory=dict)
    result: dict[str, str] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    status_url: str = ""
    retrying: dict[str, Any] | None = None  # subtasks being retried now, their attempts and the last error
    stop: dict[str, Any] | None = None  # why a stopped job stopped: reason, at, error

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> JobState:
        known = {name: answer[name] for name in cls.__dataclass_fields__ if name in answer}
        return cls(**known)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def __str__(self) -> str:
        counts = ", ".join(f"{count} {outcome}" for outcome, count in self.counts.items() if count)
        return f"{self.job_id}: {self.status} {counts or ''}".rstrip()


class JobsClient:
    def __init__(
        self,
        endpoint: str | None = None,
        *,
        transport: JsonPoster | None = None,
        token: str = "",
        bucket: str = "",
    ) -> None:
        """`bucket`: the stack's job bucket (the fan_out output bucket_name), where upload() puts inputs."""
        if transport is None:
            if not endpoint:
                raise ValueError("JobsClient needs the job API's endpoint (the fan_out module's job_api_endpoint)")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            transport = HttpApiClient(endpoint, sign=not token, headers=headers)
        self._transport = transport
        self.bucket = bucket

    @classmethod
    def invoking(cls, function_name: str, lambda_client: Any = None, bucket: str = "") -> JobsClient:
        """Requests sent to the job API's function itself, for a stack without an HTTP API."""
        return cls(transport=DirectInvokeClient(lambda_client or boto3.client("lambda"), function_name), bucket=bucket)

    @classmethod
    def of_stack(cls, fan_out: dict[str, Any], lambda_client: Any = None) -> JobsClient:
        """The job API of a deployed stack (the fan_out outputs): over HTTP, or by invoking its function
        where the stack has no HTTP API."""
        bucket = fan_out.get("bucket_name", "")
        if fan_out.get("job_api_endpoint"):
            return cls(fan_out["job_api_endpoint"], bucket=bucket)
        if fan_out.get("job_api_function_name"):
            return cls.invoking(fan_out["job_api_function_name"], lambda_client, bucket=bucket)
        raise LookupError("the stack has no job API: deploy fan_out with create_job_api = true")

    @classmethod
    def from_outputs(cls, path: str | Path, lambda_client: Any = None) -> JobsClient:
        """The job API of the stack whose `terraform output -json` was saved at `path`
        (`make apply ENV=local` writes build/demo/outputs.json)."""
        return cls.of_stack(fan_out_outputs(json.loads(Path(path).read_text())), lambda_client)

    def _call(self, method: str, path: str, document: Any = None) -> dict[str, Any]:
        payload = json.dumps(document).encode() if document is not None else b""
        response = self._transport.request(method, path, payload)
        if response.status >= 400 or not isinstance(response.body, dict):
            raise JobApiError(response)
        return response.body

    def submit(self, spec: dict[str, Any]) -> JobState:
        """Start a job (202), or get the job a repeated spec names (200); JobApiError for 4xx."""
        return JobState.from_answer(self._call("POST", "/jobs", spec))

    def status(self, job_id: str) -> JobState | None:
        """The job now, or None while it is not planned yet (just submitted) or unknown."""
        try:
            return JobState.from_answer(self._call("GET", f"/jobs/{job_id}"))
        except JobApiError as error:
            if error.status == 404:
                return None
            raise

    def cancel(self, job_id: str) -> JobState:
        """Ask a running job to stop: running subtasks finish, the rest is skipped; UnknownJob for an unknown id."""
        try:
            return JobState.from_answer(self._call("DELETE", f"/jobs/{job_id}"))
        except JobApiError as error:
            if error.status == 404:
                raise UnknownJob(job_id, JsonResponse(404, {"field": error.field, "fix": error.fix})) from None
            raise

    def set_concurrency(self, job_id: str, max_concurrency: int) -> dict[str, Any]:
        """Change a running job's max_concurrency; JobApiError naming the field and fix when it cannot."""
        return self._call("PATCH", f"/jobs/{job_id}", {"max_concurrency": max_concurrency})

    def wait(
        self,
        job_id: str,
        timeout: float = 3600,
        interval: float = 2.0,
        on_progress: Callable[[JobState], None] | None = None,
    ) -> JobState:
        """Poll until the job has its final status; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.status(job_id)
            if state is not None:
                if on_progress:
                    on_progress(state)
                if state.final:
                    return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is {state.status if state else 'not planned'} after {timeout:.0f} s")
            time.sleep(interval)

    def result(self, state: JobState, s3: Any = None) -> Any:
        """The merged result of a finished job (its manifest for a workload without a merge), read from S3."""
        if not state.result:
            raise NoResult(f"job {state.job_id} has no result ({state.status})")
        s3 = s3 or boto3.client("s3")
        key = state.result.get("result_key", state.result["key"])
        return json.loads(s3.get_object(Bucket=state.result["bucket"], Key=key)["Body"].read())

    def upload(self, path: Path, *, bucket: str = "", source_type: str | None = None, s3: Any = None) -> dict[str, str]:
        """Upload a file or a folder under the bucket's inputs/ (never incoming/, which starts a job); the
        job spec's `source` for it: {"type", "bucket", "key"} for a file (type from its suffix unless given),
        {"type": "objects", "bucket", "prefix"} for a folder."""
        bucket = bucket or self.bucket
        if not bucket:
            raise ValueError("upload needs the stack's bucket: JobsClient.of_stack(fan_out), or bucket=")
        return transfer.upload(s3 or boto3.client("s3"), bucket, Path(path), source_type)

    def download(self, job: JobState | str, to: Path, s3: Any = None) -> list[Path]:
        """Write a finished job's manifest.json, succeeded/*.jsonl, failed/*.jsonl and result.json (with a
        merge) into `to`, in the layout of results/<job>/; the files written. UnknownJob or NoResult
        (still running, or ended without a result) otherwise."""
        state = job if isinstance(job, JobState) else self.status(job)
        if state is None:
            raise UnknownJob(str(job), JsonResponse(404, {"field": "job_id"}))
        if not state.final:
            raise NoResult(f"job {state.job_id} has no result yet: it is {state.status}")
        if not state.result:
            reason = f": {state.error['field']}: {state.error['message']}" if state.error else ""
            raise NoResult(f"job {state.job_id} ended {state.status} without a result{reason}")
        return transfer.download_results(s3 or boto3.client("s3"), state.result["bucket"], state.result["key"], to)
