"""Every key string of the single table is built here and nowhere else.

Layout (`SK` repeats the entity so several item kinds can share a partition):

| entity      | PK                   | SK                | GSI1PK              | GSI1SK           |
| ----------- | -------------------- | ----------------- | ------------------- | ---------------- |
| order       | `ORDER#<id>`         | `ORDER`           | `BOOK#<SYM>#<side>` | `<price>#<seq>`  |
| trade       | `TRADE#<tradeId>`    | `TRADE`           | -                   | -                |
| batch load  | `LOAD#<loadId>`      | `LOAD`            | -                   | -                |
| idempotency | `IDEMP#<acct>#<key>` | `IDEMP`           | -                   | -                |
| API key     | `APIKEY#<keyId>`     | `APIKEY`          | `APIKEYS`           | `<created>#<id>` |

An order that leaves the book (filled to 0 by a trade, or deleted) is not removed: its item
stays as a *gone* order (entity `GONE`, no GSI1 keys, so no book lists it) until the table's TTL
removes it a day later. It keeps the token of the incarnation that was created, so a create
request delivered late (a retry of a write whose first attempt was slow) cannot bring it back:
a create succeeds only where no item is, or over a gone order of *another* incarnation.
Accounts cannot contain `#` (`shared.validation.ACCOUNT_PATTERN`), so `IDEMP#<account>#<key>`
is unambiguous. API keys share one index partition, `APIKEYS`: they are few, and listing them is
an admin's rare read; the index never serves a key lookup (that is a GetItem by key id).

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
from shared.validation import MAX_PRICE, PRICE_DECIMALS

ORDER_ENTITY = "ORDER"
GONE_ENTITY = "GONE"
TRADE_ENTITY = "TRADE"
LOAD_ENTITY = "LOAD"
LOAD_BATCH_ENTITY = "LOADBATCH"
IDEMPOTENCY_ENTITY = "IDEMP"
API_KEY_ENTITY = "APIKEY"
API_KEYS_INDEX_PARTITION = "APIKEYS"
HEALTH_PROBE = "HEALTH#PROBE"

PRICE_SCALE = 10**PRICE_DECIMALS
MAX_SCALED_PRICE = int(MAX_PRICE) * PRICE_SCALE
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
    return price_units_key(side, _price_units(price))


def price_units_key(side: Side, units: int) -> str:
    """`price_key` of a price already in 1e-8 units (0 < units ≤ `MAX_SCALED_PRICE`)."""
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
    return book_sk_of_units(side, _price_units(price), sequence)


def book_sk_of_units(side: Side, units: int, sequence: str) -> str:
    """`book_sk` of a price already in 1e-8 units (0 < units ≤ `MAX_SCALED_PRICE`)."""
    return f"{price_units_key(side, units)}#{sequence}"


def trade_pk(trade_id: str) -> str:
    """Partition key of a trade record."""
    return f"{TRADE_ENTITY}#{trade_id}"


def load_pk(load_id: str) -> str:
    """Partition key of a batch-load record."""
    return f"{LOAD_ENTITY}#{load_id}"


def load_batch_pk(load_id: str, partition: int, number: int) -> str:
    """Partition key of the marker of one written batch of a load (see `LoadBatchWriter`).

    Each marker has a partition key of its own, so a million-row load spreads its markers
    instead of writing them all to one hot partition.
    """
    return f"{LOAD_ENTITY}#{load_id}#BATCH#{partition}#{number}"


def idempotency_pk(account: str, key: str) -> str:
    """Partition key of an idempotency record: keys are per account."""
    return f"{IDEMPOTENCY_ENTITY}#{account}#{key}"


def api_key_pk(key_id: str) -> str:
    """Partition key of an API key."""
    return f"{API_KEY_ENTITY}#{key_id}"


def api_key_index_sk(created_at: str, key_id: str) -> str:
    """GSI1 sort key of an API key: listed oldest first."""
    return f"{created_at}#{key_id}"
