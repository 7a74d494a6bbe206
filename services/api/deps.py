"""Dependencies the routes ask for; tests swap them through `create_app`, never by patching."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from shared.repository import OrderRepository
from shared.validation import MAX_ORDER_ID


def get_orders(request: Request) -> OrderRepository:
    """The app's order repository."""
    repository: OrderRepository = request.app.state.orders
    return repository


Orders = Annotated[OrderRepository, Depends(get_orders)]
OrderId = Annotated[
    int, Path(ge=1, le=MAX_ORDER_ID, description="Order id, 1 … 2^53−1", examples=[1])
]
