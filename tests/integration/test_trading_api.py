"""Quotes, trades, trade records and the book view over HTTP, on moto and DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from services.api.jsonio import encode_json
from shared.clock import utc_now
from shared.models import Side
from shared.repository.idempotency import IdempotencyStore, trade_fingerprint
from tests.conftest import Store
from tests.integration.conftest import TEST_ACCOUNT


def create(api: httpx.Client, order_id: int, side: int, amount: int, price: Any) -> None:
    body = {"symbol": "JPM", "side": side, "amount": amount, "price": price}
    response = api.post(
        f"/api/orders/{order_id}",
        content=encode_json(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text


def quote(api: httpx.Client, amount: int, side: int = 0, symbol: str = "JPM") -> dict[str, Any]:
    response = api.post("/api/price", json={"symbol": symbol, "side": side, "amount": amount})
    assert response.status_code == 200
    return dict(response.json(parse_float=Decimal))


def trade(
    api: httpx.Client, amount: int, side: int = 0, key: str | None = None, symbol: str = "JPM"
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    body = {"symbol": symbol, "side": side, "amount": amount}
    return api.post("/api/trade", json=body, headers=headers)


def book(api: httpx.Client, side: int = 0, symbol: str = "JPM") -> list[tuple[int, int]]:
    response = api.get(f"/api/orderbook/{symbol}", params={"side": side})
    assert response.status_code == 200
    return [(order["id"], order["amount"]) for order in response.json()["orders"]]


@contextmanager
def hook(store: Store, event: str, handler: Callable[..., Any]) -> Iterator[None]:
    events = store.clients.dynamodb.meta.events
    events.register(event, handler)
    try:
        yield
    finally:
        events.unregister(event, handler)


@pytest.fixture
def seeded(api: httpx.Client) -> httpx.Client:
    """The seed's JPM side-0 book: 20 @ 20 (order 1), then 10 @ 21 (order 4)."""
    create(api, 1, 0, 20, 20)
    create(api, 4, 0, 10, 21)
    return api


def test_seed_example_quote_is_442(seeded: httpx.Client) -> None:
    body = quote(seeded, 22)
    assert body["price"] == 442
    assert body["successful"] is True
    assert body["reason"] is None
    assert body["timestamp"].endswith("Z")


def test_trade_price_alias_answers_like_price(seeded: httpx.Client) -> None:
    alias = seeded.post("/api/trade/price", json={"symbol": "jpm", "side": "Buy", "amount": 22})
    assert alias.json()["price"] == 442


def test_sell_side_walks_highest_price_first(api: httpx.Client) -> None:
    create(api, 1, 1, 5, 10)
    create(api, 2, 1, 5, 30)
    create(api, 3, 1, 5, 20)
    assert book(api, side=1) == [(2, 5), (3, 5), (1, 5)]
    assert quote(api, 7, side=1)["price"] == 5 * 30 + 2 * 20


def test_equal_prices_fill_oldest_first(api: httpx.Client) -> None:
    create(api, 1, 0, 5, 20)
    create(api, 2, 0, 5, 20)
    create(api, 3, 0, 5, 20)
    fills = trade(api, 7).json()["fills"]
    assert [(f["orderId"], f["amount"]) for f in fills] == [(1, 5), (2, 2)]
    assert book(api) == [(2, 3), (3, 5)]


def test_patched_price_resorts_the_book_and_the_quote(seeded: httpx.Client) -> None:
    assert seeded.patch("/api/orders/1", json={"price": 22}).status_code == 200
    assert book(seeded) == [(4, 10), (1, 20)]
    assert quote(seeded, 22)["price"] == 10 * 21 + 12 * 22


def test_amount_decrease_keeps_priority_and_increase_loses_it(api: httpx.Client) -> None:
    create(api, 1, 0, 5, 20)
    create(api, 2, 0, 5, 20)
    api.patch("/api/orders/1", json={"amount": 3})
    assert book(api) == [(1, 3), (2, 5)]
    api.patch("/api/orders/1", json={"amount": 4})
    assert book(api) == [(2, 5), (1, 4)]


def test_partial_fill_keeps_priority(api: httpx.Client) -> None:
    create(api, 1, 0, 5, 20)
    create(api, 2, 0, 5, 20)
    trade(api, 2)
    assert book(api) == [(1, 3), (2, 5)]


def test_decimal_prices_are_summed_exactly(api: httpx.Client) -> None:
    create(api, 1, 0, 3, Decimal("0.00000001"))
    create(api, 2, 0, 9007199254740991, Decimal("999999999999.99999999"))
    body = quote(api, 9007199254740991)
    # In 1e-8 units with Python ints: Decimal's default 28-digit context would round this sum.
    units = 3 * 1 + (9007199254740991 - 3) * 99999999999999999999
    integral, fraction = format(body["price"], "f").split(".")
    assert integral + fraction.ljust(8, "0") == str(units)
    assert len(str(units)) == 36


def test_quote_for_too_thin_book_is_unsuccessful_with_the_available_amount(
    seeded: httpx.Client,
) -> None:
    body = quote(seeded, 31)
    assert (body["successful"], body["price"]) == (False, None)
    assert "30 available of 31" in body["reason"]


def test_trade_fills_best_first_and_reduces_the_orders(seeded: httpx.Client) -> None:
    response = trade(seeded, 22)
    body = response.json()
    assert response.status_code == 200
    assert (body["successful"], body["price"], body["reason"]) == (True, 442, None)
    assert body["fills"] == [
        {"orderId": 1, "amount": 20, "price": 20},
        {"orderId": 4, "amount": 2, "price": 21},
    ]
    assert seeded.get("/api/orders/1").status_code == 404
    assert seeded.get("/api/orders/4").json()["amount"] == 8


def test_unfillable_trade_changes_nothing(seeded: httpx.Client) -> None:
    body = trade(seeded, 31).json()
    assert (body["successful"], body["price"], body["fills"], body["tradeId"]) == (
        False,
        None,
        [],
        None,
    )
    assert "30 available" in body["reason"]
    assert book(seeded) == [(1, 20), (4, 10)]


def test_quote_equals_the_trade_that_follows_it(api: httpx.Client) -> None:
    for order_id, price in enumerate(["20.5", "20.25", "19.125", "20.25", "21"], start=1):
        create(api, order_id, 0, order_id, Decimal(price))
    quoted = quote(api, 9)["price"]
    assert trade(api, 9).json(parse_float=Decimal)["price"] == quoted


def test_trade_record_is_readable_by_id(seeded: httpx.Client) -> None:
    placed = trade(seeded, 22).json()
    record = seeded.get(f"/api/trades/{placed['tradeId']}")
    assert record.status_code == 200
    assert record.json() == {
        "tradeId": placed["tradeId"],
        "symbol": "JPM",
        "side": 0,
        "amount": 22,
        "price": 442,
        "fills": placed["fills"],
        "timestamp": placed["timestamp"],
    }


def test_unknown_trade_is_404(api: httpx.Client) -> None:
    assert api.get(f"/api/trades/{'a' * 32}").status_code == 404


def test_trade_needing_more_orders_than_a_transaction_holds_is_refused(api: httpx.Client) -> None:
    for order_id in range(1, 100):
        create(api, order_id, 1, 1, 50)
    body = trade(api, 99, side=1).json()
    assert body["successful"] is False
    assert "98 resting orders" in body["reason"]
    assert len(book(api, side=1)) == 99
    assert trade(api, 98, side=1).json()["successful"] is True
    assert book(api, side=1) == [(99, 1)]


def test_order_book_view_respects_depth_and_empty_books(seeded: httpx.Client) -> None:
    response = seeded.get("/api/orderbook/jpm", params={"side": 0, "depth": 1})
    assert response.json() == {
        "symbol": "JPM",
        "side": 0,
        "orders": [{"id": 1, "amount": 20, "price": 20}],
    }
    assert book(seeded, side=1) == []
    assert book(seeded, symbol="NONE") == []


@pytest.mark.parametrize("query", ["", "?side=2", "?side=x", "?side=0&depth=0"])
def test_order_book_view_rejects_missing_or_bad_parameters(api: httpx.Client, query: str) -> None:
    assert api.get(f"/api/orderbook/JPM{query}").status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "JPM", "side": 0},
        {"symbol": "JPM", "side": 0, "amount": 0},
        {"symbol": "JPM", "side": 3, "amount": 1},
        {"symbol": "JPM", "side": 0, "amount": 1, "price": 5},
    ],
)
@pytest.mark.parametrize("path", ["/api/price", "/api/trade/price", "/api/trade"])
def test_invalid_quote_or_trade_body_is_422(api: httpx.Client, path: str, body: object) -> None:
    assert api.post(path, json=body).status_code == 422


def test_idempotent_repeat_returns_the_first_response_and_changes_nothing(
    seeded: httpx.Client,
) -> None:
    first = trade(seeded, 22, key="order-42")
    create(seeded, 7, 0, 100, 1)
    repeat = trade(seeded, 22, key="order-42")
    assert repeat.status_code == 200
    assert repeat.text == first.text
    assert book(seeded) == [(7, 100), (4, 8)]


def test_idempotent_repeat_of_an_unsuccessful_trade_stays_unsuccessful(
    seeded: httpx.Client,
) -> None:
    first = trade(seeded, 50, key="too-big")
    create(seeded, 7, 0, 100, 1)
    repeat = trade(seeded, 50, key="too-big")
    assert repeat.text == first.text
    assert repeat.json()["successful"] is False
    assert book(seeded) == [(7, 100), (1, 20), (4, 10)]


def test_same_key_with_a_different_body_is_422_and_changes_nothing(
    seeded: httpx.Client,
) -> None:
    trade(seeded, 2, key="k")
    response = trade(seeded, 3, key="k")
    assert response.status_code == 422
    assert "different request body" in response.json()["detail"]
    assert book(seeded) == [(1, 18), (4, 10)]


def test_same_key_while_the_first_is_in_flight_is_409(seeded: httpx.Client, store: Store) -> None:
    in_flight = IdempotencyStore(store.clients.dynamodb, store.settings.table_name)
    in_flight.claim(TEST_ACCOUNT, "busy", trade_fingerprint("JPM", Side.BUY, 2), utc_now())
    response = trade(seeded, 2, key="busy")
    assert response.status_code == 409
    assert book(seeded) == [(1, 20), (4, 10)]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "naïve"])
def test_idempotency_key_outside_printable_ascii_is_422(seeded: httpx.Client, key: str) -> None:
    headers = [("Idempotency-Key", key.encode("utf-8"))]
    response = seeded.post(
        "/api/trade",
        json={"symbol": "JPM", "side": 0, "amount": 1},
        headers=headers,  # type: ignore[arg-type]
    )
    assert response.status_code == 422
    assert book(seeded) == [(1, 20), (4, 10)]


def test_concurrent_trades_fill_each_order_exactly_once(api: httpx.Client, store: Store) -> None:
    for order_id in range(1, 21):
        create(api, order_id, 0, 1, 10 + order_id % 3)

    def one_trade(_: int) -> dict[str, Any]:
        response = trade(api, 1)
        assert response.status_code == 200, response.text
        return dict(response.json())

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(one_trade, range(40)))
    successful = [o for o in outcomes if o["successful"]]
    assert len(successful) == 20
    filled = [fill["orderId"] for o in successful for fill in o["fills"]]
    assert sorted(filled) == list(range(1, 21))
    assert all("0 available" in o["reason"] for o in outcomes if not o["successful"])
    assert book(api) == []


def test_stale_index_entry_for_a_filled_order_is_skipped_on_retry(
    seeded: httpx.Client, store: Store
) -> None:
    ghost = {
        "id": {"N": "99"},
        "amount": {"N": "50"},
        "price": {"N": "1"},
        "version": {"N": "1"},
        "token": {"S": "0000000000000000"},
    }
    injected = False

    def stale_page(parsed: dict[str, Any], **_: Any) -> None:
        # The index still lists order 99, already filled and deleted from the table.
        nonlocal injected
        if not injected and "Items" in parsed:
            injected = True
            parsed["Items"].insert(0, ghost)

    with hook(store, "after-call.dynamodb.Query", stale_page):
        body = trade(seeded, 22).json()
    assert injected
    assert body["successful"] is True
    assert [f["orderId"] for f in body["fills"]] == [1, 4]


def test_stale_index_amount_is_corrected_from_the_failed_condition(
    seeded: httpx.Client, store: Store
) -> None:
    seeded.patch("/api/orders/1", json={"amount": 5})  # keeps priority, version 2
    injected = False

    def stale_page(parsed: dict[str, Any], **_: Any) -> None:
        nonlocal injected
        if not injected and parsed.get("Items"):
            injected = True
            first = parsed["Items"][0]
            first["amount"], first["version"] = {"N": "20"}, {"N": "1"}

    with hook(store, "after-call.dynamodb.Query", stale_page):
        body = trade(seeded, 7).json()
    assert injected
    assert [(f["orderId"], f["amount"]) for f in body["fills"]] == [(1, 5), (4, 2)]
    assert body["price"] == 5 * 20 + 2 * 21


@pytest.mark.parametrize(
    "error",
    [
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
        },
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
    ],
    ids=["transaction-conflict", "throttled"],
)
def test_transient_transaction_failure_is_retried_not_reported(
    seeded: httpx.Client, store: Store, error: dict[str, Any]
) -> None:
    failures = 0

    def fail_twice(**_: Any) -> None:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    with hook(store, "before-call.dynamodb.TransactWriteItems", fail_twice):
        body = trade(seeded, 22).json()
    assert failures == 2
    assert (body["successful"], body["price"]) == (True, 442)
    assert book(seeded) == [(4, 8)]


def test_a_quote_reads_one_small_page_of_only_the_walked_attributes(
    seeded: httpx.Client, store: Store
) -> None:
    queries: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        queries.append(dict(params))

    with hook(store, "provide-client-params.dynamodb.Query", record):
        assert quote(seeded, 22)["price"] == 442
    assert len(queries) == 1
    assert queries[0]["Limit"] <= 15  # never the 1 MB page the original read
    names = queries[0]["ExpressionAttributeNames"]
    projected = {names[part.strip()] for part in queries[0]["ProjectionExpression"].split(",")}
    assert projected == {"id", "amount", "price", "version", "token"}
