"""Dependencies the routes ask for; tests swap them through `create_app`, never by patching."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from shared.batch_loads import BatchLoadService
from shared.repository import OrderRepository
from shared.repository.books import BookReader
from shared.trading import TradeDesk
from shared.validation import MAX_ORDER_ID


def get_orders(request: Request) -> OrderRepository:
    """The app's order repository."""
    repository: OrderRepository = request.app.state.orders
    return repository


def get_desk(request: Request) -> TradeDesk:
    """The app's trade desk."""
    desk: TradeDesk = request.app.state.desk
    return desk


def get_books(request: Request) -> BookReader:
    """The app's order-book reader."""
    books: BookReader = request.app.state.books
    return books


def get_batch_loads(request: Request) -> BatchLoadService:
    """The app's batch-load service."""
    loads: BatchLoadService = request.app.state.batch_loads
    return loads


Orders = Annotated[OrderRepository, Depends(get_orders)]
BatchLoads = Annotated[BatchLoadService, Depends(get_batch_loads)]
Desk = Annotated[TradeDesk, Depends(get_desk)]
Books = Annotated[BookReader, Depends(get_books)]
OrderId = Annotated[
    int, Path(ge=1, le=MAX_ORDER_ID, description="Order id, 1 … 2^53−1", examples=[1])
]
