"""Request bodies: what clients send, validated from exactly-decoded JSON.

Unknown fields are rejected (422): a misspelt `"prize"` must not be silently ignored by a trading
API. Every example here is a body the service accepts (the contract tests send them).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, WithJsonSchema, field_validator, model_validator

from services.api.schemas.fields import (
    AMOUNT_SCHEMA,
    PRICE_INPUT_SCHEMA,
    Account,
    Amount,
    KeyName,
    Price,
    ScopesIn,
    SideIn,
    Symbol,
)


class OrderCreate(BaseModel):
    """Body of `POST /api/orders/{id}`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"symbol": "JPM", "side": 0, "amount": 20, "price": 20}]},
    )

    symbol: Symbol
    side: SideIn
    amount: Amount
    price: Price


class OrderUpdate(BaseModel):
    """Body of `PATCH /api/orders/{id}`: a new amount, a new price, or both.

    A field left out keeps its value; `null` is not a value (the schema says so: neither field is
    nullable, and at least one must be present).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"minProperties": 1, "examples": [{"amount": 25, "price": 20}]},
    )

    amount: Annotated[Amount | None, WithJsonSchema(AMOUNT_SCHEMA)] = None
    price: Annotated[Price | None, WithJsonSchema(PRICE_INPUT_SCHEMA)] = None

    @field_validator("amount", "price", mode="before")
    @classmethod
    def _null_is_not_a_value(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be a number, not null (leave the field out to keep it)")
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> OrderUpdate:
        if self.amount is None and self.price is None:
            raise ValueError("give at least one of 'amount' and 'price'")
        return self


class TradeRequest(BaseModel):
    """Body of `POST /api/price`, `POST /api/trade/price` and `POST /api/trade`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"symbol": "JPM", "side": 0, "amount": 22},
                {"symbol": "jpm", "side": "Buy", "amount": 5},
            ]
        },
    )

    symbol: Symbol
    side: SideIn
    amount: Amount


class KeyCreate(BaseModel):
    """Body of `POST /api/keys`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"account": "desk-7", "scopes": ["read", "trade"], "name": "algo 1"}]
        },
    )

    account: Account
    scopes: ScopesIn
    name: KeyName = ""
