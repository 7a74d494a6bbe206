"""Who is calling: bearer API keys, verified before anything else looks at the request.

`AuthenticationMiddleware` runs outside routing and body parsing, so a caller without a valid
key gets `401` + `WWW-Authenticate: Bearer` before any path, method or body is looked at — an
anonymous caller learns nothing about the API, not even which paths exist. Only the health
checks and the documentation are public.

Verifying a key is a digest and a dictionary lookup once it is cached (`KeyVerifier`); the first
request with a key reads its item (one GetItem, off the event loop). A cached verification lives
at most `OM_API_KEY_CACHE_SECONDS` (60 s), which bounds how long a key revoked through another
replica keeps working here; a revocation through this process evicts the key at once.

Scopes are checked per route (`ScopedRoute`), also before the body is parsed: a key without the
route's scope gets `403`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Request, Response
from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from services.api.jsonio import ExactJSONResponse, ExactJSONRoute, send_json
from services.api.schemas.responses import ErrorBody
from shared.access import ApiKey, Principal, Scope, is_well_formed_key, key_id_of
from shared.errors import StoreOutcomeUnknown, StoreUnavailable
from shared.repository.api_keys import ApiKeyRepository
from shared.request_context import time_left

REALM = "order-management"
REQUIRED_SCOPE = "x-required-scope"
PRINCIPAL = "principal"
DEADLINE_GRACE_SECONDS = 0.5

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="opaque API key",
    description=(
        "An API key: `Authorization: Bearer <key>`. `om dev` prints one (and writes it to "
        "`.om/dev/api-key`); on AWS an operator creates the first with `om keys create`."
    ),
)


class KeyVerifier:
    """Verifies keys against the table, caching each verified key for a bounded time."""

    def __init__(
        self,
        keys: ApiKeyRepository,
        *,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> Principal | None:
        """The caller `key` stands for if it is cached and matches; None means "ask `verify`"."""
        entry = self._cache.get(key_id_of(key))
        if entry is None or entry[1] <= self._clock() or not entry[0].matches(key):
            return None
        return entry[0].principal

    def verify(self, key: str) -> Principal | None:
        """The caller `key` stands for, or None for an unknown, revoked or malformed key.

        Raises `StoreUnavailable` when the key is not cached and the table cannot be read.
        """
        if not is_well_formed_key(key):
            return None
        principal = self.cached(key)
        if principal is not None:
            return principal
        record = self._keys.get(key_id_of(key))
        if record is None or record.revoked_at is not None or not record.matches(key):
            return None
        if self._ttl > 0:
            with self._lock:
                self._cache[record.key_id] = (record, self._clock() + self._ttl)
        return record.principal

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (it was just revoked through this process)."""
        with self._lock:
            self._cache.pop(key_id, None)


class Refusal:
    """Why a request is not authenticated, and the RFC 6750 error code that goes with it."""

    def __init__(self, detail: str, error: str | None) -> None:
        self.detail = detail
        self.error = error

    @property
    def challenge(self) -> str:
        """The `WWW-Authenticate` value."""
        suffix = f', error="{self.error}"' if self.error else ""
        return f'Bearer realm="{REALM}"{suffix}'


def bearer_key(headers: Iterable[tuple[bytes, bytes]]) -> str | Refusal:
    """The key from `Authorization: Bearer <key>`, or why there is no usable one."""
    values = [value for name, value in headers if name == b"authorization"]
    if not values:
        return Refusal("missing API key: send Authorization: Bearer <key>", None)
    if len(values) > 1:
        return Refusal("malformed Authorization header: give it once", "invalid_request")
    scheme, _, key = values[0].decode("latin-1").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return Refusal("malformed Authorization header: expected 'Bearer <key>'", "invalid_request")
    if not is_well_formed_key(key):
        return Refusal(
            "invalid API key: a key is 32-128 printable ASCII characters without spaces",
            "invalid_token",
        )
    return key


class AuthenticationMiddleware:
    """Refuses every non-public request without a valid key; puts the caller in the scope."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: KeyVerifier,
        is_public: Callable[[str], bool],
        retry_after_seconds: int,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.is_public = is_public
        self.retry_after = str(retry_after_seconds)

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = bearer_key(scope.get("headers", []))
        if isinstance(key, Refusal):
            await self._refuse(send, key)
            return
        principal = self.verifier.cached(key)
        if principal is None:
            try:
                principal = await anyio.to_thread.run_sync(self.verifier.verify, key)
            except StoreUnavailable as error:
                await send_json(
                    send,
                    503,
                    ErrorBody(detail=f"temporarily unavailable: {error}").model_dump(),
                    headers={"retry-after": self.retry_after},
                )
                return
        if principal is None:
            await self._refuse(send, Refusal("invalid or revoked API key", "invalid_token"))
            return
        scope[PRINCIPAL] = principal
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, refusal: Refusal) -> None:
        await send_json(
            send,
            401,
            ErrorBody(detail=refusal.detail).model_dump(),
            headers={"www-authenticate": refusal.challenge},
        )


def required_scope(scope: Scope) -> dict[str, Any]:
    """The route option naming the scope a route needs (also shown in the OpenAPI document)."""
    return {REQUIRED_SCOPE: scope.value}


async def caller(request: Request) -> Principal:
    """The verified caller of this request (set by `AuthenticationMiddleware`)."""
    principal: Principal = request.scope[PRINCIPAL]
    return principal


class ScopedRoute(ExactJSONRoute):
    """A route that needs a scope: checked before FastAPI parses the body or the parameters."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needed = Scope((self.openapi_extra or {})[REQUIRED_SCOPE])

        async def authorized_handler(request: Request) -> Response:
            principal: Principal | None = request.scope.get(PRINCIPAL)
            if principal is None:  # a route mounted where the middleware does not guard it
                return ExactJSONResponse(
                    ErrorBody(detail="missing API key").model_dump(), status_code=401
                )
            if not principal.allows(needed):
                return ExactJSONResponse(
                    ErrorBody(detail=f"this API key lacks the '{needed.value}' scope").model_dump(),
                    status_code=403,
                )
            left = time_left()
            if left is None:
                return await handler(request)
            # A backstop: store calls already stop at the deadline; this bounds anything else.
            try:
                with anyio.fail_after(left + DEADLINE_GRACE_SECONDS):
                    return await handler(request)
            except TimeoutError as error:
                raise StoreOutcomeUnknown(
                    "the request ran past its deadline; its outcome is unknown"
                ) from error

        return authorized_handler
