"""The OpenAPI side of each operation: every status it can answer, with body, headers and links.

Routers declare what all their operations share (`PROTECTED`: the key check and the store), and
each route adds what is its own (`JSON_BODY`, its 404/409/412…, its success headers and links),
using the pieces below. A response named here is one the service really sends; the contract tests
(schemathesis, every check) fail on any status, header or body the document does not list.
A `500` is never an expected answer and is not listed: the catch-all exists for bugs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.api.schemas.responses import ErrorBody, InvalidRequestBody

Responses = dict[int | str, dict[str, Any]]

RETRY_AFTER: dict[str, Any] = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
WWW_AUTHENTICATE: dict[str, Any] = {
    "description": 'The bearer challenge, e.g. `Bearer realm="order-management"`',
    "required": True,
    "schema": {"type": "string", "pattern": "^Bearer "},
}
# A strong entity tag (RFC 9110 §8.8.3): opaque, quoted, never weak (`W/`).
ETAG_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r'^"[\x21\x23-\x7e]+"$'}
ETAG: dict[str, Any] = {
    "description": "The order's revision; send it back in `If-Match` to act only on this one",
    "required": True,
    "schema": ETAG_SCHEMA,
}
LOCATION: dict[str, Any] = {
    "description": "Where the new order is",
    "required": True,
    "schema": {"type": "string", "pattern": "^/api/orders/[0-9]+$"},
}


def error(
    status: int,
    description: str,
    *,
    model: type[BaseModel] = ErrorBody,
    headers: dict[str, dict[str, Any]] | None = None,
) -> Responses:
    """One error status with its `{"detail"}` body (and headers, if it always carries some)."""
    response: dict[str, Any] = {"model": model, "description": description}
    if headers:
        response["headers"] = headers
    return {status: response}


def success(
    status: int,
    *,
    headers: dict[str, dict[str, Any]] | None = None,
    links: dict[str, dict[str, Any]] | None = None,
) -> Responses:
    """What the success status carries besides its body (the body is the route's model)."""
    response: dict[str, Any] = {}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return {status: response}


def link(
    operation_id: str,
    description: str,
    *,
    parameters: dict[str, str] | None = None,
    request_body: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An OpenAPI link: the next call `operation_id`, its parameters taken from this response.

    Parameter names may be qualified by location (`header.If-Match`, `query.side`); values are
    runtime expressions (`$response.body#/id`).
    """
    found: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        found["parameters"] = parameters
    if request_body is not None:
        found["requestBody"] = request_body
    return found


STORE_UNAVAILABLE = error(
    503,
    "The store is unavailable, throttling or too busy (or the request's deadline passed); "
    "retry after `Retry-After` seconds",
    headers={"Retry-After": RETRY_AFTER},
)

# Every operation behind an API key: the key is checked before anything else (401), then the
# route's scope (403); checking an uncached key reads the table, so any of them can meet a 503.
PROTECTED: Responses = {
    **error(
        401,
        "No API key, an unknown or revoked one, or a malformed `Authorization` header",
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    ),
    **error(403, "The API key lacks the scope this operation needs"),
    **STORE_UNAVAILABLE,
}

INVALID_PARAMETERS = error(
    422,
    "A path, query or header parameter breaks its rule; `detail` names it",
    model=InvalidRequestBody,
)

# Every operation that reads a JSON body.
JSON_BODY: Responses = {
    **error(400, "The body cannot be parsed at all (e.g. invalid UTF-8, absurd nesting)"),
    **error(413, "The body is larger than `OM_MAX_BODY_BYTES` (64 KiB by default)"),
    **error(
        422,
        "The body (or a parameter) breaks the contract: malformed JSON, a wrong type, a value "
        "out of range, a missing or unknown field; `detail` names each one",
        model=InvalidRequestBody,
    ),
}

_THIS_BOOK_AND_AMOUNT = {
    "symbol": "$response.body#/symbol",
    "side": "$response.body#/side",
    "amount": "$response.body#/amount",
}
ORDER_LINKS: dict[str, dict[str, Any]] = {
    "GetOrder": link("get_order", "Read this order", parameters={"id": "$response.body#/id"}),
    "AmendOrder": link(
        "amend_order",
        "Amend this order, only if it is still this revision",
        parameters={"id": "$response.body#/id", "header.If-Match": "$response.header.ETag"},
    ),
    "DeleteOrder": link(
        "delete_order",
        "Delete this order, only if it is still this revision",
        parameters={"id": "$response.body#/id", "header.If-Match": "$response.header.ETag"},
    ),
    "GetOrderBook": link(
        "order_book",
        "The book this order rests in",
        parameters={"symbol": "$response.body#/symbol", "query.side": "$response.body#/side"},
    ),
    "QuoteThisAmount": link(
        "price",
        "Price taking this order's amount from its book",
        request_body=_THIS_BOOK_AND_AMOUNT,
    ),
    "TradeThisAmount": link(
        "trade",
        "Take this order's amount from its book (best first: this order, or better ones)",
        request_body=_THIS_BOOK_AND_AMOUNT,
    ),
}
