"""One representative request per protected endpoint, for outage checks (test and bench)."""

from __future__ import annotations

ORDER = {"symbol": "JPM", "side": 0, "amount": 20, "price": 20}
QUOTE = {"symbol": "JPM", "side": 0, "amount": 5}
MISSING_ID = "a" * 32

# (method, path, JSON body); order 1 is expected to exist, order 2 not.
EVERY_ENDPOINT: tuple[tuple[str, str, object], ...] = (
    ("GET", "/api/orders/1", None),
    ("POST", "/api/orders/2", ORDER),
    ("PATCH", "/api/orders/1", {"amount": 5}),
    ("DELETE", "/api/orders/1", None),
    ("POST", "/api/price", QUOTE),
    ("POST", "/api/trade", QUOTE),
    ("GET", f"/api/trades/{MISSING_ID}", None),
    ("GET", "/api/orderbook/JPM?side=0", None),
    ("POST", "/api/orders/batch-load", None),
    ("GET", f"/api/orders/batch-load/{MISSING_ID}", None),
    ("GET", "/api/keys", None),
    ("GET", "/api/health", None),
)
