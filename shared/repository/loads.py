"""Batch-load records: `LOAD#<id>` items that carry a load's status, counts and first errors.

A load moves PENDING → RUNNING → SUCCEEDED | FAILED. Runs of the loader are at-least-once (a
duplicate S3 event, a Batch retry, a rerun by hand), so the record also carries:

* a **lease** (`leaseOwner`, `leaseUntil`): a run takes it in `start` and keeps it alive with
  `renew`; while it is alive no other run may start, so two runs of one load never write at once.
  A run that dies loses it after its lease time; a run stopped by SIGTERM `release`s it at once.
  Every write a run makes to the record is conditional on still holding it.
* the **plan** (`pin`): the ETag of the one object the load reads and how its rows are batched,
  fixed by the first run so that every rerun reads the same bytes and cuts the same batches.

A load that SUCCEEDED is final: `start` refuses it (`LoadFinished`) and nothing overwrites it.
Each conditional write asks for the item back when its condition fails, so a retried request whose
first attempt was applied (its response lost) is recognised as this run's own write.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.clock import format_timestamp
from shared.codecs import (
    BATCH_PARTITIONS,
    BATCH_ROWS,
    BUCKET,
    ERROR_REPORT_KEY,
    ERRORS,
    FINISHED_AT,
    LEASE_OWNER,
    LEASE_UNTIL,
    OBJECT_KEY,
    REASON,
    ROWS_LOADED,
    ROWS_READ,
    ROWS_REJECTED,
    STARTED_AT,
    STATUS,
    UPLOAD_ETAG,
    VERSION,
    Item,
    errors_attribute,
    load_from_item,
    load_key,
    load_to_item,
    number,
    string,
)
from shared.errors import LoadFinished, LoadLeaseHeld, LoadLeaseLost, LoadNotFound, UploadReplaced
from shared.models import BatchLoad, LoadCounts, LoadPlan, LoadStatus, RowError
from shared.repository._translate import error_code, returned_item, store_errors
from shared.schema import PARTITION_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_STORED_ERRORS = 100


class LoadRepository:
    """Creates batch loads and moves them through their states under a run's lease."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, load: BatchLoad) -> BatchLoad:
        """Record a new load (ids are random; a collision is a bug, not a retry)."""
        with store_errors():
            self._client.put_item(
                TableName=self._table,
                Item=load_to_item(load),
                ConditionExpression=f"attribute_not_exists({PARTITION_KEY})",
            )
        return load

    def get(self, load_id: str) -> BatchLoad:
        """The load. Raises `LoadNotFound`."""
        item = self._item(load_id)
        if item is None:
            raise LoadNotFound(load_id)
        return load_from_item(item)

    def start(self, load_id: str, at: datetime, *, owner: str, lease_seconds: float) -> BatchLoad:
        """Take the load for the run `owner` and mark it RUNNING with counts from zero.

        Raises `LoadNotFound`, `LoadFinished` (it SUCCEEDED: nothing to do) or `LoadLeaseHeld`
        (another run holds a lease that has not expired).
        """
        now = at.timestamp()
        values = {
            ":running": string(LoadStatus.RUNNING),
            ":succeeded": string(LoadStatus.SUCCEEDED),
            ":at": string(format_timestamp(at)),
            ":zero": number(0),
            ":none": {"L": []},
            ":me": string(owner),
            ":now": number(int(now)),
            ":until": number(int(now + lease_seconds) + 1),
        }
        try:
            return self._update(
                load_id,
                "SET #status = :running, #startedAt = :at, #read = :zero, #loaded = :zero,"
                " #rejected = :zero, #errors = :none, #owner = :me, #until = :until"
                " REMOVE #finishedAt, #reason, #report",
                values,
                condition="#status <> :succeeded AND (#status <> :running"
                " OR attribute_not_exists(#owner) OR #owner = :me OR #until < :now)",
            )
        except _ConditionFailed as failed:
            current = failed.current
            if current.status is LoadStatus.SUCCEEDED:
                raise LoadFinished(load_id) from None
            raise LoadLeaseHeld(load_id, failed.lease_until) from None

    def renew(
        self,
        load_id: str,
        *,
        owner: str,
        at: datetime,
        lease_seconds: float,
        counts: LoadCounts,
    ) -> None:
        """Store the counts so far and extend the lease. Raises `LoadLeaseLost`."""
        values = _counts_values(counts) | {
            ":me": string(owner),
            ":until": number(int(at.timestamp() + lease_seconds) + 1),
        }
        try:
            self._update(load_id, f"SET {_COUNTS}, #until = :until", values, condition=_HOLDS)
        except _ConditionFailed:
            raise LoadLeaseLost(load_id) from None

    def release(self, load_id: str, *, owner: str) -> None:
        """Give the lease up (the run is stopping); the load stays RUNNING for a rerun."""
        with contextlib.suppress(_ConditionFailed):  # not ours (any more): nothing to give up
            self._update(load_id, "REMOVE #owner, #until", {":me": string(owner)}, condition=_HOLDS)

    def pin(self, load_id: str, *, owner: str, plan: LoadPlan) -> LoadPlan:
        """Fix the load's plan on its first run; a rerun gets the plan fixed then.

        Raises `UploadReplaced` when the plan names another object (a second PUT to the URL),
        `LoadLeaseLost` when this run no longer holds the load.
        """
        values = {
            ":me": string(owner),
            ":etag": string(plan.upload_etag),
            ":partitions": number(plan.partitions),
            ":rows": number(plan.batch_rows),
        }
        try:
            pinned = self._update(
                load_id,
                "SET #etag = if_not_exists(#etag, :etag),"
                " #partitions = if_not_exists(#partitions, :partitions),"
                " #batchRows = if_not_exists(#batchRows, :rows)",
                values,
                condition=f"{_HOLDS} AND (attribute_not_exists(#etag) OR #etag = :etag)",
            )
        except _ConditionFailed as failed:
            current = failed.current
            if failed.owner != owner:
                raise LoadLeaseLost(load_id) from None
            raise UploadReplaced(current.bucket, current.object_key) from None
        assert pinned.plan is not None  # just set
        return pinned.plan

    def finish(
        self,
        load_id: str,
        *,
        owner: str,
        status: LoadStatus,
        at: datetime,
        counts: LoadCounts,
        errors: tuple[RowError, ...] = (),
        reason: str | None = None,
        error_report_key: str | None = None,
    ) -> BatchLoad:
        """Store the end state (SUCCEEDED with counts, or FAILED with a reason); free the lease.

        Raises `LoadLeaseLost` when another run took the load over.
        """
        expression = f"SET #status = :status, #finishedAt = :at, #errors = :errors, {_COUNTS}"
        values: dict[str, Any] = {
            ":status": string(status),
            ":at": string(format_timestamp(at)),
            ":errors": errors_attribute(errors[:MAX_STORED_ERRORS]),
            ":me": string(owner),
        } | _counts_values(counts)
        if reason is not None:
            expression += ", #reason = :reason"
            values[":reason"] = string(reason)
        if error_report_key is not None:
            expression += ", #report = :report"
            values[":report"] = string(error_report_key)
        try:
            return self._update(
                load_id, expression + " REMOVE #owner, #until", values, condition=_HOLDS
            )
        except _ConditionFailed as failed:
            current = failed.current
            finished_text = failed.item.get(FINISHED_AT, {}).get("S")
            if current.status is status and finished_text == values[":at"]["S"]:
                return current  # our first attempt was applied; its response was lost
            raise LoadLeaseLost(load_id) from None

    def fail_unless_ended(
        self, load_id: str, *, bucket: str, key: str, reason: str, at: datetime
    ) -> bool:
        """Mark the load of `s3://bucket/key` FAILED unless it has ended; True if it was.

        For a loader that died for good (`om dev`'s dispatcher; on AWS the reconciler writes
        the same condition). The lease is left alone: a live run of the same load, should there
        be one, still finishes it truthfully.
        """
        values = {
            ":failed": string(LoadStatus.FAILED),
            ":succeeded": string(LoadStatus.SUCCEEDED),
            ":at": string(format_timestamp(at)),
            ":reason": string(reason),
            ":bucket": string(bucket),
            ":key": string(key),
        }
        try:
            self._update(
                load_id,
                "SET #status = :failed, #finishedAt = :at, #reason = :reason",
                values,
                condition="#bucket = :bucket AND #key = :key"
                " AND NOT (#status IN (:failed, :succeeded))",
            )
        except _ConditionFailed:
            return False
        return True

    def _item(self, load_id: str) -> Item | None:
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=load_key(load_id), ConsistentRead=True
            )
        return response.get("Item")

    def _update(
        self, load_id: str, expression: str, values: dict[str, Any], *, condition: str
    ) -> BatchLoad:
        """One conditional update of an existing load, with its version bumped."""
        expression += " ADD #version :one"
        full_condition = f"attribute_exists({PARTITION_KEY}) AND ({condition})"
        # DynamoDB refuses names an expression does not use.
        text = expression + full_condition
        names = {name: value for name, value in _NAMES.items() if name in text}
        with store_errors():
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=load_key(load_id),
                    UpdateExpression=expression,
                    ConditionExpression=full_condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values | {":one": number(1)},
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                item = returned_item(error)
                if item is None:
                    item = self._item(load_id)  # an engine that returns nothing on failure
                if item is None:
                    raise LoadNotFound(load_id) from error
                raise _ConditionFailed(item) from error
        return load_from_item(response["Attributes"])


class _ConditionFailed(Exception):
    """An update's condition failed on an existing load; `item` is the load as it is."""

    def __init__(self, item: Item) -> None:
        super().__init__("condition failed")
        self.item = item
        self.current = load_from_item(item)
        self.owner = item[LEASE_OWNER]["S"] if LEASE_OWNER in item else None
        self.lease_until = float(item[LEASE_UNTIL]["N"]) if LEASE_UNTIL in item else 0.0


_HOLDS = "#owner = :me"
_COUNTS = "#read = :read, #loaded = :loaded, #rejected = :rejected"
_NAMES = {
    "#status": STATUS,
    "#errors": ERRORS,
    "#version": VERSION,
    "#startedAt": STARTED_AT,
    "#finishedAt": FINISHED_AT,
    "#reason": REASON,
    "#report": ERROR_REPORT_KEY,
    "#read": ROWS_READ,
    "#loaded": ROWS_LOADED,
    "#rejected": ROWS_REJECTED,
    "#owner": LEASE_OWNER,
    "#until": LEASE_UNTIL,
    "#etag": UPLOAD_ETAG,
    "#partitions": BATCH_PARTITIONS,
    "#batchRows": BATCH_ROWS,
    "#bucket": BUCKET,
    "#key": OBJECT_KEY,
}


def _counts_values(counts: LoadCounts) -> dict[str, Any]:
    return {
        ":read": number(counts.read),
        ":loaded": number(counts.loaded),
        ":rejected": number(counts.rejected),
    }
