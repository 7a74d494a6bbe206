"""Swagger UI at /api/swagger in a real headless Chromium, with everything but the API blocked.

Chromium comes from the machine (Debian's `chromium` package; nothing is downloaded) and is driven
over the DevTools protocol on a websocket. Every request the page makes that is not to the test
server is failed before it leaves the browser, and host names other than 127.0.0.1 do not resolve,
so the page renders here only if it needs no CDN. Where Chromium is missing the test skips, except
under CI, where it fails.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.sync.client import ClientConnection, connect

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.devstack.processes import spawn, stop
from tests.conftest import Store
from tests.integration.conftest import LiveServer

# How long to wait for Chromium or the page before failing with what was seen; never asserted.
WAIT_SECONDS = 60.0
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Every rendered operation as [METHOD, path], in page order.
RENDERED_OPERATIONS = """
[...document.querySelectorAll('.opblock')].map(block => [
  block.querySelector('.opblock-summary-method')?.textContent ?? '',
  block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '',
])
"""
TOKEN = "swagger-offline-test-token"


def chromium_executable() -> str:
    """Chromium's path; skips where it is not installed, but fails under CI, which installs it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is not None:
        return found
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail("Chromium is not installed; CI must run this test (.ci/run installs it)")
    pytest.skip("Chromium is not installed here (apt-get install chromium); CI runs this test")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium with a fresh profile; yields its DevTools websocket URL."""
    executable = chromium_executable()
    profile = tmp_path / "chromium-profile"
    with (tmp_path / "chromium.log").open("wb") as log:
        process = spawn(
            [
                executable,
                "--headless",
                "--no-sandbox",  # as root in a container, Chromium's sandbox cannot start
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",  # Chromium picks a free port and writes it down
                "about:blank",
            ],
            log=log,
        )
    try:
        yield _devtools_url(profile / "DevToolsActivePort", process.poll)
    finally:
        stop(process)


def _devtools_url(active_port: Path, exit_status: Callable[[], int | None]) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if exit_status() is not None:
            pytest.fail(f"Chromium exited with status {exit_status()} (see chromium.log)")
        lines = active_port.read_text().splitlines() if active_port.exists() else []
        if len(lines) >= 2:
            port, path = lines[:2]
            return f"ws://127.0.0.1:{port}{path}"
        time.sleep(0.05)
    pytest.fail(f"Chromium did not open its DevTools port within {WAIT_SECONDS:.0f} s")


class Page:
    """One tab, driven over the DevTools protocol; requests outside `origin` are failed.

    Events are read whenever the tab is waited on, so each request is let through or failed as
    soon as Chromium pauses it, and every console error, uncaught exception, failed request and
    HTTP error is noted in `problems`.
    """

    def __init__(self, socket: ClientConnection, origin: str) -> None:
        self._socket = socket
        self._origin = origin
        self._ids = itertools.count(1)
        self._session: str | None = None
        self._urls: dict[str, str] = {}
        self.blocked: list[str] = []
        self.problems: list[str] = []

    def open(self) -> None:
        """Create the tab and start watching and intercepting what it does."""
        target = self.command("Target.createTarget", url="about:blank")["targetId"]
        attached = self.command("Target.attachToTarget", targetId=target, flatten=True)
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.command(f"{domain}.enable")
        self.command("Fetch.enable", patterns=[{"urlPattern": "*"}])
        self.command(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result, handling the events that arrive meanwhile."""
        call = self._send(method, params)
        while True:
            message = json.loads(self._socket.recv(timeout=WAIT_SECONDS))
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            if "method" in message:
                self._on_event(message["method"], message.get("params", {}))

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the tab."""
        answer = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_until(self, expression: str, what: str) -> Any:
        """Evaluate `expression` until it is truthy; fails saying `what` was awaited."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not (value := self.evaluate(expression)):
            if self.problems or self.blocked:  # nothing that follows would be worth the wait
                pytest.fail(f"no {what}; blocked {self.blocked}; problems {self.problems}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {WAIT_SECONDS:.0f} s; problems {self.problems}")
            self._read_events(0.1)
        return value

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, not just the window."""
        size = self.command("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.command(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def _send(self, method: str, params: dict[str, Any]) -> int:
        call = next(self._ids)
        message: dict[str, Any] = {"id": call, "method": method, "params": params}
        if self._session is not None and not method.startswith("Target."):
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        return call

    def _read_events(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self._socket.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in message:
                self._on_event(message["method"], message.get("params", {}))

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        # Answers to the commands sent from here are not awaited: they are neither events nor
        # the answer `command` waits for, so they are dropped.
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if url.startswith(f"{self._origin}/"):
                self._send("Fetch.continueRequest", {"requestId": params["requestId"]})
            else:
                self.blocked.append(url)
                self._send(
                    "Fetch.failRequest",
                    {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                )
        elif method == "Network.requestWillBeSent":
            self._urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.problems.append(f"HTTP {params['response']['status']} {params['response']['url']}")
        elif method == "Network.loadingFailed":
            url = self._urls.get(params["requestId"], "?")
            self.problems.append(f"request failed ({params['errorText']}): {url}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
            self.problems.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.problems.append(
                f"uncaught: {details.get('exception', {}).get('description', details['text'])}"
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.problems.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")


def operations(document: dict[str, Any]) -> list[list[str]]:
    """[METHOD, path] once per tag an operation has (Swagger UI lists it under each), sorted."""
    listed = [
        [method.upper(), path]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        for _ in operation.get("tags") or ["default"]
    ]
    return sorted(listed)


def with_a_security_scheme(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, given the bearer scheme the API declares if it has none yet.

    Swagger UI shows "Authorize" only for a document with a security scheme; the served document
    is this very dict, which FastAPI caches.
    """
    document = app.openapi()
    components = document.setdefault("components", {})
    if not components.get("securitySchemes"):
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearerAuth": []}]
    return document


@pytest.fixture
def swagger(
    chromium: str, store: Store, api_settings: ApiSettings, tmp_path: Path
) -> Iterator[tuple[Page, str, dict[str, Any]]]:
    """A tab on /api/swagger of the real app served over HTTP, the server's origin and its
    OpenAPI document, once every operation has rendered."""
    app = create_app(api_settings, clients=store.clients)
    document = with_a_security_scheme(app)
    server = LiveServer(app)
    origin = server.start()
    try:
        with connect(chromium, max_size=None) as socket:
            page = Page(socket, origin)
            page.open()
            page.command("Page.navigate", url=f"{origin}/api/swagger")
            expected = len(operations(document))
            page.wait_until(
                f"document.querySelectorAll('.opblock').length >= {expected}",
                f"{expected} rendered operations",
            )
            yield page, origin, document
    finally:
        server.stop()


# One engine is enough: the page reads only the OpenAPI document, never the table.
pytestmark = pytest.mark.parametrize("store", ["moto"], indirect=True)


def test_swagger_ui_renders_every_operation_with_no_request_leaving_the_machine(
    swagger: tuple[Page, str, dict[str, Any]], tmp_path: Path
) -> None:
    page, _, document = swagger
    rendered = sorted(page.evaluate(RENDERED_OPERATIONS))
    page.screenshot(tmp_path / "swagger.png")

    assert rendered == operations(document)
    assert page.evaluate("document.title") == "Order Management API - Swagger UI"
    assert page.blocked == []
    assert page.problems == []
    assert (tmp_path / "swagger.png").read_bytes().startswith(b"\x89PNG")


def test_swagger_ui_authorize_keeps_the_token_across_a_reload(
    swagger: tuple[Page, str, dict[str, Any]],
) -> None:
    page, _, document = swagger
    scheme = next(iter(document["components"]["securitySchemes"]))
    page.evaluate("document.querySelector('.scheme-container button.authorize').click()")
    page.wait_until("!!document.querySelector('.modal-ux input')", "Authorize dialog")
    page.evaluate("document.querySelector('.modal-ux input').focus()")
    page.command("Input.insertText", text=TOKEN)
    page.evaluate("document.querySelector('.modal-ux .auth-btn-wrapper button.authorize').click()")
    page.wait_until("localStorage.getItem('authorized')", "stored authorization")
    stored = json.loads(page.evaluate("localStorage.getItem('authorized')"))

    page.evaluate("window.beforeReload = true")
    page.command("Page.reload")
    page.wait_until(
        "!window.beforeReload"
        " && !!document.querySelector('.scheme-container button.authorize.locked')",
        "authorized state after the reload",
    )

    assert stored[scheme]["value"] == TOKEN
    assert page.blocked == []
    assert page.problems == []


def test_swagger_ui_shows_an_operations_statuses_and_its_body_model(
    swagger: tuple[Page, str, dict[str, Any]],
) -> None:
    page, _, document = swagger
    operation = document["paths"]["/api/orders/{id}"]["get"]
    block = f"#operations-orders-{operation['operationId']}"
    page.evaluate(f"document.querySelector('{block} .opblock-summary-control').click()")
    page.wait_until(
        f"document.querySelectorAll('{block} .responses-table tr.response').length",
        "the operation's responses",
    )
    statuses = page.evaluate(
        f"[...document.querySelectorAll('{block} .responses-table tr.response')]"
        ".map(row => row.getAttribute('data-code'))"
    )
    example = page.evaluate(
        f"document.querySelector('{block} tr.response[data-code=\"200\"] .example')?.textContent"
    )

    assert sorted(statuses) == sorted(operation["responses"])
    assert json.loads(example) == {"id": 1, "symbol": "JPM", "side": 0, "amount": 20, "price": 20}
    assert page.blocked == []
    assert page.problems == []
