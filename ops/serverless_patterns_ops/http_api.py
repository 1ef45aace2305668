"""JSON clients for a function behind an API Gateway HTTP API, on AWS or an emulator.

HttpApiClient sends real HTTP requests, signed with SigV4 for the route's
AWS_IAM authorization when AWS credentials are available. Emulators hand out
API endpoints such as http://abcd1234.execute-api.localhost:4566 whose host
does not resolve everywhere; such requests go to the emulator's own address
(AWS_ENDPOINT_URL) with the API's host in the Host header.

DirectInvokeClient invokes the function with the event API Gateway would send,
for stacks without an HTTP API (LocalStack Community has none).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


@dataclass(frozen=True)
class JsonResponse:
    status: int
    body: Any


class JsonPoster(Protocol):
    def post_json(self, path: str, document: Any) -> JsonResponse: ...

    def post_raw(self, path: str, payload: bytes) -> JsonResponse: ...

    def request(self, method: str, path: str, payload: bytes = b"") -> JsonResponse: ...


def _decoded(raw: bytes | str) -> Any:
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def api_region(hostname: str) -> str:
    """The region of an execute-api host (<id>.execute-api.<region>.amazonaws.com), else the configured one."""
    labels = hostname.split(".")
    if len(labels) > 3 and labels[1] == "execute-api" and labels[2] != "localhost":
        return labels[2]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class HttpApiClient:
    """One keep-alive connection per thread, so a thread pool can share a client."""

    def __init__(
        self,
        api_endpoint: str,
        emulator_endpoint: str | None = None,
        timeout: float = 30.0,
        sign: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        api = urlsplit(api_endpoint)
        if api.scheme not in {"http", "https"} or not api.hostname:
            raise ValueError(f"api_endpoint must be an http(s) URL, got {api_endpoint!r}")
        credentials = boto3.Session().get_credentials() if sign else None
        self._signer = SigV4Auth(credentials, "execute-api", api_region(api.hostname)) if credentials else None
        self._scheme = api.scheme
        self._host_header = api.netloc
        self._base_path = api.path.rstrip("/")
        self._secure = api.scheme == "https"
        connect_to = api
        emulator_endpoint = emulator_endpoint or os.environ.get("AWS_ENDPOINT_URL")
        if api.hostname.endswith(".localhost") and emulator_endpoint:
            connect_to = urlsplit(emulator_endpoint)
            self._secure = connect_to.scheme == "https"
        self._connect_host = connect_to.hostname
        self._connect_port = connect_to.port
        self._timeout = timeout
        self._extra_headers = headers or {}
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            factory = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            connection = factory(self._connect_host, self._connect_port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _headers(self, method: str, path: str, payload: bytes) -> dict[str, str]:
        headers = {"Host": self._host_header, "Content-Type": "application/json", **self._extra_headers}
        if self._signer is None:
            return headers
        request = AWSRequest(
            method=method, url=f"{self._scheme}://{self._host_header}{path}", data=payload, headers=headers
        )
        self._signer.add_auth(request)
        return dict(request.headers.items())

    def post_json(self, path: str, document: Any) -> JsonResponse:
        return self.post_raw(path, json.dumps(document).encode())

    def post_raw(self, path: str, payload: bytes) -> JsonResponse:
        """POST these bytes as they are, whether or not they are JSON."""
        return self.request("POST", path, payload)

    def request(self, method: str, path: str, payload: bytes = b"") -> JsonResponse:
        headers = self._headers(method, f"{self._base_path}{path}", payload)
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, f"{self._base_path}{path}", body=payload or None, headers=headers)
                response = connection.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # A keep-alive connection the server closed: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        return JsonResponse(status=response.status, body=_decoded(raw))


class DirectInvokeClient:
    """Invoke the function with an HTTP API (payload format 2.0) event."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function_name = function_name

    def post_json(self, path: str, document: Any) -> JsonResponse:
        return self._invoke("POST", path, json.dumps(document), is_base64_encoded=False)

    def post_raw(self, path: str, payload: bytes) -> JsonResponse:
        """Send these bytes as API Gateway sends a body it does not treat as text: base64-encoded."""
        return self._invoke("POST", path, base64.b64encode(payload).decode(), is_base64_encoded=True)

    def request(self, method: str, path: str, payload: bytes = b"") -> JsonResponse:
        return self._invoke(method, path, payload.decode(), is_base64_encoded=False)

    def _invoke(self, method: str, path: str, body: str, is_base64_encoded: bool) -> JsonResponse:
        event = {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{method} {path}",
                "stage": "$default",
            },
            "body": body,
            "isBase64Encoded": is_base64_encoded,
        }
        invoked = self._lambda.invoke(FunctionName=self._function_name, Payload=json.dumps(event).encode())
        response = json.loads(invoked["Payload"].read())
        if "FunctionError" in invoked:
            raise RuntimeError(f"{self._function_name} failed: {response}")
        return JsonResponse(status=response["statusCode"], body=_decoded(response.get("body", "")))


def producer_client(stack: dict[str, Any], lambda_client: Any) -> JsonPoster:
    """The HTTP API when the stack has one, the function itself otherwise."""
    if stack.get("api_endpoint"):
        return HttpApiClient(stack["api_endpoint"])
    return DirectInvokeClient(lambda_client, stack["producer_function_name"])
