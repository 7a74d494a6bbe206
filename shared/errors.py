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
