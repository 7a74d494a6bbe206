"""Starting batch loads and reading their status: the API's side of the upload flow."""

from __future__ import annotations

import uuid
from datetime import timedelta

from shared.clock import Clock, utc_now
from shared.errors import LoadNotFound
from shared.models import BatchLoad, LoadStatus
from shared.repository.loads import LoadRepository
from shared.repository.uploads import UploadStore


def upload_key(upload_prefix: str, load_id: str) -> str:
    """Where the CSV of load `load_id` is uploaded: one key per load, so nothing is overwritten."""
    return f"{upload_prefix}{load_id}.csv"


def load_id_from_key(upload_prefix: str, key: str) -> str | None:
    """The load id an upload key names, or None for keys this flow did not issue."""
    if not key.startswith(upload_prefix) or not key.endswith(".csv"):
        return None
    load_id = key[len(upload_prefix) : -len(".csv")]
    return load_id if len(load_id) == 32 and all(c in "0123456789abcdef" for c in load_id) else None


class BatchLoadService:
    """Issues upload URLs for new loads and reports their progress."""

    def __init__(
        self,
        loads: LoadRepository,
        uploads: UploadStore,
        *,
        bucket: str,
        upload_prefix: str,
        url_lifetime: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._loads = loads
        self._uploads = uploads
        self._bucket = bucket
        self._prefix = upload_prefix
        self._lifetime = url_lifetime
        self._clock = clock

    def start(self, account: str) -> tuple[BatchLoad, str]:
        """A new PENDING load of `account` and the presigned PUT URL for its CSV."""
        load_id = uuid.uuid4().hex
        now = self._clock()
        load = BatchLoad(
            id=load_id,
            status=LoadStatus.PENDING,
            bucket=self._bucket,
            object_key=upload_key(self._prefix, load_id),
            created_at=now,
            url_expires_at=now + self._lifetime,
            account=account,
        )
        url = self._uploads.presign_put(
            self._bucket, load.object_key, int(self._lifetime.total_seconds())
        )
        return self._loads.create(load), url

    def status(self, load_id: str, *, viewer: str | None) -> BatchLoad:
        """The load as it stands, if `viewer` started it (None: any viewer, for admins).

        Raises `LoadNotFound` — also for another account's load, whose existence is not told.
        """
        load = self._loads.get(load_id)
        if viewer is not None and load.account != viewer:
            raise LoadNotFound(load_id)
        return load
