"""`om upload FILE.csv`: load a CSV of orders through the API, as a user does.

Replaces the original's `batch-load.sh`: asks the API for a presigned URL, uploads the file with a
progress bar, waits (with a spinner) for the loader to finish, and prints a summary. Exit status:
0 when the load SUCCEEDED (rejected rows included), 1 when it FAILED, timed out, the API could not
be reached or refused the key, 2 for a bad command line (the file does not exist, no API key).

The API key (`Authorization: Bearer`, sent to the API only, never to the upload URL): the file
`--key-file` names, else `OM_API_KEY`, else the key `om dev` writes to `.om/dev/api-key`. The
upload is sent with `If-None-Match: *`, so S3 refuses to overwrite a file already sent to its URL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from services.devstack.dev_key import KEY_RULE, key_file
from services.devstack.options import DEFAULT_DATA_DIR
from shared.access import is_well_formed_key

CHUNK_BYTES = 1 << 20
SHOWN_ERRORS = 10
API_KEY_VARIABLE = "OM_API_KEY"
# Where `om dev` with its default --data-dir writes its key, relative to the folder it runs in.
DEV_KEY_FILE = key_file(DEFAULT_DATA_DIR)
_S3_ERROR_PART = re.compile(r"<(Code|Message)>([^<]{1,300})</\1>")


class UploadFailed(Exception):
    """The upload could not be completed; the message says why."""


class NoApiKey(UploadFailed):
    """No usable API key was given or found: nothing was sent (exit 2, like a bad command line)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key and where it came from (named in messages; the key itself never is)."""

    secret: str = field(repr=False)
    source: str


def find_api_key(environ: Mapping[str, str], key_file: Path | None = None) -> ApiKey:
    """The key in `key_file` if given, else `OM_API_KEY`, else `om dev`'s; raises `NoApiKey`."""
    if key_file is None:
        given = environ.get(API_KEY_VARIABLE, "").strip()
        if given:
            return _checked(given, API_KEY_VARIABLE)
        if not DEV_KEY_FILE.exists():
            raise NoApiKey(
                f"no API key: set {API_KEY_VARIABLE}, or start `om dev` (it writes its key to "
                f"{DEV_KEY_FILE}; run om upload from the same folder, or pass --key-file)"
            )
        key_file = DEV_KEY_FILE
    try:
        text = key_file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise NoApiKey(f"cannot read the API key from {key_file}: {reason}") from error
    return _checked(text.strip(), str(key_file))


def _checked(key: str, source: str) -> ApiKey:
    if not is_well_formed_key(key):
        raise NoApiKey(f"{source} holds no API key: a key is {KEY_RULE}")
    return ApiKey(key, source)


def _chunks(path: Path, progress: Progress, task: Any) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            progress.update(task, advance=len(chunk))
            yield chunk


def upload(
    path: Path,
    *,
    api: str,
    api_key: ApiKey,
    timeout_seconds: float,
    console: Console,
    poll_seconds: float = 0.5,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Run the whole flow; returns the exit status."""
    base = api.rstrip("/")
    # Two clients: the key goes to the API only, never to S3 (or whichever host the URL names).
    headers = {"Authorization": f"Bearer {api_key.secret}"}
    with (
        httpx.Client(timeout=30, headers=headers, transport=transport) as api_client,
        httpx.Client(timeout=30, transport=transport) as storage,
    ):
        calls = _Api(api_client, base, api_key)
        started = calls.json("POST", "/api/orders/batch-load", needs="load")
        size = path.stat().st_size
        _put(storage, started["preSignedUrl"], path, size, console)
        console.print(f"uploaded {path.name} ({size:,} bytes) as load {started['id']}")
        status = _wait(
            calls, f"/api/orders/batch-load/{started['id']}", timeout_seconds, poll_seconds, console
        )
    return _summarise(status, console)


@dataclass(frozen=True, slots=True)
class _Api:
    """Calls to the API, each answer mapped to a result or an `UploadFailed` that says why."""

    client: httpx.Client
    base: str
    key: ApiKey

    def json(self, method: str, path: str, *, needs: str) -> dict[str, Any]:
        try:
            response = self.client.request(method, f"{self.base}{path}")
        except (httpx.TransportError, httpx.InvalidURL) as error:
            raise UploadFailed(
                f"cannot reach the API at {self.base} ({type(error).__name__}); "
                "is `om dev` running?"
            ) from error
        if response.status_code == 401:
            raise UploadFailed(
                f"the API key from {self.key.source} was refused (unknown or revoked); set "
                f"{API_KEY_VARIABLE} to a valid key (`om dev` registers its own again at every "
                "start)"
            )
        if response.status_code == 403:
            raise UploadFailed(
                f"the API key from {self.key.source} lacks the `{needs}` scope this needs; "
                "om upload needs a key with the `load` and `read` scopes"
            )
        if response.status_code >= 400:
            raise UploadFailed(
                f"the API answered HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError as error:
            raise UploadFailed(
                f"{self.base} answered HTTP {response.status_code} without JSON; is it the "
                "API's base URL?"
            ) from error
        return body


def _put(storage: httpx.Client, url: str, path: Path, size: int, console: Console) -> None:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"uploading {path.name}", total=size)
        try:
            response = storage.put(
                url,
                content=_chunks(path, progress, task),
                # If-None-Match: a URL used once is refused, not overwritten (S3: 412).
                headers={"Content-Length": str(size), "If-None-Match": "*"},
                timeout=None,
            )
        except httpx.TransportError as error:
            raise UploadFailed(
                f"the upload to {httpx.URL(url).host} broke off ({type(error).__name__}: {error})"
            ) from error
    if response.status_code == 412:
        raise UploadFailed(
            "this upload URL was already used: S3 keeps the file first sent to it and refused "
            "to overwrite it; run om upload again for a new URL"
        )
    if response.status_code >= 300:
        found = {part[1]: part[2] for part in _S3_ERROR_PART.finditer(response.text)}
        detail = ": ".join(found[part] for part in ("Code", "Message") if part in found)
        raise UploadFailed(
            f"the upload was refused: HTTP {response.status_code}"
            + (f" ({detail})" if detail else "")
        )


def _wait(
    calls: _Api, path: str, timeout_seconds: float, poll_seconds: float, console: Console
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    with console.status("waiting for the loader…") as spinner:
        while True:
            status = calls.json("GET", path, needs="read")
            state = status["status"]
            if state in ("SUCCEEDED", "FAILED"):
                return status
            spinner.update(f"{state.lower()}: {status['rowsRead']:,} rows read…")
            if time.monotonic() > deadline:
                raise UploadFailed(
                    f"the load is still {state} after {timeout_seconds:.0f} s; "
                    f"follow it at {calls.base}{path}"
                )
            time.sleep(poll_seconds)


def _summarise(status: dict[str, Any], console: Console) -> int:
    if status["status"] == "FAILED":
        console.print(f"[red]load FAILED[/red]: {status.get('reason') or 'no reason given'}")
        return 1
    console.print(
        f"[green]load SUCCEEDED[/green]: {status['rowsRead']:,} rows read, "
        f"{status['rowsLoaded']:,} loaded, {status['rowsRejected']:,} rejected"
    )
    for error in status["errors"][:SHOWN_ERRORS]:
        console.print(f"  line {error['line']}: {error['reason']}")
    if status["rowsRejected"] > SHOWN_ERRORS:
        console.print(f"  … and {status['rowsRejected'] - SHOWN_ERRORS:,} more")
    if status.get("errorReport"):
        console.print(f"full report of rejected rows: {status['errorReport']}")
    return 0
