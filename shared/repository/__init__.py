"""The only code that speaks to AWS: client factory, table/bucket bootstrap and repositories."""

from shared.repository.admin import ensure_bucket, ensure_table, table_is_reachable
from shared.repository.clients import AwsClients, make_clients
from shared.repository.orders import OrderRepository

__all__ = [
    "AwsClients",
    "OrderRepository",
    "ensure_bucket",
    "ensure_table",
    "make_clients",
    "table_is_reachable",
]
