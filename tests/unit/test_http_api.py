import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from serverless_patterns_ops.http_api import DirectInvokeClient, HttpApiClient, producer_client


class RecordingHandler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []
    authorizations: ClassVar[list[str | None]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        RecordingHandler.seen.append({"host": self.headers["Host"], "path": self.path, "body": json.loads(body)})
        RecordingHandler.authorizations.append(self.headers.get("Authorization"))
        reply = json.dumps({"ok": True}).encode()
        self.send_response(202)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RecordingHandler.seen = []
    RecordingHandler.authorizations = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_emulator_api_host_is_reached_through_the_emulator_endpoint(local_server):
    client = HttpApiClient("http://abcd1234.execute-api.localhost:4566", emulator_endpoint=local_server)

    response = client.post_json("/requests", {"payload": {"a": 1}})

    assert response.status == 202
    assert response.body == {"ok": True}
    assert RecordingHandler.seen == [
        {"host": "abcd1234.execute-api.localhost:4566", "path": "/requests", "body": {"payload": {"a": 1}}}
    ]


def test_a_resolvable_api_host_is_called_directly(local_server):
    client = HttpApiClient(f"{local_server}/prod", emulator_endpoint="http://127.0.0.1:1")

    assert client.post_json("/requests", {"x": 1}).status == 202
    assert RecordingHandler.seen[0]["path"] == "/prod/requests"


def test_requests_are_signed_for_iam_authorization_with_the_api_host_and_region(local_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = HttpApiClient("https://abcd1234.execute-api.eu-west-1.amazonaws.com", emulator_endpoint=local_server)
    client._connect_host, client._connect_port, client._secure = "127.0.0.1", int(local_server.rsplit(":", 1)[1]), False

    assert client.post_json("/requests", {"x": 1}).status == 202

    (authorization,) = RecordingHandler.authorizations
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "host" in authorization.split("SignedHeaders=")[1]


def test_unsigned_when_asked(local_server):
    client = HttpApiClient("http://abcd1234.execute-api.localhost:4566", emulator_endpoint=local_server, sign=False)

    assert client.post_json("/requests", {"x": 1}).status == 202
    assert RecordingHandler.authorizations == [None]


def test_rejects_an_endpoint_that_is_not_a_url():
    with pytest.raises(ValueError, match="api_endpoint"):
        HttpApiClient("abcd1234.execute-api")


class FakeLambda:
    def __init__(self, reply: dict, function_error: bool = False) -> None:
        self.reply = reply
        self.function_error = function_error
        self.events: list[dict] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict:
        self.events.append(json.loads(Payload))
        result = {"Payload": io.BytesIO(json.dumps(self.reply).encode())}
        if self.function_error:
            result["FunctionError"] = "Unhandled"
        return result


def test_direct_invocation_sends_the_http_api_event_and_reads_the_proxy_response():
    fake = FakeLambda({"statusCode": 400, "body": json.dumps({"field": "body.payload"})})

    response = DirectInvokeClient(fake, "producer").post_json("/requests", {"payload": 1})

    assert response.status == 400
    assert response.body == {"field": "body.payload"}
    [event] = fake.events
    assert event["routeKey"] == "POST /requests"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert json.loads(event["body"]) == {"payload": 1}


def test_direct_invocation_surfaces_a_function_error():
    fake = FakeLambda({"errorMessage": "boom"}, function_error=True)

    with pytest.raises(RuntimeError, match="boom"):
        DirectInvokeClient(fake, "producer").post_json("/requests", {})


def test_the_stack_decides_between_http_api_and_direct_invocation():
    fake = FakeLambda({})

    assert isinstance(producer_client({"api_endpoint": "https://x.example/"}, fake), HttpApiClient)
    assert isinstance(producer_client({"api_endpoint": None, "producer_function_name": "p"}, fake), DirectInvokeClient)
