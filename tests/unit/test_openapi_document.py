"""The OpenAPI document says what the wire carries: bodies, statuses, headers, examples, links.

The contract tests (tests/contract) check the document against the running API; these check the
document itself, and that a body built from domain values is valid against the schema the
document gives it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from services.api.jsonio import decode_json, encode_json
from services.api.schemas.responses import (
    BatchLoadStatusBody,
    KeyIssued,
    KeyPublic,
    OrderBookBody,
    OrderPublic,
    QuoteBody,
    ResponseBody,
    TradeBody,
    TradeRecordBody,
)
from shared.access import ApiKey, Scope
from shared.models import (
    BatchLoad,
    BookEntry,
    LoadCounts,
    LoadStatus,
    Order,
    Quote,
    RowError,
    Side,
    Trade,
    TradeFill,
    TradeOutcome,
)
from tests.support.offline_api import offline_api

MOMENT = datetime(2024, 5, 16, 10, 45, 21, 148624, tzinfo=UTC)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PUBLIC = {("get", "/api/health"), ("get", "/api/health/live")}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """The API with every optional endpoint; nothing here reaches the (unreachable) table."""
    return offline_api(table_name="om-docs", metrics_endpoint=True)


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    """The document as served: JSON text, read back."""
    served: dict[str, Any] = json.loads(json.dumps(app.openapi()))
    return served


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema` whose `#/components/...` references resolve in `document`."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    anchored = json.loads(json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/'))
    return Draft202012Validator(anchored, registry=registry)


def test_every_success_body_is_a_schema_not_a_string(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert len(success) == 1, (method, path)
        content = next(iter(success.values()))["content"]
        if path == "/api/metrics":
            assert list(content) == ["text/plain; version=0.0.4; charset=utf-8"]
            continue
        assert "$ref" in content["application/json"]["schema"], (method, path)


def test_every_protected_operation_lists_401_403_and_503_with_their_headers(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        responses = operation["responses"]
        if path == "/api/health/live":  # touches nothing that could fail
            assert set(responses) == {"200"}
            continue
        assert responses["503"]["headers"]["Retry-After"]["required"] is True, (method, path)
        if (method, path) in PUBLIC:
            assert "security" not in operation and "401" not in responses
            continue
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        assert operation["x-required-scope"] in {scope.value for scope in Scope}
        assert {"401", "403"} <= set(responses), (method, path)
        assert "WWW-Authenticate" in responses["401"]["headers"]


def test_every_operation_with_a_body_or_parameters_lists_what_rejects_them(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        responses = set(operation["responses"])
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= responses, (method, path)
        if operation.get("parameters"):
            assert "422" in responses, (method, path)
        assert "500" not in responses, (method, path)


def test_order_responses_carry_etag_and_a_create_its_location(document: dict[str, Any]) -> None:
    item = document["paths"]["/api/orders/{id}"]
    for method, code in (("get", "200"), ("post", "201"), ("patch", "200"), ("delete", "200")):
        assert item[method]["responses"][code]["headers"]["ETag"]["required"] is True, method
    assert "Location" in item["post"]["responses"]["201"]["headers"]
    assert {"403", "404", "412"} <= set(item["patch"]["responses"])
    assert "409" in item["post"]["responses"]


def test_every_example_validates_against_its_own_schema(document: dict[str, Any]) -> None:
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validator(document, schema).validate(example)
            checked += 1
        for field, property_schema in schema.get("properties", {}).items():
            for example in property_schema.get("examples", []):
                assert validator(document, property_schema).is_valid(example), (name, field)
                checked += 1
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            for example in parameter["schema"].get("examples", []):
                assert validator(document, parameter["schema"]).is_valid(example), (method, path)
                checked += 1
    assert checked > 20


def test_every_link_names_an_operation_and_its_parameters(document: dict[str, Any]) -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    links = 0
    for _, _, operation in operations(document):
        for response in operation["responses"].values():
            for name, target in response.get("links", {}).items():
                called = by_id[target["operationId"]]
                names = {
                    f"{parameter['in']}.{parameter['name']}"
                    for parameter in called.get("parameters", [])
                }
                for parameter in target.get("parameters", {}):
                    qualified = parameter if "." in parameter else f"path.{parameter}"
                    assert qualified in names, (name, parameter)
                assert "requestBody" not in target or "requestBody" in called, name
                links += 1
    assert links >= 10


def test_operation_ids_are_the_route_names_and_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert {"get_order", "create_order", "trade", "get_trade", "batch_load_status"} <= set(ids)


def test_only_referenced_component_schemas_are_listed(document: dict[str, Any]) -> None:
    text = json.dumps(document["paths"]) + json.dumps(document["components"]["schemas"])
    for name in document["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text, name


def test_side_on_input_allows_exactly_zero_one_and_the_names(document: dict[str, Any]) -> None:
    side = validator(
        document, document["components"]["schemas"]["TradeRequest"]["properties"]["side"]
    )
    for value in (0, 1, "Buy", "sell", " SELL\n"):
        assert side.is_valid(value), value
    for value in ("", 2, -1, "x", "Bid", True, None, "0"):
        assert not side.is_valid(value), value


def test_patch_body_allows_neither_null_nor_nothing(document: dict[str, Any]) -> None:
    update = validator(document, document["components"]["schemas"]["OrderUpdate"])
    assert update.is_valid({"price": 20.5})
    for body in ({}, {"price": None}, {"amount": None}, {"amount": 1, "side": 0}):
        assert not update.is_valid(body), body


ORDER = Order(
    id=9_007_199_254_740_991,
    symbol="BRK.A",
    side=Side.SELL,
    amount=3,
    price=Decimal("123456789012.12345678"),
    sequence="s",
    version=2,
    created_at=MOMENT,
    updated_at=MOMENT,
    account="desk-7",
    token="0123456789abcdef",
)
TRADE = Trade(
    id="3f1c9a7e0b5d4e2f8a6c1d9b7e5f3a21",
    symbol="JPM",
    side=Side.BUY,
    amount=22,
    price=Decimal(442),
    fills=(TradeFill(1, 20, Decimal(20)), TradeFill(4, 2, Decimal("0.00000001"))),
    timestamp=MOMENT,
    account="desk-7",
)
LOAD = BatchLoad(
    id="6f1d3c0e9b2a4f5e8d7c6b5a49382716",
    status=LoadStatus.FAILED,
    bucket="b",
    object_key="uploads/x.csv",
    created_at=MOMENT,
    url_expires_at=MOMENT,
    account="desk-7",
    started_at=MOMENT,
    counts=LoadCounts(read=3, loaded=1, rejected=2),
    errors=(RowError(2, "price: must be greater than 0"),),
    reason="too many rejected rows",
    error_report_key="reports/x.errors.csv",
)
KEY = ApiKey(
    key_id="5b0e1c2d3f4a5b6c7d8e9f01",
    verifier="v",
    account="desk-7",
    scopes=frozenset({Scope.TRADE, Scope.READ}),
    name="algo 1",
    created_at=MOMENT,
    revoked_at=MOMENT,
)
BODIES: list[ResponseBody] = [
    OrderPublic.of(ORDER),
    QuoteBody.of(Quote("JPM", Side.BUY, 22, MOMENT, price=Decimal("442.5"))),
    QuoteBody.of(Quote("JPM", Side.BUY, 31, MOMENT, reason="not enough resting quantity")),
    TradeBody.of(TradeOutcome.executed(TRADE)),
    TradeBody.of(TradeOutcome("JPM", Side.BUY, 31, MOMENT, reason="not enough")),
    TradeRecordBody.of(TRADE),
    OrderBookBody.of("JPM", Side.BUY, [BookEntry(1, 20, Decimal(20))]),
    BatchLoadStatusBody.of(LOAD),
    KeyPublic.of(KEY),
    KeyIssued.of(KEY, "om_secret"),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: type(body).__name__)
def test_a_body_built_from_domain_values_is_valid_against_its_documented_schema(
    document: dict[str, Any], body: ResponseBody
) -> None:
    wire = decode_json(encode_json(body))
    schema = document["components"]["schemas"][type(body).__name__]
    validator(document, schema).validate(wire)  # Decimal prices count as JSON numbers
    assert set(wire) == set(schema["properties"]) == set(schema["required"])


def test_bodies_keep_prices_exact_and_integral_prices_integers() -> None:
    assert b'"price":123456789012.12345678' in encode_json(OrderPublic.of(ORDER))
    assert b'"price":442,' in encode_json(TradeRecordBody.of(TRADE))
    assert b'"price":0.00000001}' in encode_json(TradeRecordBody.of(TRADE))
    assert b'"timestamp":"2024-05-16T10:45:21.148624Z"' in encode_json(TradeRecordBody.of(TRADE))
