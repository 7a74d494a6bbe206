"""Metrics on both engines: each request's log line is an Embedded Metric Format document, and
`GET /api/metrics` (when turned on) shows the same counters in Prometheus text format."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx
import pytest

from services.api.settings import ApiSettings
from services.logs import JsonFormatter
from services.metrics import API_METRICS
from shared.access import Scope
from tests.integration.conftest import ApiFactory, bearer


def request_lines(caplog: pytest.LogCaptureFixture, request_id: str) -> list[logging.LogRecord]:
    deadline = time.monotonic() + 5  # the line is written once the response has been sent
    while time.monotonic() < deadline:
        found = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
        if found:
            return found
        time.sleep(0.01)
    return []


def test_each_request_line_is_an_emf_document_of_the_api_metrics(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="om.api.request")
    api.get("/api/orders/3", headers={"X-Request-ID": "emf-404"})
    (record,) = request_lines(caplog, "emf-404")
    line = json.loads(JsonFormatter().format(record))
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "OrderManagement"
    assert directive["Dimensions"] == [["Service"]]
    assert [m["Name"] for m in directive["Metrics"]] == [m.name for m in API_METRICS]
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert line["Service"] == "api"
    assert (line["Requests"], line["Status4xx"], line["Status5xx"]) == (1, 1, 0)
    assert line["Latency"] == line["duration_ms"] > 0
    assert (line["path"], line["status"]) == ("/api/orders/3", 404)


def test_the_prometheus_view_counts_requests_and_trades_for_admins_only(
    serve_api: ApiFactory, api_settings: ApiSettings, mint_key: Callable[..., str]
) -> None:
    http = serve_api(settings=api_settings.model_copy(update={"metrics_endpoint": True}))
    http.post("/api/orders/1", json={"symbol": "JPM", "side": 0, "amount": 5, "price": 20})
    http.post("/api/trade", json={"symbol": "JPM", "side": 0, "amount": 2})
    http.post("/api/trade", json={"symbol": "JPM", "side": 0, "amount": 50})
    http.get("/api/orders/99")
    time.sleep(0.2)  # the last request is counted once its response is out
    text = http.get("/api/metrics").text
    totals = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert totals["om_requests_total"] >= 4
    assert totals["om_trades_executed_total"] == 1
    assert totals["om_trades_unfilled_total"] == 1
    assert totals["om_status4xx_total"] >= 1
    assert totals['om_latency_milliseconds_bucket{le="+Inf"}'] == totals["om_requests_total"]
    reader = bearer(mint_key("desk", Scope.READ))
    assert http.get("/api/metrics", headers=reader).status_code == 403


def test_the_prometheus_view_is_not_served_unless_turned_on(api: httpx.Client) -> None:
    assert api.get("/api/metrics").status_code in (404, 405)
