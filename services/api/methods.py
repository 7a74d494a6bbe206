"""`405 Method Not Allowed` with an `Allow` header that names every method the path serves.

Starlette answers a method no route takes with the `Allow` of the *first* route whose path
matched, so `OPTIONS /api/orders/{id}` would name only `GET`; and a literal path that a template
also matches (`/api/orders/batch-load` and `/api/orders/{id}`) would be routed to the template,
turning `PATCH /api/orders/batch-load` into a 422 about the id. `MethodGuard` decides instead,
from a table of every route of the app built once at start-up:

* a literal path wins over templates (OpenAPI's rule: concrete paths match before templated ones),
  so `/api/orders/batch-load` allows exactly what its own routes serve;
* otherwise the methods of every template the path matches are united.

`Allow` lists exactly the methods that are served: `HEAD` only where a route answers it (the
documentation pages; API operations do not). The guard runs after the API-key check, so an
anonymous caller still learns nothing about the API but a 401.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.jsonio import send_json
from services.api.schemas.responses import ErrorBody


class AllowedMethods:
    """For any request path: the methods the app's routes serve there (empty: no route)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._literal: dict[str, frozenset[str]] = {}
        templates: dict[str, tuple[re.Pattern[str], frozenset[str]]] = {}
        for route in iter_route_contexts(list(routes)):
            path, methods = route.path, route.methods
            if path is None or not methods:
                continue
            regex, _, convertors = compile_path(path)
            if convertors:
                known = templates.get(path, (regex, frozenset()))[1]
                templates[path] = (regex, known | methods)
            else:
                self._literal[path] = self._literal.get(path, frozenset()) | methods
        self._templates = list(templates.values())

    def for_path(self, path: str) -> frozenset[str]:
        """The methods served at `path` (relative to the app's root path)."""
        literal = self._literal.get(path)
        if literal is not None:
            return literal
        allowed: frozenset[str] = frozenset()
        for regex, methods in self._templates:
            if regex.match(path):
                allowed |= methods
        return allowed


def route_path(scope: Scope) -> str:
    """The request path without the root path a proxy mounted the app under (ASGI spec)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class MethodGuard:
    """Answers `405` + `Allow` for a method the path does not serve; passes the rest on."""

    def __init__(self, app: ASGIApp, *, allowed: AllowedMethods) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self.allowed.for_path(route_path(scope))
            if methods and scope["method"] not in methods:
                allow = ", ".join(sorted(methods))
                body = ErrorBody(detail=f"{scope['method']} is not allowed here; allowed: {allow}")
                await send_json(send, 405, body.model_dump(), headers={"allow": allow})
                return
        await self.app(scope, receive, send)
