"""The batch-load CSV reader: header rules, value rules per cell, line numbers as an editor shows.

Text reaches `read_orders` the way the job opens the download: a `utf-8-sig` text stream with
`newline=""`. `read` below builds such a stream from `str`; `read_bytes` from raw file bytes.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from services.loader.csv_rows import NotAnOrdersFile, ParsedRow, read_orders
from shared.models import OrderDraft, RowError, Side

HEADER = "orderId,symbol,side,amount,price"
SYMBOL_REASON = "symbol: must be 1-16 characters: letters, digits, '.', '-' or '_'"
SIDE_REASON = "side: must be Buy, Sell, 0 or 1"
ID_RANGE_REASON = "orderId: must be an integer from 1 to 9007199254740991"
AMOUNT_RANGE_REASON = "amount: must be an integer from 1 to 9007199254740991"
PRICE_RANGE_REASON = "price: must be greater than 0 and at most 1000000000000"


def read_bytes(data: bytes) -> list[ParsedRow | RowError]:
    """Rows of a file's bytes, decoded exactly as the load job decodes its download."""
    return list(read_orders(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")))


def read(text: str) -> list[ParsedRow | RowError]:
    """Rows of a file whose text is `text` (line endings kept as written)."""
    return read_bytes(text.encode())


def rows(*lines: str, header: str = HEADER) -> list[ParsedRow | RowError]:
    """Rows of a file made of `header` and `lines`, each ending in `\\n`."""
    return read("".join(f"{line}\n" for line in (header, *lines)))


def only(result: list[ParsedRow | RowError]) -> ParsedRow | RowError:
    assert len(result) == 1, result
    return result[0]


def draft(
    order_id: int = 1,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    amount: int = 10,
    price: str = "20",
) -> OrderDraft:
    return OrderDraft(id=order_id, symbol=symbol, side=side, amount=amount, price=Decimal(price))


# --- the header -----------------------------------------------------------------------------


def test_a_plain_file_yields_one_parsed_row_per_data_line_numbered_from_two() -> None:
    assert rows("1,AAPL,Buy,10,20", "2,MSFT,Sell,5,300.5") == [
        ParsedRow(2, draft()),
        ParsedRow(3, draft(2, "MSFT", Side.SELL, 5, "300.5")),
    ]


def test_columns_may_come_in_any_order() -> None:
    result = rows("20.5,Sell,MSFT,3,7", header="price,side,symbol,amount,orderId")
    assert result == [ParsedRow(2, draft(7, "MSFT", Side.SELL, 3, "20.5"))]


def test_header_names_ignore_case_and_surrounding_spaces() -> None:
    result = rows("7,msft,sell,3,20.5", header=" ORDERID ,Symbol, SIDE ,aMoUnT,  Price  ")
    assert result == [ParsedRow(2, draft(7, "MSFT", Side.SELL, 3, "20.5"))]


def test_extra_columns_are_ignored_wherever_they_stand() -> None:
    result = rows(
        "hello,1,AAPL,Buy,,10,20,world",
        header="note,orderId,symbol,side,comment,amount,price,trailer",
    )
    assert result == [ParsedRow(2, draft())]


@pytest.mark.parametrize("missing", ["orderId", "symbol", "side", "amount", "price"])
def test_header_without_a_required_column_is_not_an_orders_file_and_names_it(
    missing: str,
) -> None:
    header = ",".join(name for name in HEADER.split(",") if name != missing)
    with pytest.raises(NotAnOrdersFile, match=rf"line 1 .*missing {missing.lower()}\b"):
        rows("1,AAPL,Buy,10", header=header)


def test_header_missing_several_columns_names_each_of_them() -> None:
    with pytest.raises(NotAnOrdersFile, match="missing side, amount, price"):
        rows("1,AAPL", header="orderId,symbol")


def test_a_data_row_in_place_of_the_header_is_not_an_orders_file() -> None:
    with pytest.raises(NotAnOrdersFile, match="line 1 must be the header"):
        read("1,AAPL,Buy,10,20\n2,AAPL,Buy,10,20\n")


def test_semicolon_separated_file_is_not_an_orders_file() -> None:
    with pytest.raises(NotAnOrdersFile, match="missing orderid, symbol, side, amount, price"):
        read("orderId;symbol;side;amount;price\n1;AAPL;Buy;10;20\n")


def test_header_naming_a_required_column_twice_is_not_an_orders_file() -> None:
    with pytest.raises(NotAnOrdersFile, match="twice: orderid"):
        rows("1,AAPL,Buy,10,20,2", header=f"{HEADER},ORDERID")


def test_empty_file_is_not_an_orders_file() -> None:
    with pytest.raises(NotAnOrdersFile, match="empty"):
        read("")


def test_file_of_only_a_bom_is_not_an_orders_file() -> None:
    with pytest.raises(NotAnOrdersFile, match="empty"):
        read_bytes(b"\xef\xbb\xbf")


def test_blank_first_line_is_not_an_orders_file_because_line_one_must_be_the_header() -> None:
    with pytest.raises(NotAnOrdersFile, match="line 1 is blank; it must be the header"):
        read(f"\n{HEADER}\n1,AAPL,Buy,10,20\n")


@pytest.mark.parametrize("text", [f"{HEADER}\n", HEADER, f"{HEADER}\r\n", f"{HEADER}\n\n\n"])
def test_header_only_file_has_no_rows(text: str) -> None:
    assert read(text) == []


# --- encoding, line endings, CSV quoting ------------------------------------------------------


def test_leading_bom_is_tolerated() -> None:
    assert read_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n1,AAPL,Buy,10,20\n".encode()) == [
        ParsedRow(2, draft())
    ]


def test_crlf_line_endings_read_like_lf() -> None:
    text = f"{HEADER}\r\n1,AAPL,Buy,10,20\r\n\r\n2,MSFT,Sell,5,1\r\n"
    assert read(text) == read(text.replace("\r\n", "\n"))
    assert read(text) == [ParsedRow(2, draft()), ParsedRow(4, draft(2, "MSFT", Side.SELL, 5, "1"))]


def test_last_row_without_a_final_newline_is_read() -> None:
    assert read(f"{HEADER}\n1,AAPL,Buy,10,20") == [ParsedRow(2, draft())]


def test_quoted_fields_are_unquoted_before_validation() -> None:
    assert rows('"1","AAPL","Buy","10","20"') == [ParsedRow(2, draft())]


def test_a_quoted_comma_stays_inside_its_field() -> None:
    assert rows('1,"AA,PL",Buy,10,20', "2,AAPL,Buy,10,20") == [
        RowError(2, SYMBOL_REASON),
        ParsedRow(3, draft(2)),
    ]


def test_record_with_a_quoted_newline_is_reported_at_its_first_line() -> None:
    result = read(f'{HEADER}\n1,AAPL,Buy,10,20\n2,"AA\nPL",Buy,10,20\n3,AAPL,Buy,10,20\n')
    assert result == [
        ParsedRow(2, draft()),
        RowError(3, SYMBOL_REASON),
        ParsedRow(5, draft(3)),
    ]


def test_valid_record_spanning_lines_keeps_its_first_line() -> None:
    result = read(f'{HEADER}\n1,AAPL,Buy,10,"20\r\n"\n2,AAPL,Buy,10,20\n')
    assert result == [ParsedRow(2, draft()), ParsedRow(4, draft(2))]


def test_blank_lines_are_skipped_not_counted_and_do_not_shift_line_numbers() -> None:
    result = read(f"{HEADER}\n\n1,AAPL,Buy,10,20\n   \n\t\n\n2,AAPL,Buy,10,20\n\n")
    assert result == [ParsedRow(3, draft()), ParsedRow(7, draft(2))]


def test_unterminated_quote_makes_the_file_unreadable_from_its_line() -> None:
    text = f'{HEADER}\n1,AAPL,Buy,10,20\n2,AAPL,Buy,10,20\n3,"abc,Buy,10,20\n4,AAPL,Buy,10,20\n'
    with pytest.raises(NotAnOrdersFile, match=r"^line 4: not valid CSV"):
        read(text)


def test_unterminated_quote_in_the_header_is_not_an_orders_file_at_line_one() -> None:
    with pytest.raises(NotAnOrdersFile, match=r"^line 1 is not CSV"):
        read('"orderId,symbol,side,amount,price\n1,AAPL,Buy,10,20\n')


def test_text_after_a_closing_quote_is_not_csv_and_names_its_line() -> None:
    with pytest.raises(NotAnOrdersFile, match=r"^line 2: not valid CSV"):
        rows('1,"AA"PL,Buy,10,20')


def test_broken_quote_after_a_multiline_record_names_the_line_it_starts_on() -> None:
    text = f'{HEADER}\n1,"AA\n\nPL",Buy,10,20\n\n2,"abc,Buy,10,20\n'
    with pytest.raises(NotAnOrdersFile, match=r"^line 6: not valid CSV"):
        read(text)


def test_non_utf8_byte_raises_unicode_decode_error_which_the_job_maps_to_failed() -> None:
    # The job catches UnicodeDecodeError around read_orders and finishes the load FAILED with
    # "not UTF-8 text" (services/loader/job.py); the reader itself must not swallow it.
    data = f"{HEADER}\n1,AAPL,Buy,10,20\n".encode() + b"2,AA\xffPL,Buy,10,20\n"
    with pytest.raises(UnicodeDecodeError):
        read_bytes(data)


def test_latin1_encoded_file_is_not_silently_read() -> None:
    with pytest.raises(UnicodeDecodeError):
        read_bytes(f"{HEADER}\n1,CAFÉ,Buy,10,20\n".encode("latin-1"))


# --- row shape ------------------------------------------------------------------------------


def test_row_with_too_few_fields_is_a_row_error_and_later_rows_still_load() -> None:
    assert rows("1,AAPL,Buy,10", "2,AAPL,Buy,10,20") == [
        RowError(2, "expected 5 fields like the header, found 4"),
        ParsedRow(3, draft(2)),
    ]


def test_row_with_more_fields_than_the_header_is_a_row_error() -> None:
    # An unquoted thousands separator in the price shifts every later field: never guess.
    assert rows("1,AAPL,Buy,10,1,000") == [
        RowError(2, "expected 5 fields like the header, found 6")
    ]


def test_row_may_omit_trailing_extra_columns_when_every_required_field_is_present() -> None:
    assert rows("1,AAPL,Buy,10,20", header=f"{HEADER},note,comment") == [ParsedRow(2, draft())]


def test_row_missing_a_required_field_behind_extra_columns_is_a_row_error() -> None:
    result = rows("x,1,AAPL,Buy,10", header="note,orderId,symbol,side,amount,price")
    assert result == [RowError(2, "expected 6 fields like the header, found 5")]


def test_row_of_only_commas_is_a_row_error_not_a_blank_line() -> None:
    result = only(rows(",,,,"))
    assert isinstance(result, RowError)
    assert result.line == 2


def test_field_longer_than_the_limit_is_a_row_error_not_a_failed_file() -> None:
    assert rows(f"1,AAPL,Buy,10,{'9' * 10_001}", "2,AAPL,Buy,10,20") == [
        RowError(2, "a field is longer than 10000 characters"),
        ParsedRow(3, draft(2)),
    ]


def test_row_with_several_bad_fields_lists_every_one_in_column_order() -> None:
    result = only(rows("0,bad sym,hold,0,-1"))
    assert result == RowError(
        2,
        "; ".join(
            [ID_RANGE_REASON, SYMBOL_REASON, SIDE_REASON, AMOUNT_RANGE_REASON, PRICE_RANGE_REASON]
        ),
    )


def test_several_bad_fields_are_listed_in_contract_order_whatever_the_column_order() -> None:
    result = only(rows("-1,hold,bad sym,0,0", header="price,side,symbol,amount,orderId"))
    assert result == RowError(
        2,
        "; ".join(
            [ID_RANGE_REASON, SYMBOL_REASON, SIDE_REASON, AMOUNT_RANGE_REASON, PRICE_RANGE_REASON]
        ),
    )


def test_a_bad_row_does_not_stop_the_good_rows_around_it() -> None:
    result = rows("1,AAPL,Buy,10,20", "2,AAPL,Hold,10,20", "3,AAPL,Sell,10,20")
    assert result == [
        ParsedRow(2, draft()),
        RowError(3, SIDE_REASON),
        ParsedRow(4, draft(3, side=Side.SELL)),
    ]


def test_duplicate_ids_both_come_through_in_file_order() -> None:
    # Deduplication (last row wins) is the writer's job, not the reader's.
    assert rows("1,AAPL,Buy,10,20", "1,MSFT,Sell,3,4") == [
        ParsedRow(2, draft()),
        ParsedRow(3, draft(1, "MSFT", Side.SELL, 3, "4")),
    ]


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("Buy", Side.BUY),
        ("buy", Side.BUY),
        ("BUY", Side.BUY),
        ("SELL", Side.SELL),
        ("sElL", Side.SELL),
        ("0", Side.BUY),
        ("1", Side.SELL),
        (" Sell ", Side.SELL),
    ],
)
def test_side_accepts_buy_sell_in_any_case_and_zero_one(text: str, side: Side) -> None:
    assert only(rows(f"1,AAPL,{text},10,20")) == ParsedRow(2, draft(side=side))


@pytest.mark.parametrize("text", ["hold", "Hold", "2", "-1", "", "B", "S", "00", "01", "1.0"])
def test_side_outside_buy_sell_zero_one_is_a_row_error(text: str) -> None:
    assert only(rows(f"1,AAPL,{text},10,20")) == RowError(2, SIDE_REASON)


@pytest.mark.parametrize("text", ["\u00a0Buy", "Sell\u00a0", "\x0bSell", "\u20031"])
def test_side_trims_only_the_blanks_the_api_trims(text: str) -> None:
    # One rule for the API and the CSV (shared/validation.py): spaces, tabs, CR and LF only.
    assert only(rows(f'1,AAPL,"{text}",10,20')) == RowError(2, SIDE_REASON)


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        (" brk.a ", "BRK.A"),
        ("brk-b", "BRK-B"),
        ("a_1", "A_1"),
        ("X", "X"),
        ("A" * 16, "A" * 16),
    ],
)
def test_symbol_is_trimmed_and_upper_cased(text: str, symbol: str) -> None:
    assert only(rows(f"1,{text},Buy,10,20")) == ParsedRow(2, draft(symbol=symbol))


@pytest.mark.parametrize(
    "text", ["", "   ", "A" * 17, "BRK A", "$AAPL", "AA/PL", "ÄPPLE", "\uff21\uff21", "1\u0661"]
)
def test_symbol_with_invalid_characters_or_length_is_a_row_error(text: str) -> None:
    assert only(rows(f'1,"{text}",Buy,10,20')) == RowError(2, SYMBOL_REASON)


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("20", "20"),
        ("20.50", "20.5"),
        ("20.12345678", "20.12345678"),
        ("0.00000001", "0.00000001"),
        ("1000000000000", "1000000000000"),
        ("+5", "5"),
        (".5", "0.5"),
        (" 7.25 ", "7.25"),
        ("123456789012.12345678", "123456789012.12345678"),
    ],
)
def test_price_is_read_exactly_without_trailing_zeros(text: str, price: str) -> None:
    result = only(rows(f"1,AAPL,Buy,10,{text}"))
    assert isinstance(result, ParsedRow)
    assert result.draft.price == Decimal(price)
    assert format(result.draft.price, "f") == price  # no trailing zeros, as the item stores it


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e5", "price: must be a decimal number"),
        ('"1,000"', "price: must be a decimal number"),
        ("0x10", "price: must be a decimal number"),
        ("NaN", "price: must be a decimal number"),
        ("Infinity", "price: must be a decimal number"),
        ("", "price: must be a decimal number"),
        ("twenty", "price: must be a decimal number"),
        ("1_000", "price: must be a decimal number"),
        ("99999999999999999999999", PRICE_RANGE_REASON),
        ("1000000000000.00000001", PRICE_RANGE_REASON),
        ("0", PRICE_RANGE_REASON),
        ("-1", PRICE_RANGE_REASON),
        ("20.123456789", "price: must have at most 8 decimal places"),
        ("0.000000001", "price: must have at most 8 decimal places"),
    ],
)
def test_malformed_or_out_of_range_price_is_a_row_error_naming_why(text: str, reason: str) -> None:
    assert only(rows(f"1,AAPL,Buy,10,{text}")) == RowError(2, reason)


@pytest.mark.parametrize(
    ("text", "amount"),
    [("1", 1), ("+10", 10), ("007", 7), (" 42 ", 42), (str(2**53 - 1), 2**53 - 1)],
)
def test_amount_accepts_integers_up_to_two_to_the_53_minus_one(text: str, amount: int) -> None:
    assert only(rows(f"1,AAPL,Buy,{text},20")) == ParsedRow(2, draft(amount=amount))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", AMOUNT_RANGE_REASON),
        ("-1", AMOUNT_RANGE_REASON),
        (str(2**53), AMOUNT_RANGE_REASON),
        ("9" * 40, AMOUNT_RANGE_REASON),
        ("1.5", "amount: must be an integer"),
        ("10.0", "amount: must be an integer"),
        ("1e3", "amount: must be an integer"),
        ("", "amount: must be an integer"),
        ("ten", "amount: must be an integer"),
    ],
)
def test_amount_that_is_not_an_integer_in_range_is_a_row_error(text: str, reason: str) -> None:
    assert only(rows(f"1,AAPL,Buy,{text},20")) == RowError(2, reason)


@pytest.mark.parametrize(
    ("text", "order_id"), [("1", 1), ("+3", 3), (str(2**53 - 1), 2**53 - 1), (" 5 ", 5)]
)
def test_order_id_accepts_integers_from_one_to_two_to_the_53_minus_one(
    text: str, order_id: int
) -> None:
    assert only(rows(f"{text},AAPL,Buy,10,20")) == ParsedRow(2, draft(order_id))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", ID_RANGE_REASON),
        ("-5", ID_RANGE_REASON),
        (str(2**53), ID_RANGE_REASON),
        ("99999999999999999999999", ID_RANGE_REASON),
        ("1.0", "orderId: must be an integer"),
        ("", "orderId: must be an integer"),
        ("0x10", "orderId: must be an integer"),
    ],
)
def test_order_id_outside_the_safe_integer_range_is_a_row_error(text: str, reason: str) -> None:
    assert only(rows(f"{text},AAPL,Buy,10,20")) == RowError(2, reason)
