"""The EMF document builder against the CloudWatch embedded metric format specification.

The specification's rules checked here: the root holds `_aws` with `Timestamp` (epoch ms) and
`CloudWatchMetrics`, an array of directives each with `Namespace`, `Dimensions` (arrays of
dimension names that are string members of the root) and `Metrics` (each a `Name` that is a
numeric member of the root, and a `Unit`), at most 100 metrics per directive; every other root
member is a plain property.
"""

from __future__ import annotations

import json
import math

import pytest

from services.metrics import (
    API_METRICS,
    LOADER_METRICS,
    LOADER_SERVICE,
    ROWS_LOADED,
    ROWS_PER_SECOND,
    ROWS_READ,
    SERVICE_DIMENSION,
    Metric,
)
from services.metrics.emf import MAX_METRICS, emf_document

UNITS = {"Count", "Milliseconds", "Count/Second"}  # ours, all within CloudWatch's list


def valid_per_specification(document: dict[str, object]) -> None:
    """Assert the document follows the specification's structure (see the module docstring)."""
    metadata = document["_aws"]
    assert isinstance(metadata, dict) and set(metadata) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] >= 0
    for directive in metadata["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            assert all(isinstance(document[name], str) for name in dimension_set)
        assert 1 <= len(directive["Metrics"]) <= MAX_METRICS
        for definition in directive["Metrics"]:
            assert set(definition) <= {"Name", "Unit", "StorageResolution"}
            value = document[definition["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert math.isfinite(value)
            assert definition["Unit"] in UNITS
    json.dumps(document, allow_nan=False)  # one JSON object, no NaN


def test_loader_document_names_every_metric_with_its_unit_under_the_service_dimension() -> None:
    values = {metric: index for index, metric in enumerate(LOADER_METRICS)}
    document = emf_document("OrderManagement/prod", LOADER_SERVICE, values, 1_700_000_000_123)
    valid_per_specification(document)
    (directive,) = document["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert directive["Namespace"] == "OrderManagement/prod"
    assert directive["Dimensions"] == [[SERVICE_DIMENSION]]
    assert directive["Metrics"] == [{"Name": m.name, "Unit": m.unit} for m in LOADER_METRICS]
    assert document[SERVICE_DIMENSION] == "loader"
    assert document["_aws"]["Timestamp"] == 1_700_000_000_123  # type: ignore[index]
    assert [document[m.name] for m in LOADER_METRICS] == list(range(len(LOADER_METRICS)))


def test_properties_ride_along_as_plain_members() -> None:
    document = emf_document("ns", "loader", {ROWS_READ: 3}, 1, loadId="abc", outcome="SUCCEEDED")
    valid_per_specification(document)
    assert (document["loadId"], document["outcome"]) == ("abc", "SUCCEEDED")
    assert "loadId" not in json.dumps(document["_aws"])


def test_the_api_metrics_fit_one_document_too() -> None:
    valid_per_specification(emf_document("ns", "api", dict.fromkeys(API_METRICS, 1.5), 0))


def test_rates_may_be_fractional() -> None:
    document = emf_document("ns", "loader", {ROWS_PER_SECOND: 1234.5, ROWS_LOADED: 0}, 0)
    valid_per_specification(document)
    assert document["RowsPerSecond"] == 1234.5


@pytest.mark.parametrize("value", [math.nan, math.inf, True])
def test_a_value_cloudwatch_cannot_take_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite number"):
        emf_document("ns", "loader", {ROWS_READ: value}, 0)


@pytest.mark.parametrize("name", ["Service", "_aws", "RowsRead"])
def test_a_property_may_not_overwrite_a_metric_the_dimension_or_the_metadata(name: str) -> None:
    with pytest.raises(ValueError, match="may not reuse"):
        emf_document("ns", "loader", {ROWS_READ: 1}, 0, **{name: "x"})


def test_empty_and_oversized_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="1-100 metrics"):
        emf_document("ns", "loader", {}, 0)
    many = {Metric(f"M{n}", "Count", ""): n for n in range(MAX_METRICS + 1)}
    with pytest.raises(ValueError, match="1-100 metrics"):
        emf_document("ns", "loader", many, 0)
    with pytest.raises(ValueError, match="namespace"):
        emf_document("", "loader", {ROWS_READ: 1}, 0)
    with pytest.raises(ValueError, match="namespace"):
        emf_document("n" * 256, "loader", {ROWS_READ: 1}, 0)
