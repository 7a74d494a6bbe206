"""CSV lines → validated orders or `RowError(line, reason)`. Pure: text in, values out.

The header row is required: `orderId,symbol,side,amount,price`, names case-insensitive and
trimmed, any order, extra columns ignored. A leading BOM is tolerated (open the file with
`utf-8-sig`), `\\n` and `\\r\\n` both work, quoted fields follow RFC 4180. Line numbers are those a
text editor shows (the header is line 1); a record spanning several lines (a quoted newline) is
reported at its first line. Blank lines are skipped and are not rows.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from shared import validation
from shared.models import OrderDraft, RowError, Side
from shared.validation import InvalidValue

REQUIRED_COLUMNS = ("orderid", "symbol", "side", "amount", "price")
HEADER_TEXT = "orderId,symbol,side,amount,price"
MAX_FIELD_CHARS = 10_000
T = TypeVar("T")
_SIDES = {"buy": Side.BUY, "sell": Side.SELL, "0": Side.BUY, "1": Side.SELL}


class NotAnOrdersFile(ValueError):
    """The file cannot be read as an orders CSV at all (no header, not text, …)."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A valid data row and the line it starts on."""

    line: int
    draft: OrderDraft


def _columns(header: list[str]) -> tuple[int, ...]:
    names = [name.strip().lower() for name in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        found = ",".join(name.strip() for name in header)[:200] or "(nothing)"
        raise NotAnOrdersFile(
            f"line 1 must be the header {HEADER_TEXT} (any order); missing "
            f"{', '.join(missing)}; found: {found}"
        )
    duplicated = sorted({c for c in REQUIRED_COLUMNS if names.count(c) > 1})
    if duplicated:
        raise NotAnOrdersFile(f"header names column(s) twice: {', '.join(duplicated)}")
    return tuple(names.index(c) for c in REQUIRED_COLUMNS)


def parse_row(fields: list[str], columns: tuple[int, ...], width: int) -> OrderDraft:
    """One data record → an order draft; raises `InvalidValue` listing every bad field."""
    if len(fields) > width or len(fields) <= max(columns):
        raise InvalidValue(f"expected {width} fields like the header, found {len(fields)}")
    raw_id, raw_symbol, raw_side, raw_amount, raw_price = (fields[i] for i in columns)
    problems: list[str] = []
    order_id = _checked(
        "orderId",
        lambda: validation.check_order_id(_integer(raw_id, validation.MAX_ORDER_ID)),
        problems,
    )
    symbol = _checked("symbol", lambda: validation.normalize_symbol(raw_symbol), problems)
    side = _checked("side", lambda: _side(raw_side), problems)
    amount = _checked(
        "amount",
        lambda: validation.check_amount(_integer(raw_amount, validation.MAX_AMOUNT)),
        problems,
    )
    price = _checked(
        "price",
        lambda: validation.check_price(validation.parse_decimal_text(raw_price)),
        problems,
    )
    if order_id is None or symbol is None or side is None or amount is None or price is None:
        raise InvalidValue("; ".join(problems))
    return OrderDraft(id=order_id, symbol=symbol, side=side, amount=amount, price=price)


def _checked(name: str, parse: Callable[[], T], problems: list[str]) -> T | None:
    try:
        return parse()
    except InvalidValue as error:
        problems.append(f"{name}: {error}")
        return None


def _integer(text: str, maximum: int) -> int:
    try:
        return validation.parse_integer_text(text)
    except InvalidValue:
        if text.strip().lstrip("+-").isdigit():
            raise InvalidValue(f"must be an integer from 1 to {maximum}") from None
        raise


def _side(text: str) -> Side:
    side = _SIDES.get(text.strip().lower())
    if side is None:
        raise InvalidValue("must be Buy, Sell, 0 or 1")
    return side


def read_orders(lines: Iterable[str]) -> Iterator[ParsedRow | RowError]:
    """Parse an orders CSV: valid rows and row errors, in file order.

    Raises `NotAnOrdersFile` when the header is missing or the text is not CSV at all.
    `lines` is a text stream opened with `newline=""` so quoted newlines survive.
    """
    # Process-wide, but the loader is a process of its own: fields up to 1 MiB reach the
    # row check below (which rejects the row) instead of aborting the whole file.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 20))
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise NotAnOrdersFile(f"line 1 is not CSV: {error}") from error
    if header is None:
        raise NotAnOrdersFile(f"the file is empty; line 1 must be the header {HEADER_TEXT}")
    if not any(field.strip() for field in header):
        raise NotAnOrdersFile(f"line 1 is blank; it must be the header {HEADER_TEXT}")
    columns = _columns(header)
    width = len(header)
    last_line = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The csv module cannot resynchronise after a broken quote: the rest is unreadable.
            raise NotAnOrdersFile(f"line {last_line + 1}: not valid CSV ({error})") from error
        line = last_line + 1
        last_line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if any(len(field) > MAX_FIELD_CHARS for field in fields):
            yield RowError(line, f"a field is longer than {MAX_FIELD_CHARS} characters")
            continue
        try:
            yield ParsedRow(line, parse_row(fields, columns, width))
        except InvalidValue as error:
            yield RowError(line, str(error))
