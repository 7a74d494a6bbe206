"""`/api/orders/batch-load`: start a CSV upload, then follow the loader's progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.api.deps import BatchLoads
from services.api.jsonio import ExactJSONResponse, ExactJSONRoute
from services.api.schemas import (
    STORE_UNAVAILABLE,
    BatchLoadStarted,
    BatchLoadStatusBody,
    batch_load_started_body,
    batch_load_status_body,
    error_responses,
)

router = APIRouter(prefix="/api/orders/batch-load", tags=["batch load"], route_class=ExactJSONRoute)

LoadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The load's id")]


@router.post(
    "",
    response_model=BatchLoadStarted,
    responses=error_responses(e503=STORE_UNAVAILABLE),
    description=(
        "Creates a load (`PENDING`) and a presigned URL for one `PUT` of the CSV (e.g. "
        "`curl -T orders.csv '<preSignedUrl>'`). Its arrival starts the loader. CSV: header "
        "`orderId,symbol,side,amount,price` (any order and case, extra columns ignored), UTF-8, "
        "side as Buy/Sell or 0/1; bad rows are reported with their line numbers and the rest is "
        "loaded; an existing order id is replaced; within a file the last row for an id wins."
    ),
)
def start_batch_load(loads: BatchLoads) -> Response:
    """Start a batch load."""
    load, url = loads.start()
    return ExactJSONResponse(batch_load_started_body(load, url))


@router.get(
    "/{load_id}",
    response_model=BatchLoadStatusBody,
    responses=error_responses(e404="No such load", e503=STORE_UNAVAILABLE),
)
def batch_load_status(load_id: LoadId, loads: BatchLoads) -> Response:
    """Status, counts, the first rejected rows and where the full error report is."""
    return ExactJSONResponse(batch_load_status_body(loads.status(load_id)))
