"""Dependencies the routes ask for; tests swap them through `create_app`, never by patching."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from pydantic import WithJsonSchema

from services.api.auth import caller
from services.api.trade_queue import BookQueues
from shared.access import Principal
from shared.batch_loads import BatchLoadService
from shared.models import Precondition
from shared.repository import OrderRepository
from shared.repository.api_keys import ApiKeyRepository
from shared.repository.books import BookReader
from shared.trading import TradeDesk
from shared.validation import MAX_ORDER_ID

# `If-Match` (RFC 9110 §13.1.1): `*` or a comma-separated list of entity tags. One pattern is
# both what FastAPI validates (and documents) and what the parser below reads.
_OPTIONAL_SPACE = r"[ \t]*"
_OPAQUE_TAG = r'"[\x21\x23-\x7e]*"'
_ENTITY_TAG = rf"(?:W/)?{_OPAQUE_TAG}"
IF_MATCH_PATTERN = (
    rf"^{_OPTIONAL_SPACE}(?:\*|{_ENTITY_TAG}(?:{_OPTIONAL_SPACE},{_OPTIONAL_SPACE}{_ENTITY_TAG})*)"
    rf"{_OPTIONAL_SPACE}$"
)
_TAGS = re.compile(rf"(W/)?({_OPAQUE_TAG})")


async def get_orders(request: Request) -> OrderRepository:
    """The app's order repository."""
    repository: OrderRepository = request.app.state.orders
    return repository


async def get_desk(request: Request) -> TradeDesk:
    """The app's trade desk."""
    desk: TradeDesk = request.app.state.desk
    return desk


async def get_queues(request: Request) -> BookQueues:
    """Where trades wait for their book."""
    queues: BookQueues = request.app.state.book_queues
    return queues


async def get_books(request: Request) -> BookReader:
    """The app's order-book reader."""
    books: BookReader = request.app.state.books
    return books


async def get_batch_loads(request: Request) -> BatchLoadService:
    """The app's batch-load service."""
    loads: BatchLoadService = request.app.state.batch_loads
    return loads


async def get_api_keys(request: Request) -> ApiKeyRepository:
    """The app's API-key repository."""
    keys: ApiKeyRepository = request.app.state.api_keys
    return keys


def owner_filter(principal: Principal) -> str | None:
    """The account whose things `principal` may act on; None for an admin (every account)."""
    return None if principal.is_admin else principal.account


async def if_match(
    value: Annotated[
        str | None,
        # Optional, not nullable: a client leaves the header out rather than sending "null".
        WithJsonSchema({"type": "string", "pattern": IF_MATCH_PATTERN}),
        Header(
            alias="If-Match",
            pattern=IF_MATCH_PATTERN,
            description=(
                "Act only if the order is still at this revision: the `ETag` of an earlier "
                "response (or `*`: any existing order). Otherwise `412` and nothing changes."
            ),
        ),
    ] = None,
) -> Precondition | None:
    """The `If-Match` precondition, if one was given (FastAPI has checked `IF_MATCH_PATTERN`)."""
    if value is None:
        return None
    if value.strip(" \t") == "*":
        return Precondition()
    # A weak tag never matches If-Match (RFC 9110 §13.1.1).
    return Precondition(frozenset(tag[1:-1] for weak, tag in _TAGS.findall(value) if not weak))


Orders = Annotated[OrderRepository, Depends(get_orders)]
BatchLoads = Annotated[BatchLoadService, Depends(get_batch_loads)]
Desk = Annotated[TradeDesk, Depends(get_desk)]
Queues = Annotated[BookQueues, Depends(get_queues)]
Books = Annotated[BookReader, Depends(get_books)]
ApiKeys = Annotated[ApiKeyRepository, Depends(get_api_keys)]
Caller = Annotated[Principal, Depends(caller)]
IfMatch = Annotated[Precondition | None, Depends(if_match)]
OrderId = Annotated[
    int, Path(ge=1, le=MAX_ORDER_ID, description="Order id, 1 … 2^53−1", examples=[1])
]
