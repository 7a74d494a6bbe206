"""`LoadBatchWriter` without a network: the TransactWriteItems it composes and what it makes of
each answer.

`ScriptedDynamoDB` replaces `LoadBatchWriter._call`, the one place a request leaves the process:
it keeps every request (decoding the body, so a body that is not JSON fails the test) and answers
with the next scripted (HTTP status or None, JSON payload). What DynamoDB does with a transaction
— conditions, cancellation — is the integration tests' business (moto and DynamoDB Local); here
the answers are the ones DynamoDB documents, and the tests pin how the writer reacts to each.
`FakeTime` stands in for the writer's sleep and monotonic clock, so backoff is measured, not
waited out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol, TypedDict, Unpack

import pytest
from pydantic import SecretStr

from shared import codecs, keys
from shared.errors import StoreUnavailable
from shared.models import Order, RowError, Side
from shared.repository import load_writer
from shared.repository.load_writer import (
    MARKER_LIFETIME_SECONDS,
    MAX_BATCH_ROWS,
    BatchResult,
    BatchRow,
    BatchWriteRejected,
    LoadBatch,
    LoadBatchWriter,
    owned_elsewhere,
)
from shared.schema import PARTITION_KEY, TTL_ATTRIBUTE
from shared.settings import AwsSettings

TABLE = "om-test.orders_1"
LOAD_ID = "0123456789abcdef0123456789abcdef"
ACCOUNT = "desk-7"
NOW = 1_715_856_321
TRANSACT = "DynamoDB_20120810.TransactWriteItems"
GET_ITEM = "DynamoDB_20120810.GetItem"
ORDER_TIME = datetime(2024, 5, 16, 10, 45, 21, tzinfo=UTC)

Answer = tuple[int | None, dict[str, Any]]


# --- stand-ins for the network and the clock ----------------------------------------------------


class ScriptedDynamoDB:
    """Replaces `LoadBatchWriter._call`: keeps (operation, decoded body); answers as scripted."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, operation: str, body: bytes) -> Answer:
        self.requests.append((operation, json.loads(body)))
        assert self.answers, f"an unscripted request: {operation}"
        return self.answers.pop(0)

    def transactions(self) -> list[list[dict[str, Any]]]:
        """The TransactItems of every TransactWriteItems sent, in order."""
        return [body["TransactItems"] for operation, body in self.requests if operation == TRANSACT]


class FakeTime:
    """A monotonic clock that only the writer's sleeps move forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


OK: Answer = (200, {})
CONNECTION_FAILED: Answer = (None, {"message": "connection failed (ProtocolError)"})


def refused(status: int, kind: str, message: str = "") -> Answer:
    """An error answer as DynamoDB's JSON protocol shapes it."""
    return status, {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message}


def cancelled(*codes: str, marker: codecs.Item | None = None) -> Answer:
    """A TransactionCanceledException with one reason per action (the marker's first)."""
    reasons: list[dict[str, Any]] = [{"Code": code} for code in codes]
    if marker is not None:
        reasons[0]["Item"] = marker
    status, payload = refused(400, "TransactionCanceledException", "Transaction cancelled")
    return status, payload | {"CancellationReasons": reasons}


def order(order_id: int) -> Order:
    return Order(
        id=order_id,
        symbol=f"SYM-{order_id}",
        side=Side(order_id % 2),
        amount=order_id,
        price=Decimal(order_id).scaleb(-3),
        sequence=f"{order_id:019d}.0000abcd",
        version=order_id,
        created_at=ORDER_TIME,
        updated_at=ORDER_TIME,
        account=ACCOUNT,
        token=f"{order_id:016x}",
    )


def row(order_id: int, *lines: int) -> BatchRow:
    """A row for `order_id` standing for `lines` (one line, the id + 1, when none are given)."""
    return BatchRow(order_id, codecs.order_item_json(order(order_id)), lines or (order_id + 1,))


def batch(*rows: BatchRow, partition: int = 3, number: int = 5) -> LoadBatch:
    return LoadBatch(partition=partition, number=number, rows=rows)


def marker_item(loaded: int, rejected: tuple[RowError, ...] = (), **where: int) -> codecs.Item:
    """A batch marker as this writer stores it (partition 3, batch 5 unless told)."""
    key = codecs.load_batch_key(LOAD_ID, where.get("partition", 3), where.get("number", 5))
    return key | codecs.load_batch_marker(loaded, rejected, NOW + MARKER_LIFETIME_SECONDS)


def marker_put(loaded: int, rejected: tuple[RowError, ...] = ()) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "ConditionExpression": f"attribute_not_exists({PARTITION_KEY})",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "Item": marker_item(loaded, rejected),
        }
    }


def row_put(order_id: int) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "ConditionExpression": f"attribute_not_exists({PARTITION_KEY}) OR #e = :g OR #a = :m",
            "ExpressionAttributeNames": {"#e": codecs.ENTITY, "#a": codecs.ACCOUNT},
            "ExpressionAttributeValues": {":g": {"S": keys.GONE_ENTITY}, ":m": {"S": ACCOUNT}},
            "Item": codecs.order_to_item(order(order_id)),
        }
    }


Scripted = tuple[LoadBatchWriter, ScriptedDynamoDB, FakeTime]


class Backoff(TypedDict, total=False):
    """The writer's retry options a test may set (the writer's defaults otherwise)."""

    deadline_seconds: float
    base_delay: float
    max_delay: float


class ScriptWriter(Protocol):
    def __call__(self, answers: list[Answer], **options: Unpack[Backoff]) -> Scripted: ...


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptWriter:
    """`scripted(answers, **options)`: a writer whose requests get `answers`; every jitter draw
    is 1.0, so each pause is its full ceiling."""

    def build(answers: list[Answer], **options: Unpack[Backoff]) -> Scripted:
        clock = FakeTime()
        monkeypatch.setattr(load_writer, "time", SimpleNamespace(monotonic=clock.monotonic))
        monkeypatch.setattr(load_writer, "random", SimpleNamespace(random=lambda: 1.0))
        aws = AwsSettings(
            table_name=TABLE, aws_access_key_id="x", aws_secret_access_key=SecretStr("y")
        )
        writer = LoadBatchWriter(
            aws,
            load_id=LOAD_ID,
            account=ACCOUNT,
            sleep=clock.sleep,
            clock=lambda: NOW + 0.75,
            **options,
        )
        store = ScriptedDynamoDB(answers)
        monkeypatch.setattr(writer, "_call", store)
        return writer, store, clock

    return build


# --- the request --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, MAX_BATCH_ROWS])
def test_a_batch_is_one_transaction_its_marker_first_then_a_conditional_put_per_row(
    scripted: ScriptWriter, count: int
) -> None:
    writer, store, _ = scripted([OK])
    writer.write(batch(*(row(n) for n in range(1, count + 1))))
    [(operation, body)] = store.requests
    assert operation == TRANSACT
    assert body == {
        "TransactItems": [marker_put(count), *(row_put(n) for n in range(1, count + 1))]
    }


def test_the_marker_is_keyed_by_load_partition_and_number_and_records_file_rows() -> None:
    # Pins what `marker_put` above builds with the codecs, without the codecs.
    item = marker_item(4, partition=3, number=5)
    assert item[PARTITION_KEY] == {"S": f"LOAD#{LOAD_ID}#BATCH#3#5"}
    assert codecs.load_batch_result(item) == (4, ())


def test_the_marker_counts_every_line_a_row_stands_for_and_expires_a_week_later(
    scripted: ScriptWriter,
) -> None:
    writer, store, _ = scripted([OK])
    result = writer.write(batch(row(1, 2, 5, 9), row(2, 3)))
    [[marker, *_]] = store.transactions()
    assert codecs.load_batch_result(marker["Put"]["Item"]) == (4, ())
    assert marker["Put"]["Item"][TTL_ATTRIBUTE] == {"N": str(NOW + 7 * 24 * 3600)}
    assert result == BatchResult(loaded=4, rejected=(), written_before=False)


def test_write_refuses_more_rows_than_one_transaction_holds_before_sending(
    scripted: ScriptWriter,
) -> None:
    writer, store, _ = scripted([])
    with pytest.raises(ValueError, match=f"at most {MAX_BATCH_ROWS} rows"):
        writer.write(batch(*(row(n) for n in range(1, MAX_BATCH_ROWS + 2))))
    assert store.requests == []


# --- outcomes -----------------------------------------------------------------------------------


def test_a_committed_batch_reports_its_file_rows_loaded_after_one_request(
    scripted: ScriptWriter,
) -> None:
    writer, store, clock = scripted([OK])
    result = writer.write(batch(row(1), row(2, 3, 4)))
    assert result == BatchResult(loaded=3, rejected=(), written_before=False)
    assert len(store.requests) == 1
    assert clock.sleeps == []
    assert writer.retries == 0


def test_a_batch_written_before_takes_its_counts_from_the_marker_the_failure_returns(
    scripted: ScriptWriter,
) -> None:
    earlier = (RowError(4, owned_elsewhere(2)),)
    answer = cancelled("ConditionalCheckFailed", "None", "None", marker=marker_item(7, earlier))
    writer, store, clock = scripted([answer])
    result = writer.write(batch(row(1), row(2)))
    assert result == BatchResult(loaded=7, rejected=earlier, written_before=True)
    assert [operation for operation, _ in store.requests] == [TRANSACT]
    assert clock.sleeps == []


def test_a_batch_written_before_reads_its_marker_when_the_failure_returns_no_item(
    scripted: ScriptWriter,
) -> None:
    answers = [cancelled("ConditionalCheckFailed", "None"), (200, {"Item": marker_item(2)})]
    writer, store, clock = scripted(answers)
    result = writer.write(batch(row(1, 2, 3)))
    assert result == BatchResult(loaded=2, rejected=(), written_before=True)
    assert store.requests[1] == (
        GET_ITEM,
        {"TableName": TABLE, "Key": codecs.load_batch_key(LOAD_ID, 3, 5), "ConsistentRead": True},
    )
    assert clock.sleeps == []


def test_a_failed_marker_read_is_retried_with_the_whole_transaction(
    scripted: ScriptWriter,
) -> None:
    answers = [
        cancelled("ConditionalCheckFailed", "None"),
        refused(500, "InternalServerError"),
        cancelled("ConditionalCheckFailed", "None", marker=marker_item(1)),
    ]
    writer, store, clock = scripted(answers)
    result = writer.write(batch(row(1)))
    assert result == BatchResult(loaded=1, rejected=(), written_before=True)
    assert [operation for operation, _ in store.requests] == [TRANSACT, GET_ITEM, TRANSACT]
    assert len(clock.sleeps) == 1


def test_a_transaction_whose_answer_was_lost_is_recognised_by_its_marker_on_the_retry(
    scripted: ScriptWriter,
) -> None:
    # The first attempt was applied but its answer never came; the retry meets the marker.
    answers = [CONNECTION_FAILED, cancelled("ConditionalCheckFailed", "None", marker=None)]
    answers += [(200, {"Item": marker_item(1)})]
    writer, store, _ = scripted(answers)
    result = writer.write(batch(row(1)))
    assert (result.loaded, result.rejected) == (1, ())
    assert store.transactions()[0] == store.transactions()[1]


def test_rows_owned_elsewhere_are_rejected_per_line_and_the_rest_resent_without_waiting(
    scripted: ScriptWriter,
) -> None:
    answers = [cancelled("None", "None", "ConditionalCheckFailed", "None"), OK]
    writer, store, clock = scripted(answers)
    result = writer.write(batch(row(1, 2), row(2, 7, 3), row(3, 4)))
    owned = (RowError(3, owned_elsewhere(2)), RowError(7, owned_elsewhere(2)))
    assert result == BatchResult(loaded=2, rejected=owned, written_before=False)
    # The marker of the transaction that commits records the rejection for a rerun.
    assert store.transactions()[1] == [marker_put(2, owned), row_put(1), row_put(3)]
    assert clock.sleeps == []
    assert writer.retries == 0


def test_rows_rejected_over_several_attempts_are_all_reported_in_line_order(
    scripted: ScriptWriter,
) -> None:
    answers = [
        cancelled("None", "None", "ConditionalCheckFailed", "None"),
        cancelled("None", "None", "ConditionalCheckFailed"),
        OK,
    ]
    writer, store, _ = scripted(answers)
    result = writer.write(batch(row(1, 9), row(2, 8), row(3, 2)))
    assert result.rejected == (RowError(2, owned_elsewhere(3)), RowError(8, owned_elsewhere(2)))
    assert result.loaded == 1
    assert [len(actions) for actions in store.transactions()] == [4, 3, 2]


def test_a_batch_whose_every_row_is_owned_elsewhere_still_commits_its_marker(
    scripted: ScriptWriter,
) -> None:
    answers = [cancelled("None", "ConditionalCheckFailed", "ConditionalCheckFailed"), OK]
    writer, store, _ = scripted(answers)
    result = writer.write(batch(row(1, 2), row(2, 3)))
    owned = (RowError(2, owned_elsewhere(1)), RowError(3, owned_elsewhere(2)))
    assert result == BatchResult(loaded=0, rejected=owned, written_before=False)
    assert store.transactions()[1] == [marker_put(0, owned)]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(cancelled("None", "TransactionConflict"), id="transaction-conflict"),
        pytest.param(cancelled("ThrottlingError", "None"), id="throttled-action"),
        pytest.param(cancelled("None", "ProvisionedThroughputExceeded"), id="throughput-action"),
        pytest.param(cancelled("None", "None"), id="cancelled-without-a-reason"),
        pytest.param(refused(400, "ThrottlingException"), id="throttling"),
        pytest.param(refused(400, "ProvisionedThroughputExceededException"), id="throughput"),
        pytest.param(refused(400, "RequestLimitExceeded"), id="request-limit"),
        pytest.param(refused(400, "TransactionInProgressException"), id="in-progress"),
        pytest.param(refused(500, "InternalServerError"), id="500"),
        pytest.param((503, {}), id="503-without-a-body"),
        pytest.param(CONNECTION_FAILED, id="connection-failed"),
    ],
)
def test_a_transient_failure_backs_off_then_resends_the_same_transaction(
    scripted: ScriptWriter, answer: Answer
) -> None:
    writer, store, clock = scripted([answer, OK])
    result = writer.write(batch(row(1)))
    assert result == BatchResult(loaded=1, rejected=(), written_before=False)
    first, second = store.transactions()
    assert first == second
    assert len(clock.sleeps) == 1
    assert writer.retries == 1


def test_a_conflict_after_a_rejection_resends_the_transaction_without_the_rejected_row(
    scripted: ScriptWriter,
) -> None:
    answers = [
        cancelled("None", "ConditionalCheckFailed", "None"),
        cancelled("None", "TransactionConflict"),
        OK,
    ]
    writer, store, clock = scripted(answers)
    result = writer.write(batch(row(1), row(2)))
    assert result.rejected == (RowError(2, owned_elsewhere(1)),)
    _, reduced, resent = store.transactions()
    assert reduced == resent == [marker_put(1, result.rejected), row_put(2)]
    assert len(clock.sleeps) == 1


def test_backoff_doubles_from_the_base_delay_up_to_the_cap(
    scripted: ScriptWriter,
) -> None:
    answers = [cancelled("None", "TransactionConflict")] * 6 + [OK]
    writer, _, clock = scripted(answers, base_delay=0.02, max_delay=0.1)
    writer.write(batch(row(1)))
    assert clock.sleeps == pytest.approx([0.04, 0.08, 0.1, 0.1, 0.1, 0.1])


def test_backoff_draws_each_pause_at_random_below_its_ceiling(
    scripted: ScriptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [refused(503, "ServiceUnavailable")] * 3 + [OK]
    writer, _, clock = scripted(answers, base_delay=0.02, max_delay=1.0)
    draws = iter([0.5, 0.0, 0.25])
    monkeypatch.setattr(load_writer, "random", SimpleNamespace(random=lambda: next(draws)))
    writer.write(batch(row(1)))
    assert clock.sleeps == pytest.approx([0.5 * 0.04, 0.0, 0.25 * 0.16])


def test_conflicts_back_off_until_the_deadline_then_raise_store_unavailable(
    scripted: ScriptWriter,
) -> None:
    answers = [cancelled("None", "TransactionConflict")] * 10
    writer, store, clock = scripted(answers, deadline_seconds=1.1, base_delay=0.1, max_delay=0.4)
    with pytest.raises(StoreUnavailable, match="kept failing: transaction cancelled"):
        writer.write(batch(row(1)))
    # Pauses of 0.2, 0.4 and 0.4 s end within the 1.1 s; a fourth would end past them.
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.4])
    assert len(store.requests) == 4


def test_a_deadline_shorter_than_the_first_pause_gives_up_without_sleeping(
    scripted: ScriptWriter,
) -> None:
    writer, store, clock = scripted([refused(503, "ServiceUnavailable")], deadline_seconds=0.01)
    with pytest.raises(StoreUnavailable, match="kept failing: HTTP 503 ServiceUnavailable"):
        writer.write(batch(row(1)))
    assert clock.sleeps == []
    assert len(store.requests) == 1


def test_backoff_stays_capped_however_many_attempts_a_long_deadline_allows(
    scripted: ScriptWriter,
) -> None:
    # `write_deadline_seconds` may be up to 3600 s: past attempt 1023 an uncapped `2.0**attempt`
    # would overflow a float.
    attempts = 1100
    answers = [cancelled("None", "TransactionConflict")] * attempts + [OK]
    writer, _, clock = scripted(answers, deadline_seconds=3600.0, max_delay=2.0)
    writer.write(batch(row(1)))
    assert writer.retries == attempts
    assert max(clock.sleeps) <= 2.0


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        pytest.param(
            refused(400, "ValidationException", "Item size has exceeded the maximum allowed size"),
            "ValidationException: Item size",
            id="validation",
        ),
        pytest.param(
            refused(400, "ResourceNotFoundException"), "ResourceNotFound", id="no-such-table"
        ),
        pytest.param(refused(403, "AccessDeniedException"), "AccessDenied", id="access-denied"),
        pytest.param(
            cancelled("None", "ValidationError"), "cancelled: ValidationError", id="cancelled"
        ),
        pytest.param(
            cancelled("None", "ItemCollectionSizeLimitExceeded"),
            "ItemCollectionSizeLimitExceeded",
            id="cancelled-collection-size",
        ),
    ],
)
def test_a_refusal_retrying_cannot_fix_raises_batch_write_rejected_at_once(
    scripted: ScriptWriter, answer: Answer, named: str
) -> None:
    writer, store, clock = scripted([answer])
    with pytest.raises(BatchWriteRejected, match=named):
        writer.write(batch(row(1)))
    assert len(store.requests) == 1
    assert clock.sleeps == []
