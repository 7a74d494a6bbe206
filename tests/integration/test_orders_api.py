"""The order endpoints over HTTP (a real uvicorn), on moto and on DynamoDB Local."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal

import httpx
import pytest
from botocore.exceptions import ClientError

from services.api.settings import ApiSettings
from shared.models import Order, OrderDraft
from shared.repository import OrderRepository
from tests.conftest import Store
from tests.integration.conftest import ApiFactory

JPM = {"symbol": "JPM", "side": 0, "amount": 20, "price": 20}


def post(api: httpx.Client, order_id: int | str, body: object) -> httpx.Response:
    return api.post(f"/api/orders/{order_id}", json=body)


def post_raw(api: httpx.Client, path: str, raw: bytes, method: str = "POST") -> httpx.Response:
    return api.request(method, path, content=raw, headers={"content-type": "application/json"})


def test_create_returns_201_with_location_and_the_order(api: httpx.Client) -> None:
    response = post(api, 1, JPM)
    assert response.status_code == 201
    assert response.headers["location"] == "/api/orders/1"
    assert response.json() == {"id": 1, **JPM}


def test_created_order_is_readable(api: httpx.Client) -> None:
    post(api, 1, JPM)
    response = api.get("/api/orders/1")
    assert response.status_code == 200
    assert response.json() == {"id": 1, **JPM}


def test_integral_price_is_written_as_a_json_integer(api: httpx.Client) -> None:
    post_raw(api, "/api/orders/1", b'{"symbol":"JPM","side":0,"amount":20,"price":20.000}')
    assert api.get("/api/orders/1").text == (
        '{"id":1,"symbol":"JPM","side":0,"amount":20,"price":20}'
    )


def test_price_survives_the_round_trip_digit_for_digit(api: httpx.Client) -> None:
    raw = b'{"symbol":"JPM","side":1,"amount":9007199254740991,"price":123456789012.12345678}'
    assert post_raw(api, "/api/orders/9007199254740991", raw).status_code == 201
    text = api.get("/api/orders/9007199254740991").text
    assert '"price":123456789012.12345678' in text
    assert '"amount":9007199254740991' in text
    assert json.loads(text, parse_float=Decimal)["price"] == Decimal("123456789012.12345678")


def test_tiny_price_is_written_without_exponent(api: httpx.Client) -> None:
    post_raw(api, "/api/orders/1", b'{"symbol":"JPM","side":0,"amount":1,"price":1E-8}')
    assert '"price":0.00000001' in api.get("/api/orders/1").text


def test_symbol_is_trimmed_and_upper_cased_and_side_names_accepted(api: httpx.Client) -> None:
    response = post(api, 1, {"symbol": " brk.a ", "side": "sell", "amount": 5, "price": 510500})
    assert response.json() == {"id": 1, "symbol": "BRK.A", "side": 1, "amount": 5, "price": 510500}


def test_create_of_existing_id_is_409_and_leaves_it_untouched(api: httpx.Client) -> None:
    post(api, 1, JPM)
    response = post(api, 1, {**JPM, "amount": 99})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert api.get("/api/orders/1").json()["amount"] == 20


def test_get_missing_order_is_404_with_detail(api: httpx.Client) -> None:
    response = api.get("/api/orders/42")
    assert response.status_code == 404
    assert response.json() == {"detail": "order 42 does not exist"}


@pytest.mark.parametrize("order_id", ["0", "-5", "9007199254740992", "abc", "1.5"])
def test_out_of_range_or_non_integer_path_id_is_422(api: httpx.Client, order_id: str) -> None:
    response = api.get(f"/api/orders/{order_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "id"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"symbol":"JPM","side":0,"amount":true,"price":20}', "amount"),
        (b'{"symbol":"JPM","side":0,"amount":20.5,"price":20}', "amount"),
        (b'{"symbol":"JPM","side":0,"amount":0,"price":20}', "amount"),
        (b'{"symbol":"JPM","side":0,"amount":9007199254740992,"price":20}', "amount"),
        (b'{"symbol":"JPM","side":0,"amount":"20","price":20}', "amount"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":1e400}', "price"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":0}', "price"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":-1}', "price"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":1000000000000.00000001}', "price"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":1.123456789}', "price"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":"20"}', "price"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":false}', "price"),
        (b'{"symbol":"JPM","side":2,"amount":20,"price":20}', "side"),
        (b'{"symbol":"JPM","side":"Hold","amount":20,"price":20}', "side"),
        (b'{"symbol":"JPM","side":true,"amount":20,"price":20}', "side"),
        (b'{"symbol":"","side":0,"amount":20,"price":20}', "symbol"),
        (b'{"symbol":"A/B","side":0,"amount":20,"price":20}', "symbol"),
        (b'{"symbol":"ABCDEFGHIJKLMNOPQ","side":0,"amount":20,"price":20}', "symbol"),
        (b'{"symbol":7,"side":0,"amount":20,"price":20}', "symbol"),
        (b'{"side":0,"amount":20,"price":20}', "symbol"),
        (b'{"symbol":"JPM","side":0,"amount":20,"price":20,"prize":1}', "prize"),
    ],
)
def test_invalid_create_body_is_422_naming_the_field(
    api: httpx.Client, raw: bytes, field: str
) -> None:
    response = post_raw(api, "/api/orders/1", raw)
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", field] in locations
    assert api.get("/api/orders/1").status_code == 404


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'"x"', b"null", b'{"price": NaN}', b'{"price": Infinity}', b"\xff\xfe"],
)
def test_malformed_body_is_a_4xx_json_error_never_5xx(api: httpx.Client, raw: bytes) -> None:
    response = post_raw(api, "/api/orders/1", raw)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


def test_absurdly_nested_body_is_a_4xx(api: httpx.Client) -> None:
    response = post_raw(api, "/api/orders/1", b"[" * 50_000 + b"]" * 50_000)
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


def test_oversized_body_is_413_json(api: httpx.Client) -> None:
    response = post_raw(api, "/api/orders/1", b" " * 100_000 + b"{}")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_patch_changes_price_and_amount(api: httpx.Client) -> None:
    post(api, 1, JPM)
    response = api.patch("/api/orders/1", json={"amount": 25, "price": 20.5})
    assert response.status_code == 200
    assert response.json() == {**JPM, "id": 1, "amount": 25, "price": 20.5}
    assert api.get("/api/orders/1").json()["price"] == 20.5


@pytest.mark.parametrize(
    "body", [{}, {"amount": None}, {"amount": 0}, {"price": -1}, {"symbol": "X"}, {"side": 1}]
)
def test_invalid_patch_is_422_and_changes_nothing(api: httpx.Client, body: object) -> None:
    post(api, 1, JPM)
    response = api.patch("/api/orders/1", json=body)
    assert response.status_code == 422
    assert api.get("/api/orders/1").json() == {"id": 1, **JPM}


def test_patch_of_missing_order_is_404(api: httpx.Client) -> None:
    assert api.patch("/api/orders/5", json={"amount": 1}).status_code == 404
    assert api.get("/api/orders/5").status_code == 404


def test_delete_returns_the_removed_order_then_404(api: httpx.Client) -> None:
    post(api, 1, JPM)
    response = api.delete("/api/orders/1")
    assert response.status_code == 200
    assert response.json() == {"id": 1, **JPM}
    assert api.delete("/api/orders/1").status_code == 404
    assert api.get("/api/orders/1").status_code == 404


def test_health_is_ok_when_the_table_is_readable(api: httpx.Client, store: Store) -> None:
    response = api.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["table"] == store.settings.table_name


def test_health_is_503_with_retry_after_when_the_table_is_missing(
    serve_api: ApiFactory, api_settings: ApiSettings
) -> None:
    missing = api_settings.model_copy(update={"table_name": "no-such-table"})
    response = serve_api(settings=missing).get("/api/health")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(api_settings.retry_after_seconds)
    assert "detail" in response.json()


def test_throttled_store_is_503_with_retry_after(api: httpx.Client, store: Store) -> None:
    def throttle(**_: object) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "no"}}, "GetItem")

    events = store.clients.dynamodb.meta.events
    events.register("before-call.dynamodb.GetItem", throttle)
    try:
        response = api.get("/api/orders/1")
    finally:
        events.unregister("before-call.dynamodb.GetItem", throttle)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "ThrottlingException" in response.json()["detail"]


class ExplodingRepository(OrderRepository):
    """A repository with a bug: every read raises something nobody handles."""

    def get(self, order_id: int) -> Order:
        raise RuntimeError("secret internals /etc/passwd line 42")

    def create(self, draft: OrderDraft) -> Order:
        raise KeyError("boom")


def test_unexpected_error_is_a_json_500_without_traceback(
    serve_api: ApiFactory, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    repository = ExplodingRepository(store.clients.dynamodb, store.settings.table_name)
    api = serve_api(orders_repository=repository)
    response = api.get("/api/orders/1")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error"
    assert body["requestId"] == response.headers["x-request-id"]
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)


def test_every_response_carries_a_request_id_and_echoes_a_sane_one(api: httpx.Client) -> None:
    generated = api.get("/api/orders/1").headers["x-request-id"]
    assert len(generated) == 32
    echoed = api.get("/api/orders/1", headers={"X-Request-ID": "client-abc.1"})
    assert echoed.headers["x-request-id"] == "client-abc.1"
    replaced = api.get("/api/orders/1", headers={"X-Request-ID": "bad id\twith junk"})
    assert replaced.headers["x-request-id"] != "bad id\twith junk"


def test_each_request_logs_one_line_with_its_request_id(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="om.api.request")
    response = api.get("/api/orders/3", headers={"X-Request-ID": "trace-me"})

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if getattr(r, "request_id", None) == "trace-me"]

    # The line is written once the response has been sent: give the server thread a moment.
    deadline = time.monotonic() + 5
    while not lines() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert len(lines()) == 1
    assert (lines()[0].method, lines()[0].path, lines()[0].status) == ("GET", "/api/orders/3", 404)
    assert response.status_code == 404


def test_swagger_ui_and_openapi_document_are_served(api: httpx.Client) -> None:
    assert "swagger" in api.get("/api/swagger").text.lower()
    spec = api.get("/api/openapi.json").json()
    operations = spec["paths"]["/api/orders/{id}"]
    assert set(operations) == {"get", "post", "patch", "delete"}
    assert "/api/health" in spec["paths"]
    create = spec["components"]["schemas"]["OrderCreate"]
    assert create["examples"] == [{"symbol": "JPM", "side": 0, "amount": 20, "price": 20}]
    assert create["properties"]["price"]["type"] == "number"
    assert "409" in operations["post"]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/orders/1", "DELETE, GET, PATCH, POST"),
        ("PUT", "/api/orders/1", "DELETE, GET, PATCH, POST"),
        ("HEAD", "/api/orders/1", "DELETE, GET, PATCH, POST"),
        # A literal path wins over the /api/orders/{id} template: "batch-load" is not an order id.
        ("PATCH", "/api/orders/batch-load", "POST"),
        ("GET", "/api/orders/batch-load", "POST"),
        ("DELETE", "/api/orders/batch-load/" + "a" * 32, "GET"),
        ("GET", "/api/trade", "POST"),
        ("TRACE", "/api/keys", "GET, POST"),
        ("POST", "/api/health", "GET"),
        ("POST", "/api/swagger", "GET, HEAD"),
    ],
)
def test_unsupported_method_is_405_allowing_every_method_of_the_path(
    api: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert method in response.json()["detail"]


def test_unsupported_method_from_an_anonymous_caller_is_401_first(
    serve_api: ApiFactory,
) -> None:
    response = serve_api(key=None).options("/api/orders/1")
    assert response.status_code == 401
    assert "allow" not in response.headers
