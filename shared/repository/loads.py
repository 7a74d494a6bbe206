"""Batch-load records: `LOAD#<id>` items that carry a load's status, counts and first errors."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.clock import format_timestamp
from shared.codecs import errors_attribute, load_from_item, load_key, load_to_item, number, string
from shared.errors import LoadNotFound
from shared.models import BatchLoad, LoadCounts, LoadStatus, RowError
from shared.repository._translate import error_code, store_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_STORED_ERRORS = 100


class LoadRepository:
    """Creates batch loads and moves them through PENDING → RUNNING → SUCCEEDED | FAILED."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, load: BatchLoad) -> BatchLoad:
        """Record a new load (ids are random; a collision is a bug, not a retry)."""
        with store_errors():
            self._client.put_item(
                TableName=self._table,
                Item=load_to_item(load),
                ConditionExpression="attribute_not_exists(PK)",
            )
        return load

    def get(self, load_id: str) -> BatchLoad:
        """The load. Raises `LoadNotFound`."""
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=load_key(load_id), ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            raise LoadNotFound(load_id)
        return load_from_item(item)

    def start(self, load_id: str, at: datetime) -> BatchLoad:
        """Mark the load RUNNING from scratch (a rerun resets the counts). Raises `LoadNotFound`."""
        return self._update(
            load_id,
            "SET #status = :status, startedAt = :at, rowsRead = :zero, rowsLoaded = :zero,"
            " rowsRejected = :zero, #errors = :none REMOVE finishedAt, reason, errorReportKey",
            {":status": string(LoadStatus.RUNNING), ":at": string(format_timestamp(at))}
            | {":zero": number(0), ":none": {"L": []}},
        )

    def record_progress(self, load_id: str, counts: LoadCounts) -> None:
        """Store the counts so far (status stays RUNNING)."""
        self._update(load_id, "SET " + _COUNTS, _counts_values(counts))

    def finish(
        self,
        load_id: str,
        *,
        status: LoadStatus,
        at: datetime,
        counts: LoadCounts,
        errors: tuple[RowError, ...] = (),
        reason: str | None = None,
        error_report_key: str | None = None,
    ) -> BatchLoad:
        """Store the end state: SUCCEEDED with counts, or FAILED with a reason."""
        expression = "SET #status = :status, finishedAt = :at, #errors = :errors, " + _COUNTS
        values: dict[str, Any] = {
            ":status": string(status),
            ":at": string(format_timestamp(at)),
            ":errors": errors_attribute(errors[:MAX_STORED_ERRORS]),
        } | _counts_values(counts)
        if reason is not None:
            expression += ", reason = :reason"
            values[":reason"] = string(reason)
        if error_report_key is not None:
            expression += ", errorReportKey = :report"
            values[":report"] = string(error_report_key)
        return self._update(load_id, expression, values)

    def _update(self, load_id: str, expression: str, values: dict[str, Any]) -> BatchLoad:
        expression += " ADD #version :one"
        # DynamoDB refuses names an expression does not use.
        names = {name: value for name, value in _NAMES.items() if name in expression}
        with store_errors():
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=load_key(load_id),
                    UpdateExpression=expression,
                    ConditionExpression="attribute_exists(PK)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values | {":one": number(1)},
                    ReturnValues="ALL_NEW",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise LoadNotFound(load_id) from error
                raise
        return load_from_item(response["Attributes"])


_COUNTS = "rowsRead = :read, rowsLoaded = :loaded, rowsRejected = :rejected"
_NAMES = {"#status": "status", "#errors": "errors", "#version": "version"}


def _counts_values(counts: LoadCounts) -> dict[str, Any]:
    return {
        ":read": number(counts.read),
        ":loaded": number(counts.loaded),
        ":rejected": number(counts.rejected),
    }
