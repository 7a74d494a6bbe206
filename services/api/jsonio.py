"""Exact JSON in and out: numbers never pass through binary floats.

Requests are decoded with every non-integer number as `Decimal` and with `NaN`/`Infinity`
rejected. Responses are encoded by `encode_json`, which writes a `Decimal` digit for digit, an
integral one as a JSON integer (`20`, not `20.0` or `2E+1`). A response body is a pydantic model
(`services.api.schemas.responses`): its fields are dumped as Python values (no JSON mode, which
would turn a `Decimal` into a string) and written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.types import Send


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a valid JSON number", name, 0)


def decode_json(body: bytes) -> Any:
    """Parse a JSON document; fractional and exponent numbers become `Decimal`."""
    return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)


def _encode(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("non-finite decimals have no JSON form")
        out.append(str(int(value)) if value == value.to_integral_value() else format(value, "f"))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} has no exact JSON form")


def encode_json(value: object) -> bytes:
    """Serialize a model, dicts, lists, strings, ints, bools, None and `Decimal` exactly."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode()


class ExactJSONResponse(JSONResponse):
    """A JSON response written by `encode_json`.

    A `JSONResponse` so FastAPI documents the route's `response_model` as its body (for any other
    response class it writes `{"type": "string"}`); only the rendering differs.
    """

    def __init__(
        self,
        content: object,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: object) -> bytes:
        return encode_json(content)


class ExactJSONRequest(Request):
    """A request whose `json()` keeps numbers exact."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """Route class that hands endpoints an `ExactJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_handler


async def send_json(
    send: Send, status: int, content: object, headers: Mapping[str, str] | None = None
) -> None:
    """Answer a raw ASGI request with a JSON body (for middleware that answers by itself)."""
    body = encode_json(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((name.encode(), value.encode()) for name, value in (headers or {}).items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
