"""The value rules of the contract, as pure functions shared by the API and the loader.

Each check returns the canonical value or raises `InvalidValue` with a reason a client can act on.
Each rule is stated once, here: its bounds are constants and its text forms are regular
expressions written in the dialect JSON Schema and Python share (ECMA-262 ∩ `re`: character
classes, counted repetition, `^`/`$`; no `\\s`, whose meaning differs between the two). The API
derives its request schemas and OpenAPI constraints from them, and the CSV loader parses cells with
the `parse_*_text` functions below, so a value is accepted by one exactly when it is by the other.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from shared.access import Scope
from shared.models import Side

MAX_ORDER_ID = 2**53 - 1
MAX_AMOUNT = 2**53 - 1
MAX_PRICE = Decimal(10**12)
PRICE_DECIMALS = 8
PRICE_STEP = Decimal(1).scaleb(-PRICE_DECIMALS)
MAX_KEY_NAME_CHARS = 128

# What trimming removes around a symbol or a side name: JSON's own whitespace (RFC 8259 `ws`).
# Named character by character because `\s` and `str.strip()` mean more (and differently so in
# Python and in JavaScript), and a schema must never allow what the service rejects.
BLANKS = r"[ \t\n\r]*"
_BLANK_CHARACTERS = " \t\n\r"

SYMBOL_MAX_CHARS = 16
SYMBOL_CHARACTERS = r"[A-Za-z0-9._\-]"
# A symbol as a client may write it: 1-16 characters, surrounding blanks allowed.
SYMBOL_INPUT_PATTERN = rf"^{BLANKS}{SYMBOL_CHARACTERS}{{1,{SYMBOL_MAX_CHARS}}}{BLANKS}$"
# A symbol as stored and returned: trimmed and upper-cased.
SYMBOL_PATTERN = rf"^[A-Z0-9._\-]{{1,{SYMBOL_MAX_CHARS}}}$"

ACCOUNT_MAX_CHARS = 64
ACCOUNT_PATTERN = rf"^[A-Za-z0-9._\-]{{1,{ACCOUNT_MAX_CHARS}}}$"

# A key's label may hold any character but the C0 and C1 controls (and DEL).
KEY_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"

_SIDE_NAMES = {"buy": Side.BUY, "sell": Side.SELL}


def _any_case(word: str) -> str:
    """`buy` → `[Bb][Uu][Yy]`: JSON Schema patterns have no case-insensitive flag."""
    return "".join(f"[{letter.upper()}{letter.lower()}]" for letter in word)


# A side given by name: Buy or Sell in any case, surrounding blanks allowed.
_SIDE_NAME_CHOICES = "|".join(_any_case(name) for name in _SIDE_NAMES)
SIDE_NAME_PATTERN = rf"^{BLANKS}(?:{_SIDE_NAME_CHOICES}){BLANKS}$"

_SYMBOL = re.compile(SYMBOL_INPUT_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_KEY_NAME = re.compile(KEY_NAME_PATTERN)
_SIDE_NAME = re.compile(SIDE_NAME_PATTERN)
_DECIMAL_TEXT = re.compile(r"[+-]?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})", re.ASCII)
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,40}", re.ASCII)


class InvalidValue(ValueError):
    """A value breaks one of the contract's rules; the message says which and why."""


def _fully(pattern: re.Pattern[str], value: str) -> bool:
    # `fullmatch`, not `match`: Python's `$` also matches before a final newline.
    return pattern.fullmatch(value) is not None


def check_order_id(value: int) -> int:
    """An order id: 1 ≤ id ≤ 2^53−1."""
    if isinstance(value, bool) or not 1 <= value <= MAX_ORDER_ID:
        raise InvalidValue(f"must be an integer from 1 to {MAX_ORDER_ID}")
    return value


def normalize_symbol(value: str) -> str:
    """1–16 letters, digits, '.', '-' or '_' once blanks are trimmed; returned upper-cased."""
    if not _fully(_SYMBOL, value):
        raise InvalidValue(
            f"must be 1-{SYMBOL_MAX_CHARS} characters: letters, digits, '.', '-' or '_'"
        )
    return value.strip(_BLANK_CHARACTERS).upper()


def check_account(value: str) -> str:
    """An account name: 1-64 letters, digits, '.', '-' or '_' (case kept)."""
    if not _fully(_ACCOUNT, value):
        raise InvalidValue(
            f"must be 1-{ACCOUNT_MAX_CHARS} characters: letters, digits, '.', '-' or '_'"
        )
    return value


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    """A non-empty list of scope names, each one of read, orders, trade, load, admin."""
    if not values:
        raise InvalidValue("must name at least one scope")
    known = {scope.value for scope in Scope}
    unknown = sorted({value for value in values if value not in known})
    if unknown:
        raise InvalidValue(
            f"unknown scope(s) {', '.join(unknown)}; each must be one of {', '.join(Scope)}"
        )
    return frozenset(Scope(value) for value in values)


def check_key_name(value: str) -> str:
    """A key's label: up to 128 characters, none of them a control character."""
    if len(value) > MAX_KEY_NAME_CHARS or not _fully(_KEY_NAME, value):
        raise InvalidValue(
            f"must be at most {MAX_KEY_NAME_CHARS} characters, none of them a control character"
        )
    return value


def parse_side(value: int | str) -> Side:
    """0/1, or 'Buy'/'Sell' in any case (blanks around the name allowed)."""
    if isinstance(value, bool):
        raise InvalidValue("must be 0 (Buy), 1 (Sell), 'Buy' or 'Sell'")
    if isinstance(value, int):
        if value in (0, 1):
            return Side(value)
    elif isinstance(value, str) and _fully(_SIDE_NAME, value):
        return _SIDE_NAMES[value.strip(_BLANK_CHARACTERS).lower()]
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
        raise InvalidValue(f"must be greater than 0 and at most {MAX_PRICE}")
    try:
        exact = value.quantize(PRICE_STEP)
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


def _bounded_integer_text(text: str, maximum: int) -> int:
    try:
        return parse_integer_text(text)
    except InvalidValue:
        if text.strip().lstrip("+-").isdigit():  # an integer, just too long to be in range
            raise InvalidValue(f"must be an integer from 1 to {maximum}") from None
        raise


def parse_order_id_text(text: str) -> int:
    """An order id written as text (a CSV cell): the rule of `check_order_id`."""
    return check_order_id(_bounded_integer_text(text, MAX_ORDER_ID))


def parse_amount_text(text: str) -> int:
    """An amount written as text (a CSV cell): the rule of `check_amount`."""
    return check_amount(_bounded_integer_text(text, MAX_AMOUNT))


def parse_price_text(text: str) -> Decimal:
    """A price written as text (a CSV cell): a plain decimal under the rule of `check_price`."""
    return check_price(parse_decimal_text(text))


def parse_side_text(text: str) -> Side:
    """A side written as text (a CSV cell): `0`/`1`, or Buy/Sell in any case."""
    digit = text.strip(_BLANK_CHARACTERS)
    if digit in ("0", "1"):
        return Side(int(digit))
    try:
        return parse_side(text)
    except InvalidValue:
        raise InvalidValue("must be Buy, Sell, 0 or 1") from None
