"""`/api/health`: 200 when the table can be read, 503 otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.api.jsonio import ExactJSONResponse
from services.api.schemas import HealthBody, error_responses
from shared.clock import format_timestamp, utc_now
from shared.repository import table_is_reachable

router = APIRouter(prefix="/api", tags=["health"])


@router.get(
    "/health",
    response_model=HealthBody,
    responses=error_responses(e503="The table cannot be read"),
)
def health(request: Request) -> Response:
    """Reads a probe key from the table; a load balancer's health check."""
    state = request.app.state
    table_is_reachable(state.clients.dynamodb, state.settings.table_name)
    return ExactJSONResponse(
        {
            "status": "ok",
            "table": state.settings.table_name,
            "timestamp": format_timestamp(utc_now()),
        }
    )
