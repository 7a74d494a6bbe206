"""Exceptions → HTTP responses, in one place. No traceback ever reaches a client.

Every body is one of the documented error models (`ErrorBody`, `InvalidRequestBody`), and every
status here is listed in the OpenAPI document of each operation that can raise it
(`services.api.schemas.metadata`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from services.api.jsonio import ExactJSONResponse
from services.api.schemas.responses import ErrorBody, FieldError, InvalidRequestBody
from shared.errors import (
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    IdempotencyInFlight,
    IdempotencyMismatch,
    LoadNotFound,
    NotOrderOwner,
    OrderAlreadyExists,
    OrderChanged,
    OrderNotFound,
    StoreUnavailable,
    TradeNotFound,
)

log = logging.getLogger("om.api")


def _validation_detail(errors: Sequence[Mapping[str, object]]) -> list[FieldError]:
    detail: list[FieldError] = []
    for error in errors:
        location = error.get("loc", ())
        message = str(error.get("msg", "invalid value"))
        kind = str(error.get("type", ""))
        if kind == "json_invalid":
            context = error.get("ctx")
            reason = context.get("error") if isinstance(context, Mapping) else None
            message = f"malformed JSON: {reason}" if reason else "malformed JSON"
        detail.append(
            FieldError(
                loc=[part if isinstance(part, int) else str(part) for part in location]
                if isinstance(location, Sequence) and not isinstance(location, str)
                else [str(location)],
                msg=message.removeprefix("Value error, "),
                type=kind,
            )
        )
    return detail


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return ExactJSONResponse(ErrorBody(detail=detail), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, *, retry_after_seconds: int) -> None:
    """Register the mapping from domain and framework errors to responses."""

    async def not_found(_: Request, error: Exception) -> Response:
        return _error(404, str(error))

    async def forbidden(_: Request, error: Exception) -> Response:
        return _error(403, str(error))

    async def precondition_failed(_: Request, error: Exception) -> Response:
        assert isinstance(error, OrderChanged)
        headers = {"ETag": f'"{error.current}"'} if error.current else None
        return _error(412, str(error), headers)

    async def conflict(_: Request, error: Exception) -> Response:
        return _error(409, str(error))

    async def unprocessable(_: Request, error: Exception) -> Response:
        return ExactJSONResponse(InvalidRequestBody(detail=str(error)), status_code=422)

    async def unavailable(request: Request, error: Exception) -> Response:
        log.warning(
            "store unavailable",
            extra={"request_id": request.scope.get("request_id"), "reason": str(error)},
        )
        return _error(
            503,
            f"temporarily unavailable: {error}",
            headers={"Retry-After": str(retry_after_seconds)},
        )

    async def invalid(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        body = InvalidRequestBody(detail=_validation_detail(error.errors()))
        return ExactJSONResponse(body, status_code=422)

    async def http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        body = (
            InvalidRequestBody(detail=str(error.detail))
            if error.status_code == 422
            else ErrorBody(detail=str(error.detail))
        )
        return ExactJSONResponse(body, status_code=error.status_code, headers=error.headers)

    app.add_exception_handler(OrderNotFound, not_found)
    app.add_exception_handler(TradeNotFound, not_found)
    app.add_exception_handler(LoadNotFound, not_found)
    app.add_exception_handler(ApiKeyNotFound, not_found)
    app.add_exception_handler(NotOrderOwner, forbidden)
    app.add_exception_handler(OrderChanged, precondition_failed)
    app.add_exception_handler(ApiKeyAlreadyRevoked, conflict)
    app.add_exception_handler(OrderAlreadyExists, conflict)
    app.add_exception_handler(IdempotencyInFlight, conflict)
    app.add_exception_handler(IdempotencyMismatch, unprocessable)
    app.add_exception_handler(StoreUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
