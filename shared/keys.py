"""Every key string of the single table is built here and nowhere else.

Layout (one item per entity; `SK` repeats the entity so later item kinds can share a partition):

| entity         | PK                | SK      | GSI1PK                 | GSI1SK                   |
| -------------- | ----------------- | ------- | ---------------------- | ------------------------ |
| order          | `ORDER#<id>`      | `ORDER` | `BOOK#<SYMBOL>#<side>` | `<price key>#<sequence>` |
| trade          | `TRADE#<tradeId>` | `TRADE` | -                      | -                        |
| batch load     | `LOAD#<loadId>`   | `LOAD`  | -                      | -                        |
| idempotency    | `IDEMP#<key>`     | `IDEMP` | -                      | -                        |

The book sort key is what makes one *ascending* GSI1 Query return a book in walk order:

* The price is scaled to an integer number of 1e-8 units (prices have at most 8 decimals and are
  at most 1e12, so the scaled value is at most 1e20) and zero-padded to 21 digits, which sorts as
  strings exactly as the numbers do.
* Side 0 (Buy) walks lowest price first: the scaled price itself.
  Side 1 (Sell) walks highest price first: its complement `1e20 - scaled`, so a higher price gets
  a smaller key. Prices are > 0, so the complement stays within 0 … 1e20 - 1.
* Inside one price level the `sequence` (a fixed-width, strictly increasing stamp, see
  `shared.sequence`) puts older orders first: FIFO.
"""

from __future__ import annotations

from decimal import Decimal

from shared.models import Side

ORDER_ENTITY = "ORDER"
TRADE_ENTITY = "TRADE"
LOAD_ENTITY = "LOAD"
IDEMPOTENCY_ENTITY = "IDEMP"
HEALTH_PROBE = "HEALTH#PROBE"

PRICE_DECIMALS = 8
PRICE_SCALE = 10**PRICE_DECIMALS
MAX_SCALED_PRICE = 10**12 * PRICE_SCALE
PRICE_KEY_WIDTH = len(str(MAX_SCALED_PRICE))


def order_pk(order_id: int) -> str:
    """Partition key of an order."""
    return f"{ORDER_ENTITY}#{order_id}"


def order_sk() -> str:
    """Sort key of an order."""
    return ORDER_ENTITY


def book_pk(symbol: str, side: Side) -> str:
    """GSI1 partition key of the book for (symbol, side)."""
    return f"BOOK#{symbol}#{int(side)}"


def price_key(side: Side, price: Decimal) -> str:
    """The fixed-width price component of a book sort key, ascending in walk order."""
    units = _price_units(price)
    ordinal = units if side == Side.BUY else MAX_SCALED_PRICE - units
    return f"{ordinal:0{PRICE_KEY_WIDTH}d}"


def _price_units(price: Decimal) -> int:
    """`price` in 1e-8 units, computed on the digits so no decimal context can round it."""
    sign, digits, exponent = price.as_tuple()
    if sign or not isinstance(exponent, int):
        raise ValueError(f"price {price} is outside the encodable range")
    mantissa = int("".join(map(str, digits)) or "0")
    shift = exponent + PRICE_DECIMALS
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        units = mantissa * scale
    else:
        units, remainder = divmod(mantissa, scale)
        if remainder:
            raise ValueError(f"price {price} has more than {PRICE_DECIMALS} decimal places")
    if not 0 < units <= MAX_SCALED_PRICE:
        raise ValueError(f"price {price} is outside the encodable range")
    return units


def book_sk(side: Side, price: Decimal, sequence: str) -> str:
    """GSI1 sort key of an order: price in walk order, then time priority."""
    return f"{price_key(side, price)}#{sequence}"


def trade_pk(trade_id: str) -> str:
    """Partition key of a trade record."""
    return f"{TRADE_ENTITY}#{trade_id}"


def load_pk(load_id: str) -> str:
    """Partition key of a batch-load record."""
    return f"{LOAD_ENTITY}#{load_id}"


def idempotency_pk(key: str) -> str:
    """Partition key of an idempotency record."""
    return f"{IDEMPOTENCY_ENTITY}#{key}"
