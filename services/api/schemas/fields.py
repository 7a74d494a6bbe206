"""The value types of request and response bodies, derived from the domain's rules.

A request field runs the domain's own check (`shared.validation`) and documents itself with a JSON
Schema built from the same constants and patterns, so the schema allows exactly what the check
accepts: a generated client, a fuzzer or a person reading Swagger UI sees the rule the service
applies. Response fields say what the service writes; their schemas are what a client may rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from shared import validation
from shared.access import KEY_ID_HEX_DIGITS, Scope
from shared.clock import format_timestamp
from shared.models import LoadStatus, Side

# Trade and load ids are `uuid4().hex`; key ids are a digest's first hex digits.
HEX_ID_PATTERN = r"^[0-9a-f]{32}$"
KEY_ID_PATTERN = rf"^[0-9a-f]{{{KEY_ID_HEX_DIGITS}}}$"
# `format_timestamp`'s shape: ISO 8601 UTC with microseconds and `Z`.
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
SIDE_DESCRIPTION = "0 = Buy, 1 = Sell"

ORDER_ID_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "maximum": validation.MAX_ORDER_ID,
    "description": "Order id, 1 … 2^53−1",
}
AMOUNT_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": validation.MAX_AMOUNT}
# `format: decimal` (OpenAPI format registry): a fixed-point number, so client generators pick an
# exact decimal type rather than a binary float.
PRICE_SCHEMA: dict[str, Any] = {
    "type": "number",
    "format": "decimal",
    "exclusiveMinimum": 0,
    "maximum": int(validation.MAX_PRICE),
    "description": (
        f"At most {validation.PRICE_DECIMALS} decimal places; read and written exactly "
        "(an integral price is a JSON integer)."
    ),
}
# What a client may send: `multipleOf` states the decimal places to a generator or validator.
# Not on the response side, where a validator's binary-float division would misjudge e.g. 20.1.
PRICE_INPUT_SCHEMA: dict[str, Any] = {**PRICE_SCHEMA, "multipleOf": float(validation.PRICE_STEP)}
SYMBOL_INPUT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": validation.SYMBOL_INPUT_PATTERN,
    "description": (
        f"1-{validation.SYMBOL_MAX_CHARS} letters, digits, '.', '-' or '_'; surrounding blanks "
        "are trimmed and it is stored upper-cased"
    ),
}
SYMBOL_SCHEMA: dict[str, Any] = {"type": "string", "pattern": validation.SYMBOL_PATTERN}
SIDE_INPUT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "enum": [int(side) for side in Side]},
        {"type": "string", "pattern": validation.SIDE_NAME_PATTERN},
    ],
    "description": f"{SIDE_DESCRIPTION}; the names Buy and Sell (any case) are accepted too",
}
SIDE_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "enum": [int(side) for side in Side],
    "description": SIDE_DESCRIPTION,
}
TIMESTAMP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": TIMESTAMP_PATTERN,
    "description": "ISO 8601 UTC with a Z suffix",
}


E = TypeVar("E", bound=Enum)


def _member_of(kind: type[E]) -> Callable[[Any], E]:
    """A plain validator for a response field holding an enum member.

    Plain (not pydantic's enum validation) so the schema is only the one the field declares: no
    enum class (with its docstring) leaks into the document as an unused component.
    """

    def check(value: Any) -> E:
        if not isinstance(value, kind):
            raise ValueError(f"must be a {kind.__name__}")
        return value

    return check


# Beyond every integer bound of the contract; a whole number past it is clamped here before
# `int()` (which would build a million-digit integer for 1E+1000000) and refused by the bound.
_WHOLE_NUMBER_LIMIT = Decimal(2**64)


def _whole_number(value: Any) -> int:
    """A JSON number without a fraction, as an `int`.

    `20`, `20.0` and `2E+1` are one number in JSON, and JSON Schema's `integer` accepts each, so
    the API does too; `20.5`, booleans and numeric strings are not integers.
    """
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be an integer")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError("must be an integer")
        return int(min(max(value, -_WHOLE_NUMBER_LIMIT), _WHOLE_NUMBER_LIMIT))
    return value


def _number_only(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _string_only(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _side_value(value: Any) -> Side:
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = _whole_number(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be 0 (Buy), 1 (Sell), 'Buy' or 'Sell'")
    return validation.parse_side(value)


def _scopes_value(value: Any) -> frozenset[Scope]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of scope names")
    return validation.parse_scopes(value)


# --- request fields ---------------------------------------------------------------------------

Symbol = Annotated[
    str,
    BeforeValidator(lambda value: validation.normalize_symbol(_string_only(value))),
    WithJsonSchema({**SYMBOL_INPUT_SCHEMA, "examples": ["JPM"]}),
]
SideIn = Annotated[Side, PlainValidator(_side_value), WithJsonSchema(SIDE_INPUT_SCHEMA)]
Amount = Annotated[
    int,
    PlainValidator(lambda value: validation.check_amount(_whole_number(value))),
    WithJsonSchema({**AMOUNT_SCHEMA, "examples": [20]}),
]
Price = Annotated[
    Decimal,
    BeforeValidator(_number_only),
    AfterValidator(validation.check_price),
    WithJsonSchema({**PRICE_INPUT_SCHEMA, "examples": [20]}),
]
Account = Annotated[
    str,
    BeforeValidator(lambda value: validation.check_account(_string_only(value))),
    WithJsonSchema(
        {"type": "string", "pattern": validation.ACCOUNT_PATTERN, "examples": ["desk-7"]}
    ),
]
ScopesIn = Annotated[
    frozenset[Scope],
    PlainValidator(_scopes_value),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "enum": [scope.value for scope in Scope]},
            "minItems": 1,
            "description": "Repeats are allowed and count once",
            "examples": [["read", "orders", "trade"]],
        }
    ),
]
KeyName = Annotated[
    str,
    BeforeValidator(lambda value: validation.check_key_name(_string_only(value))),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": validation.MAX_KEY_NAME_CHARS,
            "pattern": validation.KEY_NAME_PATTERN,
            "description": "A label: no control characters",
        }
    ),
]

# --- response fields --------------------------------------------------------------------------

OrderIdOut = Annotated[
    int, Field(ge=1, le=validation.MAX_ORDER_ID), WithJsonSchema(ORDER_ID_SCHEMA)
]
AmountOut = Annotated[int, Field(ge=1, le=validation.MAX_AMOUNT), WithJsonSchema(AMOUNT_SCHEMA)]
SymbolOut = Annotated[str, Field(pattern=validation.SYMBOL_PATTERN), WithJsonSchema(SYMBOL_SCHEMA)]
SideOut = Annotated[Side, PlainValidator(_member_of(Side)), WithJsonSchema(SIDE_SCHEMA)]
PriceOut = Annotated[Decimal, Field(gt=0, le=validation.MAX_PRICE), WithJsonSchema(PRICE_SCHEMA)]
# A quote or a trade's total: a sum of amount × price, exact, up to ~36 significant digits.
TotalOut = Annotated[
    Decimal,
    Field(gt=0),
    WithJsonSchema(
        {
            "type": "number",
            "format": "decimal",
            "exclusiveMinimum": 0,
            "description": "Σ amount × price, exact (up to ~36 significant digits)",
        }
    ),
]
HexId = Annotated[str, Field(pattern=HEX_ID_PATTERN)]
KeyId = Annotated[str, Field(pattern=KEY_ID_PATTERN)]
Timestamp = Annotated[
    datetime, PlainSerializer(format_timestamp, return_type=str), WithJsonSchema(TIMESTAMP_SCHEMA)
]
LoadStatusOut = Annotated[
    LoadStatus,
    PlainValidator(_member_of(LoadStatus)),
    PlainSerializer(lambda status: status.value, return_type=str),
    WithJsonSchema({"type": "string", "enum": [status.value for status in LoadStatus]}),
]
ScopeOut = Annotated[
    Scope,
    PlainValidator(_member_of(Scope)),
    PlainSerializer(lambda scope: scope.value, return_type=str),
    WithJsonSchema({"type": "string", "enum": [scope.value for scope in Scope]}),
]
