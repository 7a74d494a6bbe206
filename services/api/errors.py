"""Exceptions → HTTP responses, in one place. No traceback ever reaches a client."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from services.api.jsonio import ExactJSONResponse
from shared.errors import (
    IdempotencyInFlight,
    IdempotencyMismatch,
    LoadNotFound,
    OrderAlreadyExists,
    OrderNotFound,
    StoreUnavailable,
    TradeNotFound,
)

log = logging.getLogger("om.api")


def _validation_detail(errors: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    detail: list[dict[str, object]] = []
    for error in errors:
        location = error.get("loc", ())
        message = str(error.get("msg", "invalid value"))
        kind = str(error.get("type", ""))
        if kind == "json_invalid":
            context = error.get("ctx")
            reason = context.get("error") if isinstance(context, Mapping) else None
            message = f"malformed JSON: {reason}" if reason else "malformed JSON"
        detail.append(
            {
                "loc": [part if isinstance(part, int) else str(part) for part in location]
                if isinstance(location, Sequence)
                else [str(location)],
                "msg": message.removeprefix("Value error, "),
                "type": kind,
            }
        )
    return detail


def install_error_handlers(app: FastAPI, *, retry_after_seconds: int) -> None:
    """Register the mapping from domain and framework errors to responses."""

    async def not_found(_: Request, error: Exception) -> Response:
        return ExactJSONResponse({"detail": str(error)}, status_code=404)

    async def conflict(_: Request, error: Exception) -> Response:
        return ExactJSONResponse({"detail": str(error)}, status_code=409)

    async def unprocessable(_: Request, error: Exception) -> Response:
        return ExactJSONResponse({"detail": str(error)}, status_code=422)

    async def unavailable(request: Request, error: Exception) -> Response:
        log.warning(
            "store unavailable",
            extra={"request_id": request.scope.get("request_id"), "reason": str(error)},
        )
        return ExactJSONResponse(
            {"detail": f"temporarily unavailable: {error}"},
            status_code=503,
            headers={"Retry-After": str(retry_after_seconds)},
        )

    async def invalid(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return ExactJSONResponse({"detail": _validation_detail(error.errors())}, status_code=422)

    async def http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return ExactJSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=error.headers
        )

    app.add_exception_handler(OrderNotFound, not_found)
    app.add_exception_handler(TradeNotFound, not_found)
    app.add_exception_handler(LoadNotFound, not_found)
    app.add_exception_handler(OrderAlreadyExists, conflict)
    app.add_exception_handler(IdempotencyInFlight, conflict)
    app.add_exception_handler(IdempotencyMismatch, unprocessable)
    app.add_exception_handler(StoreUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
