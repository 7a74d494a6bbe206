"""`/api/orders/{id}`: read, create, amend, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.api.deps import OrderId, Orders
from services.api.jsonio import ExactJSONResponse, ExactJSONRoute
from services.api.schemas import (
    STORE_UNAVAILABLE,
    OrderCreate,
    OrderPublic,
    OrderUpdate,
    error_responses,
    order_body,
)
from shared.models import OrderDraft

router = APIRouter(prefix="/api/orders", tags=["orders"], route_class=ExactJSONRoute)

_NOT_FOUND = "No such order"
_INVALID = "Invalid id or body"


@router.get(
    "/{id}",
    response_model=OrderPublic,
    responses=error_responses(e404=_NOT_FOUND, e503=STORE_UNAVAILABLE),
)
def get_order(id: OrderId, orders: Orders) -> Response:
    """The order with this id."""
    return ExactJSONResponse(order_body(orders.get(id)))


@router.post(
    "/{id}",
    status_code=201,
    response_model=OrderPublic,
    responses=error_responses(
        e409="An order with this id exists (left untouched)",
        e422=_INVALID,
        e503=STORE_UNAVAILABLE,
    ),
)
def create_order(id: OrderId, body: OrderCreate, orders: Orders) -> Response:
    """Create an order; it joins the back of its price level."""
    draft = OrderDraft(
        id=id, symbol=body.symbol, side=body.side, amount=body.amount, price=body.price
    )
    order = orders.create(draft)
    return ExactJSONResponse(
        order_body(order), status_code=201, headers={"Location": f"/api/orders/{order.id}"}
    )


@router.patch(
    "/{id}",
    response_model=OrderPublic,
    responses=error_responses(e404=_NOT_FOUND, e422=_INVALID, e503=STORE_UNAVAILABLE),
)
def amend_order(id: OrderId, body: OrderUpdate, orders: Orders) -> Response:
    """Change amount and/or price.

    A new price or a larger amount sends the order to the back of its price level; a smaller
    amount keeps its place.
    """
    return ExactJSONResponse(order_body(orders.amend(id, amount=body.amount, price=body.price)))


@router.delete(
    "/{id}",
    response_model=OrderPublic,
    responses=error_responses(e404=_NOT_FOUND, e503=STORE_UNAVAILABLE),
)
def delete_order(id: OrderId, orders: Orders) -> Response:
    """Remove the order; the body is the order as it was."""
    return ExactJSONResponse(order_body(orders.delete(id)))
