"""Quotes, trades, trade records and the order-book view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from services.api.deps import Books, Desk
from services.api.jsonio import ExactJSONResponse, ExactJSONRoute
from services.api.schemas import (
    STORE_UNAVAILABLE,
    OrderBookBody,
    QuoteBody,
    TradeBody,
    TradeRecordBody,
    TradeRequest,
    error_responses,
    order_book_body,
    quote_body,
    trade_outcome_body,
    trade_record_body,
)
from shared.models import Side
from shared.trading import MAX_ORDERS_PER_TRADE
from shared.validation import normalize_symbol

router = APIRouter(prefix="/api", tags=["trading"], route_class=ExactJSONRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description=(
            "1-255 printable ASCII characters. A repeat with the same body returns the first "
            "response and changes nothing; with a different body it is a 422; while the first is "
            "still in flight it is a 409. Keys are remembered for 24 hours."
        ),
    ),
]
TradeId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The trade's id")]


@router.post(
    "/price",
    response_model=QuoteBody,
    responses=error_responses(e422="Invalid body", e503=STORE_UNAVAILABLE),
)
def price(body: TradeRequest, desk: Desk) -> Response:
    """Price a trade without placing it: Σ amount × price over the same-side book, best first.

    Side 0 walks the lowest prices first, side 1 the highest; equal prices oldest first.
    `successful` is false (with a `reason`) when the book cannot supply the amount.
    """
    return ExactJSONResponse(quote_body(desk.quote(body.symbol, body.side, body.amount)))


router.add_api_route(
    "/trade/price",
    price,
    methods=["POST"],
    response_model=QuoteBody,
    responses=error_responses(e422="Invalid body", e503=STORE_UNAVAILABLE),
    summary="Price (alias of POST /api/price)",
)


@router.post(
    "/trade",
    response_model=TradeBody,
    responses=error_responses(
        e409="A request with this Idempotency-Key is still in progress",
        e422="Invalid body or Idempotency-Key, or the key was used with another body",
        e503=STORE_UNAVAILABLE,
    ),
    description=(
        "Take `amount` from the same-side book, best first, atomically: every consumed order is "
        "reduced (or removed at 0) and the trade is recorded, or nothing changes and `successful` "
        "is false with a `reason`. Contention with concurrent trades is retried inside the "
        f"service. One trade can consume at most {MAX_ORDERS_PER_TRADE} resting orders (a "
        "DynamoDB transaction holds 100 actions); a larger one is refused with a reason."
    ),
)
def trade(body: TradeRequest, desk: Desk, idempotency_key: IdempotencyKey = None) -> Response:
    """Place a trade."""
    outcome = desk.trade(body.symbol, body.side, body.amount, idempotency_key=idempotency_key)
    return ExactJSONResponse(trade_outcome_body(outcome))


@router.get(
    "/trades/{trade_id}",
    response_model=TradeRecordBody,
    responses=error_responses(e404="No such trade", e503=STORE_UNAVAILABLE),
)
def get_trade(trade_id: TradeId, desk: Desk) -> Response:
    """A recorded trade with its fills."""
    return ExactJSONResponse(trade_record_body(desk.get_trade(trade_id)))


@router.get(
    "/orderbook/{symbol}",
    response_model=OrderBookBody,
    responses=error_responses(e422="Invalid symbol, side or depth", e503=STORE_UNAVAILABLE),
)
def order_book(
    symbol: Annotated[
        str, Path(pattern=r"^\s*[A-Za-z0-9._\-]{1,16}\s*$", description="Case-insensitive")
    ],
    books: Books,
    side: Annotated[int, Query(ge=0, le=1, description="0 = Buy, 1 = Sell")],
    depth: Annotated[int | None, Query(ge=1, le=10_000, description="At most this many")] = None,
) -> Response:
    """The resting orders of one book in walk order (best first, FIFO within a price)."""
    normalized = normalize_symbol(symbol)
    book_side = Side(side)
    return ExactJSONResponse(
        order_book_body(normalized, book_side, books.snapshot(normalized, book_side, depth))
    )
