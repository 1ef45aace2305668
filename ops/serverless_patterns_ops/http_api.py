"""A small JSON client for API Gateway HTTP APIs, on AWS or on an emulator.

Emulators hand out API endpoints such as http://abcd1234.execute-api.localhost:4566
whose host does not resolve everywhere; such requests are sent to the
emulator's own address (AWS_ENDPOINT_URL) with the API's host in the Host header.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class JsonResponse:
    status: int
    body: Any


class HttpApiClient:
    """One keep-alive connection per thread, so a thread pool can share a client."""

    def __init__(self, api_endpoint: str, emulator_endpoint: str | None = None, timeout: float = 30.0) -> None:
        api = urlsplit(api_endpoint)
        if api.scheme not in {"http", "https"} or not api.hostname:
            raise ValueError(f"api_endpoint must be an http(s) URL, got {api_endpoint!r}")
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
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            factory = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            connection = factory(self._connect_host, self._connect_port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def post_json(self, path: str, document: Any) -> JsonResponse:
        payload = json.dumps(document).encode()
        headers = {"Host": self._host_header, "Content-Type": "application/json"}
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", f"{self._base_path}{path}", body=payload, headers=headers)
                response = connection.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # A keep-alive connection the server closed: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        return JsonResponse(status=response.status, body=body)
