"""The API's metrics as running totals, served in Prometheus text format (`GET /api/metrics`).

On AWS the same figures travel as Embedded Metric Format in the log lines and CloudWatch does the
aggregation; locally there is no CloudWatch, so `om dev` turns on this in-process view that a
user can read with curl or scrape with Prometheus. Counts become counters (`om_<name>_total`);
millisecond figures become a histogram with fixed buckets. Thread-safe.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

from services.metrics import Metric

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
PREFIX = "om_"


def prometheus_name(metric: Metric) -> str:
    """`StoreRetries` → `om_store_retries_total`; `Latency` → `om_latency_milliseconds`."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", metric.name).lower()
    suffix = "_milliseconds" if metric.unit == "Milliseconds" else "_total"
    return f"{PREFIX}{snake}{suffix}"


class MetricsRegistry:
    """Totals of every metric recorded since the process started."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = tuple(metrics)
        self._lock = threading.Lock()
        self._totals = {metric: 0.0 for metric in self._metrics}
        self._observations = {metric: 0 for metric in self._metrics}
        self._buckets = {
            metric: [0] * len(LATENCY_BUCKETS_MS)
            for metric in self._metrics
            if metric.unit == "Milliseconds"
        }

    def record(self, values: Mapping[Metric, float]) -> None:
        """Add one data point of each metric in `values` (unknown metrics are ignored)."""
        with self._lock:
            for metric, value in values.items():
                if metric not in self._totals:
                    continue
                self._totals[metric] += value
                self._observations[metric] += 1
                buckets = self._buckets.get(metric)
                if buckets is not None:
                    for index, bound in enumerate(LATENCY_BUCKETS_MS):
                        if value <= bound:
                            buckets[index] += 1

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for metric in self._metrics:
                name = prometheus_name(metric)
                lines.append(f"# HELP {name} {metric.help}")
                buckets = self._buckets.get(metric)
                if buckets is None:
                    lines.append(f"# TYPE {name} counter")
                    lines.append(f"{name} {_number(self._totals[metric])}")
                    continue
                lines.append(f"# TYPE {name} histogram")
                for bound, count in zip(LATENCY_BUCKETS_MS, buckets, strict=True):
                    lines.append(f'{name}_bucket{{le="{bound}"}} {count}')
                lines.append(f'{name}_bucket{{le="+Inf"}} {self._observations[metric]}')
                lines.append(f"{name}_sum {_number(self._totals[metric])}")
                lines.append(f"{name}_count {self._observations[metric]}")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
