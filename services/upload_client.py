"""`om upload FILE.csv`: load a CSV of orders through the API, as a user does.

Replaces the original's `batch-load.sh`: asks the API for a presigned URL, uploads the file with a
progress bar, waits (with a spinner) for the loader to finish, and prints a summary. Exit status:
0 when the load SUCCEEDED (rejected rows included), 1 when it FAILED, timed out or the API could not
be reached, 2 for a bad command line (e.g. the file does not exist).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

CHUNK_BYTES = 1 << 20
SHOWN_ERRORS = 10


class UploadFailed(Exception):
    """The upload could not be completed; the message says why."""


def _chunks(path: Path, progress: Progress, task: Any) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            progress.update(task, advance=len(chunk))
            yield chunk


def upload(
    path: Path,
    *,
    api: str,
    timeout_seconds: float,
    console: Console,
    poll_seconds: float = 0.5,
) -> int:
    """Run the whole flow; returns the exit status."""
    base = api.rstrip("/")
    with httpx.Client(timeout=30) as client:
        try:
            started = _json(client.post(f"{base}/api/orders/batch-load"))
        except httpx.TransportError as error:
            raise UploadFailed(
                f"cannot reach the API at {base} ({type(error).__name__}); is `om dev` running?"
            ) from error
        size = path.stat().st_size
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"uploading {path.name}", total=size)
            response = client.put(
                started["preSignedUrl"],
                content=_chunks(path, progress, task),
                headers={"Content-Length": str(size)},
                timeout=None,
            )
        if response.status_code >= 300:
            raise UploadFailed(f"the upload was refused: HTTP {response.status_code}")
        console.print(f"uploaded {path.name} ({size:,} bytes) as load {started['id']}")
        status = _wait(
            client,
            f"{base}/api/orders/batch-load/{started['id']}",
            timeout_seconds,
            poll_seconds,
            console,
        )
    return _summarise(status, console)


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise UploadFailed(f"the API answered HTTP {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def _wait(
    client: httpx.Client, url: str, timeout_seconds: float, poll_seconds: float, console: Console
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    with console.status("waiting for the loader…") as spinner:
        while True:
            status = _json(client.get(url))
            state = status["status"]
            if state in ("SUCCEEDED", "FAILED"):
                return status
            spinner.update(f"{state.lower()}: {status['rowsRead']:,} rows read…")
            if time.monotonic() > deadline:
                raise UploadFailed(
                    f"the load is still {state} after {timeout_seconds:.0f} s; follow it at {url}"
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
