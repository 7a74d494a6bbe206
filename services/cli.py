"""`om`: the project's one command line. Each service's container runs exactly one subcommand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from services.api.settings import ApiSettings
from services.devstack.stack import DEFAULT_DATA_DIR, LOOPBACK, Engine
from shared.errors import StoreUnavailable
from shared.settings import AwsSettings

app = typer.Typer(
    name="om",
    help="Order management: the API, the local stack and table tooling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
table_app = typer.Typer(help="Create and describe the single DynamoDB table.", no_args_is_help=True)
app.add_typer(table_app, name="table")

SettingsT = TypeVar("SettingsT", bound=AwsSettings)


def load(settings_type: type[SettingsT], **overrides: object) -> SettingsT:
    """Settings from the environment plus command-line overrides; exit 2 with the reason if bad."""
    try:
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return settings_type(**given)
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            typer.echo(f"error: setting {field} (OM_{field.upper()}): {problem['msg']}", err=True)
        raise typer.Exit(2) from error


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address [OM_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [OM_API_PORT]")] = None,
) -> None:
    """Serve the API against whatever the OM_* settings point at (what the container runs)."""
    import uvicorn

    from services.api.main import create_app
    from services.logs import configure_logging

    settings = load(ApiSettings, api_host=host, api_port=port)
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="*",
        # Longer than the load balancer's 60 s idle timeout, so it never reuses a closed socket.
        timeout_keep_alive=75,
        timeout_graceful_shutdown=20,
    )


@app.command()
def dev(
    engine: Annotated[
        Engine,
        typer.Option(
            help="DynamoDB engine: auto = DynamoDB Local if Java is found and the emulator can "
            "be fetched, else moto (in memory only, one request at a time, with a notice)"
        ),
    ] = Engine.AUTO,
    host: Annotated[str, typer.Option(help="API bind address")] = LOOPBACK,
    port: Annotated[int, typer.Option(min=1, max=65535, help="API port")] = 8080,
    dynamodb_port: Annotated[
        int, typer.Option(min=1, max=65535, help="DynamoDB endpoint port (either engine)")
    ] = 8000,
    s3_port: Annotated[int, typer.Option(min=1, max=65535, help="S3 (moto) endpoint port")] = 5000,
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
) -> None:
    """Run the whole stack locally: DynamoDB (DynamoDB Local or moto), S3 (moto) and the API.

    Endpoints are 127.0.0.1 only and credentials fixed dummies, so it never reaches AWS.
    Ctrl-C or SIGTERM stops everything.
    """
    from services.devstack.stack import DevOptions, StackError, run_stack, settings_overrides

    options = DevOptions(
        engine=engine,
        host=host,
        port=port,
        dynamodb_port=dynamodb_port,
        s3_port=s3_port,
        data_dir=data_dir,
        fresh=fresh,
    )
    settings = load(ApiSettings, **settings_overrides(options))
    try:
        run_stack(options, settings)
    except StackError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from error


@table_app.command("create")
def table_create(
    dynamodb_endpoint_url: Annotated[
        str | None, typer.Option(help="DynamoDB endpoint [OM_DYNAMODB_ENDPOINT_URL]")
    ] = None,
    s3_endpoint_url: Annotated[
        str | None, typer.Option(help="S3 endpoint [OM_S3_ENDPOINT_URL]")
    ] = None,
    bucket: Annotated[bool, typer.Option(help="Also create the upload bucket")] = True,
) -> None:
    """Create the table (and the upload bucket) from the declaration; existing ones are kept."""
    from shared.repository import ensure_bucket, ensure_table, make_clients

    settings = load(
        AwsSettings, dynamodb_endpoint_url=dynamodb_endpoint_url, s3_endpoint_url=s3_endpoint_url
    )
    clients = make_clients(settings)
    try:
        created = ensure_table(clients.dynamodb, settings.table_name)
        typer.echo(f"table {settings.table_name}: {'created' if created else 'exists'}")
        if bucket:
            created = ensure_bucket(clients.s3, settings.bucket_name, settings.region)
            typer.echo(f"bucket {settings.bucket_name}: {'created' if created else 'exists'}")
    except StoreUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error


@table_app.command("export-workbench")
def table_export_workbench(
    output: Annotated[Path, typer.Option(help="Where to write the NoSQL Workbench model")] = Path(
        "resources/DynamoDB-Design-NoSqlWorkbench.json"
    ),
) -> None:
    """Write the NoSQL Workbench data model (with sample items) from the table declaration."""
    from shared.workbench import render_workbench_model

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_workbench_model())
    typer.echo(f"wrote {output}")


@app.command(
    "load-job",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def load_job(context: typer.Context) -> None:
    """Load one uploaded CSV (what the AWS Batch job runs): --bucket B --key K."""
    from services.loader.cli import main as load_main

    raise typer.Exit(load_main(context.args))


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(help="CSV of orders: orderId,symbol,side,amount,price")],
    api: Annotated[str, typer.Option(help="Base URL of the API")] = "http://127.0.0.1:8080",
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the loader to finish")
    ] = 600,
) -> None:
    """Batch-load a CSV through the API: upload it, wait for the loader, print a summary."""
    from rich.console import Console

    from services.upload_client import UploadFailed
    from services.upload_client import upload as run_upload

    if not file.is_file():
        typer.echo(f"error: {file} is not a readable file", err=True)
        raise typer.Exit(2)
    console = Console(soft_wrap=True, highlight=False)
    try:
        status = run_upload(file, api=api, timeout_seconds=timeout, console=console)
    except UploadFailed as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    raise typer.Exit(status)


def main() -> None:
    """Console-script entry point."""
    app()
