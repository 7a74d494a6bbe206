"""`om dev` started as a user starts it: the console script, in a subprocess, on free ports.

Each stack gets its own ports and a data folder under the test's tmp_path; its terminal output is
captured to files (a pipe could fill up and stall it). Whatever a test leaves running is stopped
at teardown, and killed if it does not stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

OM = str(Path(sys.executable).parent / "om")
# The first run on a machine may fetch DynamoDB Local (~56 MB) before the JVM starts.
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
# Settings `om dev` should not inherit from the developer's shell, except where the emulator is.
KEPT_OM_VARIABLES = ("OM_CACHE_DIR", "OM_DYNAMODB_LOCAL_DIR")


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def accepts_connections(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _proc_state(stat: Path) -> tuple[str, int] | None:
    """(state, parent pid) from /proc/<pid>/stat, or None if the process is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def live_children(pid: int) -> list[int]:
    """Running child processes of `pid` (Linux /proc; zombies count as gone)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        state = _proc_state(stat)
        if state is not None and state[1] == pid and state[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def live_children_running(pid: int, argument: str) -> list[int]:
    """Running children of `pid` with `argument` on their command line (Linux /proc)."""
    found = []
    for child in live_children(pid):
        with contextlib.suppress(OSError):
            if argument.encode() in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                found.append(child)
    return found


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (Linux /proc)."""
    state = _proc_state(Path(f"/proc/{pid}/stat"))
    return state is not None and state[0] != "Z"


def om_env(**changes: str | None) -> dict[str, str]:
    """The test process's environment without OM_* settings; `None` removes a variable."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OM_") or name in KEPT_OM_VARIABLES
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture
def env_without_java(tmp_path: Path) -> dict[str, str]:
    """An environment in which `java` cannot be found (the console script needs no PATH)."""
    empty = tmp_path / "no-java-bin"
    empty.mkdir()
    return om_env(PATH=str(empty), JAVA_HOME=None)


@dataclass
class DevStack:
    """One running `om dev` and where to reach it."""

    process: subprocess.Popen[bytes]
    api_port: int
    dynamodb_port: int
    s3_port: int
    data_dir: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def base_url(self) -> str:
        """The API's root URL."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ports(self) -> tuple[int, int, int]:
        """The API's and both emulators' ports."""
        return (self.api_port, self.dynamodb_port, self.s3_port)

    def stdout(self) -> str:
        """What `om dev` printed to stdout so far."""
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        """What `om dev` printed to stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    @property
    def api_key_path(self) -> Path:
        """Where `om dev` writes its development API key."""
        return self.data_dir.parent / "api-key"

    def api_key(self) -> str:
        """The development API key, read from its file as a user's script would."""
        return self.api_key_path.read_text().strip()

    def client(self) -> httpx.Client:
        """An HTTP client for the API, sending the development key."""
        return httpx.Client(
            base_url=self.base_url,
            timeout=10,
            headers={"Authorization": f"Bearer {self.api_key()}"},
        )

    def wait_until_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Poll /api/health until it answers 200; fail with the output if `om dev` exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"om dev exited with {self.process.returncode} while starting:\n"
                    f"{self.stdout()}\n{self.stderr()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        pytest.fail(f"om dev was not healthy within {timeout:.0f} s:\n{self.stderr()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Send `signum` and return the exit code; fail if it does not exit within `timeout`."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"om dev did not exit within {timeout:.0f} s of signal {signum}")


StartDev = Callable[..., DevStack]


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[StartDev]:
    """Start `om dev` with free ports and tmp_path/dynamodb as data folder, and wait for health.

    Extra arguments go on the command line; `env=` replaces the environment, `data_dir=` the
    folder, `wait=False` returns without waiting for the API.
    """
    stacks: list[DevStack] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        wait: bool = True,
    ) -> DevStack:
        api_port, dynamodb_port, s3_port = free_ports(3)
        data_dir = data_dir or tmp_path / "dynamodb"
        run = len(stacks)
        stdout_path = tmp_path / f"om-dev-{run}.stdout"
        stderr_path = tmp_path / f"om-dev-{run}.stderr"
        command = [
            OM,
            "dev",
            "--port",
            str(api_port),
            "--dynamodb-port",
            str(dynamodb_port),
            "--s3-port",
            str(s3_port),
            "--data-dir",
            str(data_dir),
            *args,
        ]
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                env=env if env is not None else om_env(),
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        stack = DevStack(
            process, api_port, dynamodb_port, s3_port, data_dir, stdout_path, stderr_path
        )
        stacks.append(stack)
        if wait:
            stack.wait_until_healthy()
        return stack

    yield start
    for stack in stacks:
        if stack.process.poll() is None:
            stack.process.terminate()
            try:
                stack.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                stack.process.kill()
                stack.process.wait()


def run_om_dev(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `om dev` to completion (for inputs it must refuse before starting anything)."""
    return subprocess.run(
        [OM, "dev", *args],
        env=env if env is not None else om_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
