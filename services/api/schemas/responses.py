"""Response bodies: one model per body, and the only way a body is made.

Each model is what the OpenAPI document shows *and* what the route sends: a route builds the model
from domain values (`OrderPublic.of(order)`) and `jsonio.encode_json` writes it, digit for digit
(`Decimal` prices stay exact; an integral price is a JSON integer). Models are strict, so a value
of the wrong type is a bug caught where it is made, not a body that contradicts its schema.
Every example validates against its own model's schema (a unit test checks the document).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

from services.api.schemas.fields import (
    AmountOut,
    HexId,
    KeyId,
    LoadStatusOut,
    OrderIdOut,
    PriceOut,
    ScopeOut,
    SideOut,
    SymbolOut,
    Timestamp,
    TotalOut,
)
from shared.access import ApiKey
from shared.models import (
    BatchLoad,
    BookEntry,
    Order,
    Quote,
    RowError,
    Side,
    Trade,
    TradeFill,
    TradeOutcome,
)

EXAMPLE_TIME = "2024-05-16T10:45:21.148624Z"
EXAMPLE_TRADE_ID = "3f1c9a7e0b5d4e2f8a6c1d9b7e5f3a21"
EXAMPLE_LOAD_ID = "6f1d3c0e9b2a4f5e8d7c6b5a49382716"
EXAMPLE_KEY_ID = "5b0e1c2d3f4a5b6c7d8e9f01"
EXAMPLE_FILLS = [
    {"orderId": 1, "amount": 20, "price": 20},
    {"orderId": 4, "amount": 2, "price": 21},
]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(strict=True, frozen=True, json_schema_extra={"examples": list(examples)})


class ResponseBody(BaseModel):
    """A response body: strict (values are built from domain objects, never parsed from text)."""

    model_config = ConfigDict(strict=True, frozen=True)


class OrderPublic(ResponseBody):
    """An order as clients see it; `amount` is what remains after fills. No account is named."""

    model_config = _examples({"id": 1, "symbol": "JPM", "side": 0, "amount": 20, "price": 20})

    id: OrderIdOut
    symbol: SymbolOut
    side: SideOut
    amount: AmountOut
    price: PriceOut

    @classmethod
    def of(cls, order: Order) -> Self:
        """The public form of `order`."""
        return cls(
            id=order.id,
            symbol=order.symbol,
            side=order.side,
            amount=order.amount,
            price=order.price,
        )


class QuoteBody(ResponseBody):
    """A price quote; `price` is null and `reason` says why when the book is too thin."""

    model_config = _examples(
        {"price": 442, "timestamp": EXAMPLE_TIME, "successful": True, "reason": None},
        {
            "price": None,
            "timestamp": EXAMPLE_TIME,
            "successful": False,
            "reason": "not enough resting quantity: 30 available of 31 requested",
        },
    )

    price: TotalOut | None
    timestamp: Timestamp
    successful: bool
    reason: str | None

    @classmethod
    def of(cls, quote: Quote) -> Self:
        """The public form of `quote`."""
        return cls(
            price=quote.price,
            timestamp=quote.timestamp,
            successful=quote.successful,
            reason=quote.reason,
        )


class FillBody(ResponseBody):
    """One resting order's part in a trade."""

    orderId: OrderIdOut
    amount: AmountOut
    price: PriceOut

    @classmethod
    def of(cls, fill: TradeFill) -> Self:
        """The public form of `fill`."""
        return cls(orderId=fill.order_id, amount=fill.amount, price=fill.price)


def _fills(trade: Trade | None) -> list[FillBody]:
    return [FillBody.of(fill) for fill in trade.fills] if trade is not None else []


class TradeBody(ResponseBody):
    """The outcome of `POST /api/trade`: all filled, or nothing changed and `reason` says why."""

    model_config = _examples(
        {
            "timestamp": EXAMPLE_TIME,
            "successful": True,
            "reason": None,
            "tradeId": EXAMPLE_TRADE_ID,
            "symbol": "JPM",
            "side": 0,
            "amount": 22,
            "price": 442,
            "fills": EXAMPLE_FILLS,
        },
        {
            "timestamp": EXAMPLE_TIME,
            "successful": False,
            "reason": "not enough resting quantity: 30 available of 31 requested",
            "tradeId": None,
            "symbol": "JPM",
            "side": 0,
            "amount": 31,
            "price": None,
            "fills": [],
        },
    )

    timestamp: Timestamp
    successful: bool
    reason: str | None
    tradeId: HexId | None
    symbol: SymbolOut
    side: SideOut
    amount: AmountOut
    price: TotalOut | None
    fills: list[FillBody]

    @classmethod
    def of(cls, outcome: TradeOutcome) -> Self:
        """The public form of `outcome`."""
        trade = outcome.trade
        return cls(
            timestamp=outcome.timestamp,
            successful=outcome.successful,
            reason=outcome.reason,
            tradeId=trade.id if trade is not None else None,
            symbol=outcome.symbol,
            side=outcome.side,
            amount=outcome.amount,
            price=trade.price if trade is not None else None,
            fills=_fills(trade),
        )


class TradeRecordBody(ResponseBody):
    """A recorded trade, with its fills."""

    model_config = _examples(
        {
            "tradeId": EXAMPLE_TRADE_ID,
            "symbol": "JPM",
            "side": 0,
            "amount": 22,
            "price": 442,
            "fills": EXAMPLE_FILLS,
            "timestamp": EXAMPLE_TIME,
        }
    )

    tradeId: HexId
    symbol: SymbolOut
    side: SideOut
    amount: AmountOut
    price: TotalOut
    fills: list[FillBody]
    timestamp: Timestamp

    @classmethod
    def of(cls, trade: Trade) -> Self:
        """The public form of `trade` (never its account)."""
        return cls(
            tradeId=trade.id,
            symbol=trade.symbol,
            side=trade.side,
            amount=trade.amount,
            price=trade.price,
            fills=_fills(trade),
            timestamp=trade.timestamp,
        )


class BookEntryBody(ResponseBody):
    """A resting order in the order-book view."""

    id: OrderIdOut
    amount: AmountOut
    price: PriceOut

    @classmethod
    def of(cls, entry: BookEntry) -> Self:
        """The public form of `entry`."""
        return cls(id=entry.id, amount=entry.amount, price=entry.price)


class OrderBookBody(ResponseBody):
    """A book's resting orders in walk order (best first, FIFO within a price)."""

    model_config = _examples(
        {
            "symbol": "JPM",
            "side": 0,
            "orders": [{"id": 1, "amount": 20, "price": 20}, {"id": 4, "amount": 10, "price": 21}],
        }
    )

    symbol: SymbolOut
    side: SideOut
    orders: list[BookEntryBody]

    @classmethod
    def of(cls, symbol: str, side: Side, entries: list[BookEntry]) -> Self:
        """The public form of one book's first `entries`."""
        return cls(symbol=symbol, side=side, orders=[BookEntryBody.of(e) for e in entries])


class BatchLoadStarted(ResponseBody):
    """A new batch load: upload the CSV with `PUT <preSignedUrl>` before it expires."""

    model_config = _examples(
        {
            "id": EXAMPLE_LOAD_ID,
            "preSignedUrl": "https://order-management-uploads.s3.us-east-1.amazonaws.com/"
            f"uploads/{EXAMPLE_LOAD_ID}.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900",
            "objectKey": f"uploads/{EXAMPLE_LOAD_ID}.csv",
            "creationTimestampUtc": EXAMPLE_TIME,
            "expirationTimestampUtc": "2024-05-16T11:00:21.148624Z",
        }
    )

    id: HexId
    preSignedUrl: str
    objectKey: str
    creationTimestampUtc: Timestamp
    expirationTimestampUtc: Timestamp

    @classmethod
    def of(cls, load: BatchLoad, url: str) -> Self:
        """The public form of a load just started, with its upload URL."""
        return cls(
            id=load.id,
            preSignedUrl=url,
            objectKey=load.object_key,
            creationTimestampUtc=load.created_at,
            expirationTimestampUtc=load.url_expires_at,
        )


class RowErrorBody(ResponseBody):
    """A rejected row: its line number (header = line 1) and why."""

    line: int
    reason: str

    @classmethod
    def of(cls, error: RowError) -> Self:
        """The public form of `error`."""
        return cls(line=error.line, reason=error.reason)


class BatchLoadStatusBody(ResponseBody):
    """Progress or outcome of a batch load; `errors` holds the first rejected rows."""

    model_config = _examples(
        {
            "id": EXAMPLE_LOAD_ID,
            "status": "SUCCEEDED",
            "rowsRead": 22,
            "rowsLoaded": 21,
            "rowsRejected": 1,
            "errors": [{"line": 7, "reason": "price: must be greater than 0"}],
            "createdAt": EXAMPLE_TIME,
            "startedAt": "2024-05-16T10:45:40.000000Z",
            "finishedAt": "2024-05-16T10:45:41.500000Z",
            "reason": None,
            "errorReport": f"s3://order-management-uploads/reports/{EXAMPLE_LOAD_ID}.errors.csv",
        }
    )

    id: HexId
    status: LoadStatusOut
    rowsRead: int
    rowsLoaded: int
    rowsRejected: int
    errors: list[RowErrorBody]
    createdAt: Timestamp
    startedAt: Timestamp | None
    finishedAt: Timestamp | None
    reason: str | None
    errorReport: str | None

    @classmethod
    def of(cls, load: BatchLoad) -> Self:
        """The public form of `load`'s status."""
        return cls(
            id=load.id,
            status=load.status,
            rowsRead=load.counts.read,
            rowsLoaded=load.counts.loaded,
            rowsRejected=load.counts.rejected,
            errors=[RowErrorBody.of(error) for error in load.errors],
            createdAt=load.created_at,
            startedAt=load.started_at,
            finishedAt=load.finished_at,
            reason=load.reason,
            errorReport=(
                f"s3://{load.bucket}/{load.error_report_key}" if load.error_report_key else None
            ),
        )


class KeyPublic(ResponseBody):
    """An API key as listed: never the key itself."""

    model_config = _examples(
        {
            "keyId": EXAMPLE_KEY_ID,
            "account": "desk-7",
            "scopes": ["read", "trade"],
            "name": "algo 1",
            "createdAt": EXAMPLE_TIME,
            "revokedAt": None,
        }
    )

    keyId: KeyId
    account: str
    scopes: list[ScopeOut]
    name: str
    createdAt: Timestamp
    revokedAt: Timestamp | None

    @classmethod
    def of(cls, key: ApiKey) -> Self:
        """The public form of a stored key."""
        return cls(
            keyId=key.key_id,
            account=key.account,
            scopes=sorted(key.scopes),
            name=key.name,
            createdAt=key.created_at,
            revokedAt=key.revoked_at,
        )


class KeyIssued(ResponseBody):
    """A new API key: `key` is shown this once and never again."""

    model_config = _examples(
        {
            "keyId": EXAMPLE_KEY_ID,
            "key": "om_3q2-7wEYmX0Jv4Yc6f1kS9bq8HnLh0tZpUa5dRxGeIk",
            "account": "desk-7",
            "scopes": ["read", "trade"],
            "name": "algo 1",
            "createdAt": EXAMPLE_TIME,
        }
    )

    keyId: KeyId
    key: str
    account: str
    scopes: list[ScopeOut]
    name: str
    createdAt: Timestamp

    @classmethod
    def of(cls, key: ApiKey, secret: str) -> Self:
        """The form of a key just created, with the key itself."""
        return cls(
            keyId=key.key_id,
            key=secret,
            account=key.account,
            scopes=sorted(key.scopes),
            name=key.name,
            createdAt=key.created_at,
        )


class KeyList(ResponseBody):
    """Every API key, oldest first."""

    keys: list[KeyPublic]

    @classmethod
    def of(cls, keys: list[ApiKey]) -> Self:
        """The public form of `keys`."""
        return cls(keys=[KeyPublic.of(key) for key in keys])


class LiveBody(ResponseBody):
    """Body of `GET /api/health/live`."""

    model_config = _examples({"status": "ok", "timestamp": EXAMPLE_TIME})

    status: Literal["ok"]
    timestamp: Timestamp


class HealthBody(ResponseBody):
    """Body of `GET /api/health`: the table answered."""

    model_config = _examples(
        {"status": "ok", "table": "order-management", "timestamp": EXAMPLE_TIME}
    )

    status: Literal["ok"]
    table: str
    timestamp: Timestamp


class ErrorBody(ResponseBody):
    """Every error body: `detail` says what is wrong."""

    model_config = _examples({"detail": "order 42 does not exist"})

    detail: str


class InternalErrorBody(ResponseBody):
    """The last-resort `500` (a bug): no traceback, the request id to find it in the log."""

    detail: str
    requestId: str


class FieldError(ResponseBody):
    """One invalid part of a request: where (`loc`), what is wrong (`msg`), and its kind."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidRequestBody(ResponseBody):
    """A `422`: one entry per invalid field, or one sentence for a rule about the whole request."""

    model_config = _examples(
        {
            "detail": [
                {
                    "loc": ["body", "price"],
                    "msg": "must have at most 8 decimal places",
                    "type": "value_error",
                }
            ]
        },
        {"detail": "Idempotency-Key 'k' was used with a different request body"},
    )

    detail: list[FieldError] | str
