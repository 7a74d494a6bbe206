"""Per-request id, one JSON access-log line per request, and the last-resort 500.

Pure ASGI (no BaseHTTPMiddleware) so the hot path stays cheap. It wraps everything else, so even
an exception no handler claims becomes a JSON 500 that carries the request id and no traceback;
the traceback goes to the log instead.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.jsonio import encode_json

log = logging.getLogger("om.api.request")
REQUEST_ID_HEADER = "x-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class RequestLogMiddleware:
    """Assigns a request id, logs the request, and turns escaped exceptions into JSON 500s."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        outer_send_failed = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, outer_send_failed
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            try:
                await send(message)
            except BaseException:
                # Raised by the layers outside us (e.g. the body-size limit unwinding after its
                # 413): theirs to handle, not an error of the app's.
                outer_send_failed = True
                raise

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if outer_send_failed:
                raise
            log.exception("unhandled error", extra={"request_id": request_id})
            if not response_started:
                await _send_json(
                    send_with_id, 500, {"detail": "internal error", "requestId": request_id}
                )
        finally:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            return text if _ACCEPTABLE_REQUEST_ID.fullmatch(text) else None
    return None


async def _send_json(send: Send, status: int, content: object) -> None:
    body = encode_json(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with a JSON 413, before the app reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _send_json(send, 413, {"detail": self._reason()})
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status_code=413, detail=self._reason())
            return message

        await self.app(scope, counting_receive, send)

    def _reason(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes"
