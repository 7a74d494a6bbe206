"""`om dev`: the whole stack on one machine, from one command, stopped by Ctrl-C or SIGTERM.

Design choices:

* DynamoDB runs on AWS's own DynamoDB Local whenever Java is there (`--engine auto`), its data kept
  under `--data-dir` (default `./.om/dev/dynamodb`) so it survives restarts; `--fresh` empties that
  folder first. The jar is fetched into a cache on first use (`dynamodb_local.ensure_emulator`).
* Without Java (or when the jar cannot be fetched) `auto` falls back to moto's DynamoDB with a
  printed notice: in memory only, and serialized, because moto loses acknowledged writes under
  concurrent requests. `--engine` forces either; forcing DynamoDB Local where it cannot run is an
  error (exit 2), never a silent fallback.
* S3 always runs on moto (in memory). One moto server process serves S3 on `--s3-port` and, in
  moto mode, DynamoDB on `--dynamodb-port` too: the endpoints are the same whatever the engine.
* The API runs in this process (uvicorn), so the terminal shows its JSON request log; emulator
  output goes to log files next to the data folder (`.om/dev/logs/`).
* Nothing can reach real AWS: every endpoint is a 127.0.0.1 URL and the credentials are fixed
  dummies, passed explicitly in the settings and exported (with `AWS_PROFILE` and session tokens
  removed) so later child processes such as a loader inherit them.
* Bad input fails before anything starts: the three ports must differ, the API socket is bound up
  front (so nothing can take it between the check and its use), the emulator ports are probed, and
  one lock file per data folder keeps two `om dev` off the same files.
* Stopping: SIGTERM behaves like Ctrl-C from the first moment, so a stop requested while the JVM
  is still starting tears everything down too. The API drains first (uvicorn's graceful shutdown),
  then each child gets SIGTERM and, after a timeout, SIGKILL; the parent-death signal set by
  `processes.spawn` covers an `om dev` that is itself SIGKILLed. A requested stop exits 0.
* Exit codes: 0 after Ctrl-C/SIGTERM; 2 when the stack cannot start as asked (a port in use, the
  requested engine unavailable, an unusable data folder); 1 when starting fails part-way (an
  emulator dies, the table cannot be created).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

import uvicorn

from services.devstack.dynamodb_local import (
    JAR_NAME,
    NPM_VERSION,
    DynamoDBLocal,
    DynamoDBLocalUnavailable,
    default_cache_dir,
    ensure_emulator,
    find_java,
)
from services.devstack.processes import spawn, stop, wait_for_port

if TYPE_CHECKING:
    from fastapi import FastAPI

    from services.api.settings import ApiSettings

LOOPBACK = "127.0.0.1"
ACCESS_KEY_ID = "omlocal"
SECRET_ACCESS_KEY = "omlocalsecret"
REGION = "us-east-1"
DEFAULT_DATA_DIR = Path(".om/dev/dynamodb")
STOP_TIMEOUT_SECONDS = 10.0
MOTO_START_TIMEOUT_SECONDS = 60.0
API_GRACEFUL_SHUTDOWN_SECONDS = 5

# What DynamoDB Local (SQLite underneath) writes into its -dbPath; `--fresh` deletes nothing else.
_DYNAMODB_LOCAL_FILE = re.compile(r".+\.db(-journal|-wal|-shm)?")


class Engine(StrEnum):
    """Which engine serves DynamoDB."""

    AUTO = "auto"
    DYNAMODB_LOCAL = "dynamodb-local"
    MOTO = "moto"


class StackError(Exception):
    """Why the stack cannot start, with the exit code `om dev` ends with."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class DevOptions:
    """What `om dev` was asked for."""

    engine: Engine = Engine.AUTO
    host: str = LOOPBACK
    port: int = 8080
    dynamodb_port: int = 8000
    s3_port: int = 5000
    data_dir: Path = DEFAULT_DATA_DIR
    fresh: bool = False

    @property
    def dynamodb_endpoint_url(self) -> str:
        """The local DynamoDB endpoint."""
        return f"http://{LOOPBACK}:{self.dynamodb_port}"

    @property
    def s3_endpoint_url(self) -> str:
        """The local S3 endpoint."""
        return f"http://{LOOPBACK}:{self.s3_port}"


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """The engine that will serve DynamoDB, and the notice to print if it is the fallback."""

    engine: Engine
    notice: str | None = None


def settings_overrides(options: DevOptions) -> dict[str, object]:
    """The settings `om dev` fixes whatever the environment says: loopback endpoints, dummy keys."""
    return {
        "dynamodb_endpoint_url": options.dynamodb_endpoint_url,
        "s3_endpoint_url": options.s3_endpoint_url,
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "region": REGION,
        "api_host": options.host,
        "api_port": options.port,
    }


def moto_notice(reason: str, remedy: str | None = None) -> str:
    """The notice printed when DynamoDB runs on moto: why, what it costs, how to avoid it."""
    lines = [
        f"notice: DynamoDB runs on moto ({reason}).",
        "  Its data lives in memory only: it is gone when om dev stops.",
        "  It handles one request at a time: moto's DynamoDB loses acknowledged writes under "
        "concurrent requests.",
    ]
    if remedy:
        lines.append(f"  {remedy}")
    return "\n".join(lines)


def choose_engine(requested: Engine) -> EngineChoice:
    """Resolve `auto`; raise `StackError` (exit 2) if DynamoDB Local was demanded but cannot run."""
    if requested is Engine.MOTO:
        return EngineChoice(Engine.MOTO, moto_notice("--engine moto"))
    if find_java() is None:
        if requested is Engine.DYNAMODB_LOCAL:
            raise StackError(
                "--engine dynamodb-local needs Java 17+, and `java` was not found: "
                "install Java (or set JAVA_HOME), or use --engine moto",
                exit_code=2,
            )
        return EngineChoice(
            Engine.MOTO,
            moto_notice(
                "Java was not found",
                "Install Java 17+ (or set JAVA_HOME) to get AWS's DynamoDB Local instead, "
                "which keeps its data under --data-dir.",
            ),
        )
    if _emulator_needs_fetch():
        print(
            f"om dev: fetching DynamoDB Local into {default_cache_dir()} (first use only)...",
            file=sys.stderr,
            flush=True,
        )
    try:
        ensure_emulator()
    except DynamoDBLocalUnavailable as error:
        if requested is Engine.DYNAMODB_LOCAL:
            raise StackError(f"DynamoDB Local is unavailable: {error}", exit_code=2) from error
        return EngineChoice(
            Engine.MOTO,
            moto_notice(
                f"DynamoDB Local is unavailable: {error}",
                "Fix that to get AWS's DynamoDB Local, which keeps its data under --data-dir.",
            ),
        )
    return EngineChoice(Engine.DYNAMODB_LOCAL)


def _emulator_needs_fetch() -> bool:
    # Mirrors ensure_emulator's cache layout, only to explain why the first start is slow.
    if os.environ.get("OM_DYNAMODB_LOCAL_DIR"):
        return False
    return not (default_cache_dir() / "dynamodb-local" / NPM_VERSION / JAR_NAME).is_file()


def export_environment(settings: ApiSettings) -> None:
    """Point this process and every later child at the local endpoints, with the dummy keys."""
    # With a profile set, botocore skips the environment's keys; a stray session token would be
    # sent along with them. Either could lead a child to sign for a real account.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # Honoured by boto3 and the aws CLI v2 even when code forgets an endpoint_url.
            "AWS_ENDPOINT_URL_DYNAMODB": settings.dynamodb_endpoint_url or "",
            "AWS_ENDPOINT_URL_S3": settings.s3_endpoint_url or "",
            "OM_DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url or "",
            "OM_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
            "OM_AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "OM_AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "OM_REGION": REGION,
            "OM_TABLE_NAME": settings.table_name,
            "OM_BUCKET_NAME": settings.bucket_name,
        }
    )


def run_stack(options: DevOptions, settings: ApiSettings) -> None:
    """Start the emulators, create the table and bucket, serve the API until Ctrl-C or SIGTERM.

    Returns normally after a requested stop; raises `StackError` when the stack cannot start.
    """
    if (settings.dynamodb_endpoint_url, settings.s3_endpoint_url) != (
        options.dynamodb_endpoint_url,
        options.s3_endpoint_url,
    ):
        raise ValueError("settings must be built with settings_overrides(options)")
    # SIGTERM raises KeyboardInterrupt like Ctrl-C. uvicorn takes both over while it serves and
    # re-raises the signal after its graceful shutdown: here that, too, ends as a requested stop.
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
    previous_sigint = signal.getsignal(signal.SIGINT)
    resources = contextlib.ExitStack()
    requested_stop = False
    try:
        _start_and_serve(options, settings, resources)
        requested_stop = True  # it returns only once the API was asked to stop
    except KeyboardInterrupt:
        requested_stop = True
    finally:
        # A second Ctrl-C must not leave an emulator half-stopped; each stop is bounded anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if requested_stop:
            print("om dev: stopping...", file=sys.stderr, flush=True)
        try:
            resources.close()
        finally:
            signal.signal(signal.SIGINT, previous_sigint)
            signal.signal(signal.SIGTERM, previous_sigterm)
    print("om dev: stopped", file=sys.stderr, flush=True)


def _start_and_serve(
    options: DevOptions, settings: ApiSettings, resources: contextlib.ExitStack
) -> None:
    from services.logs import configure_logging

    data_dir, logs_dir, api_socket = _preflight(options, resources)
    choice = choose_engine(options.engine)
    if choice.notice:
        print(choice.notice, file=sys.stderr, flush=True)
    configure_logging(settings.log_level)
    export_environment(settings)
    # Building the app opens no connection, and its imports take as long as the emulators'
    # start: overlap them. Children are spawned from this thread only, because a child's
    # parent-death signal fires when the thread that spawned it ends.
    builder = resources.enter_context(ThreadPoolExecutor(1, thread_name_prefix="om-dev-app"))
    app_future = builder.submit(_build_app, settings)
    _start_emulators(options, choice.engine, data_dir, logs_dir, resources)
    app = app_future.result()
    created = _create_table_and_bucket(settings)
    _start_upload_pipeline(settings, logs_dir, resources)
    print(_banner(settings, choice.engine, data_dir, logs_dir, created), flush=True)
    _serve_api(app, settings, api_socket)


def _preflight(
    options: DevOptions, resources: contextlib.ExitStack
) -> tuple[Path, Path, socket.socket]:
    """Refuse bad input before anything starts; returns the data and log folders, API socket."""
    ports = (options.port, options.dynamodb_port, options.s3_port)
    if len(set(ports)) != len(ports):
        raise StackError("--port, --dynamodb-port and --s3-port must all differ", exit_code=2)
    for module in ("moto", "flask", "werkzeug"):
        if importlib.util.find_spec(module) is None:
            raise StackError(
                f"om dev needs moto[server] (a dev dependency; `{module}` is missing): "
                "run `uv sync`",
                exit_code=2,
            )
    data_dir = options.data_dir.expanduser().resolve()
    logs_dir = data_dir.parent / "logs"
    _make_folder(logs_dir)
    resources.enter_context(_exclusive(data_dir))
    api_socket = resources.enter_context(_bind_api_socket(options.host, options.port))
    # DynamoDB Local listens on every interface, so a listener on any of them is in the way.
    _check_port_free("--dynamodb-port", "0.0.0.0", options.dynamodb_port)
    _check_port_free("--s3-port", LOOPBACK, options.s3_port)
    if options.fresh:
        _empty_data_dir(data_dir)
    return data_dir, logs_dir, api_socket


def _start_emulators(
    options: DevOptions,
    engine: Engine,
    data_dir: Path,
    logs_dir: Path,
    resources: contextlib.ExitStack,
) -> None:
    """moto (S3, and DynamoDB in moto mode) and DynamoDB Local, each stopped by `resources`."""
    # One moto serves S3 and, in moto mode, DynamoDB on its own port: the same endpoints as ever.
    moto_ports = [options.s3_port]
    if engine is Engine.MOTO:
        moto_ports.append(options.dynamodb_port)
    moto_log = logs_dir / "moto-server.log"
    moto = _start_moto(
        moto_ports,
        serialize=engine is Engine.MOTO,
        log=resources.enter_context(_open_log(moto_log)),
    )
    resources.callback(_stop_quietly, moto)
    if engine is Engine.DYNAMODB_LOCAL:
        _make_folder(data_dir)
        dynamodb_log = logs_dir / "dynamodb-local.log"
        dynamodb = DynamoDBLocal(
            port=options.dynamodb_port,
            data_dir=data_dir,
            log=resources.enter_context(_open_log(dynamodb_log)),
        )
        resources.callback(dynamodb.close)
        try:
            dynamodb.start()
        except DynamoDBLocalUnavailable as error:
            raise StackError(f"{error}; see {dynamodb_log}") from error
    try:
        for port in moto_ports:
            wait_for_port(LOOPBACK, port, timeout=MOTO_START_TIMEOUT_SECONDS, process=moto)
    except (RuntimeError, TimeoutError) as error:
        raise StackError(f"the moto server did not start: {error}; see {moto_log}") from error


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StackError(
            f"--data-dir: cannot create {folder}: {error.strerror or error}", exit_code=2
        ) from error


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


def _empty_data_dir(data_dir: Path) -> None:
    """Delete DynamoDB Local's files, refusing if the folder holds anything else."""
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise StackError(f"--data-dir {data_dir} is not a folder", exit_code=2)
    entries = sorted(data_dir.iterdir())
    foreign = [
        e.name for e in entries if not (e.is_file() and _DYNAMODB_LOCAL_FILE.fullmatch(e.name))
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
def _open_log(path: Path) -> Iterator[IO[bytes]]:
    with path.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"--- om dev started {stamp} ---\n".encode())
        log.flush()
        yield log


def _start_moto(ports: list[int], *, serialize: bool, log: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "services.devstack.moto_server", "--host", LOOPBACK]
    for port in ports:
        command += ["--port", str(port)]
    if serialize:
        command.append("--serialize")
    return spawn(command, log=log)


def _stop_quietly(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        stop(process, timeout=STOP_TIMEOUT_SECONDS)


def _create_table_and_bucket(settings: ApiSettings) -> tuple[bool, bool]:
    from shared.errors import StoreUnavailable
    from shared.repository import ensure_bucket, ensure_table, make_clients

    clients = make_clients(settings)
    try:
        return (
            ensure_table(clients.dynamodb, settings.table_name),
            ensure_bucket(clients.s3, settings.bucket_name, settings.region),
        )
    except StoreUnavailable as error:
        raise StackError(f"cannot create the table and bucket: {error}") from error
    except Exception as error:  # botocore's errors cannot be named outside shared.repository
        raise StackError(f"cannot create the table and bucket: {error}") from error


def _start_upload_pipeline(
    settings: ApiSettings, logs_dir: Path, resources: contextlib.ExitStack
) -> None:
    """Uploads under the prefix start `om load-job` processes, as S3 → EventBridge → Batch does."""
    from services.devstack.pipeline import UploadPipeline
    from shared.repository import make_clients

    pipeline = UploadPipeline(
        settings,
        s3=make_clients(settings).s3,
        child_env=os.environ,  # already pointed at the local endpoints by export_environment
        log_dir=logs_dir / "loads",
    )
    try:
        pipeline.install()
    except Exception as error:  # botocore's errors cannot be named outside shared.repository
        raise StackError(f"cannot wire the upload pipeline: {error}") from error
    pipeline.start()
    resources.callback(pipeline.close)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _banner(
    settings: ApiSettings,
    engine: Engine,
    data_dir: Path,
    logs_dir: Path,
    created: tuple[bool, bool],
) -> str:
    api = f"http://{_url_host(settings.api_host)}:{settings.api_port}/api"
    dynamodb = settings.dynamodb_endpoint_url
    s3 = settings.s3_endpoint_url
    table_state, bucket_state = ("created" if new else "kept" for new in created)
    if engine is Engine.DYNAMODB_LOCAL:
        storage = f"DynamoDB Local, data in {data_dir}"
    else:
        storage = "moto, in memory only, one request at a time"
    return "\n".join(
        [
            f"om dev is up: DynamoDB on {storage}.",
            "",
            f"  API       {api}",
            f"  Swagger   {api}/swagger",
            f"  DynamoDB  {dynamodb}  table {settings.table_name} ({table_state})",
            f"  S3        {s3}  bucket {settings.bucket_name} ({bucket_state}; moto, in memory)",
            f"  logs      {logs_dir}  (emulator output; loader runs in loads/)",
            f"  uploads   s3://{settings.bucket_name}/{settings.upload_prefix}*.csv start"
            " `om load-job` (try: uv run om upload resources/sample-orders.csv)",
            "",
            "aws CLI (dummy credentials; every endpoint is on 127.0.0.1, nothing reaches AWS):",
            f"  export AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}"
            f" AWS_DEFAULT_REGION={REGION}",
            f"  aws dynamodb scan --table-name {settings.table_name} --endpoint-url {dynamodb}",
            f"  aws s3 ls s3://{settings.bucket_name} --endpoint-url {s3}",
            "",
            "Ctrl-C stops everything. The API's JSON log follows.",
        ]
    )


def _build_app(settings: ApiSettings) -> FastAPI:
    from services.api.main import create_app

    return create_app(settings)


def _serve_api(app: FastAPI, settings: ApiSettings, sock: socket.socket) -> None:
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=API_GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    sock.listen(config.backlog)  # connections made after the banner wait instead of failing
    server.run(sockets=[sock])
    if not server.started and not server.should_exit:
        raise StackError("the API did not start; see its log lines above")
