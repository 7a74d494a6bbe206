"""The value rules of the contract, as pure functions shared by the API and the loader.

Each check returns the canonical value or raises `InvalidValue` with a reason a client can act on.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from shared.models import Side

MAX_ORDER_ID = 2**53 - 1
MAX_AMOUNT = 2**53 - 1
MAX_PRICE = Decimal(10**12)
PRICE_DECIMALS = 8
_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_DECIMALS)
SYMBOL_PATTERN = re.compile(r"[A-Za-z0-9._\-]{1,16}", re.ASCII)
_SIDE_NAMES = {"buy": Side.BUY, "sell": Side.SELL}


class InvalidValue(ValueError):
    """A value breaks one of the contract's rules; the message says which and why."""


def check_order_id(value: int) -> int:
    """An order id: 1 ≤ id ≤ 2^53−1."""
    if not 1 <= value <= MAX_ORDER_ID:
        raise InvalidValue(f"must be an integer from 1 to {MAX_ORDER_ID}")
    return value


def normalize_symbol(value: str) -> str:
    """1–16 letters, digits, '.', '-' or '_' once trimmed; returned upper-cased."""
    symbol = value.strip()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise InvalidValue("must be 1-16 characters: letters, digits, '.', '-' or '_'")
    return symbol.upper()


def parse_side(value: int | str) -> Side:
    """0/1, or 'Buy'/'Sell' in any case."""
    if isinstance(value, bool):
        raise InvalidValue("must be 0 (Buy), 1 (Sell), 'Buy' or 'Sell'")
    if isinstance(value, int):
        if value in (0, 1):
            return Side(value)
    elif isinstance(value, str):
        side = _SIDE_NAMES.get(value.strip().lower())
        if side is not None:
            return side
    raise InvalidValue("must be 0 (Buy), 1 (Sell), 'Buy' or 'Sell'")


def check_amount(value: int) -> int:
    """An amount: an integer 1 ≤ amount ≤ 2^53−1."""
    if isinstance(value, bool) or not 1 <= value <= MAX_AMOUNT:
        raise InvalidValue(f"must be an integer from 1 to {MAX_AMOUNT}")
    return value


def check_price(value: Decimal) -> Decimal:
    """A price: finite, > 0, ≤ 10^12, at most 8 decimal places. Returned without trailing zeros."""
    if not value.is_finite():
        raise InvalidValue("must be a finite number")
    if not 0 < value <= MAX_PRICE:
        raise InvalidValue("must be greater than 0 and at most 1000000000000")
    try:
        exact = value.quantize(_PRICE_QUANTUM)
    except InvalidOperation as error:  # pragma: no cover - unreachable within the range above
        raise InvalidValue("has too many digits") from error
    if exact != value:
        raise InvalidValue(f"must have at most {PRICE_DECIMALS} decimal places")
    return canonical_decimal(value)


def canonical_decimal(value: Decimal) -> Decimal:
    """`value` without trailing fractional zeros: 20.50 → 20.5, and 2E+1 → 20 (exponent 0)."""
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize()


def parse_decimal_text(text: str) -> Decimal:
    """A plain decimal number as text (a CSV cell): digits, optional sign and point."""
    stripped = text.strip()
    if not _DECIMAL_TEXT.fullmatch(stripped):
        raise InvalidValue("must be a decimal number")
    return Decimal(stripped)


def parse_integer_text(text: str) -> int:
    """A plain integer written as text (as in a CSV cell)."""
    stripped = text.strip()
    if not _INTEGER_TEXT.fullmatch(stripped):
        raise InvalidValue("must be an integer")
    return int(stripped)


_DECIMAL_TEXT = re.compile(r"[+-]?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})", re.ASCII)
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,40}", re.ASCII)
