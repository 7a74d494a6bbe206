"""The loader's fast path (`FastRows`, `read_encoded_orders`) against the full one.

The full path is the definition: `read_orders` (csv module + `shared.validation`) and
`LoadedOrderEncoder.encode` (an `Order` through `codecs.order_item_json_parts`). The fast path may
decline any line; whatever it accepts must be a line the full path reads as one valid row, with
the same order id, item JSON and line. Lines are generated around every rule's boundaries (signs,
blanks, leading zeros, case, lengths, the largest values, decimals, quotes, line breaks, other
Unicode digits) so that a fast path accepting one form too many fails here.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.loader.csv_rows import (
    EncodedRow,
    NotAnOrdersFile,
    ParsedRow,
    read_encoded_orders,
    read_orders,
)
from services.loader.encoding import FastRows, LoadedOrderEncoder
from shared import keys
from shared.models import RowError, Side
from shared.repository.uploads import UploadedObject
from shared.validation import MAX_AMOUNT, MAX_ORDER_ID
from tests.unit.strategies import price_units
from tests.unit.test_loader_job import LOAD, UPLOAD_TIME

UPLOAD = UploadedObject("bucket", "uploads/a.csv", 1234, UPLOAD_TIME, '"0123456789abcdef"')
ENCODER = LoadedOrderEncoder(UPLOAD, LOAD)
HEADER = "orderId,symbol,side,amount,price"
COLUMNS = ("orderId", "symbol", "side", "amount", "price")

Row = ParsedRow | RowError | EncodedRow


def stream(text: str) -> io.TextIOWrapper:
    """`text` opened as the job opens its download."""
    return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8-sig", newline="")


def full(text: str) -> list[Row] | str:
    """The full path over a file: rows with items encoded the reference way, or the error."""
    try:
        return [
            (row.draft.id, ENCODER.encode(row), row.line) if isinstance(row, ParsedRow) else row
            for row in read_orders(stream(text))
        ]
    except NotAnOrdersFile as error:
        return f"NotAnOrdersFile: {error}"


def fast(text: str) -> list[Row] | str:
    """The fast path over the same file, fallbacks encoded the reference way."""
    try:
        return [
            (row.draft.id, ENCODER.encode(row), row.line) if isinstance(row, ParsedRow) else row
            for row in read_encoded_orders(stream(text), ENCODER.fast_rows)
        ]
    except NotAnOrdersFile as error:
        return f"NotAnOrdersFile: {error}"


# --- cells near every rule's boundary -------------------------------------------------------------

_ODD = st.sampled_from(
    ["", " ", "\t", "+", "-", "0", "00", "_", ".", ",", '"', "\r", "\n", "\x00", "é", "٣", "1_0"]
)
_noise = st.text(alphabet='0123456789 +-.,"\r\n\tabAB_xé٣\x00', max_size=6)


def _integers(maximum: int) -> st.SearchStrategy[str]:
    near = st.sampled_from([0, 1, 2, 9, 10, maximum - 1, maximum, maximum + 1, 10 * maximum])
    return st.one_of(
        st.integers(-3, 10**17).map(str),
        near.map(str),
        st.tuples(_ODD, near.map(str), _ODD).map("".join),
        _noise,
    )


def _price_text(units: int, decimals: int) -> str:
    whole, fraction = divmod(units, 10**8)
    digits = f"{fraction:08d}"[:decimals] if decimals <= 8 else f"{fraction:08d}" + "0"
    return f"{whole}.{digits}" if decimals else str(whole)


_prices = st.one_of(
    st.builds(_price_text, price_units, st.integers(0, 9)),
    st.builds(_price_text, st.sampled_from([0, 10**20, 10**20 + 1, 10**21]), st.integers(0, 9)),
    st.tuples(_ODD, st.builds(_price_text, price_units, st.integers(0, 9)), _ODD).map("".join),
    st.from_regex(r"[+-]?0{0,2}[0-9]{0,14}(\.[0-9]{0,10})?(E[+-]?[0-9])?", fullmatch=True),
    _noise,
)
_symbols = st.one_of(
    st.from_regex(r"[A-Za-z0-9._\-]{1,17}", fullmatch=True),
    st.tuples(_ODD, st.from_regex(r"[A-Z0-9]{1,16}", fullmatch=True), _ODD).map("".join),
    _noise,
)
_sides = st.one_of(
    st.sampled_from(["Buy", "Sell", "buy", "sell", "BUY", "SELL", "bUy", "0", "1", "2", "01"]),
    st.tuples(_ODD, st.sampled_from(["Buy", "Sell", "0", "1"]), _ODD).map("".join),
    _noise,
)
_extras = st.one_of(st.text(max_size=8), st.sampled_from(["", "x" * 10_000, "x" * 10_001, '"a,b"']))
_endings = st.sampled_from(["\n", "\r\n", "\r", "", "\n\n", " \n"])


@st.composite
def files(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(header with the columns in some order among extra ones, data lines with their endings)."""
    names = [*COLUMNS, *draw(st.lists(st.sampled_from(["note", "Extra", "x"]), max_size=2))]
    order = draw(st.permutations(names))
    cell = {
        "orderId": _integers(MAX_ORDER_ID),
        "symbol": _symbols,
        "side": _sides,
        "amount": _integers(MAX_AMOUNT),
        "price": _prices,
    }
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        cells = [draw(cell.get(name, _extras)) for name in order]
        if draw(st.booleans()):  # sometimes a field too few or too many
            cells = cells[:-1] if draw(st.booleans()) else [*cells, "more"]
        lines.append(",".join(cells) + draw(_endings))
    return ",".join(order) + "\n", lines


# --- the fast path agrees with the full one -------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(file=files())
@example(file=(HEADER + "\n", ["1,AAPL,Buy,10,20.50\n"]))
@example(file=(HEADER + "\n", ["9007199254740992,AAPL,Buy,10,20\n"]))
@example(file=(HEADER + "\n", ["1,AAPL,Buy,9007199254740992,20\n"]))
@example(file=(HEADER + "\n", ["1,AAPL,Sell,1,1000000000000.00000001\n"]))
@example(file=(HEADER + "\n", ["1,AAPL,Sell,1,0.000000001\n"]))
@example(file=(HEADER + "\n", ["1,AAPL,Sell,1,0.00\n"]))
@example(file=(HEADER + "\n", ["1,AAPL,Buy,1,1\n", '"2",AAPL,Buy,1,"1\n', '0"\n', "3,A,0,1,2"]))
def test_a_line_the_fast_path_encodes_is_one_valid_row_with_the_same_item_json(
    file: tuple[str, list[str]],
) -> None:
    header, lines = file
    columns_line = header.rstrip("\n").split(",")
    names = [name.lower() for name in columns_line]
    columns = tuple(names.index(name.lower()) for name in COLUMNS)
    path = FastRows(ENCODER, columns, len(names))
    for text in lines:
        encoded = path(text, 2)
        if encoded is not None:
            assert full(header + text) == [encoded]
    # And a whole file read with the fast path is the file read the full way.
    assert fast(header + "".join(lines)) == full(header + "".join(lines))


valid_lines = st.builds(
    lambda order_id, symbol, side, amount, units, decimals: (
        f"{order_id},{symbol},{side},{amount},{_price_text(units, decimals)}\n"
    ),
    st.integers(1, MAX_ORDER_ID),
    st.from_regex(r"[A-Z0-9._\-]{1,16}", fullmatch=True),
    st.sampled_from(["Buy", "Sell", "buy", "sell", "BUY", "SELL", "0", "1"]),
    st.integers(1, MAX_AMOUNT),
    price_units,
    st.integers(0, 8),
).filter(lambda line: Decimal(line.rsplit(",", 1)[1]) > 0)  # not cut down to a price of 0


@settings(max_examples=200, deadline=None)
@given(text=valid_lines, line=st.integers(2, 40))
def test_the_fast_path_takes_every_plain_canonical_row(text: str, line: int) -> None:
    encoded = FastRows(ENCODER, (0, 1, 2, 3, 4), 5)(text, line)
    assert encoded is not None
    [reference] = full(HEADER + "\n" + "\n" * (line - 2) + text)
    assert encoded == reference


@pytest.mark.parametrize(
    "text",
    [
        " 1,AAPL,Buy,10,20\n",  # blanks: valid, but the full path trims them
        "01,AAPL,Buy,10,20\n",
        "+1,AAPL,Buy,10,20\n",
        "1,aapl,Buy,10,20\n",
        "1,AAPL,bUy,10,20\n",
        "1,AAPL,Buy,10,020\n",
        "1,AAPL,Buy,10,20.\n",
        "1,AAPL,Buy,10,.5\n",
        '"1",AAPL,Buy,10,20\n',
        "1,AAPL,Buy,10\n",
        "1,AAPL,Buy,10,20,x\n",
    ],
)
def test_the_fast_path_leaves_other_spellings_to_the_full_path_which_reads_them(
    text: str,
) -> None:
    assert FastRows(ENCODER, (0, 1, 2, 3, 4), 5)(text, 2) is None
    assert fast(HEADER + "\n" + text) == full(HEADER + "\n" + text)


def test_line_numbers_after_a_record_spanning_lines_are_the_full_paths() -> None:
    text = HEADER + '\n1,AAPL,Buy,1,1\n2,"AA\nPL",Buy,1,1\n\n3,MSFT,Sell,2,2\n4,X,Buy,0,1\n'
    rows = fast(text)
    assert rows == full(text)
    assert [row[2] if isinstance(row, tuple) else row.line for row in rows] == [2, 3, 6, 7]
    assert isinstance(rows[2], tuple)  # the line after the quoted record took the fast path


def test_an_unreadable_quote_after_fast_lines_names_its_line_as_the_full_path_does() -> None:
    text = HEADER + '\n1,AAPL,Buy,1,1\n2,AAPL,Buy,1,"1"x\n'
    reported = fast(text)
    assert reported == full(text)
    assert isinstance(reported, str)
    assert reported.startswith("NotAnOrdersFile: line 3: not valid CSV")


@pytest.mark.parametrize("side", list(Side))
@given(units=price_units, sequence=st.from_regex(r"[0-9]{19}\.[0-9a-f]{8}", fullmatch=True))
def test_a_price_in_units_keys_like_the_same_decimal_price(
    side: Side, units: int, sequence: str
) -> None:
    price = Decimal(units).scaleb(-keys.PRICE_DECIMALS)
    assert keys.book_sk_of_units(side, units, sequence) == keys.book_sk(side, price, sequence)
