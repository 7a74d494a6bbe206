"""A fault-injecting HTTP proxy in front of a DynamoDB endpoint, for protocol-level tests.

`unprocess` answers the first N BatchWriteItem requests itself: it forwards only the first half
of the items and returns the rest as `UnprocessedItems`, exactly as a throttled table does.
Neither DynamoDB Local nor moto ever does that on its own. Neither engine checks signatures, so
forwarding a request signed for the proxy's host is accepted.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DynamoDBProxy:
    """Forwards to `target`; see the module docstring for the injected faults."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.unprocessed_left = 0
        self.injected = 0
        self.batch_requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target_op = self.headers.get("X-Amz-Target", "")
                if target_op.endswith("BatchWriteItem"):
                    proxy.batch_requests += 1
                    body, held_back = proxy._maybe_hold_back(body)
                else:
                    held_back = None
                status, payload = proxy._forward(self.headers, body)
                if held_back is not None and status == 200:
                    answer = json.loads(payload)
                    answer["UnprocessedItems"] = held_back
                    payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> DynamoDBProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _maybe_hold_back(self, body: bytes) -> tuple[bytes, dict[str, Any] | None]:
        if self.unprocessed_left <= 0:
            return body, None
        request = json.loads(body)
        (table, writes), *_ = request["RequestItems"].items()
        if len(writes) < 2:
            return body, None
        self.unprocessed_left -= 1
        keep, hold = writes[: len(writes) // 2], writes[len(writes) // 2 :]
        self.injected += len(hold)
        forwarded = json.dumps({"RequestItems": {table: keep}}).encode()
        return forwarded, {table: hold}

    def _forward(self, headers: Any, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(self.target, data=body, method="POST")
        for name in ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date"):
            if headers.get(name):
                request.add_header(name, headers[name])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
