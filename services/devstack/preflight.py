"""Refusing bad input before anything starts: ports, the API key, the data folder and its lock.

The three ports must differ; a given API key must be one a key can be; the API socket is bound up
front (so nothing can take it between the check and its use); the emulator ports are probed; one
lock file per data folder keeps two `om dev` off the same files; `--fresh` empties the data folder
only if DynamoDB Local wrote all of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from services.devstack.dev_key import check_given_key
from services.devstack.errors import StackError
from services.devstack.options import LOOPBACK, DevOptions

# What DynamoDB Local (SQLite underneath) writes into its -dbPath; `--fresh` deletes nothing else.
DYNAMODB_LOCAL_FILE = re.compile(r".+\.db(-journal|-wal|-shm)?")


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the checks hand on: the resolved data and log folders, the bound API socket."""

    data_dir: Path
    logs_dir: Path
    api_socket: socket.socket


def preflight(options: DevOptions, resources: contextlib.ExitStack) -> Preflight:
    """Refuse bad input before anything starts; the lock and socket are released by `resources`."""
    ports = (options.port, options.dynamodb_port, options.s3_port)
    if len(set(ports)) != len(ports):
        raise StackError("--port, --dynamodb-port and --s3-port must all differ", exit_code=2)
    check_given_key(options.api_key)
    for module in ("moto", "flask", "werkzeug"):
        if importlib.util.find_spec(module) is None:
            raise StackError(
                f"om dev needs moto[server] (a dev dependency; `{module}` is missing): "
                "run `uv sync`",
                exit_code=2,
            )
    data_dir = options.data_dir.expanduser().resolve()
    logs_dir = data_dir.parent / "logs"
    make_folder(logs_dir)
    resources.enter_context(_exclusive(data_dir))
    api_socket = resources.enter_context(_bind_api_socket(options.host, options.port))
    # DynamoDB Local listens on every interface, so a listener on any of them is in the way.
    _check_port_free("--dynamodb-port", "0.0.0.0", options.dynamodb_port)
    _check_port_free("--s3-port", LOOPBACK, options.s3_port)
    if options.fresh:
        empty_data_dir(data_dir)
    return Preflight(data_dir, logs_dir, api_socket)


def make_folder(folder: Path) -> None:
    """Create `folder` (and its parents); `StackError` (exit 2) if that is impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StackError(
            f"--data-dir: cannot create {folder}: {error.strerror or error}", exit_code=2
        ) from error


def empty_data_dir(data_dir: Path) -> None:
    """Delete DynamoDB Local's files, refusing if the folder holds anything else."""
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise StackError(f"--data-dir {data_dir} is not a folder", exit_code=2)
    entries = sorted(data_dir.iterdir())
    foreign = [
        e.name for e in entries if not (e.is_file() and DYNAMODB_LOCAL_FILE.fullmatch(e.name))
    ]
    if foreign:
        raise StackError(
            f"--fresh: refusing to empty {data_dir}: it holds {foreign[0]!r}, which DynamoDB "
            "Local did not write; pick another --data-dir",
            exit_code=2,
        )
    for entry in entries:
        entry.unlink()


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """Hold a lock next to `data_dir` for as long as this `om dev` runs."""
    lock_path = data_dir.parent / f"{data_dir.name}.lock"
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise StackError(
                f"another om dev is already running on {data_dir} (lock {lock_path})",
                exit_code=2,
            ) from error
        yield


@contextlib.contextmanager
def _bind_api_socket(host: str, port: int) -> Iterator[socket.socket]:
    """The API's listening socket, bound now so the port cannot be taken before uvicorn runs."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StackError(f"--host {host}: {error.strerror}", exit_code=2) from error
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            raise StackError(
                f"--port {port}: cannot listen on {host}:{port} ({error.strerror or error})",
                exit_code=2,
            ) from error
        yield sock


def _check_port_free(option: str, host: str, port: int) -> None:
    with socket.socket() as probe:
        # Like the servers themselves, ignore connections lingering in TIME_WAIT.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise StackError(
                f"{option} {port}: cannot listen on {host}:{port} ({error.strerror or error})",
                exit_code=2,
            ) from error
