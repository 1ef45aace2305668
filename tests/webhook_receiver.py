"""A chat webhook stand-in: records the JSON bodies POSTed to it (127.0.0.1 only)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Answers every POST with `status` and keeps its JSON body."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict] = []
        self._received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._received:
                    receiver.bodies.append(json.loads(body))
                    receiver._received.notify_all()
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def texts(self) -> list[str]:
        with self._received:
            return [body.get("text", "") for body in self.bodies]

    def wait_for(self, predicate, timeout_seconds: float) -> list[str]:
        """Wait until predicate(texts) holds; return the texts either way."""
        with self._received:
            self._received.wait_for(lambda: predicate([body.get("text", "") for body in self.bodies]), timeout_seconds)
        return self.texts()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
