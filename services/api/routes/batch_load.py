"""`/api/orders/batch-load`: start a CSV upload, then follow the loader's progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, Security

from services.api.auth import BEARER, ScopedRoute, required_scope
from services.api.deps import BatchLoads, Caller, owner_filter
from services.api.jsonio import ExactJSONResponse
from services.api.schemas.fields import HEX_ID_PATTERN
from services.api.schemas.metadata import INVALID_PARAMETERS, PROTECTED, error, link, success
from services.api.schemas.responses import BatchLoadStarted, BatchLoadStatusBody
from shared.access import Scope

router = APIRouter(
    prefix="/api/orders/batch-load",
    tags=["batch load"],
    route_class=ScopedRoute,
    dependencies=[Security(BEARER)],
    responses=PROTECTED,
)

LoadId = Annotated[
    str, Path(alias="id", pattern=HEX_ID_PATTERN, description="The load's id (`id` of the start)")
]


@router.post(
    "",
    response_model=BatchLoadStarted,
    responses=success(
        200,
        links={
            "GetBatchLoadStatus": link(
                "batch_load_status",
                "Follow this load",
                parameters={"id": "$response.body#/id"},
            )
        },
    ),
    openapi_extra=required_scope(Scope.LOAD),
    description=(
        "Creates a load (`PENDING`) of the caller's account and a presigned URL for one `PUT` of "
        "the CSV (e.g. `curl -T orders.csv '<preSignedUrl>'`). Its arrival starts the loader. "
        "CSV: header `orderId,symbol,side,amount,price` (any order and case, extra columns "
        "ignored), UTF-8, side as Buy/Sell or 0/1; bad rows are reported with their line numbers "
        "and the rest is loaded; an existing order id of the same account is replaced (one of "
        "another account is a rejected row); within a file the last row for an id wins."
    ),
)
def start_batch_load(loads: BatchLoads, caller: Caller) -> Response:
    """Start a batch load."""
    load, url = loads.start(caller.account)
    return ExactJSONResponse(BatchLoadStarted.of(load, url))


@router.get(
    "/{id}",
    response_model=BatchLoadStatusBody,
    responses={**error(404, "No such load (or another account's)"), **INVALID_PARAMETERS},
    openapi_extra=required_scope(Scope.READ),
)
def batch_load_status(load_id: LoadId, loads: BatchLoads, caller: Caller) -> Response:
    """Status, counts, the first rejected rows and where the full error report is."""
    return ExactJSONResponse(
        BatchLoadStatusBody.of(loads.status(load_id, viewer=owner_filter(caller)))
    )
