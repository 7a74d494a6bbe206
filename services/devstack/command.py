"""`om dev` on the command line: its options (a public interface: names and defaults), exit codes.

`services.cli` hands `om dev`'s arguments here and imports this module only then, so the
production commands never import the local stack or what only it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from services.api.settings import ApiSettings
from services.cli import load
from services.devstack.options import DEFAULT_DATA_DIR, LOOPBACK, DevOptions, Engine

_defaults = DevOptions()
dev_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def main(argv: Sequence[str]) -> int:
    """Run `om dev` with these arguments; its exit status."""
    try:
        dev_app(args=list(argv), prog_name="om dev")
    except SystemExit as exit_:
        # click always ends by raising SystemExit; a message instead of a code means failure.
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


@dev_app.command()
def dev(
    engine: Annotated[
        Engine,
        typer.Option(
            help="DynamoDB engine: auto = DynamoDB Local if Java is found and the emulator can "
            "be fetched, else moto (in memory only, one request at a time, with a notice)"
        ),
    ] = _defaults.engine,
    host: Annotated[str, typer.Option(help="API bind address")] = LOOPBACK,
    port: Annotated[int, typer.Option(min=1, max=65535, help="API port")] = _defaults.port,
    dynamodb_port: Annotated[
        int, typer.Option(min=1, max=65535, help="DynamoDB endpoint port (either engine)")
    ] = _defaults.dynamodb_port,
    s3_port: Annotated[
        int, typer.Option(min=1, max=65535, help="S3 (moto) endpoint port")
    ] = _defaults.s3_port,
    data_dir: Annotated[
        Path,
        typer.Option(
            help="DynamoDB Local's data folder (kept across restarts); emulator logs go to "
            "logs/ next to it. moto keeps nothing on disk"
        ),
    ] = DEFAULT_DATA_DIR,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete the data in --data-dir first and start empty")
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="OM_DEV_API_KEY",
            show_default=False,
            help="The development API key (account dev, every scope): 32-128 printable ASCII "
            "characters without spaces. Default: the one in api-key next to --data-dir, else a "
            "new one; either way it is written there",
        ),
    ] = None,
) -> None:
    """Run the whole stack locally: DynamoDB (DynamoDB Local or moto), S3 (moto) and the API.

    Endpoints are 127.0.0.1 only and credentials fixed dummies, so it never reaches AWS.
    Ctrl-C or SIGTERM stops everything.
    """
    from services.devstack.environment import settings_overrides
    from services.devstack.errors import StackError
    from services.devstack.stack import run_stack

    options = DevOptions(
        engine=engine,
        host=host,
        port=port,
        dynamodb_port=dynamodb_port,
        s3_port=s3_port,
        data_dir=data_dir,
        fresh=fresh,
        api_key=api_key,
    )
    settings = load(ApiSettings, **settings_overrides(options))
    try:
        run_stack(options, settings)
    except StackError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from error
