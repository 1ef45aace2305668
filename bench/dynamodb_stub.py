"""A stub of DynamoDB's Query for the benchmarks: a shard's TASK items served page by page, as DynamoDB cuts them.

MiniStack answers every Query page by reading, sorting and filtering the whole
partition: a page of a 100,000-item shard takes it about 2.5 s, so reading the
shard 50 items a page would take over an hour. This stub serves the pages in
the time it takes to send them, over HTTP in a thread of the bench process, so
the process it serves (bench.consolidation_probe) parses the same responses
with the same SDK, and its memory is measured without the server's.

It answers Query (the key condition's partition, sort keys after
ExclusiveStartKey, up to Limit items or 1 MB, with LastEvaluatedKey as
DynamoDB gives it), GetItem (nothing found) and TransactWriteItems (accepted),
the calls a shard's reduction and its record make. Point a client at `url`
with AWS_ENDPOINT_URL_DYNAMODB.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from boto3.dynamodb.types import TypeSerializer

PAGE_BYTES = 1024 * 1024  # DynamoDB stops a page once it has read 1 MB


class QueryStub:
    def __init__(self) -> None:
        self._partitions: dict[str, tuple[list[str], list[str]]] = {}  # pk -> (sort keys, items as wire JSON)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.stub = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def put(self, items: Iterable[dict[str, Any]]) -> None:
        """Items (plain Python values, pk and sk strings), in sort-key order within their partition."""
        serialize = TypeSerializer().serialize
        for item in items:
            sort_keys, encoded = self._partitions.setdefault(item["pk"], ([], []))
            sort_keys.append(item["sk"])
            encoded.append(json.dumps({name: serialize(value) for name, value in item.items()}))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, operation: str, request: dict[str, Any]) -> bytes:
        if operation == "Query":
            return self._query(request)
        if operation in ("GetItem", "TransactWriteItems"):
            return b"{}"
        raise NotImplementedError(f"the stub answers Query, GetItem and TransactWriteItems, not {operation}")

    def _query(self, request: dict[str, Any]) -> bytes:
        pk = request["ExpressionAttributeValues"][":pk"]["S"]
        sort_keys, encoded = self._partitions.get(pk, ([], []))
        start = request.get("ExclusiveStartKey", {}).get("sk", {}).get("S")
        first = bisect.bisect_right(sort_keys, start) if start is not None else 0
        limit = int(request.get("Limit", len(sort_keys) + 1))
        end, size = first, 0
        while end < len(sort_keys) and end - first < limit and size < PAGE_BYTES:
            size += len(encoded[end])
            end += 1
        body = f'{{"Count":{end - first},"ScannedCount":{end - first},"Items":[{",".join(encoded[first:end])}]'
        if end - first == limit or size >= PAGE_BYTES:  # as DynamoDB: stopped by the limit, not by the end
            last = {"pk": {"S": pk}, "sk": {"S": sort_keys[end - 1]}}
            body += f',"LastEvaluatedKey":{json.dumps(last)}'
        return (body + "}").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB's endpoint

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = self.server.stub.answer(self.headers["X-Amz-Target"].split(".")[-1], request)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
