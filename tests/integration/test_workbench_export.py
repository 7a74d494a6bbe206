"""The committed NoSQL Workbench model is what the declaration renders today."""

from __future__ import annotations

import json
from pathlib import Path

from shared.schema import TABLE
from shared.workbench import render_workbench_model

COMMITTED = Path(__file__).parents[2] / "resources" / "DynamoDB-Design-NoSqlWorkbench.json"


def test_committed_workbench_model_is_current() -> None:
    assert COMMITTED.read_text() == render_workbench_model(), (
        "resources/DynamoDB-Design-NoSqlWorkbench.json is stale: run `uv run om table "
        "export-workbench` and commit the result"
    )


def test_workbench_model_declares_the_table_keys_and_book_index() -> None:
    table = json.loads(render_workbench_model())["DataModel"][0]
    assert table["KeyAttributes"]["PartitionKey"]["AttributeName"] == TABLE.partition_key.name
    assert table["KeyAttributes"]["SortKey"]["AttributeName"] == TABLE.sort_key.name
    index = table["GlobalSecondaryIndexes"][0]
    assert index["IndexName"] == "GSI1"
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert {item["entity"]["S"] for item in table["TableData"]} == {"ORDER"}
    assert all("version" in item for item in table["TableData"])
