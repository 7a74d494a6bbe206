"""The API as `om api` builds it, pointed at an unreachable table: for tests that only look at
how it is built (routes, documents, settings wiring) and never reach the store."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.repository import make_clients

UNREACHABLE = "http://127.0.0.1:9"


def offline_api(**settings: Any) -> FastAPI:
    """`create_app` with `settings` (ApiSettings fields) over endpoints nothing listens on."""
    given: dict[str, Any] = {
        "table_name": "om-offline",
        "dynamodb_endpoint_url": UNREACHABLE,
        "s3_endpoint_url": UNREACHABLE,
        "aws_access_key_id": "omlocal",
        "aws_secret_access_key": "omlocalsecret",
        **settings,
    }
    api_settings = ApiSettings(**given)
    return create_app(api_settings, clients=make_clients(api_settings))
