"""Swagger UI's page and assets come from the API itself, under /api/, with no credentials."""

from __future__ import annotations

import re

import anyio
import httpx
import pytest
from fastapi import FastAPI

from services.api.docs import SWAGGER_UI_ASSETS, SWAGGER_UI_DIR
from tests.support.offline_api import offline_api

# Where the page points its browser: stylesheet, favicon and script.
_PAGE_URLS = re.compile(r'(?:href|src)="([^"]+)"')


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """The API as `om api` builds it; nothing here reaches the (unreachable) table."""
    return offline_api(table_name="om-docs")


class Client:
    """GET requests to the app in process, through its whole ASGI stack."""

    def __init__(self, app: FastAPI, root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path

    def get(self, url: str) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, root_path=self.root_path)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.get(url)

        return anyio.run(fetch)


@pytest.fixture
def client(app: FastAPI) -> Client:
    return Client(app)


def test_swagger_page_loads_every_asset_from_the_api(client: Client) -> None:
    page = client.get("/api/swagger")
    urls = _PAGE_URLS.findall(page.text)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert sorted(urls) == sorted(f"/api/swagger-ui/{name}" for name in SWAGGER_UI_ASSETS)
    assert "url: '/api/openapi.json'" in page.text
    for url in urls:
        asset = client.get(url)
        name = url.rsplit("/", 1)[1]
        assert asset.status_code == 200, url
        assert asset.headers["content-type"] == SWAGGER_UI_ASSETS[name]
        assert asset.content == (SWAGGER_UI_DIR / name).read_bytes()


def test_swagger_page_persists_the_authorization_entered(client: Client) -> None:
    assert '"persistAuthorization": true' in client.get("/api/swagger").text


def test_docs_need_no_credentials(client: Client) -> None:
    for url in [
        "/api/swagger",
        "/api/openapi.json",
        *(f"/api/swagger-ui/{n}" for n in SWAGGER_UI_ASSETS),
    ]:
        assert client.get(url).status_code == 200, url


def test_only_the_assets_the_page_uses_are_served(client: Client) -> None:
    # The distribution's demo index.html would load the petstore example from the internet.
    assert (SWAGGER_UI_DIR / "index.html").is_file()
    assert client.get("/api/swagger-ui/index.html").status_code == 404
    assert client.get("/api/swagger-ui/swagger-initializer.js").status_code == 404


def test_docs_pages_are_not_operations_of_the_api(app: FastAPI) -> None:
    paths = app.openapi()["paths"]

    assert not [path for path in paths if path.startswith(("/api/swagger", "/docs", "/redoc"))]


def test_fastapi_default_docs_pages_are_gone(client: Client) -> None:
    # Not public paths: an anonymous caller is refused (401) before routing could find them.
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code in (401, 404)
        assert "swagger" not in response.text.lower()


def test_page_urls_follow_a_root_path_set_behind_a_proxy(app: FastAPI) -> None:
    page = Client(app, root_path="/prefix").get("/api/swagger").text

    assert "url: '/prefix/api/openapi.json'" in page
    assert all(url.startswith("/prefix/api/swagger-ui/") for url in _PAGE_URLS.findall(page))
