"""`/api/metrics`: the API's running totals in Prometheus text format (scope `admin`).

Served only where `OM_METRICS_ENDPOINT` is on — `om dev` turns it on so a user can watch the
same figures the containers emit to CloudWatch as Embedded Metric Format. On AWS it stays off:
CloudWatch has the figures, and each task's totals would be a partial view.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, Security

from services.api.auth import BEARER, ScopedRoute, required_scope
from services.api.schemas.metadata import PROTECTED
from shared.access import Scope

router = APIRouter(
    prefix="/api",
    tags=["operations"],
    route_class=ScopedRoute,
    dependencies=[Security(BEARER)],
    responses=PROTECTED,
)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {PROMETHEUS_TEXT: {"schema": {"type": "string"}}},
        }
    },
    openapi_extra=required_scope(Scope.ADMIN),
)
async def prometheus_metrics(request: Request) -> Response:
    """Request counts, latency, 4xx/5xx, store retries and throttles, trade outcomes."""
    return Response(request.app.state.metrics.render(), media_type=PROMETHEUS_TEXT)
