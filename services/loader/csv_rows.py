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

from shared import validation
from shared.models import OrderDraft, RowError
from shared.validation import InvalidValue

REQUIRED_COLUMNS = ("orderid", "symbol", "side", "amount", "price")
HEADER_TEXT = "orderId,symbol,side,amount,price"
MAX_FIELD_CHARS = 10_000
# The column each rule reads, in REQUIRED_COLUMNS order: the order row errors list problems in.
_CELL_RULES: tuple[tuple[str, Callable[[str], object]], ...] = (
    ("orderId", validation.parse_order_id_text),
    ("symbol", validation.normalize_symbol),
    ("side", validation.parse_side_text),
    ("amount", validation.parse_amount_text),
    ("price", validation.parse_price_text),
)


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
    cells = [fields[i] for i in columns]
    raw_id, raw_symbol, raw_side, raw_amount, raw_price = cells
    try:
        return OrderDraft(
            id=validation.parse_order_id_text(raw_id),
            symbol=validation.normalize_symbol(raw_symbol),
            side=validation.parse_side_text(raw_side),
            amount=validation.parse_amount_text(raw_amount),
            price=validation.parse_price_text(raw_price),
        )
    except InvalidValue:
        pass
    # Bad rows are rare: only they pay to read every cell again, to name each bad one.
    raise InvalidValue("; ".join(_problems(cells)))


def _problems(cells: list[str]) -> Iterator[str]:
    for (name, parse), cell in zip(_CELL_RULES, cells, strict=True):
        try:
            parse(cell)
        except InvalidValue as error:
            yield f"{name}: {error}"


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
