"""What `om dev` creates on the emulators before serving: the table and the upload bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.devstack.errors import StackError

if TYPE_CHECKING:
    from services.api.settings import ApiSettings


def create_table_and_bucket(settings: ApiSettings) -> tuple[bool, bool]:
    """Create the table and bucket from the declaration; whether each was new (else kept)."""
    from shared.errors import StoreUnavailable
    from shared.repository import ensure_bucket, ensure_table, make_clients

    clients = make_clients(settings)
    try:
        return (
            ensure_table(clients.dynamodb, settings.table_name),
            ensure_bucket(clients.s3, settings.bucket_name, settings.region),
        )
    except StoreUnavailable as error:
        raise StackError(f"cannot create the table and bucket: {error}") from error
    except Exception as error:  # botocore's errors cannot be named outside shared.repository
        raise StackError(f"cannot create the table and bucket: {error}") from error
