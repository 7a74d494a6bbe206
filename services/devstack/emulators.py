"""The emulator processes of `om dev`: one moto server, and DynamoDB Local unless moto serves it.

S3 always runs on moto (in memory). One moto server process serves S3 on `--s3-port` and, in moto
mode, DynamoDB on `--dynamodb-port` too: the endpoints are the same whatever the engine.
DynamoDB Local works on a copy of the data folder's database in RAM where it can (see
`working_copy` for why, and what survives which failure), saved back when it has stopped. Emulator
output goes to log files next to the data folder (`.om/dev/logs/`), not to the terminal. Each
emulator is stopped by the `ExitStack` it is registered with: SIGTERM, then SIGKILL after a
timeout; the parent-death signal set by `processes.spawn` covers an `om dev` that is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from services.devstack.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable
from services.devstack.errors import StackError
from services.devstack.options import LOOPBACK, DevOptions, Engine
from services.devstack.preflight import make_folder
from services.devstack.processes import spawn, stop, wait_for_port
from services.devstack.working_copy import RamUnavailable, WorkingCopy, open_working_copy

STOP_TIMEOUT_SECONDS = 10.0
MOTO_START_TIMEOUT_SECONDS = 60.0


def start_emulators(
    options: DevOptions,
    engine: Engine,
    data_dir: Path,
    logs_dir: Path,
    resources: contextlib.ExitStack,
) -> WorkingCopy | None:
    """moto (S3, and DynamoDB in moto mode) and DynamoDB Local, each stopped by `resources`.

    Returns the RAM working copy DynamoDB Local works on, if it does.
    """
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
    working_copy = None
    if engine is Engine.DYNAMODB_LOCAL:
        dynamodb_log = logs_dir / "dynamodb-local.log"
        try:
            working_copy = start_dynamodb_local(
                options.dynamodb_port,
                data_dir,
                log=resources.enter_context(_open_log(dynamodb_log)),
                fresh=options.fresh,
                resources=resources,
            )
        except DynamoDBLocalUnavailable as error:
            raise StackError(f"{error}; see {dynamodb_log}") from error
    try:
        for port in moto_ports:
            wait_for_port(LOOPBACK, port, timeout=MOTO_START_TIMEOUT_SECONDS, process=moto)
    except (RuntimeError, TimeoutError) as error:
        raise StackError(f"the moto server did not start: {error}; see {moto_log}") from error
    return working_copy


def start_dynamodb_local(
    port: int,
    data_dir: Path,
    *,
    log: IO[bytes],
    fresh: bool,
    resources: contextlib.ExitStack,
) -> WorkingCopy | None:
    """DynamoDB Local as `om dev` runs it, stopped (and its data saved) by `resources`.

    It works on a RAM working copy of `data_dir`'s database where it can; returns that copy.
    """
    make_folder(data_dir)
    working_copy = _place_in_ram(data_dir, fresh=fresh)
    if working_copy is not None:
        # Registered first, so it runs once DynamoDB Local has exited.
        resources.callback(_save, working_copy)
    dynamodb = DynamoDBLocal(
        port=port, data_dir=working_copy.folder if working_copy else data_dir, log=log
    )
    resources.callback(dynamodb.close)
    dynamodb.start()
    return working_copy


def _place_in_ram(data_dir: Path, *, fresh: bool) -> WorkingCopy | None:
    """The working copy in RAM, or None (with a notice) when DynamoDB Local must use the disk."""
    try:
        working_copy = open_working_copy(data_dir, fresh=fresh)
    except RamUnavailable as reason:
        print(
            f"notice: DynamoDB Local works in {data_dir} directly ({reason}): every write is"
            " synced to disk, so batch loads can be several times slower than in RAM.",
            file=sys.stderr,
            flush=True,
        )
        return None
    except OSError as error:
        raise StackError(
            f"cannot place the data of {data_dir} in RAM: {error.strerror or error}"
        ) from error
    if working_copy.recovered:
        print(
            f"om dev: recovered the data an om dev that did not stop cleanly left in RAM; "
            f"saved to {data_dir}",
            file=sys.stderr,
            flush=True,
        )
    return working_copy


def _save(working_copy: WorkingCopy) -> None:
    try:
        working_copy.save()
    except OSError as error:
        raise StackError(
            f"could not save the data to {working_copy.data_dir}: {error.strerror or error}; it"
            f" stays in RAM ({working_copy.root}) and the next om dev recovers it"
        ) from error
    working_copy.discard()


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
