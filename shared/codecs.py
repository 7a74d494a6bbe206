"""Item codecs: domain values ↔ DynamoDB attribute-value maps, written by hand for speed.

Every item carries `entity` (the discriminator) and `version`. Numbers travel as DynamoDB `N`
strings written from `Decimal` without an exponent, so nothing passes through binary floats.
Attribute names are the constants below (key attributes come from `shared.schema`): request
expressions elsewhere in the repository name attributes only through them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeAlias

from shared import keys
from shared.access import ApiKey, Scope
from shared.clock import format_timestamp, parse_timestamp
from shared.models import (
    BatchLoad,
    LoadCounts,
    LoadPlan,
    LoadStatus,
    Order,
    RowError,
    Side,
    Trade,
    TradeFill,
    TradeOutcome,
)
from shared.schema import (
    INDEX_PARTITION_KEY,
    INDEX_SORT_KEY,
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item: TypeAlias = "dict[str, AttributeValueTypeDef]"

# Common to every item.
ENTITY = "entity"
VERSION = "version"
ACCOUNT = "account"
CREATED_AT = "createdAt"
# Orders (and, with the same meaning, trades and book entries).
ORDER_ID = "id"
SYMBOL = "symbol"
SIDE = "side"
AMOUNT = "amount"
PRICE = "price"
SEQUENCE = "sequence"
UPDATED_AT = "updatedAt"
TOKEN = "token"
"""The random stamp of the write that created or last amended an order (see `Order`)."""
# Orders that left the book.
DELETED_BY = "deletedBy"
"""The token of the DELETE request that removed the order (absent when a trade used it up)."""
# Trades.
TRADE_ID = "tradeId"
FILLS = "fills"
FILL_ORDER_ID = "orderId"
TIMESTAMP = "timestamp"
# Batch loads.
LOAD_ID = "loadId"
STATUS = "status"
BUCKET = "bucket"
OBJECT_KEY = "objectKey"
URL_EXPIRES_AT = "urlExpiresAt"
STARTED_AT = "startedAt"
FINISHED_AT = "finishedAt"
ROWS_READ = "rowsRead"
ROWS_LOADED = "rowsLoaded"
ROWS_REJECTED = "rowsRejected"
ERRORS = "errors"
REASON = "reason"
ERROR_REPORT_KEY = "errorReportKey"
ERROR_LINE = "line"
LEASE_OWNER = "leaseOwner"
"""The run of the loader that holds the load (see `LoadRepository.start`)."""
LEASE_UNTIL = "leaseUntil"
"""Epoch seconds after which another run may take the load over."""
UPLOAD_ETAG = "uploadEtag"
"""The ETag of the one object the load reads: a second PUT to the same URL is refused."""
BATCH_PARTITIONS = "batchPartitions"
BATCH_ROWS = "batchRows"
"""How the load cuts its rows into batches, fixed by the first run so reruns cut alike."""
# API keys.
KEY_ID = "keyId"
VERIFIER = "verifier"
SCOPES = "scopes"
KEY_NAME = "name"
REVOKED_AT = "revokedAt"
REVOKE_TOKEN = "revokeToken"
# Idempotency outcomes.
OUTCOME_TRADE = "trade"

BOOK_ENTRY_ATTRIBUTES = (ORDER_ID, AMOUNT, PRICE, VERSION, TOKEN)
"""What a book walk reads of an order (the Query's projection)."""


def number(value: int | Decimal) -> AttributeValueTypeDef:
    """A DynamoDB number attribute, written exactly."""
    if isinstance(value, Decimal):
        return {"N": format(value, "f")}
    return {"N": str(value)}


def string(value: str) -> AttributeValueTypeDef:
    """A DynamoDB string attribute."""
    return {"S": value}


def primary_key(partition: str, sort: str) -> Item:
    """A primary key from its two strings."""
    return {PARTITION_KEY: string(partition), SORT_KEY: string(sort)}


def ttl(epoch_seconds: int) -> Item:
    """The TTL attribute: DynamoDB may delete the item after `epoch_seconds`."""
    return {TTL_ATTRIBUTE: number(epoch_seconds)}


def order_key(order_id: int) -> Item:
    """The primary key of an order item."""
    return primary_key(keys.order_pk(order_id), keys.order_sk())


def _order_attributes(order: Order) -> Item:
    return {
        ORDER_ID: number(order.id),
        SYMBOL: string(order.symbol),
        SIDE: number(int(order.side)),
        AMOUNT: number(order.amount),
        PRICE: number(order.price),
        SEQUENCE: string(order.sequence),
        CREATED_AT: string(format_timestamp(order.created_at)),
        UPDATED_AT: string(format_timestamp(order.updated_at)),
        ACCOUNT: string(order.account),
        TOKEN: string(order.token),
        VERSION: number(order.version),
    }


def order_to_item(order: Order) -> Item:
    """The full item of an order, GSI1 keys included."""
    return {
        **order_key(order.id),
        ENTITY: string(keys.ORDER_ENTITY),
        INDEX_PARTITION_KEY: string(keys.book_pk(order.symbol, order.side)),
        INDEX_SORT_KEY: string(keys.book_sk(order.side, order.price, order.sequence)),
        **_order_attributes(order),
    }


def _order_from_attributes(item: Item) -> Order:
    return Order(
        id=int(item[ORDER_ID]["N"]),
        symbol=item[SYMBOL]["S"],
        side=Side(int(item[SIDE]["N"])),
        amount=int(item[AMOUNT]["N"]),
        price=Decimal(item[PRICE]["N"]),
        sequence=item[SEQUENCE]["S"],
        version=int(item[VERSION]["N"]),
        created_at=parse_timestamp(item[CREATED_AT]["S"]),
        updated_at=parse_timestamp(item[UPDATED_AT]["S"]),
        account=item[ACCOUNT]["S"],
        token=item[TOKEN]["S"],
    )


def order_from_item(item: Item) -> Order:
    """The order an item holds. Raises `ValueError` if the item is not an order."""
    if item.get(ENTITY, {}).get("S") != keys.ORDER_ENTITY:
        raise ValueError("item is not an order")
    return _order_from_attributes(item)


def gone_order(item: Item) -> Order | None:
    """The order a gone-order item remembers (as it was when it left the book), else None."""
    if item.get(ENTITY, {}).get("S") != keys.GONE_ENTITY:
        return None
    return _order_from_attributes(item)


def trade_key(trade_id: str) -> Item:
    """The primary key of a trade item."""
    return primary_key(keys.trade_pk(trade_id), keys.TRADE_ENTITY)


def _fills_attribute(fills: tuple[TradeFill, ...]) -> AttributeValueTypeDef:
    return {
        "L": [
            {
                "M": {
                    FILL_ORDER_ID: number(f.order_id),
                    AMOUNT: number(f.amount),
                    PRICE: number(f.price),
                }
            }
            for f in fills
        ]
    }


def _fills_from(attribute: AttributeValueTypeDef) -> tuple[TradeFill, ...]:
    return tuple(
        TradeFill(
            order_id=int(entry["M"][FILL_ORDER_ID]["N"]),
            amount=int(entry["M"][AMOUNT]["N"]),
            price=Decimal(entry["M"][PRICE]["N"]),
        )
        for entry in attribute["L"]
    )


def trade_to_item(trade: Trade) -> Item:
    """The item recording an executed trade."""
    return {
        **trade_key(trade.id),
        ENTITY: string(keys.TRADE_ENTITY),
        VERSION: number(1),
        TRADE_ID: string(trade.id),
        SYMBOL: string(trade.symbol),
        SIDE: number(int(trade.side)),
        AMOUNT: number(trade.amount),
        PRICE: number(trade.price),
        FILLS: _fills_attribute(trade.fills),
        TIMESTAMP: string(format_timestamp(trade.timestamp)),
        ACCOUNT: string(trade.account),
    }


def trade_from_item(item: Item) -> Trade:
    """The trade a trade item records. Raises `ValueError` if the item is not a trade."""
    if item.get(ENTITY, {}).get("S") != keys.TRADE_ENTITY:
        raise ValueError("item is not a trade")
    return Trade(
        id=item[TRADE_ID]["S"],
        symbol=item[SYMBOL]["S"],
        side=Side(int(item[SIDE]["N"])),
        amount=int(item[AMOUNT]["N"]),
        price=Decimal(item[PRICE]["N"]),
        fills=_fills_from(item[FILLS]),
        timestamp=parse_timestamp(item[TIMESTAMP]["S"]),
        account=item[ACCOUNT]["S"],
    )


def outcome_to_attributes(outcome: TradeOutcome) -> Item:
    """A trade outcome as attributes, so an idempotent replay can return it unchanged."""
    attributes: Item = {
        SYMBOL: string(outcome.symbol),
        SIDE: number(int(outcome.side)),
        AMOUNT: number(outcome.amount),
        TIMESTAMP: string(format_timestamp(outcome.timestamp)),
    }
    if outcome.reason is not None:
        attributes[REASON] = string(outcome.reason)
    if outcome.trade is not None:
        attributes[OUTCOME_TRADE] = {"M": trade_to_item(outcome.trade)}
    return attributes


def outcome_from_attributes(item: Item) -> TradeOutcome:
    """The inverse of `outcome_to_attributes`."""
    trade = item.get(OUTCOME_TRADE)
    return TradeOutcome(
        symbol=item[SYMBOL]["S"],
        side=Side(int(item[SIDE]["N"])),
        amount=int(item[AMOUNT]["N"]),
        timestamp=parse_timestamp(item[TIMESTAMP]["S"]),
        trade=trade_from_item(dict(trade["M"])) if trade is not None else None,
        reason=item[REASON]["S"] if REASON in item else None,
    )


def load_key(load_id: str) -> Item:
    """The primary key of a batch-load item."""
    return primary_key(keys.load_pk(load_id), keys.LOAD_ENTITY)


def _optional_time(item: Item, name: str) -> datetime | None:
    return parse_timestamp(item[name]["S"]) if name in item else None


def errors_attribute(errors: tuple[RowError, ...]) -> AttributeValueTypeDef:
    """Row errors as a DynamoDB list."""
    return {"L": [{"M": {ERROR_LINE: number(e.line), REASON: string(e.reason)}} for e in errors]}


def load_to_item(load: BatchLoad) -> Item:
    """The item of a new batch load."""
    item: Item = {
        **load_key(load.id),
        ENTITY: string(keys.LOAD_ENTITY),
        VERSION: number(1),
        LOAD_ID: string(load.id),
        STATUS: string(load.status.value),
        BUCKET: string(load.bucket),
        OBJECT_KEY: string(load.object_key),
        CREATED_AT: string(format_timestamp(load.created_at)),
        URL_EXPIRES_AT: string(format_timestamp(load.url_expires_at)),
        ACCOUNT: string(load.account),
        ROWS_READ: number(load.counts.read),
        ROWS_LOADED: number(load.counts.loaded),
        ROWS_REJECTED: number(load.counts.rejected),
        ERRORS: errors_attribute(load.errors),
    }
    return item


def load_from_item(item: Item) -> BatchLoad:
    """The batch load an item holds. Raises `ValueError` if the item is not a load."""
    if item.get(ENTITY, {}).get("S") != keys.LOAD_ENTITY:
        raise ValueError("item is not a batch load")
    return BatchLoad(
        id=item[LOAD_ID]["S"],
        status=LoadStatus(item[STATUS]["S"]),
        bucket=item[BUCKET]["S"],
        object_key=item[OBJECT_KEY]["S"],
        created_at=parse_timestamp(item[CREATED_AT]["S"]),
        url_expires_at=parse_timestamp(item[URL_EXPIRES_AT]["S"]),
        account=item[ACCOUNT]["S"],
        started_at=_optional_time(item, STARTED_AT),
        finished_at=_optional_time(item, FINISHED_AT),
        counts=LoadCounts(
            read=int(item[ROWS_READ]["N"]),
            loaded=int(item[ROWS_LOADED]["N"]),
            rejected=int(item[ROWS_REJECTED]["N"]),
        ),
        errors=_row_errors(item.get(ERRORS, {"L": []})),
        reason=item[REASON]["S"] if REASON in item else None,
        error_report_key=item[ERROR_REPORT_KEY]["S"] if ERROR_REPORT_KEY in item else None,
        plan=_load_plan(item),
    )


def _load_plan(item: Item) -> LoadPlan | None:
    if UPLOAD_ETAG not in item:
        return None
    return LoadPlan(
        upload_etag=item[UPLOAD_ETAG]["S"],
        partitions=int(item[BATCH_PARTITIONS]["N"]),
        batch_rows=int(item[BATCH_ROWS]["N"]),
    )


def load_plan_attributes(plan: LoadPlan) -> Item:
    """The attributes that pin a load's plan on its record."""
    return {
        UPLOAD_ETAG: string(plan.upload_etag),
        BATCH_PARTITIONS: number(plan.partitions),
        BATCH_ROWS: number(plan.batch_rows),
    }


def load_batch_key(load_id: str, partition: int, batch_number: int) -> Item:
    """The primary key of the marker of one committed batch of a load."""
    return primary_key(keys.load_batch_pk(load_id, partition, batch_number), keys.LOAD_BATCH_ENTITY)


def load_batch_marker(loaded_rows: int, rejected: tuple[RowError, ...], expires_at: int) -> Item:
    """A batch marker's attributes besides its key: what the batch did, kept for reruns."""
    return {
        ENTITY: string(keys.LOAD_BATCH_ENTITY),
        VERSION: number(1),
        ROWS_LOADED: number(loaded_rows),
        ERRORS: errors_attribute(rejected),
        **ttl(expires_at),
    }


def load_batch_result(item: Item) -> tuple[int, tuple[RowError, ...]]:
    """(rows loaded, rows rejected) that a batch marker records."""
    if item.get(ENTITY, {}).get("S") != keys.LOAD_BATCH_ENTITY:
        raise ValueError("item is not a load batch marker")
    return int(item[ROWS_LOADED]["N"]), _row_errors(item[ERRORS])


def _row_errors(attribute: AttributeValueTypeDef) -> tuple[RowError, ...]:
    return tuple(
        RowError(line=int(e["M"][ERROR_LINE]["N"]), reason=e["M"][REASON]["S"])
        for e in attribute["L"]
    )


def api_key_key(key_id: str) -> Item:
    """The primary key of an API key item."""
    return primary_key(keys.api_key_pk(key_id), keys.API_KEY_ENTITY)


def api_key_to_item(key: ApiKey) -> Item:
    """The item of an API key: its digests and metadata, never the key."""
    created = format_timestamp(key.created_at)
    item: Item = {
        **api_key_key(key.key_id),
        ENTITY: string(keys.API_KEY_ENTITY),
        VERSION: number(1),
        INDEX_PARTITION_KEY: string(keys.API_KEYS_INDEX_PARTITION),
        INDEX_SORT_KEY: string(keys.api_key_index_sk(created, key.key_id)),
        KEY_ID: string(key.key_id),
        VERIFIER: string(key.verifier),
        ACCOUNT: string(key.account),
        SCOPES: {"L": [string(scope.value) for scope in sorted(key.scopes)]},
        KEY_NAME: string(key.name),
        CREATED_AT: string(created),
    }
    if key.revoked_at is not None:
        item[REVOKED_AT] = string(format_timestamp(key.revoked_at))
    return item


def api_key_from_item(item: Item) -> ApiKey:
    """The API key an item holds. Raises `ValueError` if the item is not an API key."""
    if item.get(ENTITY, {}).get("S") != keys.API_KEY_ENTITY:
        raise ValueError("item is not an API key")
    return ApiKey(
        key_id=item[KEY_ID]["S"],
        verifier=item[VERIFIER]["S"],
        account=item[ACCOUNT]["S"],
        scopes=frozenset(Scope(entry["S"]) for entry in item[SCOPES]["L"]),
        name=item[KEY_NAME]["S"],
        created_at=parse_timestamp(item[CREATED_AT]["S"]),
        revoked_at=_optional_time(item, REVOKED_AT),
    )


def order_item_json(order: Order) -> str:
    """The order's item as DynamoDB JSON text: exactly what `order_to_item` builds, cheaper.

    The batch loader encodes every row this way. Values are written without escaping, which is
    sound only for validated orders: symbols are `[A-Z0-9._-]`, accounts `[A-Za-z0-9._-]`, and
    keys, tokens, stamps and numbers are plain ASCII by construction. A test pins it to
    `order_to_item`.
    """
    return order_item_json_parts(
        order,
        created_text=format_timestamp(order.created_at),
        updated_text=format_timestamp(order.updated_at),
    )


def order_item_json_parts(order: Order, *, created_text: str, updated_text: str) -> str:
    """`order_item_json` with the timestamps already formatted (a loader formats them once)."""
    return order_item_json_text(
        order.id,
        order.symbol,
        order.side,
        order.amount,
        format(order.price, "f"),
        keys.book_sk(order.side, order.price, order.sequence),
        order.sequence,
        created_text,
        updated_text,
        order.account,
        order.token,
        order.version,
    )


def order_item_json_text(
    order_id: int,
    symbol: str,
    side: Side,
    amount: int,
    price_text: str,
    book_sort_key: str,
    sequence: str,
    created_text: str,
    updated_text: str,
    account: str,
    token: str,
    version: int,
) -> str:
    """The order item's JSON text from its values already written out: the one layout of
    `order_item_json`, for a caller that has the price's text and book sort key at hand (the
    loader's fast path, whose tests pin it to `order_item_json`). Not escaped: see there."""
    return (
        f'{{"{PARTITION_KEY}":{{"S":"{keys.order_pk(order_id)}"}},'
        f'"{SORT_KEY}":{{"S":"{keys.order_sk()}"}},'
        f'"{ENTITY}":{{"S":"{keys.ORDER_ENTITY}"}},'
        f'"{INDEX_PARTITION_KEY}":{{"S":"{keys.book_pk(symbol, side)}"}},'
        f'"{INDEX_SORT_KEY}":{{"S":"{book_sort_key}"}},'
        f'"{ORDER_ID}":{{"N":"{order_id}"}},"{SYMBOL}":{{"S":"{symbol}"}},'
        f'"{SIDE}":{{"N":"{int(side)}"}},"{AMOUNT}":{{"N":"{amount}"}},'
        f'"{PRICE}":{{"N":"{price_text}"}},'
        f'"{SEQUENCE}":{{"S":"{sequence}"}},"{CREATED_AT}":{{"S":"{created_text}"}},'
        f'"{UPDATED_AT}":{{"S":"{updated_text}"}},"{ACCOUNT}":{{"S":"{account}"}},'
        f'"{TOKEN}":{{"S":"{token}"}},"{VERSION}":{{"N":"{version}"}}}}'
    )
