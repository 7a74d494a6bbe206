"""CloudWatch Embedded Metric Format: one log line's JSON document that CloudWatch Logs turns into
metrics, without an agent or an API call.

The document (the specification's root node) holds the values as top-level members and, under
`_aws`, the directive saying which members are metrics (name and unit), in which namespace, and
which string members are their dimensions. Here there is one dimension, `Service`, so every
service's metrics can be told apart in one namespace; other `properties` ride along as plain
members (searchable in Logs Insights, not metrics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from services.metrics import SERVICE_DIMENSION, Metric

MAX_METRICS = 100
"""The specification's limit of metric definitions in one directive."""
_MAX_NAME_CHARS = 255


def emf_document(
    namespace: str,
    service: str,
    values: Mapping[Metric, float],
    timestamp_ms: int,
    **properties: object,
) -> dict[str, object]:
    """The EMF document for `values` of `service`'s metrics at `timestamp_ms` (epoch ms).

    Raises `ValueError` for what CloudWatch would refuse or misread: an empty or over-long
    namespace or service, no values or more than 100, a value that is not a finite number, or a
    property that would overwrite a metric, the dimension or `_aws`.
    """
    if not 0 < len(namespace) <= _MAX_NAME_CHARS:
        raise ValueError(f"namespace must be 1-{_MAX_NAME_CHARS} characters")
    if not 0 < len(service) <= 1024:
        raise ValueError("service must be 1-1024 characters")
    if not 0 < len(values) <= MAX_METRICS:
        raise ValueError(f"an EMF document carries 1-{MAX_METRICS} metrics, not {len(values)}")
    members: dict[str, object] = {}
    for metric, value in values.items():
        if isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"metric {metric.name} needs a finite number, not {value!r}")
        members[metric.name] = value
    taken = set(members) | {SERVICE_DIMENSION, "_aws"}
    clashing = sorted(taken & set(properties))
    if clashing:
        raise ValueError(f"properties may not reuse the names {', '.join(clashing)}")
    return {
        "_aws": {
            "Timestamp": int(timestamp_ms),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [[SERVICE_DIMENSION]],
                    "Metrics": [{"Name": m.name, "Unit": m.unit} for m in values],
                }
            ],
        },
        SERVICE_DIMENSION: service,
        **members,
        **properties,
    }
