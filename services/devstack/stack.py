"""`om dev`: the whole stack on one machine, from one command, stopped by Ctrl-C or SIGTERM.

The order of things, each step in a module of its own:

1. `preflight`: bad input fails before anything starts (ports, the data folder and its lock).
2. `engine`: DynamoDB Local when Java is there, else moto with a notice.
3. `environment`: loopback endpoints and dummy keys for this process and every child.
4. `emulators`: moto for S3 (and DynamoDB in moto mode), DynamoDB Local otherwise; the API app
   is built meanwhile (`serve.build_app`), since its imports take as long as the emulators' start.
5. `provision`: the table and the bucket; `dev_key`: the development API key and its file;
   `pipeline`: the local S3 → EventBridge → SQS → loader.
6. `banner`, then `serve`: the API in this process until Ctrl-C or SIGTERM (`signals`).

Stopping: the API drains first (uvicorn's graceful shutdown), then everything started is closed
in reverse order by one `ExitStack`, shielded from further signals. A requested stop returns
normally (exit 0); `StackError` carries 2 when the stack cannot start as asked (a port in use, the
requested engine unavailable, an unusable data folder) and 1 when starting fails part-way (an
emulator dies, the table cannot be created).
"""

from __future__ import annotations

import contextlib
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from services.devstack.banner import banner
from services.devstack.dev_key import key_file, register_dev_key
from services.devstack.emulators import start_emulators
from services.devstack.engine import choose_engine
from services.devstack.environment import (
    export_environment,
    settings_for_moto,
    settings_for_own_calls,
)
from services.devstack.options import Engine
from services.devstack.preflight import preflight
from services.devstack.provision import create_table_and_bucket
from services.devstack.serve import build_app, serve_api
from services.devstack.signals import StopSignals

if TYPE_CHECKING:
    from services.api.settings import ApiSettings
    from services.devstack.options import DevOptions


def run_stack(options: DevOptions, settings: ApiSettings) -> None:
    """Start the emulators, create the table and bucket, serve the API until Ctrl-C or SIGTERM.

    Returns normally after a requested stop; raises `StackError` when the stack cannot start.
    """
    if (settings.dynamodb_endpoint_url, settings.s3_endpoint_url) != (
        options.dynamodb_endpoint_url,
        options.s3_endpoint_url,
    ):
        raise ValueError("settings must be built with settings_overrides(options)")
    with StopSignals() as signals:
        resources = contextlib.ExitStack()
        requested_stop = False
        try:
            _start_and_serve(options, settings, resources)
            requested_stop = True  # it returns only once the API was asked to stop
        except KeyboardInterrupt:
            requested_stop = True
        finally:
            signals.ignore()
            if requested_stop:
                print("om dev: stopping...", file=sys.stderr, flush=True)
            resources.close()
    print("om dev: stopped", file=sys.stderr, flush=True)


def _start_and_serve(
    options: DevOptions, settings: ApiSettings, resources: contextlib.ExitStack
) -> None:
    from services.devstack.pipeline import start_upload_pipeline
    from services.logs import configure_logging

    checked = preflight(options, resources)
    choice = choose_engine(options.engine)
    if choice.notice:
        print(choice.notice, file=sys.stderr, flush=True)
    if choice.engine is Engine.MOTO:
        settings = settings_for_moto(settings)
    configure_logging(settings.log_level)
    export_environment(settings)
    # Children are spawned from this thread only, because a child's parent-death signal fires
    # when the thread that spawned it ends.
    builder = resources.enter_context(ThreadPoolExecutor(1, thread_name_prefix="om-dev-app"))
    app_future = builder.submit(build_app, settings)
    working_copy = start_emulators(
        options, choice.engine, checked.data_dir, checked.logs_dir, resources
    )
    app = app_future.result()
    own_calls = settings_for_own_calls(settings)
    created = create_table_and_bucket(own_calls)
    key_path = key_file(checked.data_dir)
    dev_key = register_dev_key(own_calls, given=options.api_key, path=key_path)
    start_upload_pipeline(own_calls, checked.logs_dir, resources)
    summary = banner(
        settings,
        choice.engine,
        checked.data_dir,
        checked.logs_dir,
        created,
        in_ram=working_copy is not None,
        api_key=(dev_key.secret, key_path),
    )
    print(summary, flush=True)
    serve_api(app, settings, checked.api_socket)
