"""The app factory. Building the app reads no environment and opens no connection."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.api.errors import install_error_handlers
from services.api.jsonio import ExactJSONResponse
from services.api.middleware import BodyLimitMiddleware, RequestLogMiddleware
from services.api.routes import batch_load, health, orders, trading
from services.api.settings import ApiSettings
from shared.batch_loads import BatchLoadService
from shared.repository import AwsClients, OrderRepository, make_clients
from shared.repository.books import BookReader
from shared.repository.idempotency import IdempotencyStore
from shared.repository.loads import LoadRepository
from shared.repository.trades import TradeRepository
from shared.repository.uploads import UploadStore
from shared.trading import RetryPolicy, TradeDesk

DESCRIPTION = """
Orders resting in per-symbol order books on DynamoDB.

* Numbers are exact: prices have at most 8 decimals and are never rounded through binary floats;
  an integral price is written as a JSON integer.
* Every error body is `{"detail": ...}`; `503` responses carry `Retry-After`.
* Every response carries `X-Request-ID` (yours, if you send a sane one).
"""


def create_app(
    settings: ApiSettings,
    *,
    clients: AwsClients | None = None,
    orders_repository: OrderRepository | None = None,
    trade_desk: TradeDesk | None = None,
) -> FastAPI:
    """Build the API for `settings`; tests may pass their own clients or repository."""
    clients = clients or make_clients(settings)
    app = FastAPI(
        title="Order Management API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url="/api/swagger",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        default_response_class=ExactJSONResponse,
    )
    app.state.settings = settings
    app.state.clients = clients
    app.state.orders = orders_repository or OrderRepository(clients.dynamodb, settings.table_name)
    app.state.books = BookReader(clients.dynamodb, settings.table_name)
    app.state.desk = trade_desk or TradeDesk(
        app.state.books,
        TradeRepository(clients.dynamodb, settings.table_name),
        IdempotencyStore(
            clients.dynamodb,
            settings.table_name,
            retention=timedelta(hours=settings.idempotency_retention_hours),
        ),
        retry=RetryPolicy(deadline_seconds=settings.trade_deadline_seconds),
    )
    app.state.batch_loads = BatchLoadService(
        LoadRepository(clients.dynamodb, settings.table_name),
        UploadStore(clients.s3),
        bucket=settings.bucket_name,
        upload_prefix=settings.upload_prefix,
        url_lifetime=timedelta(seconds=settings.upload_url_expiry_seconds),
    )
    install_error_handlers(app, retry_after_seconds=settings.retry_after_seconds)
    # Before the orders router: `/api/orders/batch-load` must not be read as an order id.
    app.include_router(batch_load.router)
    app.include_router(orders.router)
    app.include_router(trading.router)
    app.include_router(health.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware)
    return app
