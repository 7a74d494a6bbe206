"""The development API key `om dev` registers: account `dev`, every scope, kept in a file.

Which key, in this order:

1. `--api-key` / `OM_DEV_API_KEY`: any 32–128 printable ASCII characters without spaces, so
   scripts and tests can know it in advance.
2. The key in the key file from an earlier start, so scripts that read it keep working across
   restarts (and `--fresh`).
3. Else a new random key.

It is registered at every start (`ApiKeyRepository.register` rewrites its record), so it is valid
even after `--fresh` emptied the table or someone revoked it. The key file, `api-key` next to the
data folder (`.om/dev/api-key`), holds the key alone on one line, mode 0600, replaced atomically.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from services.devstack.errors import StackError
from shared.access import ALL_SCOPES, is_well_formed_key

if TYPE_CHECKING:
    from shared.repository.api_keys import IssuedKey
    from shared.settings import AwsSettings

DEV_ACCOUNT = "dev"
KEY_NAME = "om dev"
KEY_FILE = "api-key"
KEY_RULE = "32-128 printable ASCII characters without spaces"


def check_given_key(given: str | None) -> None:
    """Refuse a key `--api-key` / `OM_DEV_API_KEY` names that no key can be (exit 2)."""
    if given is not None and not is_well_formed_key(given):
        raise StackError(f"--api-key (OM_DEV_API_KEY): must be {KEY_RULE}", exit_code=2)


def key_file(data_dir: Path) -> Path:
    """Where `om dev` keeps the key: next to the data folder."""
    return data_dir.parent / KEY_FILE


def register_dev_key(settings: AwsSettings, *, given: str | None, path: Path) -> IssuedKey:
    """Register the development key (see the module docstring for which) and write its file."""
    from shared.errors import OrderManagementError
    from shared.repository import make_clients
    from shared.repository.api_keys import ApiKeyRepository

    keys = ApiKeyRepository(make_clients(settings).dynamodb, settings.table_name)
    try:
        issued = keys.register(
            DEV_ACCOUNT, ALL_SCOPES, KEY_NAME, secret=given or _previous_key(path)
        )
    except OrderManagementError as error:
        raise StackError(f"cannot register the development API key: {error}") from error
    try:
        write_key_file(path, issued.secret)
    except OSError as error:
        raise StackError(f"cannot write {path}: {error.strerror or error}", exit_code=2) from error
    return issued


def write_key_file(path: Path, key: str) -> None:
    """`key` alone in `path`, readable by this user only; never a half-written file."""
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    # Created 0600, not chmod-ed after: the key is never readable by others, not even briefly.
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key + "\n")
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def _previous_key(path: Path) -> str | None:
    """The key an earlier start wrote, if the file holds one."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        key = path.read_text(encoding="ascii").strip()
        if is_well_formed_key(key):
            return key
    return None
