"""Item codecs: domain values ↔ DynamoDB attribute-value maps, written by hand for speed.

Every item carries `entity` (the discriminator) and `version`. Numbers travel as DynamoDB `N`
strings written from `Decimal` without an exponent, so nothing passes through binary floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeAlias

from shared import keys
from shared.clock import format_timestamp, parse_timestamp
from shared.models import (
    BatchLoad,
    LoadCounts,
    LoadStatus,
    Order,
    RowError,
    Side,
    Trade,
    TradeFill,
    TradeOutcome,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item: TypeAlias = "dict[str, AttributeValueTypeDef]"


def number(value: int | Decimal) -> AttributeValueTypeDef:
    """A DynamoDB number attribute, written exactly."""
    if isinstance(value, Decimal):
        return {"N": format(value, "f")}
    return {"N": str(value)}


def string(value: str) -> AttributeValueTypeDef:
    """A DynamoDB string attribute."""
    return {"S": value}


def order_key(order_id: int) -> Item:
    """The primary key of an order item."""
    return {"PK": string(keys.order_pk(order_id)), "SK": string(keys.order_sk())}


def order_to_item(order: Order) -> Item:
    """The full item of an order, GSI1 keys included."""
    return {
        "PK": string(keys.order_pk(order.id)),
        "SK": string(keys.order_sk()),
        "entity": string(keys.ORDER_ENTITY),
        "version": number(order.version),
        "GSI1PK": string(keys.book_pk(order.symbol, order.side)),
        "GSI1SK": string(keys.book_sk(order.side, order.price, order.sequence)),
        "id": number(order.id),
        "symbol": string(order.symbol),
        "side": number(int(order.side)),
        "amount": number(order.amount),
        "price": number(order.price),
        "sequence": string(order.sequence),
        "createdAt": string(format_timestamp(order.created_at)),
        "updatedAt": string(format_timestamp(order.updated_at)),
    }


def order_from_item(item: Item) -> Order:
    """The order an item holds. Raises `ValueError` if the item is not an order."""
    if item.get("entity", {}).get("S") != keys.ORDER_ENTITY:
        raise ValueError("item is not an order")
    return Order(
        id=int(item["id"]["N"]),
        symbol=item["symbol"]["S"],
        side=Side(int(item["side"]["N"])),
        amount=int(item["amount"]["N"]),
        price=Decimal(item["price"]["N"]),
        sequence=item["sequence"]["S"],
        version=int(item["version"]["N"]),
        created_at=parse_timestamp(item["createdAt"]["S"]),
        updated_at=parse_timestamp(item["updatedAt"]["S"]),
    )


def trade_key(trade_id: str) -> Item:
    """The primary key of a trade item."""
    return {"PK": string(keys.trade_pk(trade_id)), "SK": string(keys.TRADE_ENTITY)}


def _fills_attribute(fills: tuple[TradeFill, ...]) -> AttributeValueTypeDef:
    return {
        "L": [
            {
                "M": {
                    "orderId": number(f.order_id),
                    "amount": number(f.amount),
                    "price": number(f.price),
                }
            }
            for f in fills
        ]
    }


def _fills_from(attribute: AttributeValueTypeDef) -> tuple[TradeFill, ...]:
    return tuple(
        TradeFill(
            order_id=int(entry["M"]["orderId"]["N"]),
            amount=int(entry["M"]["amount"]["N"]),
            price=Decimal(entry["M"]["price"]["N"]),
        )
        for entry in attribute["L"]
    )


def trade_to_item(trade: Trade) -> Item:
    """The item recording an executed trade."""
    return {
        **trade_key(trade.id),
        "entity": string(keys.TRADE_ENTITY),
        "version": number(1),
        "tradeId": string(trade.id),
        "symbol": string(trade.symbol),
        "side": number(int(trade.side)),
        "amount": number(trade.amount),
        "price": number(trade.price),
        "fills": _fills_attribute(trade.fills),
        "timestamp": string(format_timestamp(trade.timestamp)),
    }


def trade_from_item(item: Item) -> Trade:
    """The trade a trade item records. Raises `ValueError` if the item is not a trade."""
    if item.get("entity", {}).get("S") != keys.TRADE_ENTITY:
        raise ValueError("item is not a trade")
    return Trade(
        id=item["tradeId"]["S"],
        symbol=item["symbol"]["S"],
        side=Side(int(item["side"]["N"])),
        amount=int(item["amount"]["N"]),
        price=Decimal(item["price"]["N"]),
        fills=_fills_from(item["fills"]),
        timestamp=parse_timestamp(item["timestamp"]["S"]),
    )


def outcome_to_attributes(outcome: TradeOutcome) -> Item:
    """A trade outcome as attributes, so an idempotent replay can return it unchanged."""
    attributes: Item = {
        "symbol": string(outcome.symbol),
        "side": number(int(outcome.side)),
        "amount": number(outcome.amount),
        "timestamp": string(format_timestamp(outcome.timestamp)),
    }
    if outcome.reason is not None:
        attributes["reason"] = string(outcome.reason)
    if outcome.trade is not None:
        attributes["trade"] = {"M": trade_to_item(outcome.trade)}
    return attributes


def outcome_from_attributes(item: Item) -> TradeOutcome:
    """The inverse of `outcome_to_attributes`."""
    trade = item.get("trade")
    return TradeOutcome(
        symbol=item["symbol"]["S"],
        side=Side(int(item["side"]["N"])),
        amount=int(item["amount"]["N"]),
        timestamp=parse_timestamp(item["timestamp"]["S"]),
        trade=trade_from_item(dict(trade["M"])) if trade is not None else None,
        reason=item["reason"]["S"] if "reason" in item else None,
    )


def load_key(load_id: str) -> Item:
    """The primary key of a batch-load item."""
    return {"PK": string(keys.load_pk(load_id)), "SK": string(keys.LOAD_ENTITY)}


def _optional_time(item: Item, name: str) -> datetime | None:
    return parse_timestamp(item[name]["S"]) if name in item else None


def errors_attribute(errors: tuple[RowError, ...]) -> AttributeValueTypeDef:
    """Row errors as a DynamoDB list."""
    return {"L": [{"M": {"line": number(e.line), "reason": string(e.reason)}} for e in errors]}


def load_to_item(load: BatchLoad) -> Item:
    """The item of a new batch load."""
    item: Item = {
        **load_key(load.id),
        "entity": string(keys.LOAD_ENTITY),
        "version": number(1),
        "loadId": string(load.id),
        "status": string(load.status.value),
        "bucket": string(load.bucket),
        "objectKey": string(load.object_key),
        "createdAt": string(format_timestamp(load.created_at)),
        "expiresAt": string(format_timestamp(load.expires_at)),
        "rowsRead": number(load.counts.read),
        "rowsLoaded": number(load.counts.loaded),
        "rowsRejected": number(load.counts.rejected),
        "errors": errors_attribute(load.errors),
    }
    return item


def load_from_item(item: Item) -> BatchLoad:
    """The batch load an item holds. Raises `ValueError` if the item is not a load."""
    if item.get("entity", {}).get("S") != keys.LOAD_ENTITY:
        raise ValueError("item is not a batch load")
    return BatchLoad(
        id=item["loadId"]["S"],
        status=LoadStatus(item["status"]["S"]),
        bucket=item["bucket"]["S"],
        object_key=item["objectKey"]["S"],
        created_at=parse_timestamp(item["createdAt"]["S"]),
        expires_at=parse_timestamp(item["expiresAt"]["S"]),
        started_at=_optional_time(item, "startedAt"),
        finished_at=_optional_time(item, "finishedAt"),
        counts=LoadCounts(
            read=int(item["rowsRead"]["N"]),
            loaded=int(item["rowsLoaded"]["N"]),
            rejected=int(item["rowsRejected"]["N"]),
        ),
        errors=tuple(
            RowError(line=int(e["M"]["line"]["N"]), reason=e["M"]["reason"]["S"])
            for e in item.get("errors", {"L": []})["L"]
        ),
        reason=item["reason"]["S"] if "reason" in item else None,
        error_report_key=item["errorReportKey"]["S"] if "errorReportKey" in item else None,
    )


def order_item_json(order: Order) -> str:
    """The order's item as DynamoDB JSON text: exactly what `order_to_item` builds, cheaper.

    The batch loader encodes every row this way. Values are written without escaping, which is
    sound only for validated orders: symbols are `[A-Z0-9._-]`, and keys, stamps and numbers are
    plain ASCII by construction. A test pins it to `order_to_item`.
    """
    return order_item_json_parts(
        order,
        created_text=format_timestamp(order.created_at),
        updated_text=format_timestamp(order.updated_at),
    )


def order_item_json_parts(order: Order, *, created_text: str, updated_text: str) -> str:
    """`order_item_json` with the timestamps already formatted (a loader formats them once)."""
    side = int(order.side)
    return (
        f'{{"PK":{{"S":"{keys.order_pk(order.id)}"}},"SK":{{"S":"{keys.order_sk()}"}},'
        f'"entity":{{"S":"{keys.ORDER_ENTITY}"}},"version":{{"N":"{order.version}"}},'
        f'"GSI1PK":{{"S":"{keys.book_pk(order.symbol, order.side)}"}},'
        f'"GSI1SK":{{"S":"{keys.book_sk(order.side, order.price, order.sequence)}"}},'
        f'"id":{{"N":"{order.id}"}},"symbol":{{"S":"{order.symbol}"}},"side":{{"N":"{side}"}},'
        f'"amount":{{"N":"{order.amount}"}},"price":{{"N":"{format(order.price, "f")}"}},'
        f'"sequence":{{"S":"{order.sequence}"}},"createdAt":{{"S":"{created_text}"}},'
        f'"updatedAt":{{"S":"{updated_text}"}}}}'
    )
