"""`/api/orders/{id}`: read, create, amend, delete — each response with the order's `ETag`."""

from __future__ import annotations

from fastapi import APIRouter, Response, Security

from services.api.auth import BEARER, ScopedRoute, required_scope
from services.api.deps import Caller, IfMatch, OrderId, Orders, owner_filter
from services.api.jsonio import ExactJSONResponse
from services.api.schemas.metadata import (
    ETAG,
    INVALID_PARAMETERS,
    JSON_BODY,
    LOCATION,
    ORDER_LINKS,
    PROTECTED,
    error,
    success,
)
from services.api.schemas.requests import OrderCreate, OrderUpdate
from services.api.schemas.responses import OrderPublic
from shared.access import Scope
from shared.models import Order, OrderDraft

router = APIRouter(
    prefix="/api/orders",
    tags=["orders"],
    route_class=ScopedRoute,
    dependencies=[Security(BEARER)],
    responses={**PROTECTED, **INVALID_PARAMETERS},
)

_NOT_FOUND = error(404, "No such order")
_NOT_OWNER = error(
    403,
    "The API key lacks the `orders` scope, or the order belongs to another account (an admin "
    "key may act on it)",
)
_CHANGED = error(
    412,
    "`If-Match` named another revision: the order changed (or is gone) and nothing changed; "
    "`ETag` carries the current revision when there is one",
)
_WITH_ETAG = success(200, headers={"ETag": ETAG}, links=ORDER_LINKS)


def _order_response(order: Order, status_code: int = 200, **headers: str) -> Response:
    return ExactJSONResponse(
        OrderPublic.of(order),
        status_code=status_code,
        headers={"ETag": f'"{order.revision}"', **headers},
    )


@router.get(
    "/{id}",
    response_model=OrderPublic,
    responses={**_WITH_ETAG, **_NOT_FOUND},
    openapi_extra=required_scope(Scope.READ),
)
def get_order(id: OrderId, orders: Orders) -> Response:
    """The order with this id (any account's: order books are market data)."""
    return _order_response(orders.get(id))


@router.post(
    "/{id}",
    status_code=201,
    response_model=OrderPublic,
    responses={
        **success(201, headers={"ETag": ETAG, "Location": LOCATION}, links=ORDER_LINKS),
        **JSON_BODY,
        **error(409, "An order with this id exists (left untouched)"),
    },
    openapi_extra=required_scope(Scope.ORDERS),
)
def create_order(id: OrderId, body: OrderCreate, orders: Orders, caller: Caller) -> Response:
    """Create an order of the caller's account; it joins the back of its price level."""
    draft = OrderDraft(
        id=id, symbol=body.symbol, side=body.side, amount=body.amount, price=body.price
    )
    order = orders.create(draft, account=caller.account)
    return _order_response(order, 201, Location=f"/api/orders/{order.id}")


@router.patch(
    "/{id}",
    response_model=OrderPublic,
    responses={**_WITH_ETAG, **JSON_BODY, **_NOT_OWNER, **_NOT_FOUND, **_CHANGED},
    openapi_extra=required_scope(Scope.ORDERS),
)
def amend_order(
    id: OrderId, body: OrderUpdate, orders: Orders, caller: Caller, precondition: IfMatch
) -> Response:
    """Change amount and/or price of one of the caller's orders.

    A new price or a larger amount sends the order to the back of its price level; a smaller
    amount keeps its place. With `If-Match`, only if the order is still at that revision.
    """
    amended = orders.amend(
        id,
        amount=body.amount,
        price=body.price,
        owner=owner_filter(caller),
        precondition=precondition,
    )
    return _order_response(amended)


@router.delete(
    "/{id}",
    response_model=OrderPublic,
    responses={
        **success(200, headers={"ETag": ETAG}),
        **_NOT_OWNER,
        **_NOT_FOUND,
        **_CHANGED,
    },
    openapi_extra=required_scope(Scope.ORDERS),
)
def delete_order(id: OrderId, orders: Orders, caller: Caller, precondition: IfMatch) -> Response:
    """Remove one of the caller's orders; the body is the order as it was."""
    removed = orders.delete(id, owner=owner_filter(caller), precondition=precondition)
    return _order_response(removed)
