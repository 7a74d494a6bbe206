"""`om dev` on the command line: options forwarded as given; only `om dev` loads the stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.api.settings import ApiSettings
from services.cli import app
from services.devstack import stack
from services.devstack.options import DevOptions, Engine

# Runs `om` in a fresh interpreter and prints which of our modules ended up imported.
IMPORT_PROBE = """
import json, sys
from typer.main import get_command
from services.cli import app
command = get_command(app)
try:
    command.main(args=sys.argv[1:], prog_name="om")
except SystemExit as exit_:
    assert exit_.code in (0, None), exit_.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("services", "moto"))))
"""


def modules_imported_by(*args: str) -> list[str]:
    """The `services.*` and `moto` modules a fresh `om ARGS` has imported when it exits."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [["api", "--help"], ["table", "create", "--help"], ["load-job", "--help"], ["--help"]],
)
def test_production_commands_import_nothing_from_the_local_stack(args: list[str]) -> None:
    imported = modules_imported_by(*args)
    assert "services.cli" in imported
    assert [m for m in imported if m.startswith("services.devstack") or m == "moto"] == []


def test_om_dev_is_loaded_from_the_local_stack_when_asked_for() -> None:
    assert "services.devstack.command" in modules_imported_by("dev", "--help")


def run_dev(monkeypatch: pytest.MonkeyPatch, *args: str) -> DevOptions:
    """What `om dev ARGS` would hand to `run_stack` (which is replaced)."""
    received: list[DevOptions] = []

    def record(options: DevOptions, settings: ApiSettings) -> None:
        assert settings.dynamodb_endpoint_url == options.dynamodb_endpoint_url
        received.append(options)

    monkeypatch.setattr(stack, "run_stack", record)
    result = CliRunner().invoke(app, ["dev", *args])
    assert result.exit_code == 0, result.output
    [options] = received
    return options


def test_om_dev_defaults_are_its_documented_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OM_DEV_API_KEY", raising=False)
    assert run_dev(monkeypatch) == DevOptions(
        engine=Engine.AUTO,
        host="127.0.0.1",
        port=8080,
        dynamodb_port=8000,
        s3_port=5000,
        data_dir=Path(".om/dev/dynamodb"),
        fresh=False,
        api_key=None,
    )


def test_om_dev_forwards_every_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    options = run_dev(
        monkeypatch,
        *("--engine", "moto", "--host", "::1", "--port", "9001"),
        *("--dynamodb-port", "9002", "--s3-port", "9003"),
        *("--data-dir", str(tmp_path / "data"), "--fresh"),
        *("--api-key", "k" * 40),
    )
    assert options == DevOptions(
        engine=Engine.MOTO,
        host="::1",
        port=9001,
        dynamodb_port=9002,
        s3_port=9003,
        data_dir=tmp_path / "data",
        fresh=True,
        api_key="k" * 40,
    )


def test_om_dev_takes_the_api_key_from_om_dev_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OM_DEV_API_KEY", "e" * 40)
    assert run_dev(monkeypatch).api_key == "e" * 40


def test_the_api_key_is_not_shown_in_the_options_repr() -> None:
    assert "k" * 40 not in repr(DevOptions(api_key="k" * 40))


def test_a_bad_om_dev_option_exits_2_naming_it() -> None:
    result = CliRunner().invoke(app, ["dev", "--dynamodb-port", "0"])
    assert result.exit_code == 2
    assert "--dynamodb-port" in result.output
