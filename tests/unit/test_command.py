"""The `om` entry point: `load-job` reaches the loader without the typer app; the rest go to it."""

from __future__ import annotations

import subprocess
import sys

# Runs `om ARGS` in a fresh interpreter and, at exit, reports whether typer was ever imported.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('typer loaded:', 'typer' in sys.modules, file=sys.stderr))\n"
    "sys.argv = ['om', *sys.argv[1:]]\n"
    "from services.command import main\n"
    "main()\n"
)


def om(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )


def test_load_job_runs_the_loader_without_importing_the_command_line_app() -> None:
    result = om("load-job")
    assert result.returncode == 2  # the loader's own usage error: --bucket and --key missing
    assert "om load-job: error" in result.stderr
    assert "typer loaded: False" in result.stderr


def test_every_other_command_is_the_typer_app() -> None:
    result = om("--help")
    assert result.returncode == 0
    assert "load-job" in result.stdout and "dev" in result.stdout
    assert "typer loaded: True" in result.stderr
