"""A loaded row's item JSON: the reference encoder, and a fast path for plain, canonical lines.

`LoadedOrderEncoder.encode` is the definition: a validated row (`ParsedRow`) becomes an `Order`
and `codecs.order_item_json_parts` writes it. Almost every line of a real file is plain — no
quotes, the values already in the form the table stores — and the same steps then cost more than
the rest of the loader together. `FastRows` takes such a line straight to the same JSON text: one
regular expression, built from the file's header, recognises a line whose every field is in its
canonical form (an id or amount without sign, blanks or leading zeros; an upper-case symbol; the
side as a name or digit; a price with at most 8 decimals), and the values are written from the
matched text. It declines everything else, and the caller then reads the line with the `csv`
module and validates it with `shared.validation` as before, so every rejected row is reported by
the one validator with its line and reason. The fast path only ever accepts a line that the full
path accepts, with the same item JSON: `tests/unit/test_fast_rows.py` checks it for arbitrary
lines, and for each rule's boundaries.
"""

from __future__ import annotations

import re
from typing import Final

from services.loader.csv_rows import MAX_FIELD_CHARS, EncodedRow, ParsedRow
from shared import keys, validation
from shared.clock import format_timestamp
from shared.codecs import order_item_json_parts, order_item_json_text
from shared.models import BatchLoad, Order, Side
from shared.repository.uploads import UploadedObject


class LoadedOrderEncoder:
    """Item JSON for a loaded row, derived only from the load, the upload and the row.

    Time priority comes from the upload's time plus the row's line (file order), the generator
    id from its ETag, `version` from the upload time in microseconds (far above any version an
    API-written order reaches) and the write token from the load id and the line, so every run
    of one load encodes a row identically.
    """

    def __init__(self, upload: UploadedObject, load: BatchLoad) -> None:
        self.account = load.account
        self._token_prefix = load.id[:12]
        seconds = int(upload.last_modified.timestamp())
        self._base_ns = seconds * 1_000_000_000
        hex_digits = "".join(c for c in upload.etag.lower() if c in "0123456789abcdef")
        self._generator_id = (hex_digits + "00000000")[:8]
        self.version = seconds * 1_000_000
        self._at = upload.last_modified
        self.at_text = format_timestamp(upload.last_modified)

    def sequence(self, line: int) -> str:
        """The time-priority stamp of the row on `line`."""
        return f"{self._base_ns + line:019d}.{self._generator_id}"

    def token(self, line: int) -> str:
        """The write token of the row on `line`."""
        return f"{self._token_prefix}{line:x}"

    def encode(self, row: ParsedRow) -> str:
        """The item JSON of a valid row; `row.line` orders it within its price level."""
        draft = row.draft
        order = Order(
            id=draft.id,
            symbol=draft.symbol,
            side=draft.side,
            amount=draft.amount,
            price=draft.price,
            sequence=self.sequence(row.line),
            version=self.version,
            created_at=self._at,
            updated_at=self._at,
            account=self.account,
            token=self.token(row.line),
        )
        return order_item_json_parts(order, created_text=self.at_text, updated_text=self.at_text)

    def fast_rows(self, columns: tuple[int, ...], width: int) -> FastRows:
        """The fast path for a file whose header has `width` fields, the required ones at
        `columns` (in `csv_rows.REQUIRED_COLUMNS` order)."""
        return FastRows(self, columns, width)


# Each required field in the one form the fast path takes, written from the rules' constants.
# Integers: digits without a sign or leading zero, no longer than the largest allowed value.
_ID = rf"[1-9][0-9]{{0,{len(str(validation.MAX_ORDER_ID)) - 1}}}"
_AMOUNT = rf"[1-9][0-9]{{0,{len(str(validation.MAX_AMOUNT)) - 1}}}"
# A symbol already as stored: the rule's own stored form, which `normalize_symbol` keeps as is.
_SYMBOL = validation.SYMBOL_PATTERN.removeprefix("^").removesuffix("$")
_SIDES: Final = {
    text: side
    for side in Side
    for text in (side.name.title(), side.name.lower(), side.name, str(int(side)))
}
# A price: a whole part without leading zeros (but "0") and up to PRICE_DECIMALS decimals.
_WHOLE = rf"0|[1-9][0-9]{{0,{len(str(int(validation.MAX_PRICE))) - 1}}}"
_PRICE = rf"(?P<whole>{_WHOLE})(?:\.(?P<fraction>[0-9]{{1,{validation.PRICE_DECIMALS}}}))?"
# Any other column: what the csv module reads as it stands (no quote, no line break), short
# enough to pass the field length check.
_OTHER = rf'[^,"\r\n]{{0,{MAX_FIELD_CHARS}}}'
_REQUIRED = (
    rf"(?P<id>{_ID})",
    rf"(?P<symbol>{_SYMBOL})",
    rf"(?P<side>{'|'.join(map(re.escape, _SIDES))})",
    rf"(?P<amount>{_AMOUNT})",
    _PRICE,
)
_LINE_END = r"(?:\r\n|\n|\r)?"
_GROUPS = ("id", "symbol", "side", "amount", "whole", "fraction")


class FastRows:
    """`(text, line)` → `(order id, item JSON, line)` for a plain line in canonical form, else
    None (the caller reads and validates the line the full way)."""

    def __init__(self, encoder: LoadedOrderEncoder, columns: tuple[int, ...], width: int) -> None:
        fields = [_OTHER] * width
        for position, pattern in zip(columns, _REQUIRED, strict=True):
            fields[position] = pattern
        line_pattern = re.compile(",".join(fields) + _LINE_END)
        self._match = line_pattern.fullmatch
        self._groups = tuple(line_pattern.groupindex[name] for name in _GROUPS)
        self._encoder = encoder

    def __call__(self, text: str, line: int) -> EncodedRow | None:
        found = self._match(text)
        if found is None:
            return None
        id_text, symbol, side_text, amount_text, whole, fraction = found.group(*self._groups)
        order_id = int(id_text)
        amount = int(amount_text)
        if order_id > validation.MAX_ORDER_ID or amount > validation.MAX_AMOUNT:
            return None
        if fraction is None:
            units = int(whole) * keys.PRICE_SCALE
            price_text = whole
        else:
            units = int(whole + fraction.ljust(validation.PRICE_DECIMALS, "0"))
            significant = fraction.rstrip("0")
            price_text = f"{whole}.{significant}" if significant else whole
        if not 0 < units <= keys.MAX_SCALED_PRICE:
            return None
        side = _SIDES[side_text]
        encoder = self._encoder
        sequence = encoder.sequence(line)
        item_json = order_item_json_text(
            order_id,
            symbol,
            side,
            amount,
            price_text,
            keys.book_sk_of_units(side, units, sequence),
            sequence,
            encoder.at_text,
            encoder.at_text,
            encoder.account,
            encoder.token(line),
            encoder.version,
        )
        return order_id, item_json, line
