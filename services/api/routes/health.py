"""`/api/health/live` (liveness, no dependency) and `/api/health` (readiness: the table answers)."""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response

from services.api.jsonio import ExactJSONResponse
from services.api.schemas.metadata import RETRY_AFTER, error
from services.api.schemas.responses import HealthBody, LiveBody
from shared.clock import utc_now
from shared.errors import StoreUnavailable
from shared.repository import table_is_reachable
from shared.request_context import narrowed

READINESS_SECONDS = 2.0

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health/live", response_model=LiveBody)
async def live() -> Response:
    """Liveness: answered by the process itself, touching no dependency.

    The load balancer and the container health check use this, so a DynamoDB blip never makes
    ECS replace every task at once. `async` on purpose: it runs on the event loop, not in the
    thread pool, so it answers even when every worker thread is busy.
    """
    return ExactJSONResponse(LiveBody(status="ok", timestamp=utc_now()))


@router.get(
    "/health",
    response_model=HealthBody,
    responses=error(
        503, "The table cannot be read within 2 s", headers={"Retry-After": RETRY_AFTER}
    ),
)
async def health(request: Request) -> Response:
    """Readiness: reads a probe key from the table; 503 when it cannot be read within 2 s."""
    state = request.app.state
    with narrowed(READINESS_SECONDS):
        try:
            with anyio.fail_after(READINESS_SECONDS):
                await anyio.to_thread.run_sync(
                    table_is_reachable, state.clients.dynamodb, state.settings.table_name
                )
        except TimeoutError as error:
            raise StoreUnavailable("the table did not answer within 2 s") from error
    return ExactJSONResponse(
        HealthBody(status="ok", table=state.settings.table_name, timestamp=utc_now())
    )
