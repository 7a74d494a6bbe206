"""The metrics contract: names, units and dimensions every emitter and every alarm agrees on.

The services write CloudWatch Embedded Metric Format documents into their JSON log lines (no agent,
no API calls): CloudWatch Logs turns them into metrics in `namespace` (the `OM_METRICS_NAMESPACE`
setting; the CDK app sets `OrderManagement/<environment>`), with one dimension, `Service`.
The CDK alarms and dashboard (`infra/`) and the local Prometheus view (`GET /api/metrics` under
`om dev`) read the names from here, so a renamed metric cannot leave an alarm watching nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["Count", "Milliseconds", "Count/Second"]

DEFAULT_NAMESPACE = "OrderManagement"
SERVICE_DIMENSION = "Service"
API_SERVICE = "api"
LOADER_SERVICE = "loader"


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its CloudWatch name and unit, and what one data point means."""

    name: str
    unit: Unit
    help: str


# The API: one data point of each per request, in the request's log line.
REQUESTS = Metric("Requests", "Count", "HTTP requests served")
LATENCY = Metric("Latency", "Milliseconds", "Time from request to response, in the app")
STATUS_4XX = Metric("Status4xx", "Count", "Requests answered with a 4xx status")
STATUS_5XX = Metric("Status5xx", "Count", "Requests answered with a 5xx status")
STORE_RETRIES = Metric("StoreRetries", "Count", "DynamoDB requests retried (any cause)")
STORE_THROTTLES = Metric("StoreThrottles", "Count", "DynamoDB requests refused as throttled")
TRADE_RETRIES = Metric("TradeRetries", "Count", "Trade plans re-made after a lost race")
TRADES_EXECUTED = Metric("TradesExecuted", "Count", "Trades that filled")
TRADES_UNFILLED = Metric("TradesUnfilled", "Count", "Trades refused: the book could not fill")
TRADES_SHED = Metric("TradesShed", "Count", "Trades answered 503 because their book was busy")

# The loader: one data point of each per run, when the run ends.
ROWS_READ = Metric("RowsRead", "Count", "CSV data rows read")
ROWS_LOADED = Metric("RowsLoaded", "Count", "Rows written to the table")
ROWS_REJECTED = Metric("RowsRejected", "Count", "Rows rejected and reported")
ROWS_PER_SECOND = Metric("RowsPerSecond", "Count/Second", "Rows read per second of the run")
LOADS_SUCCEEDED = Metric("LoadsSucceeded", "Count", "Loads that ended SUCCEEDED")
LOADS_FAILED = Metric("LoadsFailed", "Count", "Loads that ended FAILED (any reason)")

API_METRICS = (
    REQUESTS,
    LATENCY,
    STATUS_4XX,
    STATUS_5XX,
    STORE_RETRIES,
    STORE_THROTTLES,
    TRADE_RETRIES,
    TRADES_EXECUTED,
    TRADES_UNFILLED,
    TRADES_SHED,
)
LOADER_METRICS = (
    ROWS_READ,
    ROWS_LOADED,
    ROWS_REJECTED,
    ROWS_PER_SECOND,
    LOADS_SUCCEEDED,
    LOADS_FAILED,
    STORE_RETRIES,
    STORE_THROTTLES,
)
