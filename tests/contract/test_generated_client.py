"""A client generated from `/api/openapi.json` at test time reads typed orders and trades.

datamodel-code-generator turns the document's schemas into pydantic models; `DocumentClient`
sends each call where the document says (operation id → method and path) and reads the answer
with the model the document names for that status. Nothing here is written by hand for one
operation, so a body documented as `{"type": "string"}`, a missing status or a field the wire
does not carry fails the test. (openapi-python-client would generate the request functions too,
but it pins typer below the version the `om` CLI runs on.)

The seed's example is driven through it: side-0 JPM orders 20 @ 20 and 10 @ 21, a quote for 22
is 442, a trade of 22 fills 20 @ 20 and 2 @ 21, and the trade is read back.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from services.api.jsonio import encode_json
from tests.contract.conftest import RunningApi

pytestmark = pytest.mark.parametrize("store", ["moto"], indirect=True)


def generate_models(document: dict[str, Any], folder: Path) -> ModuleType:
    """The pydantic models datamodel-code-generator makes of `document`, imported."""
    source = folder / "openapi.json"
    source.write_text(json.dumps(document))
    target = folder / "om_client_models.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(source),
            "--input-file-type",
            "openapi",
            "--output",
            str(target),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--target-python-version",
            "3.11",
            "--formatters",
            "ruff-format",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    spec = importlib.util.spec_from_file_location("om_client_models", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # pydantic resolves the models' postponed annotations through `sys.modules`.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class DocumentClient:
    """Calls operations by id, as the document describes them, with the generated models."""

    def __init__(self, http: httpx.Client, document: dict[str, Any], models: ModuleType) -> None:
        self.http = http
        self.models = models
        self.operations = {
            operation["operationId"]: (method, path, operation)
            for path, item in document["paths"].items()
            for method, operation in item.items()
        }

    def call(self, operation_id: str, body: BaseModel | None = None, **path: object) -> BaseModel:
        """Send the operation; the answer as the model its status is documented with."""
        method, template, operation = self.operations[operation_id]
        response = self.http.request(
            method,
            template.format(**path),
            # pydantic writes a Decimal as a JSON string; the API wants numbers, written exactly.
            content=encode_json(body.model_dump(exclude_none=True)) if body is not None else None,
            headers={"content-type": "application/json"} if body is not None else {},
        )
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, f"{operation_id}: undocumented {response.status_code}"
        reference = documented["content"]["application/json"]["schema"]["$ref"]
        model: type[BaseModel] = getattr(self.models, reference.rsplit("/", 1)[1])
        # Prices are decimals on the wire: read them as such, never through a binary float.
        return model.model_validate(json.loads(response.content, parse_float=Decimal))


@pytest.fixture
def client(running_api: RunningApi, tmp_path: Path) -> Any:
    """A `DocumentClient` on the running API, with models generated from its document."""
    with running_api.client() as http:
        document = http.get("/api/openapi.json").json()
        models = generate_models(document, tmp_path)
        try:
            yield DocumentClient(http, document, models)
        finally:
            sys.modules.pop(models.__name__, None)


def test_generated_models_carry_the_seed_example_as_typed_orders_and_trades(client: Any) -> None:
    models = client.models
    first = client.call(
        "create_order", models.OrderCreate(symbol="JPM", side=0, amount=20, price=20), id=1
    )
    client.call(
        "create_order", models.OrderCreate(symbol="jpm", side="Buy", amount=10, price=21), id=4
    )
    request = models.TradeRequest(symbol="JPM", side=0, amount=22)

    quote = client.call("price", request)
    trade = client.call("trade", request)
    record = client.call("get_trade", tradeId=trade.tradeId)
    rest = client.call("get_order", id=4)

    assert isinstance(first, models.OrderPublic)
    assert (first.id, first.symbol, first.side, first.amount, first.price) == (
        1,
        "JPM",
        models.Side(0),
        20,
        Decimal(20),
    )
    assert isinstance(quote, models.QuoteBody)
    assert (quote.successful, quote.price) == (True, Decimal(442))
    assert isinstance(trade, models.TradeBody)
    assert trade.successful and trade.price == Decimal(442)
    assert [(fill.orderId, fill.amount, fill.price) for fill in trade.fills] == [
        (1, 20, Decimal(20)),
        (4, 2, Decimal(21)),
    ]
    assert all(isinstance(fill, models.FillBody) for fill in trade.fills)
    assert isinstance(record, models.TradeRecordBody)
    assert (record.tradeId, record.price, record.fills) == (trade.tradeId, trade.price, trade.fills)
    assert record.timestamp == trade.timestamp and record.timestamp.utcoffset().total_seconds() == 0
    assert isinstance(rest, models.OrderPublic) and rest.amount == 8


def test_generated_models_read_an_exact_price_and_a_documented_error(client: Any) -> None:
    models = client.models
    price = Decimal("123456789012.12345678")
    created = client.call(
        "create_order", models.OrderCreate(symbol="JPM", side=1, amount=1, price=price), id=7
    )
    missing = client.call("get_order", id=8)
    invalid = client.call(
        "create_order", models.OrderCreate(symbol="JPM", side=1, amount=1, price=price), id=7
    )

    assert created.price == price
    assert isinstance(missing, models.ErrorBody) and "does not exist" in missing.detail
    assert isinstance(invalid, models.ErrorBody) and "already exists" in invalid.detail
