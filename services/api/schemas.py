"""Request and response bodies of the HTTP contract.

Request models validate with the shared value rules (`shared.validation`). Response models are
declared for the OpenAPI document; responses themselves are written by `jsonio.encode_json`, so
prices stay exact. Unknown body fields are rejected (422): a misspelt `"prize"` must not be
silently ignored by a trading API.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared import validation
from shared.clock import format_timestamp
from shared.models import (
    BatchLoad,
    BookEntry,
    Order,
    Quote,
    Side,
    Trade,
    TradeFill,
    TradeOutcome,
)


def _number_only(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _side_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be 0 (Buy), 1 (Sell), 'Buy' or 'Sell'")
    return validation.parse_side(value)


def _symbol_value(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return validation.normalize_symbol(value)


Symbol = Annotated[
    str,
    BeforeValidator(_symbol_value),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\s*[A-Za-z0-9._\-]{1,16}\s*$", "examples": ["JPM"]}
    ),
]
SideIn = Annotated[
    Side,
    BeforeValidator(_side_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "enum": [0, 1]},
                {"type": "string", "description": "'Buy' or 'Sell', any case"},
            ],
            "description": "0 = Buy, 1 = Sell",
            "examples": [0],
        }
    ),
]
Amount = Annotated[
    StrictInt,
    AfterValidator(validation.check_amount),
    WithJsonSchema(
        {"type": "integer", "minimum": 1, "maximum": validation.MAX_AMOUNT, "examples": [20]}
    ),
]
Price = Annotated[
    Decimal,
    BeforeValidator(_number_only),
    AfterValidator(validation.check_price),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1_000_000_000_000,
            "multipleOf": 0.00000001,
            "description": "At most 8 decimal places; read and written exactly.",
            "examples": [20],
        }
    ),
]
OutPrice = Annotated[Decimal, WithJsonSchema({"type": "number", "examples": [20]})]
Timestamp = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2024-05-16T10:45:21.148624Z"]}
    ),
]


class OrderCreate(BaseModel):
    """Body of `POST /api/orders/{id}`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"symbol": "JPM", "side": 0, "amount": 20, "price": 20}]},
    )

    symbol: Symbol
    side: SideIn
    amount: Amount
    price: Price


class OrderUpdate(BaseModel):
    """Body of `PATCH /api/orders/{id}`: a new amount, a new price, or both."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": 25, "price": 20}]}
    )

    amount: Amount | None = None
    price: Price | None = None

    @field_validator("amount", "price", mode="before")
    @classmethod
    def _null_is_not_a_value(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be a number, not null (leave the field out to keep it)")
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> OrderUpdate:
        if self.amount is None and self.price is None:
            raise ValueError("give at least one of 'amount' and 'price'")
        return self


class OrderPublic(BaseModel):
    """An order as clients see it; `amount` is what remains after fills."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": 1, "symbol": "JPM", "side": 0, "amount": 20, "price": 20}]
        }
    )

    id: int
    symbol: str
    side: Annotated[int, Field(description="0 = Buy, 1 = Sell")]
    amount: int
    price: OutPrice


class ErrorBody(BaseModel):
    """Every 4xx/5xx body: `detail` says what is wrong."""

    detail: Any


class HealthBody(BaseModel):
    """Body of `GET /api/health`."""

    status: str
    table: str
    timestamp: Timestamp


def order_body(order: Order) -> dict[str, object]:
    """The public JSON form of an order."""
    return {
        "id": order.id,
        "symbol": order.symbol,
        "side": int(order.side),
        "amount": order.amount,
        "price": order.price,
    }


def error_responses(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, e.g. `error_responses(e404="No such order")`."""
    return {
        int(code.removeprefix("e")): {"model": ErrorBody, "description": text}
        for code, text in descriptions.items()
    }


STORE_UNAVAILABLE = "Order store unavailable; retry after the Retry-After header's seconds"


class TradeRequest(BaseModel):
    """Body of `POST /api/price`, `POST /api/trade/price` and `POST /api/trade`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"symbol": "JPM", "side": 0, "amount": 22}]},
    )

    symbol: Symbol
    side: SideIn
    amount: Amount


class QuoteBody(BaseModel):
    """A price quote; `price` is null and `reason` says why when the book is too thin."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "price": 442,
                    "timestamp": "2024-05-16T10:49:31.169359Z",
                    "successful": True,
                    "reason": None,
                }
            ]
        }
    )

    price: OutPrice | None
    timestamp: Timestamp
    successful: bool
    reason: str | None


class FillBody(BaseModel):
    """One resting order's part in a trade."""

    orderId: int
    amount: int
    price: OutPrice


class TradeBody(BaseModel):
    """The outcome of `POST /api/trade`: all filled, or nothing changed and `reason` says why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timestamp": "2024-05-16T10:45:21.148624Z",
                    "successful": True,
                    "reason": None,
                    "tradeId": "3f1c9a7e0b5d4e2f8a6c1d9b7e5f3a21",
                    "symbol": "JPM",
                    "side": 0,
                    "amount": 22,
                    "price": 442,
                    "fills": [
                        {"orderId": 1, "amount": 20, "price": 20},
                        {"orderId": 4, "amount": 2, "price": 21},
                    ],
                }
            ]
        }
    )

    timestamp: Timestamp
    successful: bool
    reason: str | None
    tradeId: str | None
    symbol: str
    side: int
    amount: int
    price: OutPrice | None
    fills: list[FillBody]


class TradeRecordBody(BaseModel):
    """A recorded trade."""

    tradeId: str
    symbol: str
    side: int
    amount: int
    price: OutPrice
    fills: list[FillBody]
    timestamp: Timestamp


class BookEntryBody(BaseModel):
    """A resting order in the order-book view."""

    id: int
    amount: int
    price: OutPrice


class OrderBookBody(BaseModel):
    """A book's resting orders in walk order (best first, FIFO within a price)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "JPM",
                    "side": 0,
                    "orders": [
                        {"id": 1, "amount": 20, "price": 20},
                        {"id": 4, "amount": 10, "price": 21},
                    ],
                }
            ]
        }
    )

    symbol: str
    side: int
    orders: list[BookEntryBody]


def quote_body(quote: Quote) -> dict[str, object]:
    """The public JSON form of a quote."""
    return {
        "price": quote.price,
        "timestamp": format_timestamp(quote.timestamp),
        "successful": quote.successful,
        "reason": quote.reason,
    }


def _fills(fills: tuple[TradeFill, ...]) -> list[dict[str, object]]:
    return [{"orderId": f.order_id, "amount": f.amount, "price": f.price} for f in fills]


def trade_outcome_body(outcome: TradeOutcome) -> dict[str, object]:
    """The public JSON form of a trade outcome."""
    trade = outcome.trade
    return {
        "timestamp": format_timestamp(outcome.timestamp),
        "successful": outcome.successful,
        "reason": outcome.reason,
        "tradeId": trade.id if trade else None,
        "symbol": outcome.symbol,
        "side": int(outcome.side),
        "amount": outcome.amount,
        "price": trade.price if trade else None,
        "fills": _fills(trade.fills) if trade else [],
    }


def trade_record_body(trade: Trade) -> dict[str, object]:
    """The public JSON form of a recorded trade."""
    return {
        "tradeId": trade.id,
        "symbol": trade.symbol,
        "side": int(trade.side),
        "amount": trade.amount,
        "price": trade.price,
        "fills": _fills(trade.fills),
        "timestamp": format_timestamp(trade.timestamp),
    }


def order_book_body(symbol: str, side: Side, entries: list[BookEntry]) -> dict[str, object]:
    """The public JSON form of a book."""
    return {
        "symbol": symbol,
        "side": int(side),
        "orders": [{"id": e.id, "amount": e.amount, "price": e.price} for e in entries],
    }


class BatchLoadStarted(BaseModel):
    """A new batch load: upload the CSV with `PUT <preSignedUrl>` before it expires."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1d3c0e9b2a4f5e8d7c6b5a49382716",
                    "preSignedUrl": "https://order-management-uploads.s3.us-east-1.amazonaws.com/"
                    "uploads/6f1d3c0e9b2a4f5e8d7c6b5a49382716.csv?X-Amz-Algorithm=...",
                    "objectKey": "uploads/6f1d3c0e9b2a4f5e8d7c6b5a49382716.csv",
                    "creationTimestampUtc": "2024-05-16T10:45:21.148624Z",
                    "expirationTimestampUtc": "2024-05-16T11:00:21.148624Z",
                }
            ]
        }
    )

    id: str
    preSignedUrl: str
    objectKey: str
    creationTimestampUtc: Timestamp
    expirationTimestampUtc: Timestamp


class RowErrorBody(BaseModel):
    """A rejected row: its line number (header = line 1) and why."""

    line: int
    reason: str


class BatchLoadStatusBody(BaseModel):
    """Progress or outcome of a batch load."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1d3c0e9b2a4f5e8d7c6b5a49382716",
                    "status": "SUCCEEDED",
                    "rowsRead": 22,
                    "rowsLoaded": 21,
                    "rowsRejected": 1,
                    "errors": [{"line": 7, "reason": "price: must be greater than 0"}],
                    "createdAt": "2024-05-16T10:45:21.148624Z",
                    "startedAt": "2024-05-16T10:45:40.000000Z",
                    "finishedAt": "2024-05-16T10:45:41.500000Z",
                    "reason": None,
                    "errorReport": "s3://order-management-uploads/reports/6f1d….errors.csv",
                }
            ]
        }
    )

    id: str
    status: str
    rowsRead: int
    rowsLoaded: int
    rowsRejected: int
    errors: list[RowErrorBody]
    createdAt: Timestamp
    startedAt: Timestamp | None
    finishedAt: Timestamp | None
    reason: str | None
    errorReport: str | None


def _time_or_none(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def batch_load_started_body(load: BatchLoad, url: str) -> dict[str, object]:
    """The public JSON form of a new batch load."""
    return {
        "id": load.id,
        "preSignedUrl": url,
        "objectKey": load.object_key,
        "creationTimestampUtc": format_timestamp(load.created_at),
        "expirationTimestampUtc": format_timestamp(load.expires_at),
    }


def batch_load_status_body(load: BatchLoad) -> dict[str, object]:
    """The public JSON form of a batch load's status."""
    return {
        "id": load.id,
        "status": load.status.value,
        "rowsRead": load.counts.read,
        "rowsLoaded": load.counts.loaded,
        "rowsRejected": load.counts.rejected,
        "errors": [{"line": e.line, "reason": e.reason} for e in load.errors],
        "createdAt": format_timestamp(load.created_at),
        "startedAt": _time_or_none(load.started_at),
        "finishedAt": _time_or_none(load.finished_at),
        "reason": load.reason,
        "errorReport": (
            f"s3://{load.bucket}/{load.error_report_key}" if load.error_report_key else None
        ),
    }
