"""`om`: the project's one command line. Each service's container runs exactly one subcommand."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from services.api.settings import ApiSettings
from services.command import LOAD_JOB
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
keys_app = typer.Typer(
    help="Create, list and revoke API keys directly in the table (for the operator who "
    "bootstraps the first admin key; needs AWS credentials and the usual OM_* settings).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

if TYPE_CHECKING:
    from shared.repository.api_keys import ApiKeyRepository

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


# `om dev`'s options and code live in the local stack, imported only when `om dev` runs: the
# containers' `om api` and `om load-job` must not load the local stack or its dependencies.
@app.command(
    "dev",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def dev(context: typer.Context) -> None:
    """Run the whole stack locally: DynamoDB, S3 and the API (om dev --help for the options)."""
    from services.devstack.command import main as dev_main

    raise typer.Exit(dev_main(context.args))


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


def _api_keys(settings: AwsSettings) -> ApiKeyRepository:
    from shared.repository import make_clients
    from shared.repository.api_keys import ApiKeyRepository

    return ApiKeyRepository(make_clients(settings).dynamodb, settings.table_name)


def _fail(error: Exception, exit_code: int = 1) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(exit_code)


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="The account the key belongs to")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated scopes: read, orders, trade, load, admin")
    ],
    name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
) -> None:
    """Create a key; its details go to stderr and the key alone is the last line of stdout."""
    from shared.errors import OrderManagementError
    from shared.validation import InvalidValue, check_account, check_key_name, parse_scopes

    try:
        checked_account = check_account(account)
        checked_scopes = parse_scopes([part.strip() for part in scopes.split(",") if part.strip()])
        checked_name = check_key_name(name)
    except InvalidValue as error:
        raise _fail(InvalidValue(f"invalid --account, --scopes or --name: {error}"), 2) from error
    settings = load(AwsSettings)
    try:
        issued = _api_keys(settings).create(checked_account, checked_scopes, checked_name)
    except OrderManagementError as error:
        raise _fail(error) from error
    scope_list = ",".join(sorted(scope.value for scope in issued.record.scopes))
    typer.echo(
        f"created key {issued.key_id} for account {checked_account} with scopes {scope_list} "
        f"in table {settings.table_name}; it is shown once, below:",
        err=True,
    )
    typer.echo(issued.secret)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key")] = False,
) -> None:
    """Every key (never a key itself), oldest first."""
    import json

    from shared.clock import format_timestamp
    from shared.errors import OrderManagementError

    settings = load(AwsSettings)
    try:
        found = _api_keys(settings).list()
    except OrderManagementError as error:
        raise _fail(error) from error
    for key in found:
        scope_names = sorted(scope.value for scope in key.scopes)
        revoked = format_timestamp(key.revoked_at) if key.revoked_at else None
        if as_json:
            entry = {
                "keyId": key.key_id,
                "account": key.account,
                "scopes": scope_names,
                "name": key.name,
                "createdAt": format_timestamp(key.created_at),
                "revokedAt": revoked,
            }
            typer.echo(json.dumps(entry))
        else:
            state = f"revoked {revoked}" if revoked else "active"
            typer.echo(
                f"{key.key_id}  {key.account:<20} {','.join(scope_names):<28} {state:<38} "
                f"{key.name}"
            )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The keyId to revoke")]) -> None:
    """Revoke a key: refused at once by new verifications, by every API replica within 60 s."""
    from shared.access import KEY_ID_PATTERN
    from shared.errors import OrderManagementError

    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise _fail(ValueError(f"{key_id!r} is not a key id (24 hex digits)"), 2)
    settings = load(AwsSettings)
    try:
        revoked = _api_keys(settings).revoke(key_id)
    except OrderManagementError as error:
        raise _fail(error) from error
    typer.echo(f"revoked key {revoked.key_id} of account {revoked.account}")


@app.command(
    LOAD_JOB,
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
    key_file: Annotated[
        Path | None,
        typer.Option(
            show_default=False,
            help="Read the API key from this file. Default: OM_API_KEY, else .om/dev/api-key "
            "(where om dev writes its key; om dev --data-dir D writes it next to D)",
        ),
    ] = None,
) -> None:
    """Batch-load a CSV through the API: upload it, wait for the loader, print a summary.

    The API key (scopes load and read): --key-file, else OM_API_KEY, else .om/dev/api-key.
    """
    import os

    from rich.console import Console

    from services.upload_client import NoApiKey, UploadFailed, find_api_key
    from services.upload_client import upload as run_upload

    if not file.is_file():
        typer.echo(f"error: {file} is not a readable file", err=True)
        raise typer.Exit(2)
    try:
        api_key = find_api_key(os.environ, key_file)
    except NoApiKey as error:
        raise _fail(error, 2) from error
    console = Console(soft_wrap=True, highlight=False)
    try:
        status = run_upload(
            file, api=api, api_key=api_key, timeout_seconds=timeout, console=console
        )
    except UploadFailed as error:
        raise _fail(error) from error
    raise typer.Exit(status)


def main() -> None:
    """Console-script entry point."""
    app()
