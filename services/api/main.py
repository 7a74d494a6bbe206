"""The app factory. Building the app reads no environment and opens no connection."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.api.auth import AuthenticationMiddleware, KeyVerifier
from services.api.docs import SWAGGER_UI_ASSETS_URL, SWAGGER_UI_URL, add_swagger_ui
from services.api.errors import install_error_handlers
from services.api.jsonio import ExactJSONResponse
from services.api.methods import AllowedMethods, MethodGuard
from services.api.middleware import BodyLimitMiddleware, RequestLogMiddleware
from services.api.openapi import DocumentedAPI
from services.api.routes import batch_load, health, keys, metrics, orders, trading
from services.api.settings import ApiSettings
from services.api.trade_queue import BookQueues
from services.metrics import API_METRICS
from services.metrics.prometheus import MetricsRegistry
from shared.batch_loads import BatchLoadService
from shared.circuit import CircuitBreaker
from shared.repository import AwsClients, OrderRepository, make_clients
from shared.repository.api_keys import ApiKeyRepository
from shared.repository.books import BookReader
from shared.repository.idempotency import IdempotencyStore
from shared.repository.loads import LoadRepository
from shared.repository.trades import TradeRepository
from shared.repository.uploads import UploadStore
from shared.retry import RetryPolicy
from shared.trading import TradeDesk

DESCRIPTION = """
Orders resting in per-symbol order books on DynamoDB.

* Every endpoint but the health checks and these documents needs an API key:
  `Authorization: Bearer <key>` (the **Authorize** button). Keys belong to an account and hold
  scopes: `read`, `orders`, `trade`, `load`, `admin`.
* Numbers are exact: prices have at most 8 decimals and are never rounded through binary floats;
  an integral price is written as a JSON integer.
* Every error body is `{"detail": ...}`; `503` responses carry `Retry-After`. Each operation
  lists every status it can answer; a method a path does not serve is a `405` whose `Allow`
  names every method that path serves.
* Every response carries `X-Request-ID` (yours, if you send a sane one).
"""

PUBLIC_PATHS = frozenset({"/api/health", "/api/health/live", SWAGGER_UI_URL, "/api/openapi.json"})
PUBLIC_PREFIXES = (f"{SWAGGER_UI_ASSETS_URL}/",)


def is_public(path: str) -> bool:
    """Whether `path` is served without an API key: health checks and the documentation."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def operation_id(route: APIRoute) -> str:
    """An operation's id is its route's name (`get_order`): stable and readable in clients."""
    return route.name


def create_app(
    settings: ApiSettings,
    *,
    clients: AwsClients | None = None,
    orders_repository: OrderRepository | None = None,
    trade_desk: TradeDesk | None = None,
) -> FastAPI:
    """Build the API for `settings`; tests may pass their own clients or repository."""
    breaker = CircuitBreaker(
        threshold=settings.circuit_breaker_threshold,
        cooldown_seconds=settings.circuit_breaker_cooldown_seconds,
    )
    clients = clients or make_clients(settings, breaker=breaker)
    app = DocumentedAPI(
        title="Order Management API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,  # add_swagger_ui serves it without a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        default_response_class=ExactJSONResponse,
        generate_unique_id_function=operation_id,
    )
    retry = RetryPolicy(deadline_seconds=settings.trade_deadline_seconds)
    app.state.settings = settings
    app.state.clients = clients
    app.state.orders = orders_repository or OrderRepository(
        clients.dynamodb, settings.table_name, retry=retry
    )
    app.state.books = BookReader(clients.dynamodb, settings.table_name)
    retention = timedelta(hours=settings.idempotency_retention_hours)
    app.state.desk = trade_desk or TradeDesk(
        app.state.books,
        TradeRepository(clients.dynamodb, settings.table_name, idempotency_retention=retention),
        IdempotencyStore(
            clients.dynamodb,
            settings.table_name,
            retention=retention,
            # Outlasts the longest a trade request can hold its key, plus a margin.
            lease=timedelta(
                seconds=max(settings.trade_deadline_seconds, settings.request_deadline_seconds) + 5
            ),
        ),
        retry=retry,
        grouping=settings.trade_grouping,
    )
    app.state.book_queues = BookQueues(
        app.state.desk,
        limit=settings.trade_queue_limit,
        group_limit=settings.trade_group_limit if settings.trade_grouping else 1,
    )
    app.state.batch_loads = BatchLoadService(
        LoadRepository(clients.dynamodb, settings.table_name),
        UploadStore(clients.s3),
        bucket=settings.bucket_name,
        upload_prefix=settings.upload_prefix,
        url_lifetime=timedelta(seconds=settings.upload_url_expiry_seconds),
    )
    app.state.api_keys = ApiKeyRepository(clients.dynamodb, settings.table_name)
    app.state.key_verifier = KeyVerifier(
        app.state.api_keys, cache_seconds=settings.api_key_cache_seconds
    )
    install_error_handlers(app, retry_after_seconds=settings.retry_after_seconds)
    # Before the orders router: `/api/orders/batch-load` must not be read as an order id.
    app.include_router(batch_load.router)
    app.include_router(orders.router)
    app.include_router(trading.router)
    app.include_router(keys.router)
    app.include_router(health.router)
    app.state.metrics = MetricsRegistry(API_METRICS) if settings.metrics_endpoint else None
    if settings.metrics_endpoint:
        app.include_router(metrics.router)
    add_swagger_ui(app)
    # Added last = runs first: the request log and deadline wrap everything, then the key check,
    # then the body limit, so an anonymous caller is refused before its body is looked at; a
    # method the path does not serve is answered last, from every route (added above) at once.
    app.add_middleware(MethodGuard, allowed=AllowedMethods(app.routes))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        AuthenticationMiddleware,
        verifier=app.state.key_verifier,
        is_public=is_public,
        retry_after_seconds=settings.retry_after_seconds,
    )
    app.add_middleware(
        RequestLogMiddleware,
        deadline_seconds=settings.request_deadline_seconds,
        registry=app.state.metrics,
        metrics_namespace=settings.metrics_namespace,
    )
    return app
