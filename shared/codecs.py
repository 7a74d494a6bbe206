"""Item codecs: domain values ↔ DynamoDB attribute-value maps, written by hand for speed.

Every item carries `entity` (the discriminator) and `version`. Numbers travel as DynamoDB `N`
strings written from `Decimal` without an exponent, so nothing passes through binary floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, TypeAlias

from shared import keys
from shared.clock import format_timestamp, parse_timestamp
from shared.models import Order, Side, Trade, TradeFill, TradeOutcome

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
