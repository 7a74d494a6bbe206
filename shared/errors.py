"""Domain errors: one base, one class per failure. Only the repository translates AWS errors."""

from __future__ import annotations


class OrderManagementError(Exception):
    """Base of every error the domain and the repository raise on purpose."""


class OrderNotFound(OrderManagementError):
    """No order with this id exists."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class OrderAlreadyExists(OrderManagementError):
    """An order with this id exists already; it was left untouched."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} already exists")
        self.order_id = order_id


class StoreUnavailable(OrderManagementError):
    """The table could not be reached or kept refusing work after the client's retries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StoreThrottled(StoreUnavailable):
    """The table kept throttling after the client's own retries."""


class StoreConflict(StoreUnavailable):
    """A write met an item inside a running transaction; worth a retry after a pause."""


class StoreOutcomeUnknown(StoreUnavailable):
    """A write was sent but its outcome could not be learnt before the deadline."""


class TradeNotFound(OrderManagementError):
    """No trade with this id exists."""

    def __init__(self, trade_id: str) -> None:
        super().__init__(f"trade {trade_id} does not exist")
        self.trade_id = trade_id


class LoadNotFound(OrderManagementError):
    """No batch load with this id exists."""

    def __init__(self, load_id: str) -> None:
        super().__init__(f"batch load {load_id} does not exist")
        self.load_id = load_id


class LoadFinished(OrderManagementError):
    """The load already SUCCEEDED: a rerun has nothing to do and must change nothing."""

    def __init__(self, load_id: str) -> None:
        super().__init__(f"batch load {load_id} has already succeeded")
        self.load_id = load_id


class LoadLeaseHeld(OrderManagementError):
    """Another run of the loader holds the load until `until` (epoch seconds)."""

    def __init__(self, load_id: str, until: float) -> None:
        super().__init__(f"another run of the loader holds batch load {load_id}")
        self.load_id = load_id
        self.until = until


class LoadLeaseLost(OrderManagementError):
    """This run's lease on the load expired and another run took the load over."""

    def __init__(self, load_id: str) -> None:
        super().__init__(f"another run of the loader took batch load {load_id} over")
        self.load_id = load_id


class UploadReplaced(OrderManagementError):
    """The load's object is not the one its first run read: a second PUT to the same URL."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(
            f"s3://{bucket}/{key} was replaced by a second upload to the same URL after this load"
            " began; an upload URL takes one file: start a new batch load for the new file"
        )
        self.bucket = bucket
        self.key = key


class UploadMissing(OrderManagementError):
    """The uploaded object is not (or no longer) in the bucket."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} does not exist")
        self.bucket = bucket
        self.key = key


class IdempotencyMismatch(OrderManagementError):
    """The idempotency key was used before with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")
        self.key = key


class IdempotencyInFlight(OrderManagementError):
    """A request with this idempotency key is still being processed."""

    def __init__(self, key: str) -> None:
        super().__init__(f"a request with Idempotency-Key {key!r} is still in progress")
        self.key = key


class StoreBusy(StoreUnavailable):
    """Concurrent writers kept winning the optimistic-concurrency race; worth a retry later."""


class NotOrderOwner(OrderManagementError):
    """The order belongs to another account; only its owner (or an admin) may change it."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} belongs to another account")
        self.order_id = order_id


class OrderChanged(OrderManagementError):
    """The order no longer matches the revision the client named (`If-Match`); nothing changed."""

    def __init__(self, order_id: int, current: str | None) -> None:
        super().__init__(f"order {order_id} has changed since the revision given in If-Match")
        self.order_id = order_id
        self.current = current


class ApiKeyNotFound(OrderManagementError):
    """No API key with this id exists."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id} does not exist")
        self.key_id = key_id


class ApiKeyAlreadyRevoked(OrderManagementError):
    """The API key was revoked before; revoking it again changes nothing."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id} is already revoked")
        self.key_id = key_id


class ApiKeyExists(OrderManagementError):
    """A key with this id exists already (a picked key registered twice for different uses)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id} exists already with other settings")
        self.key_id = key_id
