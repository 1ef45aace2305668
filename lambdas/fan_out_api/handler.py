"""Job API: start, follow and cancel fan-out jobs over HTTP (an API Gateway HTTP API).

    POST   /jobs       the ventilator's job spec: 202 {job_id, status, status_url}
    GET    /jobs/{id}  status, counts by outcome, timings, the result's location
    DELETE /jobs/{id}  cancel: running subtasks finish, the rest is skipped
    PATCH  /jobs/{id}  {"max_concurrency": N}: change a running job's max_concurrency (the ventilator does it)

A spec is checked here exactly as the ventilator checks it, so a bad one is a
400 naming the field and the fix, and a job id already used with another spec
a 409; a good one is handed to the ventilator asynchronously, with its job id
fixed, and answered at once. The ventilator then plans and registers the job:
until it has, GET answers 404 with that reason. The same spec again under its
job id is answered 200 with the job as it stands and starts nothing. Whatever
the body (not JSON, too large, too deep, wrong types) the answer is a 4xx.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.fan_in.job_status import status_document
from serverless_patterns.fan_in.tracker import StopReason, configured_tracker
from serverless_patterns.fan_out import workload_registry
from serverless_patterns.fan_out.jobs import (
    JOB_ID_PATTERN,
    InvalidJobSpec,
    JobSpec,
    configured_chunk_size,
    configured_limits,
    identity_refusal,
    in_first_format,
    is_first_format,
    parse_spec,
    spec_identity,
)
from serverless_patterns.shared import aws_clients, settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayHttpResolver()

# An asynchronous invocation carries at most 256 KB: the spec, and room for the envelope.
MAX_BODY_BYTES = 240 * 1024


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, field: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.status, self.body = status, {"field": field, "message": message, "fix": fix}


def _json(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status.value, content_types.APPLICATION_JSON, json.dumps(body, default=str), headers)


def _body() -> Any:
    event = app.current_event
    raw: str | bytes = event.body or ""
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise BadRequest(
                HTTPStatus.BAD_REQUEST, "body", "is marked base64 but is not", "send the body as it is"
            ) from None
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_BODY_BYTES:
        raise BadRequest(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "body",
            f"is {size} bytes, more than {MAX_BODY_BYTES} (an asynchronous invocation carries 256 KB)",
            'put the items in S3 and send a source of type "jsonl", "lines" or "objects"',
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(
            HTTPStatus.BAD_REQUEST, "body", f"is not JSON ({error})", 'send a job spec: {"source": {...}}'
        ) from None
    except RecursionError:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "body", "is nested too deeply", "send a job spec") from None


def _spec(document: Any) -> JobSpec:
    try:
        return parse_spec(
            document,
            configured_chunk_size(),
            configured_limits(),
            workload_registry.names(),
            workload_registry.reads_by_name(),
        )
    except InvalidJobSpec as error:
        error = in_first_format(error) if is_first_format(document) else error
        raise BadRequest(HTTPStatus.BAD_REQUEST, error.field, error.message, error.fix) from None


def _conflict(job: dict[str, Any], spec: JobSpec) -> BadRequest | None:
    """Why an existing job under this id is not this submission (409), or None when it is the same job.

    The input's content is not compared here: the ventilator, which reads the
    input, refuses a changed one, and the job stays as it was.
    """
    same_spec = spec_identity(job.get("spec", {})) == spec_identity(spec.as_record())
    refusal = identity_refusal(job, same_spec)
    return BadRequest(HTTPStatus.CONFLICT, **refusal) if refusal else None


_DEFAULT_PORTS = {"http": "80", "https": "443"}


_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")  # a host name or address, and a port


def job_url(event: Mapping[str, Any], job_id: str) -> str:
    """The URL of a job, built from the POST /jobs request that named it, so that it reaches this same API.

    On AWS the request's host is the API's name and X-Forwarded-Proto/-Port say https and 443. MiniStack
    passes on the Host the caller used (port included) and no X-Forwarded-Proto on plain http. An event
    with no host at all (a direct invoke) gets the path alone.
    """
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    context = event.get("requestContext") or {}
    host = headers.get("host") or context.get("domainName") or ""
    path = f"/jobs/{job_id}"
    if not host:
        return path
    # A proxy chain lists one value per hop: the first is what the caller used. Headers a caller can set
    # never make a link to another scheme or host: only http(s), a numeric port, a host name and port.
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
    if scheme not in _DEFAULT_PORTS:
        scheme = "https"
    if not _HOST.match(host):
        host = context.get("domainName") or ""
        if not _HOST.match(host):
            return path
    port = (headers.get("x-forwarded-port") or "").split(",")[0].strip()
    if port.isdigit() and urlsplit(f"//{host}").port is None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{_base_path(event.get('rawPath') or '', host, context)}{path}"


def _base_path(raw_path: str, host: str, context: Mapping[str, Any]) -> str:
    """What comes before /jobs in this API's URLs, as the caller addressed it."""
    domain, api_id = (context.get("domainName") or "").lower(), context.get("apiId") or ""
    stage = context.get("stage") or "$default"
    on_api_name = bool(api_id) and domain.startswith(f"{api_id}.execute-api.")
    if on_api_name and urlsplit(f"//{host}").hostname != domain:
        # The emulator's path form (<emulator>/_aws/execute-api/<api id>/<stage>/jobs): its own host, the
        # API named in the path, which it leaves out of rawPath. AWS's host is always the domainName.
        return f"/_aws/execute-api/{api_id}/{stage}"
    # AWS keeps a named stage or a custom domain's mapping key in rawPath.
    raw_path = raw_path.rstrip("/")
    base = raw_path.removesuffix("/jobs") if raw_path.endswith("/jobs") else ""
    if on_api_name and stage != "$default" and not f"{base}/".startswith(f"/{stage}/"):
        # MiniStack leaves the stage out of rawPath.
        base = f"/{stage}{base}"
    return base


def _status_url(job_id: str) -> str:
    return job_url(app.current_event.raw_event, job_id)


@app.post("/jobs")
@tracer.capture_method
def submit() -> Response:
    document = _body()
    spec = _spec(document)
    logger.append_keys(job_id=spec.job_id, correlation_id=spec.correlation_id)
    tracker = configured_tracker()
    if (job := tracker.get_job(spec.job_id)) is not None:
        if conflict := _conflict(job, spec):
            metrics.add_metric(name="SubmissionsRefused", unit=MetricUnit.Count, value=1)
            raise conflict
        logger.info("the same spec again: answered with the job as it stands")
        return _json(HTTPStatus.OK, {**status_document(tracker, job), "status_url": _status_url(spec.job_id)})
    aws_clients.client("lambda").invoke(
        FunctionName=settings.required("VENTILATOR_FUNCTION"),
        InvocationType="Event",
        Payload=json.dumps({**document, "job_id": spec.job_id}).encode(),
    )
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    logger.info("job handed to the ventilator")
    url = _status_url(spec.job_id)
    return _json(
        HTTPStatus.ACCEPTED,
        {"job_id": spec.job_id, "status": "SUBMITTED", "status_url": url},
        headers={"Location": url},
    )


def _job_id(job_id: str) -> str:
    if not JOB_ID_PATTERN.match(job_id):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "job_id", "is not a valid job id", "use 1-64 of A-Z a-z 0-9 _ . -")
    return job_id


def _not_found(job_id: str) -> BadRequest:
    return BadRequest(
        HTTPStatus.NOT_FOUND,
        "job_id",
        f"unknown job {job_id}",
        "check the id; a job just submitted answers once the ventilator has planned it: retry in a few seconds",
    )


@app.get("/jobs/<job_id>")
@tracer.capture_method
def status(job_id: str) -> Response:
    tracker = configured_tracker()
    job = tracker.get_job(_job_id(job_id))
    if job is None:
        raise _not_found(job_id)
    return _json(HTTPStatus.OK, status_document(tracker, job))


@app.delete("/jobs/<job_id>")
@tracer.capture_method
def cancel(job_id: str) -> Response:
    tracker = configured_tracker()
    job = tracker.get_job(_job_id(job_id))
    if job is None:
        raise _not_found(job_id)
    if tracker.request_stop(job_id, StopReason.CANCELLED) is None:
        raise BadRequest(
            HTTPStatus.CONFLICT,
            "job_id",
            f"job {job_id} is {job['status']}{' and stopping already' if 'stop' in job else ''}: nothing to cancel",
            "GET the job to see how it ended",
        )
    metrics.add_metric(name="JobsCancelled", unit=MetricUnit.Count, value=1)
    return _json(HTTPStatus.ACCEPTED, status_document(tracker, tracker.get_job(job_id) or job))


@app.patch("/jobs/<job_id>")
@tracer.capture_method
def change(job_id: str) -> Response:
    document = _body()
    if not isinstance(document, dict) or set(document) != {"max_concurrency"}:
        raise BadRequest(
            HTTPStatus.BAD_REQUEST, "body", "must hold max_concurrency and nothing else", 'send {"max_concurrency": 10}'
        )
    request = {"concurrency": {"job_id": _job_id(job_id), "max_concurrency": document["max_concurrency"]}}
    response = aws_clients.client("lambda").invoke(
        FunctionName=settings.required("VENTILATOR_FUNCTION"), Payload=json.dumps(request).encode()
    )
    answer = json.loads(response["Payload"].read())
    if "FunctionError" in response or not isinstance(answer, dict):
        raise RuntimeError(f"the ventilator failed: {answer}")
    if "error" in answer:
        error = answer["error"]
        field = error["field"].removeprefix("concurrency.")
        status = HTTPStatus.NOT_FOUND if "does not exist" in error["message"] else HTTPStatus.CONFLICT
        if field == "max_concurrency":
            status = HTTPStatus.BAD_REQUEST
        raise BadRequest(status, field, error["message"], error["fix"])
    return _json(HTTPStatus.OK, answer)


@app.exception_handler(BadRequest)
def bad_request(error: BadRequest) -> Response:
    logger.info("request refused", extra={"status": error.status.value, "refusal": error.body})
    return _json(error.status, error.body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
