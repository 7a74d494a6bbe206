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


class StoreBusy(StoreUnavailable):
    """Concurrent writers kept winning the optimistic-concurrency race; worth a retry later."""
