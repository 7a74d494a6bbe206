"""Swagger UI served from the assets an installed package ships, so the page works offline.

FastAPI's own docs page loads swagger-ui from a CDN and stays blank on a machine without internet.
This one loads the official swagger-ui-dist files that `swagger-ui-bundle-v2` installs, from the
API itself. Every path is under `/api/` because the load balancer forwards only that prefix.

The page and its assets are public: they hold nothing but the OpenAPI document, which is public
too. They are plain Starlette routes, as FastAPI's own docs routes are, so no dependency the app
declares (an API key, a bearer token) applies to them; a middleware that checks credentials must
let `/api/swagger*` and `/api/openapi.json` through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse

# The package has no type information; it exports the one Path below.
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

SWAGGER_UI_URL = "/api/swagger"
SWAGGER_UI_ASSETS_URL = "/api/swagger-ui"
SWAGGER_UI_DIR = Path(swagger_ui_path)
# What the page loads. The rest of the distribution is not served: its demo index.html would
# fetch the petstore example from the internet.
SWAGGER_UI_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# Keep a token entered with "Authorize" across reloads of the page (in the browser's storage).
SWAGGER_UI_PARAMETERS = {"persistAuthorization": True}


def add_swagger_ui(app: FastAPI) -> None:
    """Serve Swagger UI for `app`'s OpenAPI document at `/api/swagger`, with no CDN."""
    if app.openapi_url is None:
        raise ValueError("Swagger UI needs the app to serve its OpenAPI document")
    openapi_url = app.openapi_url
    title = f"{app.title} - Swagger UI"

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, uvicorn's --root-path puts it back into the URLs.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        assets = f"{root}{SWAGGER_UI_ASSETS_URL}"
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=title,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    app.add_route(SWAGGER_UI_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    for name, media_type in SWAGGER_UI_ASSETS.items():
        app.add_route(
            f"{SWAGGER_UI_ASSETS_URL}/{name}",
            _asset(SWAGGER_UI_DIR / name, media_type),
            methods=["GET"],
            include_in_schema=False,
        )


def _asset(path: Path, media_type: str) -> Callable[[Request], Awaitable[FileResponse]]:
    async def serve(_: Request) -> FileResponse:
        return FileResponse(path, media_type=media_type)

    return serve
