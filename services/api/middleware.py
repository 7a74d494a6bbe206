"""Per-request id and deadline, one JSON access-log line per request, and the last-resort 500.

Pure ASGI (no BaseHTTPMiddleware) so the hot path stays cheap. It wraps everything else, so even
an exception no handler claims becomes a JSON 500 that carries the request id and no traceback;
the traceback goes to the log instead. It opens the request's context (`shared.request_context`):
the deadline every store call of the request respects, and the counters its log line reports.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import metrics
from services.api.jsonio import send_json
from services.api.schemas.responses import ErrorBody, InternalErrorBody
from services.metrics import API_SERVICE, DEFAULT_NAMESPACE, Metric
from services.metrics.emf import emf_document
from services.metrics.prometheus import MetricsRegistry
from shared.ids import unique_hex_id
from shared.request_context import RequestContext, request_scope

log = logging.getLogger("om.api.request")
REQUEST_ID_HEADER = "x-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class RequestLogMiddleware:
    """Assigns a request id and deadline, logs the request, turns escaped errors into JSON 500s."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        deadline_seconds: float | None = None,
        registry: MetricsRegistry | None = None,
        metrics_namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.app = app
        self.deadline_seconds = deadline_seconds
        self.registry = registry
        self.metrics_namespace = metrics_namespace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or unique_hex_id()
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

        context_scope = request_scope(self.deadline_seconds)
        context = context_scope.__enter__()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if outer_send_failed:
                raise
            log.exception("unhandled error", extra={"request_id": request_id})
            if not response_started:
                body = InternalErrorBody(detail="internal error", requestId=request_id)
                await send_json(send_with_id, 500, body.model_dump())
        finally:
            context_scope.__exit__(None, None, None)
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            values = request_metrics(status, duration_ms, context)
            if self.registry is not None:
                self.registry.record(values)
            if log.isEnabledFor(logging.INFO):
                # The access-log line is also the request's Embedded Metric Format document.
                log.info(
                    "request",
                    extra=emf_document(
                        self.metrics_namespace,
                        API_SERVICE,
                        values,
                        int(time.time() * 1000),
                        request_id=request_id,
                        method=scope.get("method"),
                        path=scope.get("path"),
                        status=status,
                        duration_ms=duration_ms,
                        client=(scope.get("client") or ("", 0))[0],
                    ),
                )


def request_metrics(
    status: int, duration_ms: float, context: RequestContext
) -> dict[Metric, float]:
    """One request's data point of every API metric."""
    return {
        metrics.REQUESTS: 1,
        metrics.LATENCY: duration_ms,
        metrics.STATUS_4XX: int(400 <= status < 500),
        metrics.STATUS_5XX: int(status >= 500),
        metrics.STORE_RETRIES: context.store_retries,
        metrics.STORE_THROTTLES: context.store_throttles,
        metrics.TRADE_RETRIES: context.trade_retries,
        metrics.TRADES_EXECUTED: context.trades_executed,
        metrics.TRADES_UNFILLED: context.trades_unfilled,
        metrics.TRADES_SHED: context.trades_shed,
    }


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            return text if _ACCEPTABLE_REQUEST_ID.fullmatch(text) else None
    return None


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
                await send_json(send, 413, ErrorBody(detail=self._reason()).model_dump())
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
