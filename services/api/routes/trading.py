"""Quotes, trades, trade records and the order-book view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, Security
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool

from services.api.auth import BEARER, ScopedRoute, required_scope
from services.api.deps import Books, Caller, Desk, Queues, owner_filter
from services.api.jsonio import ExactJSONResponse
from services.api.schemas.fields import HEX_ID_PATTERN, SIDE_DESCRIPTION, SYMBOL_INPUT_SCHEMA
from services.api.schemas.metadata import (
    INVALID_PARAMETERS,
    JSON_BODY,
    PROTECTED,
    error,
    link,
    success,
)
from services.api.schemas.requests import TradeRequest
from services.api.schemas.responses import OrderBookBody, QuoteBody, TradeBody, TradeRecordBody
from services.api.trade_queue import TradeShed
from shared.access import Scope
from shared.errors import OrderManagementError
from shared.models import Side, TradeOutcome
from shared.request_context import count_trade_outcome, time_left
from shared.trading import MAX_ORDERS_PER_TRADE
from shared.validation import SYMBOL_INPUT_PATTERN, normalize_symbol

router = APIRouter(
    prefix="/api",
    tags=["trading"],
    route_class=ScopedRoute,
    dependencies=[Security(BEARER)],
    responses=PROTECTED,
)

MAX_BOOK_DEPTH = 1000
DEFAULT_BOOK_DEPTH = 100
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_CHARS = 255
# Printable ASCII; not starting or ending with a space, which HTTP strips from a header value.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_IDEMPOTENCY_KEY_CHARS,
    "pattern": IDEMPOTENCY_KEY_PATTERN,
}

IdempotencyKey = Annotated[
    str | None,
    WithJsonSchema(IDEMPOTENCY_KEY_SCHEMA),  # optional, not nullable: leave the header out
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY_CHARS,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "1-255 printable ASCII characters (no space first or last), per account. A repeat "
            "with the same body returns the first response and changes nothing; with a "
            "different body it is a 422; while the first is still in flight it is a 409. Keys "
            "are remembered for 24 hours."
        ),
    ),
]
TradeId = Annotated[
    str, Path(alias="tradeId", pattern=HEX_ID_PATTERN, description="The trade's id (`tradeId`)")
]


@router.post(
    "/price",
    response_model=QuoteBody,
    responses=JSON_BODY,
    openapi_extra=required_scope(Scope.READ),
)
def price(body: TradeRequest, desk: Desk) -> Response:
    """Price a trade without placing it: Σ amount × price over the same-side book, best first.

    Side 0 walks the lowest prices first, side 1 the highest; equal prices oldest first.
    `successful` is false (with a `reason`) when the book cannot supply the amount, or when the
    walk would need more than 1,000 resting orders.
    """
    return ExactJSONResponse(QuoteBody.of(desk.quote(body.symbol, body.side, body.amount)))


router.add_api_route(
    "/trade/price",
    price,
    methods=["POST"],
    name="price_alias",
    response_model=QuoteBody,
    responses=JSON_BODY,
    summary="Price (alias of POST /api/price)",
    openapi_extra=required_scope(Scope.READ),
)


@router.post(
    "/trade",
    response_model=TradeBody,
    responses={
        **success(
            200,
            links={
                "GetTrade": link(
                    "get_trade",
                    "The recorded trade (a successful trade has a `tradeId`)",
                    parameters={"tradeId": "$response.body#/tradeId"},
                )
            },
        ),
        **JSON_BODY,
        **error(409, "A request with this Idempotency-Key is still in progress"),
    },
    openapi_extra=required_scope(Scope.TRADE),
    description=(
        "Take `amount` from the same-side book, best first, atomically: every consumed order is "
        "reduced (or removed at 0) and the trade is recorded, or nothing changes and `successful` "
        "is false with a `reason`. Contention with concurrent trades is retried inside the "
        f"service. One trade can consume at most {MAX_ORDERS_PER_TRADE} resting orders (a "
        "DynamoDB transaction holds 100 actions); a larger one is refused with a reason. "
        "Resting orders of every account are consumed (the book is shared); the trade belongs "
        "to the caller's account."
    ),
)
async def trade(
    body: TradeRequest,
    desk: Desk,
    queues: Queues,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Place a trade."""
    # Without a key a ticket needs no store call: no thread is taken for it.
    ticket = (
        desk.ticket(body.symbol, body.side, body.amount, account=caller.account)
        if idempotency_key is None
        else await run_in_threadpool(
            desk.ticket,
            body.symbol,
            body.side,
            body.amount,
            account=caller.account,
            idempotency_key=idempotency_key,
        )
    )
    if isinstance(ticket, TradeOutcome):
        return ExactJSONResponse(TradeBody.of(ticket))
    try:
        result = await queues.submit(ticket, seconds_left=time_left())
    except OrderManagementError as error:
        count_trade_outcome(shed=isinstance(error, TradeShed))
        if ticket.claim is not None:
            await run_in_threadpool(desk.abandon, ticket, error)
        raise
    if isinstance(result, OrderManagementError):
        if ticket.claim is not None:
            await run_in_threadpool(desk.abandon, ticket, result)
        raise result
    count_trade_outcome(executed=result.successful, unfilled=not result.successful)
    return ExactJSONResponse(TradeBody.of(result))


@router.get(
    "/trades/{tradeId}",
    response_model=TradeRecordBody,
    responses={
        **error(404, "No such trade (or another account's)"),
        **INVALID_PARAMETERS,
    },
    openapi_extra=required_scope(Scope.READ),
)
def get_trade(trade_id: TradeId, desk: Desk, caller: Caller) -> Response:
    """A trade the caller's account took, with its fills."""
    return ExactJSONResponse(
        TradeRecordBody.of(desk.get_trade(trade_id, viewer=owner_filter(caller)))
    )


@router.get(
    "/orderbook/{symbol}",
    response_model=OrderBookBody,
    responses=INVALID_PARAMETERS,
    openapi_extra=required_scope(Scope.READ),
)
def order_book(
    symbol: Annotated[
        str,
        Path(
            pattern=SYMBOL_INPUT_PATTERN,
            description=f"{SYMBOL_INPUT_SCHEMA['description']}; any case",
        ),
    ],
    books: Books,
    side: Annotated[int, Query(ge=0, le=1, description=SIDE_DESCRIPTION)],
    depth: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_BOOK_DEPTH,
            description=f"At most this many orders, best first (1-{MAX_BOOK_DEPTH})",
        ),
    ] = DEFAULT_BOOK_DEPTH,
) -> Response:
    """The resting orders of one book in walk order (best first, FIFO within a price)."""
    normalized = normalize_symbol(symbol)
    book_side = Side(side)
    return ExactJSONResponse(
        OrderBookBody.of(normalized, book_side, books.snapshot(normalized, book_side, depth))
    )
