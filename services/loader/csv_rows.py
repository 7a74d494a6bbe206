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
from typing import TYPE_CHECKING, TypeAlias, cast

from shared import validation
from shared.models import OrderDraft, RowError
from shared.validation import InvalidValue

if TYPE_CHECKING:
    from _csv import Reader

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


EncodedRow: TypeAlias = tuple[int, str, int]
"""(order id, item JSON, line) of a valid row that a fast path encoded itself."""
FastPath: TypeAlias = Callable[[str, int], EncodedRow | None]
"""(line's text, line number) → its `EncodedRow`, or None to have the line read the full way."""
FastPathFor: TypeAlias = Callable[[tuple[int, ...], int], FastPath]
"""The fast path for a header: (positions of `REQUIRED_COLUMNS`, number of fields)."""


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
    return cast(Iterator[ParsedRow | RowError], _read(lines, None))


def read_encoded_orders(
    lines: Iterable[str], fast_path_for: FastPathFor
) -> Iterator[ParsedRow | RowError | EncodedRow]:
    """`read_orders`, offering each line first to the header's fast path: a line it encodes
    comes out as its `EncodedRow`; any other line is read and validated exactly as
    `read_orders` does (same rows, errors and line numbers), so the fast path may decline
    anything. The fast path sees single lines: it must decline any that holds a quote, is
    blank, or would not be one valid row by itself."""
    return _read(lines, fast_path_for)


class _Lines:
    """The source's lines, with one line given back to be read again (by the csv reader)."""

    __slots__ = ("again", "source")

    def __init__(self, source: Iterator[str]) -> None:
        self.source = source
        self.again: str | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        again = self.again
        if again is None:
            return next(self.source)
        self.again = None
        return again


def _read(
    lines: Iterable[str], fast_path_for: FastPathFor | None
) -> Iterator[ParsedRow | RowError | EncodedRow]:
    # Process-wide, but the loader is a process of its own: fields up to 1 MiB reach the
    # row check below (which rejects the row) instead of aborting the whole file.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 20))
    source = _Lines(iter(lines))
    reader = csv.reader(source, strict=True)
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
    if fast_path_for is None:
        yield from _records(reader, columns, width)
        return
    fast = fast_path_for(columns, width)
    line = reader.line_num  # lines read so far
    for text in source.source:
        line += 1
        encoded = fast(text, line)
        if encoded is not None:
            yield encoded
            continue
        # The full way for this record: the csv reader reads it from this line on (a quoted
        # field may go on over the next lines).
        source.again = text
        read_before = reader.line_num
        try:
            fields = next(reader)
        except csv.Error as error:
            raise NotAnOrdersFile(f"line {line}: not valid CSV ({error})") from error
        first = line
        line += reader.line_num - read_before - 1
        row = _row(fields, first, columns, width)
        if row is not None:
            yield row


def _records(
    reader: Reader, columns: tuple[int, ...], width: int
) -> Iterator[ParsedRow | RowError]:
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
        row = _row(fields, line, columns, width)
        if row is not None:
            yield row


def _row(
    fields: list[str], line: int, columns: tuple[int, ...], width: int
) -> ParsedRow | RowError | None:
    """The record starting on `line`: a row, a row error, or None for a blank line."""
    if not fields or (len(fields) == 1 and not fields[0].strip()):
        return None
    if any(len(field) > MAX_FIELD_CHARS for field in fields):
        return RowError(line, f"a field is longer than {MAX_FIELD_CHARS} characters")
    try:
        return ParsedRow(line, parse_row(fields, columns, width))
    except InvalidValue as error:
        return RowError(line, str(error))
