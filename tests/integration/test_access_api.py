"""Access on both engines: every endpoint × {no key, a key without its scope, another account,
admin}, the key endpoints, and the ways a key stops working."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from services.api.settings import ApiSettings
from shared.access import ALL_SCOPES, Scope, key_id_of
from tests.integration.conftest import ApiFactory, bearer

ORDER = {"symbol": "JPM", "side": 0, "amount": 20, "price": 20}
QUOTE = {"symbol": "JPM", "side": 0, "amount": 1}


@dataclass
class World:
    """An API with alice's order 1, trade and load, and keys for alice, bob and an admin."""

    http: httpx.Client
    keys: dict[str, str]
    trade_id: str
    load_id: str
    mint: Callable[..., str]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who])


@pytest.fixture
def world(serve_api: ApiFactory, mint_key: Callable[..., str]) -> World:
    http = serve_api(key=None)
    keys = {
        "alice": mint_key("alice", *(ALL_SCOPES - {Scope.ADMIN})),
        "bob": mint_key("bob", *(ALL_SCOPES - {Scope.ADMIN})),
        "admin": mint_key("ops", Scope.ADMIN),
    }
    alice = bearer(keys["alice"])
    assert http.post("/api/orders/1", json=ORDER, headers=alice).status_code == 201
    assert http.post("/api/orders/2", json=ORDER, headers=alice).status_code == 201
    trade = http.post("/api/trade", json=QUOTE, headers=alice).json()
    load = http.post("/api/orders/batch-load", headers=alice).json()
    return World(http, keys, trade["tradeId"], load["id"], mint_key)


# (method, path template, body, scope needed)
ENDPOINTS = [
    ("GET", "/api/orders/1", None, Scope.READ),
    ("POST", "/api/orders/77", ORDER, Scope.ORDERS),
    ("PATCH", "/api/orders/1", {"amount": 5}, Scope.ORDERS),
    ("DELETE", "/api/orders/2", None, Scope.ORDERS),
    ("POST", "/api/price", QUOTE, Scope.READ),
    ("POST", "/api/trade/price", QUOTE, Scope.READ),
    ("POST", "/api/trade", QUOTE, Scope.TRADE),
    ("GET", "/api/trades/{trade}", None, Scope.READ),
    ("GET", "/api/orderbook/JPM?side=0", None, Scope.READ),
    ("POST", "/api/orders/batch-load", None, Scope.LOAD),
    ("GET", "/api/orders/batch-load/{load}", None, Scope.READ),
    ("POST", "/api/keys", {"account": "carol", "scopes": ["read"]}, Scope.ADMIN),
    ("GET", "/api/keys", None, Scope.ADMIN),
    ("DELETE", "/api/keys/{bob_key}", None, Scope.ADMIN),
]
IDS = [f"{method} {path}" for method, path, _, _ in ENDPOINTS]


def call(
    world: World, method: str, path: str, body: object, headers: dict[str, str]
) -> httpx.Response:
    url = path.format(
        trade=world.trade_id, load=world.load_id, bob_key=key_id_of(world.keys["bob"])
    )
    return world.http.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_without_a_key_every_endpoint_is_401_with_a_bearer_challenge(
    world: World, method: str, path: str, body: object, scope: Scope
) -> None:
    for headers in ({}, {"Authorization": "Bearer " + "x" * 40}, {"Authorization": "Basic a"}):
        response = call(world, method, path, body, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "detail" in response.json()


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_a_key_without_the_scope_is_403_before_the_body_is_read(
    world: World, method: str, path: str, body: object, scope: Scope
) -> None:
    others = ALL_SCOPES - {scope, Scope.ADMIN}
    key = world.mint("alice", *others) if others else world.mint("alice", Scope.READ)
    response = call(world, method, path, {"not": "valid"} if body else None, bearer(key))
    assert response.status_code == 403, response.text
    assert scope.value in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_an_admin_may_do_everything(
    world: World, method: str, path: str, body: object, scope: Scope
) -> None:
    response = call(world, method, path, body, world.as_("admin"))
    assert response.status_code in (200, 201), response.text


def test_anonymous_callers_learn_nothing_not_even_which_paths_exist(world: World) -> None:
    for method, path in [("GET", "/api/nothing-here"), ("PATCH", "/api/orders/batch-load")]:
        response = world.http.request(method, path)
        assert response.status_code == 401
    oversized = world.http.post("/api/orders/1", content=b"x" * 100_000)
    assert oversized.status_code == 401


def test_public_endpoints_need_no_key(world: World) -> None:
    for path in ("/api/health/live", "/api/health", "/api/openapi.json", "/api/swagger"):
        assert world.http.get(path).status_code == 200, path


def test_another_accounts_order_may_be_read_but_not_changed(world: World) -> None:
    bob = world.as_("bob")
    assert world.http.get("/api/orders/1", headers=bob).json()["amount"] == 19
    for method, body in (("PATCH", {"amount": 5}), ("DELETE", None)):
        response = world.http.request(method, "/api/orders/1", json=body, headers=bob)
        assert response.status_code == 403
        assert "another account" in response.json()["detail"]
    assert world.http.get("/api/orders/1", headers=bob).json()["amount"] == 19
    assert "account" not in world.http.get("/api/orders/1", headers=bob).json()


def test_trades_and_loads_of_another_account_are_404_to_it(world: World) -> None:
    bob = world.as_("bob")
    assert world.http.get(f"/api/trades/{world.trade_id}", headers=bob).status_code == 404
    assert world.http.get(f"/api/orders/batch-load/{world.load_id}", headers=bob).status_code == 404
    alice = world.as_("alice")
    assert world.http.get(f"/api/trades/{world.trade_id}", headers=alice).status_code == 200


def test_trades_consume_every_accounts_orders(world: World) -> None:
    bob = world.as_("bob")
    assert (
        world.http.post("/api/orders/5", json={**ORDER, "price": 1}, headers=bob).status_code == 201
    )
    body = world.http.post("/api/trade", json={**QUOTE, "amount": 25}, headers=bob).json()
    assert body["successful"] is True
    assert {fill["orderId"] for fill in body["fills"]} == {5, 1}


def test_idempotency_keys_are_per_account(world: World) -> None:
    same_key = {"Idempotency-Key": "shared-key"}
    alice = world.http.post("/api/trade", json=QUOTE, headers={**world.as_("alice"), **same_key})
    bob = world.http.post(
        "/api/trade", json={**QUOTE, "amount": 2}, headers={**world.as_("bob"), **same_key}
    )
    assert alice.status_code == bob.status_code == 200
    assert alice.json()["tradeId"] != bob.json()["tradeId"]


def test_a_revoked_key_is_refused_at_once_by_the_process_that_revoked_it(world: World) -> None:
    bob = world.as_("bob")
    assert world.http.get("/api/orders/1", headers=bob).status_code == 200  # now cached
    revoked = world.http.delete(
        f"/api/keys/{key_id_of(world.keys['bob'])}", headers=world.as_("admin")
    )
    assert revoked.status_code == 200
    assert revoked.json()["revokedAt"] is not None
    assert "key" not in revoked.json()
    assert world.http.get("/api/orders/1", headers=bob).status_code == 401


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_lets_go(
    serve_api: ApiFactory, api_settings: ApiSettings, mint_key: Callable[..., str]
) -> None:
    key = mint_key("desk", Scope.READ)
    uncached = serve_api(settings=api_settings.model_copy(update={"api_key_cache_seconds": 0}))
    replica = serve_api(key=None)  # another process, with the default 60 s cache
    admin = bearer(mint_key("ops", Scope.ADMIN))
    assert uncached.get("/api/orders/1", headers=bearer(key)).status_code == 404
    assert replica.get("/api/orders/1", headers=bearer(key)).status_code == 404
    assert replica.delete(f"/api/keys/{key_id_of(key)}", headers=admin).status_code == 200
    assert uncached.get("/api/orders/1", headers=bearer(key)).status_code == 401


def test_keys_are_listed_without_secrets_and_bad_requests_are_4xx(world: World) -> None:
    admin = world.as_("admin")
    made = world.http.post(
        "/api/keys",
        json={"account": "carol", "scopes": ["read", "trade"], "name": "algo"},
        headers=admin,
    )
    assert made.status_code == 201
    issued = made.json()
    assert set(issued) == {"keyId", "key", "account", "scopes", "name", "createdAt"}
    assert issued["keyId"] == key_id_of(issued["key"]) and issued["scopes"] == ["read", "trade"]
    assert world.http.get("/api/orders/1", headers=bearer(issued["key"])).status_code == 200
    listed = world.http.get("/api/keys", headers=admin).json()["keys"]
    assert issued["keyId"] in {entry["keyId"] for entry in listed}
    assert all("key" not in entry and "verifier" not in entry for entry in listed)
    bad_bodies = [
        {"account": "no spaces", "scopes": ["read"]},
        {"account": "a" * 65, "scopes": ["read"]},
        {"account": "carol", "scopes": ["read", "root"]},
        {"account": "carol", "scopes": []},
        {"account": "carol", "scopes": "read"},
        {"account": "carol"},
        {"account": "carol", "scopes": ["read"], "extra": 1},
    ]
    for body in bad_bodies:
        response = world.http.post("/api/keys", json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
    assert world.http.delete("/api/keys/" + "0" * 24, headers=admin).status_code == 404
    assert world.http.delete("/api/keys/not-hex", headers=admin).status_code == 422
    first = world.http.delete(f"/api/keys/{issued['keyId']}", headers=admin)
    again = world.http.delete(f"/api/keys/{issued['keyId']}", headers=admin)
    assert (first.status_code, again.status_code) == (200, 409)
    assert len(world.http.get("/api/keys", headers=admin).json()["keys"]) == len(listed)
