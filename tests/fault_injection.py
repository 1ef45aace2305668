"""Fault injection for tests and benchmarks only; production code never imports it.

An emulator answers one request at a time and never throttles, conflicts or
fails, so a guarantee that rests on retries is proven only where those
faults are made to happen. A FaultPlan says which share of which calls fail
and how; it is applied in two ways, with the same error responses AWS sends:

- in-process: `inject(client, plan)` hooks a boto3 client's `before-call`
  event: the call never leaves, and the SDK parses the fault as AWS's own;
- for deployed functions: `FaultProxy` listens on 127.0.0.1 and forwards to
  the emulator, failing the chosen calls; point a function's
  AWS_ENDPOINT_URL at it. It can also add a network round trip to every
  call (`latency_seconds`) and count the DynamoDB capacity units each
  operation consumed (`measure_capacity`), which the benchmarks use.

Faults are spread deterministically: a rule with fraction 0.1 fails exactly
every tenth matching call (an error-diffusion counter, not a random draw), so
a test can demand "at least 10% of transactions conflicted" without flaking.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    headers: dict[str, str]
    body: bytes


# The faults AWS answers with when it is under load or failing, by kind.
DYNAMODB_ERRORS = {
    "TransactionConflict": (400, "TransactionCanceledException"),
    "ProvisionedThroughputExceeded": (400, "ProvisionedThroughputExceededException"),
    "Throttling": (400, "ThrottlingException"),
    "InternalError": (500, "InternalServerError"),
}
S3_ERRORS = {
    "InternalError": (500, "InternalError"),
    "SlowDown": (503, "SlowDown"),
    "AccessDenied": (403, "AccessDenied"),  # not retried by the SDK: fails a run at once, every time
}
SQS_ERRORS = {"InternalError": (500, "InternalError"), "Throttling": (400, "ThrottlingException")}
MESSAGES = {
    "TransactionConflict": "Transaction cancelled, please refer cancellation reasons for specific reasons",
    "ProvisionedThroughputExceeded": "The level of configured provisioned throughput for the table was exceeded.",
    "Throttling": "Rate of requests exceeds the allowed throughput.",
    "InternalError": "We encountered an internal error. Please try again.",
    "SlowDown": "Please reduce your request rate.",
    "AccessDenied": "Access Denied",
}


def error_response(service: str, kind: str, request_body: bytes = b"", method: str = "POST") -> ErrorResponse:
    """The response AWS sends for a fault of `kind`, in the protocol of `service`."""
    request_id = uuid.uuid4().hex
    message = MESSAGES[kind]
    if service == "dynamodb":
        status, code = DYNAMODB_ERRORS[kind]
        document: dict[str, Any] = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
        if kind == "TransactionConflict":
            items = len(json.loads(request_body or b"{}").get("TransactItems", [])) or 1
            # The last item (the shared counter, in the tracker's transactions) is the one in conflict.
            reasons = [{"Code": "None"}] * (items - 1) + [{"Code": "TransactionConflict"}]
            document["CancellationReasons"] = reasons
            document["message"] = f"{message} [{', '.join(reason['Code'] for reason in reasons)}]"
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
        return ErrorResponse(status, headers, json.dumps(document).encode())
    if service == "s3":
        status, code = S3_ERRORS[kind]
        body = (
            b""
            if method == "HEAD"
            else (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{request_id}</RequestId></Error>"
            ).encode()
        )
        return ErrorResponse(status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body)
    if service == "sqs":
        status, code = SQS_ERRORS[kind]
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": request_id,
            "x-amzn-query-error": f"{code};Receiver",
        }
        return ErrorResponse(status, headers, json.dumps({"__type": code, "message": message}).encode())
    raise ValueError(f"no fault responses for service {service!r}")


@dataclass
class Rule:
    service: str
    kind: str
    fraction: float
    operations: frozenset[str] | None = None  # None: every operation of the service
    credit: float = 0.0

    def matches(self, service: str, operation: str) -> bool:
        return service == self.service and (self.operations is None or operation in self.operations)


@dataclass
class FaultPlan:
    """Which share of which calls fail, and counts of what was called and what was failed."""

    rules: list[Rule] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)
    injected: Counter = field(default_factory=Counter)
    capacity: Counter = field(default_factory=Counter)  # DynamoDB units consumed, by operation (measure_capacity)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail(self, service: str, kind: str, fraction: float, operations: set[str] | None = None) -> FaultPlan:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be in [0, 1]")
        error_response(service, kind)  # refuses a kind the service has no response for
        self.rules.append(Rule(service, kind, fraction, frozenset(operations) if operations else None))
        return self

    def decide(self, service: str, operation: str) -> str | None:
        """Count a call and return the kind of fault to answer it with, or None to let it through."""
        with self._lock:
            self.calls[(service, operation)] += 1
            for rule in self.rules:
                if rule.matches(service, operation):
                    rule.credit += rule.fraction
                    if rule.credit >= 1:
                        rule.credit -= 1
                        self.injected[(service, operation, rule.kind)] += 1
                        return rule.kind
            return None

    def consumed(self, operation: str, units: float) -> None:
        with self._lock:
            self.capacity[operation] += units

    def called(self, service: str, operations: set[str] | None = None) -> int:
        return sum(n for (s, op), n in self.calls.items() if s == service and (operations is None or op in operations))

    def failed(self, service: str, operations: set[str] | None = None, kind: str | None = None) -> int:
        return sum(
            n
            for (s, op, k), n in self.injected.items()
            if s == service and (operations is None or op in operations) and (kind is None or k == kind)
        )


def inject(client: Any, plan: FaultPlan) -> Any:
    """Fail a boto3 client's calls as the plan says, before they are sent; returns the client.

    Hooked on `before-call`, whose first answer replaces the request: nothing
    reaches the endpoint (moto's stub included, which answers `before-send`
    whatever is registered before it). The SDK parses the fault as AWS's own;
    its retries are skipped, so only the code's own retries can absorb it.
    """
    service = client.meta.service_model.endpoint_prefix

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        kind = plan.decide(service, model.name)
        if kind is None:
            return None
        body = params.get("body") or b""
        fault = error_response(service, kind, body.encode() if isinstance(body, str) else body, params.get("method"))
        parsed = create_parser(model.metadata["protocol"]).parse(
            {"status_code": fault.status, "headers": fault.headers, "body": fault.body}, model.output_shape
        )
        return AWSResponse(params.get("url", ""), fault.status, fault.headers, RawBody(fault.body)), parsed

    client.meta.events.register_first(f"before-call.{client.meta.service_model.service_id.hyphenize()}", before_call)
    return client


class RawBody:
    """The raw stream botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


# -- the proxy ---------------------------------------------------------------------------

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


def identify(method: str, path: str, headers: dict[str, str]) -> tuple[str, str]:
    """(service, operation) of a signed AWS request, as far as a proxy can tell."""
    lowered = {key.lower(): value for key, value in headers.items()}
    scope = _CREDENTIAL_SCOPE.search(lowered.get("authorization", ""))
    service = scope.group(1) if scope else "unknown"
    target = lowered.get("x-amz-target")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service == "s3":
        return service, _s3_operation(method, path, lowered)
    if service == "lambda" and path.endswith("/invocations"):
        return service, "Invoke"
    return service, f"{method} {urlsplit(path).path}"


def _s3_operation(method: str, path: str, headers: dict[str, str]) -> str:
    parts = urlsplit(path)
    has_key = "/" in parts.path.strip("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if method == "PUT" and has_key:
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    if method == "GET" and has_key:
        return "GetObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "GET":
        return "ListObjectsV2" if "list-type" in query else "ListObjects"
    return f"{method} bucket"


def _consumed_units(payload: bytes) -> float:
    """The capacity units a DynamoDB answer reports (one entry, or one per table of a transaction)."""
    consumed = json.loads(payload or b"{}").get("ConsumedCapacity") or []
    entries = consumed if isinstance(consumed, list) else [consumed]
    return float(sum(entry.get("CapacityUnits", 0) for entry in entries))


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of an AWS endpoint, failing what the plan says."""

    def __init__(
        self, upstream: str, plan: FaultPlan, latency_seconds: float = 0.0, measure_capacity: bool = False
    ) -> None:
        target = urlsplit(upstream)
        self.plan = plan
        self.latency_seconds = latency_seconds
        self.measure_capacity = measure_capacity
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _relay(self) -> None:
                body = self._read_body()
                headers = {key: value for key, value in self.headers.items() if key.lower() not in _HOP_BY_HOP}
                service, operation = identify(self.command, self.path, headers)
                kind = proxy.plan.decide(service, operation)
                if kind is not None:
                    fault = error_response(service, kind, body, self.command)
                    self._answer(fault.status, list(fault.headers.items()), fault.body)
                    return
                if proxy.latency_seconds:
                    time.sleep(proxy.latency_seconds)  # a round trip; concurrent requests wait side by side
                measured = proxy.measure_capacity and service == "dynamodb"
                if measured:
                    # Emulators do not check signatures, so the body can ask for what it consumed.
                    body = json.dumps({**json.loads(body or b"{}"), "ReturnConsumedCapacity": "TOTAL"}).encode()
                connection = http.client.HTTPConnection(*proxy._upstream, timeout=120)
                try:
                    headers["Content-Length"] = str(len(body))
                    connection.request(self.command, self.path, body=body, headers=headers)
                    upstream = connection.getresponse()
                    payload = upstream.read()
                    if measured and upstream.status == 200:
                        proxy.plan.consumed(operation, _consumed_units(payload))
                    # A HEAD answer's Content-Length is the object's size: keep it.
                    dropped = _HOP_BY_HOP if self.command == "HEAD" else _HOP_BY_HOP | {"content-length"}
                    kept = [(k, v) for k, v in upstream.getheaders() if k.lower() not in dropped]
                    self._answer(upstream.status, kept, payload)
                finally:
                    connection.close()

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                if not any(key.lower() == "content-length" for key, _ in headers):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
