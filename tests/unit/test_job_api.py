"""The job API (fan_out_api) against moto, with the ventilator run in-process where Lambda would run it."""

import base64
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serverless_patterns.fan_in.tracker import JobStatus
from serverless_patterns.shared import aws_clients
from serverless_patterns_ops.http_api import DirectInvokeClient, JsonResponse
from serverless_patterns_ops.jobs_client import JobApiError, JobsClient
from unit.conftest import http_api_event, json_body
from unit.test_fan_out import (  # noqa: F401 (fixtures)
    BUCKET,
    TOTAL,
    fan_out_env,
)

SPEC = {"source": {"type": "lines", "bucket": BUCKET, "key": "inputs/text.txt", "chunk_size_bytes": 512}}


class AsyncInvokes:
    """Stands in for Lambda's asynchronous invoke: records each payload, runs the ventilator on request."""

    def __init__(self, lambda_context) -> None:
        self.payloads: list[dict] = []
        self._context = lambda_context

    def invoke(self, FunctionName: str, Payload: bytes, InvocationType: str = "RequestResponse") -> dict:
        assert FunctionName == "ventilator"
        if InvocationType == "RequestResponse":  # a request the ventilator answers at once: run it now
            from fan_out_ventilator import handler as ventilator

            answer = ventilator.lambda_handler(json.loads(Payload), self._context)
            return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}
        assert InvocationType == "Event"
        self.payloads.append(json.loads(Payload))
        return {"StatusCode": 202}

    def run_ventilator(self) -> list[dict]:
        from fan_out_ventilator import handler as ventilator

        return [ventilator.lambda_handler(payload, self._context) for payload in self.payloads]


@pytest.fixture
def api(fan_out_env, lambda_context, monkeypatch):  # noqa: F811
    from fan_out_api import handler

    invokes = AsyncInvokes(lambda_context)
    real_client = aws_clients.client
    monkeypatch.setattr(aws_clients, "client", lambda name: invokes if name == "lambda" else real_client(name))
    monkeypatch.setenv("VENTILATOR_FUNCTION", "ventilator")

    def call(method: str, path: str, body=None, raw: str | None = None, base64_encoded: bool = False) -> tuple:
        event = http_api_event(raw if raw is not None else (json.dumps(body) if body is not None else None))
        event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        # As AWS sends it: the API's name as host, https on 443.
        event["requestContext"].update(apiId="abc123", domainName="abc123.execute-api.eu-west-1.amazonaws.com")
        event["headers"].update(
            {
                "host": "abc123.execute-api.eu-west-1.amazonaws.com",
                "x-forwarded-proto": "https",
                "x-forwarded-port": "443",
            }
        )
        event["isBase64Encoded"] = base64_encoded
        response = handler.lambda_handler(event, lambda_context)
        return response["statusCode"], json_body(response), response.get("headers", {})

    call.invokes = invokes
    call.env = fan_out_env
    return call


def test_a_submitted_job_is_accepted_at_once_and_followed_by_its_status_url(api):
    status, body, headers = api("POST", "/jobs", {**SPEC, "job_id": "report-1"})

    assert status == 202
    assert body == {
        "job_id": "report-1",
        "status": "SUBMITTED",
        "status_url": "https://abc123.execute-api.eu-west-1.amazonaws.com/jobs/report-1",
    }
    assert headers["Location"] == body["status_url"]
    assert api.invokes.payloads == [{**SPEC, "job_id": "report-1"}]
    assert api("GET", "/jobs/report-1")[0] == 404  # not planned yet

    api.invokes.run_ventilator()
    status, job, _ = api("GET", "/jobs/report-1")

    assert status == 200
    assert (job["status"], job["total"]) == ("RUNNING", TOTAL)
    assert job["counts"] == {"succeeded": 0, "failed": 0, "skipped": 0, "pending": TOTAL}
    assert set(job["timings"]) >= {"created_at", "deadline"}


def _request(host: str, raw_path: str = "/jobs", stage: str = "$default", **forwarded: str) -> dict:
    """A POST /jobs event with this Host, X-Forwarded-* headers, rawPath and stage, for the API abc123."""
    event = http_api_event("{}", path=raw_path)
    event["headers"].update({"host": host, **{f"x-forwarded-{name}": value for name, value in forwarded.items()}})
    event["requestContext"].update(apiId="abc123", stage=stage)
    event["requestContext"]["domainName"] = (
        "abc123.execute-api.localhost" if "localhost" in host or "127.0.0.1" in host else host.split(":")[0]
    )
    return event


AWS = "abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("event", "url"),
    [
        # AWS: the API's name, https on 443; a named stage is in rawPath, so is a custom domain's mapping key.
        (_request(AWS, proto="https", port="443"), f"https://{AWS}/jobs/j-1"),
        (_request(AWS, "/prod/jobs", "prod", proto="https", port="443"), f"https://{AWS}/prod/jobs/j-1"),
        (
            _request("api.example.com", "/v1/jobs", "prod", proto="https", port="443"),
            "https://api.example.com/v1/jobs/j-1",
        ),
        # MiniStack: the Host the caller used, plain http, the stage never in rawPath.
        (_request("abc123.execute-api.localhost:4566"), "http://abc123.execute-api.localhost:4566/jobs/j-1"),
        (
            _request("abc123.execute-api.localhost:4566", stage="dev"),
            "http://abc123.execute-api.localhost:4566/dev/jobs/j-1",
        ),
        (
            _request("abc123.execute-api.localhost:4566", proto="https"),
            "https://abc123.execute-api.localhost:4566/jobs/j-1",
        ),
        # MiniStack's path form: the emulator's own host, the API named in the path.
        (_request("127.0.0.1:4566"), "http://127.0.0.1:4566/_aws/execute-api/abc123/$default/jobs/j-1"),
        (_request("localhost:4566", stage="dev"), "http://localhost:4566/_aws/execute-api/abc123/dev/jobs/j-1"),
        # A proxy on a port of its own, listing each hop: the first is the caller's.
        (_request(AWS, proto="https, http", port="8443, 80"), f"https://{AWS}:8443/jobs/j-1"),
    ],
)
def test_a_job_link_reaches_the_api_the_request_came_through(event, url):
    from fan_out_api.handler import job_url

    assert job_url(event, "j-1") == url


@pytest.mark.parametrize(
    ("event", "url"),
    [
        (_request(AWS, proto="https", port="@evil.example"), f"https://{AWS}/jobs/j-1"),
        (_request(AWS, proto="javascript", port="443"), f"https://{AWS}/jobs/j-1"),
        (_request("evil.example/x?"), "/jobs/j-1"),  # no host name: the path alone, as for a direct invoke
    ],
)
def test_headers_a_caller_sets_never_make_a_link_to_another_scheme_or_host(event, url):
    from fan_out_api.handler import job_url

    assert job_url(event, "j-1") == url


def test_a_direct_invoke_with_no_host_gets_the_path_alone():
    from fan_out_api.handler import job_url

    assert job_url(http_api_event("{}", "/jobs"), "j-1") == "/jobs/j-1"


def test_a_job_id_is_generated_when_the_spec_names_none(api):
    status, body, _ = api("POST", "/jobs", SPEC)

    assert status == 202
    assert api.invokes.payloads[0]["job_id"] == body["job_id"]
    assert len(body["job_id"]) == 32


def test_the_same_spec_again_answers_the_job_and_starts_nothing_another_spec_is_409(api):
    api("POST", "/jobs", {**SPEC, "job_id": "report-2"})
    api.invokes.run_ventilator()

    again = api("POST", "/jobs", {**SPEC, "job_id": "report-2", "correlation_id": "retry-of-report-2"})
    other = api("POST", "/jobs", {**SPEC, "job_id": "report-2", "workload": "word_count", "tolerated_failure_count": 3})

    assert (again[0], again[1]["status"], again[1]["total"]) == (200, "RUNNING", TOTAL)
    assert other[0] == 409
    assert other[1]["field"] == "job_id"
    assert "new job_id" in other[1]["fix"]
    assert len(api.invokes.payloads) == 1


def test_the_id_of_a_rejected_spec_is_not_reused(api):
    api("POST", "/jobs", {"source": {"type": "lines", "bucket": BUCKET, "key": "inputs/missing.txt"}, "job_id": "bad"})
    [answer] = api.invokes.run_ventilator()
    assert answer["status"] == "FAILED"  # the ventilator found no such input

    status, body, _ = api("POST", "/jobs", {**SPEC, "job_id": "bad"})
    status_of_failed, failed, _ = api("GET", "/jobs/bad")

    assert (status, body["field"]) == (409, "job_id")
    assert (status_of_failed, failed["status"]) == (200, "FAILED")
    assert failed["error"]["field"].startswith("source")


@pytest.mark.parametrize(
    ("raw", "field", "status"),
    [
        ("", "body", 400),
        ("not json", "body", 400),
        ("[" * 100_000 + "]" * 100_000, "body", 400),
        ('"just a string"', "spec", 400),
        ('{"source": 5}', "source", 400),
        ('{"source": {"type": "lines", "bucket": "some-bucket", "key": "k"}, "colour": "red"}', "colour", 400),
        ('{"source": {"type": "lines", "bucket": "some-bucket", "key": "k"}, "job_id": "a b"}', "job_id", 400),
        ('{"source": {"type": "lines", "bucket": "some-bucket", "key": "k"}, "workload": "nope"}', "workload", 400),
        (json.dumps({"source": {"type": "items", "items": ["x" * 1000] * 300}}), "body", 413),
    ],
)
def test_a_bad_body_is_a_4xx_naming_the_field_and_starts_nothing(api, raw, field, status):
    answer_status, body, _ = api("POST", "/jobs", raw=raw)

    assert answer_status == status
    assert body["field"] == field
    assert body["message"]
    assert body["fix"]
    assert api.invokes.payloads == []


def test_a_body_marked_base64_is_decoded_and_a_false_one_refused(api):
    encoded = base64.b64encode(json.dumps(SPEC).encode()).decode()

    assert api("POST", "/jobs", raw=encoded, base64_encoded=True)[0] == 202
    assert api("POST", "/jobs", raw="@@not base64@@", base64_encoded=True)[:2][0] == 400


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=20,
    ).map(lambda document: {"source": document} if isinstance(document, list) else document)
)
def test_no_body_is_ever_answered_with_a_5xx(api, body):
    status, answer, _ = api("POST", "/jobs", raw=json.dumps(body))

    assert 400 <= status < 500 or status == 202, answer


def test_cancel_stops_a_running_job_once(api):
    api("POST", "/jobs", {**SPEC, "job_id": "report-3"})
    api.invokes.run_ventilator()

    first = api("DELETE", "/jobs/report-3")
    second = api("DELETE", "/jobs/report-3")

    assert (first[0], first[1]["stop"]["reason"]) == (202, "CANCELLED")
    assert second[0] == 409
    assert api.env["tracker"].get_job("report-3")["stop"]["reason"] == "CANCELLED"


def test_patch_changes_a_running_jobs_max_concurrency(api):
    api("POST", "/jobs", {**SPEC, "job_id": "report-5", "max_concurrency": 1})
    api.invokes.run_ventilator()

    status, body, _ = api("PATCH", "/jobs/report-5", {"max_concurrency": 3})

    assert (status, body["max_concurrency"], body["lanes_active"]) == (200, 3, 3)
    assert api.env["tracker"].get_job("report-5")["max_concurrency"] == 3


@pytest.mark.parametrize(
    ("job_id", "body", "status", "field"),
    [
        ("report-6", {"max_concurrency": 0}, 400, "max_concurrency"),
        ("report-6", {"max_concurrency": 2, "other": 1}, 400, "body"),
        ("report-6", [2], 400, "body"),
        ("no-such-job", {"max_concurrency": 2}, 404, "job_id"),
        ("whole-job", {"max_concurrency": 2}, 409, "job_id"),
    ],
)
def test_a_bad_patch_is_refused_naming_the_field(api, job_id, body, status, field):
    api("POST", "/jobs", {**SPEC, "job_id": "report-6", "max_concurrency": 1})
    api("POST", "/jobs", {**SPEC, "job_id": "whole-job", "max_concurrency": 1000})
    api.invokes.run_ventilator()

    answer = api("PATCH", f"/jobs/{job_id}", body)

    assert (answer[0], answer[1]["field"]) == (status, field)
    assert answer[1]["fix"]


def test_unknown_and_malformed_job_ids(api):
    assert api("GET", "/jobs/no-such-job")[0] == 404
    assert api("DELETE", "/jobs/no-such-job")[0] == 404
    assert api("GET", "/jobs/bad%20id")[:2][1]["field"] == "job_id"


def test_a_finished_job_shows_its_result_location(api):
    api("POST", "/jobs", {**SPEC, "job_id": "report-4"})
    api.invokes.run_ventilator()
    tracker = api.env["tracker"]
    result = {"bucket": BUCKET, "key": "results/report-4/manifest.json", "failures": [], "succeeded": TOTAL}
    tracker._table.update_item(
        Key={"pk": "JOB#report-4", "sk": "JOB"},
        UpdateExpression="SET #s = :s, #r = :r, finished_at = :f",
        ExpressionAttributeNames={"#s": "status", "#r": "result"},
        ExpressionAttributeValues={":s": JobStatus.SUCCEEDED.value, ":r": result, ":f": "2026-12-01T00:00:00+00:00"},
    )

    status, job, _ = api("GET", "/jobs/report-4")

    assert status == 200
    assert job["result"] == {"bucket": BUCKET, "key": "results/report-4/manifest.json"}
    assert job["timings"]["finished_at"] == "2026-12-01T00:00:00+00:00"


class InProcess:
    """The job API's handler as the client's transport."""

    def __init__(self, api) -> None:
        self._api = api

    def request(self, method: str, path: str, payload: bytes = b"") -> JsonResponse:
        status, body, _ = self._api(method, path, raw=payload.decode() if payload else None)
        return JsonResponse(status, body)


def test_the_client_submits_follows_cancels_and_reports_refusals_with_their_fix(api):
    jobs = JobsClient(transport=InProcess(api))

    submitted = jobs.submit({**SPEC, "job_id": "client-1"})
    before_planning = jobs.status("client-1")
    api.invokes.run_ventilator()
    running = jobs.status("client-1")
    cancelled = jobs.cancel("client-1")
    with pytest.raises(JobApiError) as refused:
        jobs.submit({"source": {"type": "lines", "bucket": BUCKET}})

    assert (submitted.job_id, submitted.status) == ("client-1", "SUBMITTED")
    assert before_planning is None
    assert (running.status, running.total, running.counts["pending"], running.final) == ("RUNNING", TOTAL, TOTAL, False)
    assert cancelled.status == "RUNNING"  # running subtasks finish; the rest is skipped
    assert (refused.value.status, refused.value.field) == (400, "source.key")
    assert refused.value.fix


def test_the_client_waits_for_the_final_status_and_reads_the_merged_result(api, monkeypatch):
    jobs = JobsClient(transport=InProcess(api))
    jobs.submit({**SPEC, "job_id": "client-2"})
    api.invokes.run_ventilator()
    api.env["s3"].put_object(Bucket=BUCKET, Key="results/client-2.json", Body=b'{"alpha": 300}')
    finished = {"bucket": BUCKET, "key": "results/client-2/manifest.json", "result_key": "results/client-2.json"}
    seen = []

    def finish_after_first_look(state):
        seen.append(state.status)
        api.env["tracker"]._table.update_item(
            Key={"pk": "JOB#client-2", "sk": "JOB"},
            UpdateExpression="SET #s = :s, #r = :r",
            ExpressionAttributeNames={"#s": "status", "#r": "result"},
            ExpressionAttributeValues={":s": JobStatus.SUCCEEDED.value, ":r": finished},
        )

    done = jobs.wait("client-2", timeout=30, interval=0.01, on_progress=finish_after_first_look)

    assert seen == ["RUNNING", "SUCCEEDED"]
    assert done.final
    assert jobs.result(done, s3=api.env["s3"]) == {"alpha": 300}


def test_the_cli_submits_follows_and_cancels_through_the_api(api, tmp_path, monkeypatch, capsys):
    from serverless_patterns_ops import __main__ as cli

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"fan_out": {"value": {"bucket_name": BUCKET, "job_api_endpoint": "https://x"}}}))
    monkeypatch.setattr(cli, "_jobs_client", lambda stack: JobsClient(transport=InProcess(api)))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SPEC, "job_id": "cli-1"}))
    bad_spec = tmp_path / "bad.json"
    bad_spec.write_text(json.dumps({"source": {"type": "lines"}}))

    submitted = cli.main(["--outputs", str(outputs), "--api", "submit", "--spec", str(spec), "--no-wait"])
    # The handler's metrics (EMF) are printed too: the CLI's line is the last one.
    submitted_line = capsys.readouterr().out.splitlines()[-1]
    api.invokes.run_ventilator()
    shown = cli.main(["--outputs", str(outputs), "--api", "status", "cli-1"])
    status_line = json.loads(capsys.readouterr().out.splitlines()[-1])
    cancelled = cli.main(["--outputs", str(outputs), "--api", "cancel", "cli-1"])
    refused = cli.main(["--outputs", str(outputs), "--api", "submit", "--spec", str(bad_spec), "--no-wait"])
    refusal = capsys.readouterr().err

    assert (submitted, shown, cancelled, refused) == (0, 0, 0, 1)
    assert json.loads(submitted_line)["status"] == "SUBMITTED"
    assert (status_line["status"], status_line["total"]) == ("RUNNING", TOTAL)
    assert api.env["tracker"].get_job("cli-1")["stop"]["reason"] == "CANCELLED"
    assert "400: source.bucket" in refusal


def test_a_stack_without_a_job_api_is_named_as_such_and_one_without_http_is_invoked():
    with pytest.raises(LookupError, match="create_job_api"):
        JobsClient.of_stack({"job_api_endpoint": None, "job_api_function_name": None})
    invoking = JobsClient.of_stack({"job_api_endpoint": None, "job_api_function_name": "x-jobs-api"}, object())

    assert isinstance(invoking._transport, DirectInvokeClient)
