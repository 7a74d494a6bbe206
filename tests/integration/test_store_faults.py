"""Issue 9's findings, each on both engines: every store error handled, ambiguous writes resolved,
the fill guard per incarnation, conditional requests, bounded amend retries.

Faults come from `tests.support.botocore_faults` on the real client: an error answered instead of
sending, or a write really sent and then answered with a 500 (botocore retries it, as it does on
AWS after a timeout, and the retry meets the first attempt's effect).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from shared.codecs import order_from_item
from shared.repository import OrderRepository
from tests.conftest import Store
from tests.support.botocore_faults import lose_response, refuse


def create(api: httpx.Client, order_id: int, amount: int, price: int | str) -> httpx.Response:
    body = {"symbol": "JPM", "side": 0, "amount": amount, "price": price}
    return api.post(f"/api/orders/{order_id}", json=body)


def trade(api: httpx.Client, amount: int, **headers: str) -> httpx.Response:
    return api.post(
        "/api/trade", json={"symbol": "JPM", "side": 0, "amount": amount}, headers=headers
    )


def book(api: httpx.Client) -> list[tuple[int, int]]:
    orders = api.get("/api/orderbook/JPM", params={"side": 0}).json()["orders"]
    return [(order["id"], order["amount"]) for order in orders]


def trade_records(store: Store) -> list[dict[str, Any]]:
    scan = store.clients.dynamodb.scan(TableName=store.settings.table_name)
    return [item for item in scan["Items"] if item["entity"]["S"] == "TRADE"]


# --- 1. every error an operation can return: a retry, a domain error or a 503 ------------------


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("PutItem", "TransactionConflictException", 400),
        ("PutItem", "ItemCollectionSizeLimitExceededException", 400),
        ("PutItem", "ReplicatedWriteConflictException", 400),
        ("PutItem", "RequestLimitExceeded", 400),
        ("PutItem", "ResourceNotFoundException", 400),
        ("PutItem", "ValidationException", 400),
        ("PutItem", "InternalServerError", 500),
        ("GetItem", "ProvisionedThroughputExceededException", 400),
        ("GetItem", "AccessDeniedException", 400),
        ("GetItem", "UnrecognizedClientException", 400),
        ("GetItem", "ServiceUnavailable", 503),
        ("UpdateItem", "TransactionConflictException", 400),
        ("UpdateItem", "ResourceNotFoundException", 400),
        ("TransactWriteItems", "TransactionInProgressException", 400),
        ("TransactWriteItems", "IdempotentParameterMismatchException", 400),
        ("TransactWriteItems", "ThrottlingException", 400),
        ("Query", "RequestLimitExceeded", 400),
        ("Query", "SomethingNewException", 400),
    ],
)
def test_every_store_error_is_a_503_with_retry_after_never_a_500(
    api: httpx.Client, store: Store, operation: str, code: str, status: int
) -> None:
    assert create(api, 1, 20, 20).status_code == 201
    requests = {
        "PutItem": lambda: create(api, 2, 5, 20),
        "GetItem": lambda: api.get("/api/orders/1"),
        "UpdateItem": lambda: api.delete("/api/orders/1"),
        "TransactWriteItems": lambda: trade(api, 3),
        "Query": lambda: api.get("/api/orderbook/JPM", params={"side": 0}),
    }
    with refuse(store, operation, code, status=status):
        response = requests[operation]()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert "detail" in response.json()


def test_a_write_meeting_a_running_transaction_is_retried_and_succeeds(
    api: httpx.Client, store: Store
) -> None:
    # AWS answers TransactionConflictException when a PutItem meets an item a trade is filling.
    with refuse(store, "PutItem", "TransactionConflictException", times=2) as refused:
        response = create(api, 1, 20, 20)
    assert refused == [2]
    assert response.status_code == 201
    assert api.get("/api/orders/1").json()["amount"] == 20


def test_a_delete_meeting_a_running_transaction_is_retried_and_succeeds(
    api: httpx.Client, store: Store
) -> None:
    assert create(api, 1, 20, 20).status_code == 201
    with refuse(store, "UpdateItem", "TransactionConflictException", times=1) as refused:
        response = api.delete("/api/orders/1")
    assert refused == [1]
    assert response.status_code == 200
    assert api.get("/api/orders/1").status_code == 404


def test_a_trade_whose_transaction_is_cancelled_by_a_conflict_is_replanned(
    api: httpx.Client, store: Store
) -> None:
    create(api, 1, 20, 20)
    reasons = [{"Code": "TransactionConflict"}, {"Code": "None"}]
    with refuse(
        store,
        "TransactWriteItems",
        "TransactionCanceledException",
        times=2,
        CancellationReasons=reasons,
    ) as refused:
        response = trade(api, 5)
    assert refused == [2]
    assert response.json()["successful"] is True
    assert book(api) == [(1, 15)]


# --- 2. a write whose response was lost is resolved, not guessed -------------------------------


def test_a_create_applied_but_answered_500_is_201_not_409(api: httpx.Client, store: Store) -> None:
    with lose_response(store, "PutItem") as lost:
        response = create(api, 1, 20, 20)
    assert lost == [1]
    assert response.status_code == 201, response.text
    assert response.json() == {"id": 1, "symbol": "JPM", "side": 0, "amount": 20, "price": 20}
    assert response.headers["ETag"] == api.get("/api/orders/1").headers["ETag"]


def test_an_amend_applied_but_answered_500_is_200_even_with_if_match(
    api: httpx.Client, store: Store
) -> None:
    etag = create(api, 1, 20, 20).headers["ETag"]
    with lose_response(store, "PutItem") as lost:
        response = api.patch("/api/orders/1", json={"amount": 5}, headers={"If-Match": etag})
    assert lost == [1]
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == 5


def test_a_delete_applied_but_answered_500_is_200_not_404(api: httpx.Client, store: Store) -> None:
    assert create(api, 1, 20, 20).status_code == 201
    with lose_response(store, "UpdateItem") as lost:
        response = api.delete("/api/orders/1")
    assert lost == [1]
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == 20
    assert api.get("/api/orders/1").status_code == 404


@pytest.mark.parametrize("idempotency_key", [None, "lost-once"])
def test_a_trade_committed_but_answered_500_is_reported_once_and_never_executed_twice(
    api: httpx.Client, store: Store, idempotency_key: str | None
) -> None:
    create(api, 1, 20, 20)
    create(api, 4, 10, 21)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    with lose_response(store, "TransactWriteItems") as lost:
        response = trade(api, 22, **headers)
    assert lost == [1]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["successful"] is True
    assert [(f["orderId"], f["amount"]) for f in body["fills"]] == [(1, 20), (4, 2)]
    assert book(api) == [(4, 8)]
    records = trade_records(store)
    assert [record["tradeId"]["S"] for record in records] == [body["tradeId"]]
    if idempotency_key:
        assert trade(api, 22, **headers).json() == body


def test_a_claim_applied_but_answered_500_is_still_ours(api: httpx.Client, store: Store) -> None:
    create(api, 1, 20, 20)
    with lose_response(store, "PutItem") as lost:
        response = trade(api, 5, **{"Idempotency-Key": "claim-lost"})
    assert lost == [1]
    assert response.status_code == 200, response.text
    assert response.json()["successful"] is True


# --- 3. the fill guard names the incarnation, not only the version ------------------------------


def test_a_stale_index_entry_of_an_earlier_incarnation_never_fills_the_new_order(
    api: httpx.Client, store: Store
) -> None:
    create(api, 1, 20, 20)
    table = store.settings.table_name
    first = store.clients.dynamodb.get_item(
        TableName=table, Key={"PK": {"S": "ORDER#1"}, "SK": {"S": "ORDER"}}
    )["Item"]
    assert api.delete("/api/orders/1").status_code == 200
    create(api, 1, 20, 50)  # same id, version 1 again, another price
    stale = {name: first[name] for name in ("id", "amount", "price", "version", "token")}
    injected = []

    def old_incarnation_first(parsed: dict[str, Any], **_: Any) -> None:
        if not injected and "Items" in parsed:
            injected.append(True)
            parsed["Items"].insert(0, stale)  # the index still lists the deleted incarnation

    events = store.clients.dynamodb.meta.events
    events.register("after-call.dynamodb.Query", old_incarnation_first)
    try:
        response = trade(api, 5)
    finally:
        events.unregister("after-call.dynamodb.Query", old_incarnation_first)
    assert injected
    body = response.json()
    assert body["successful"] is True
    assert [(f["orderId"], f["amount"], f["price"]) for f in body["fills"]] == [(1, 5, 50)]
    assert body["price"] == 250
    current = order_from_item(
        store.clients.dynamodb.get_item(
            TableName=table, Key={"PK": {"S": "ORDER#1"}, "SK": {"S": "ORDER"}}
        )["Item"]
    )
    assert (current.amount, current.price) == (15, Decimal(50))


# --- 5. conditional requests: ETag / If-Match -------------------------------------------------


def test_every_order_response_carries_an_etag_that_changes_with_every_change(
    api: httpx.Client,
) -> None:
    created = create(api, 1, 20, 20)
    read = api.get("/api/orders/1")
    assert created.headers["ETag"] == read.headers["ETag"]
    assert created.headers["ETag"].startswith('"') and created.headers["ETag"].endswith('"')
    amended = api.patch("/api/orders/1", json={"amount": 15})
    assert amended.headers["ETag"] != read.headers["ETag"]
    trade(api, 1)
    filled = api.get("/api/orders/1")
    assert filled.headers["ETag"] != amended.headers["ETag"]
    assert api.delete("/api/orders/1").headers["ETag"] == filled.headers["ETag"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_if_match_of_a_stale_revision_is_412_and_changes_nothing(
    api: httpx.Client, method: str
) -> None:
    stale = create(api, 1, 20, 20).headers["ETag"]
    trade(api, 3)  # a fill changes the revision
    current = api.get("/api/orders/1")
    response = api.request(
        method,
        "/api/orders/1",
        json={"amount": 15} if method == "PATCH" else None,
        headers={"If-Match": stale},
    )
    assert response.status_code == 412
    assert response.headers["ETag"] == current.headers["ETag"]
    assert "changed" in response.json()["detail"]
    assert api.get("/api/orders/1").json() == current.json()


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_if_match_of_the_current_revision_or_a_star_applies(api: httpx.Client, method: str) -> None:
    etag = create(api, 1, 20, 20).headers["ETag"]
    for condition in (f'"nope", {etag}', "*"):
        if method == "DELETE" and condition == "*":
            create(api, 2, 20, 20)
            response = api.delete("/api/orders/2", headers={"If-Match": condition})
        else:
            response = api.request(
                method,
                "/api/orders/1",
                json={"amount": 15} if method == "PATCH" else None,
                headers={"If-Match": condition},
            )
        assert response.status_code == 200, response.text


def test_if_match_on_a_missing_order_is_412_and_a_weak_tag_never_matches(
    api: httpx.Client,
) -> None:
    assert (
        api.patch("/api/orders/9", json={"amount": 1}, headers={"If-Match": "*"}).status_code == 412
    )
    etag = create(api, 1, 20, 20).headers["ETag"]
    weak = api.patch("/api/orders/1", json={"amount": 1}, headers={"If-Match": f"W/{etag}"})
    assert weak.status_code == 412


@pytest.mark.parametrize("value", ["no-quotes", '"unterminated', '"a", b'])
def test_a_malformed_if_match_is_422(api: httpx.Client, value: str) -> None:
    create(api, 1, 20, 20)
    response = api.patch("/api/orders/1", json={"amount": 1}, headers={"If-Match": value})
    assert response.status_code == 422
    assert "If-Match" in str(response.json()["detail"])


def test_an_amend_that_keeps_losing_the_race_stops_at_its_deadline_with_a_503(
    store: Store,
) -> None:
    from shared.errors import StoreBusy
    from shared.models import OrderDraft, Side
    from shared.request_context import request_scope
    from shared.retry import RetryPolicy

    orders = OrderRepository(
        store.clients.dynamodb, store.settings.table_name, retry=RetryPolicy(deadline_seconds=0.3)
    )
    orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    with (
        refuse(store, "PutItem", "ConditionalCheckFailedException") as refused,
        request_scope(5.0),
        pytest.raises(StoreBusy),
    ):
        orders.amend(1, amount=5, price=None)
    assert refused[0] > 1  # retried with backoff, then gave up at the deadline
    assert orders.get(1).amount == 20


def test_a_late_duplicate_of_a_create_cannot_bring_back_an_order_that_left_the_book(
    api: httpx.Client, store: Store
) -> None:
    # A create retried after a timeout succeeds, the order is traded away, and only then does the
    # first attempt arrive: it must not resurrect the order (found by bench/faults.py).
    sent: list[bytes] = []

    def keep_a_copy(request: Any, **_: Any) -> None:
        if "PutItem" in str(request.headers.get("X-Amz-Target", "")):
            sent.append(request.body)

    events = store.clients.dynamodb.meta.events
    events.register_first("before-send.dynamodb", keep_a_copy)
    try:
        assert create(api, 1, 5, 20).status_code == 201
    finally:
        events.unregister("before-send.dynamodb", keep_a_copy)
    assert trade(api, 5).json()["successful"] is True
    # DynamoDB's JSON protocol uses the API's own parameter names: the body is the call.
    with pytest.raises(ClientError) as refused:
        store.clients.dynamodb.put_item(**json.loads(sent[0]))
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert api.get("/api/orders/1").status_code == 404
    assert book(api) == []
