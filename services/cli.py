"""`om`: the project's one command line. Each service's container runs exactly one subcommand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from services.api.settings import ApiSettings
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


def main() -> None:
    """Console-script entry point."""
    app()
