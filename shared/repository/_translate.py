"""ClientError / BotoCoreError → domain errors, in one place.

Every error code the DynamoDB and S3 operations we call can return (per the API references) lands
in one of three classes; nothing from botocore escapes `store_errors()`:

* throttling → `StoreThrottled` (botocore has already retried it; callers may retry more);
* a write that met a running transaction, or a transaction that met another
  (`TransactionConflictException`, `TransactionInProgressException`,
  `ReplicatedWriteConflictException`) → `StoreConflict`, which callers retry with backoff;
* anything else — the table or endpoint missing, credentials refused, a 5xx after botocore's
  retries, a request DynamoDB rejects as invalid, an unknown code → `StoreUnavailable` (503).

`ConditionalCheckFailedException` and `TransactionCanceledException` mean something different
at each call site, which handles them inside the block; if one escapes, it becomes
`StoreUnavailable` too rather than a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import StoreConflict, StoreThrottled, StoreUnavailable

if TYPE_CHECKING:
    from shared.codecs import Item

log = logging.getLogger("om.store")

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
CONFLICT_CODES = frozenset(
    {
        "TransactionConflictException",
        "TransactionInProgressException",
        "ReplicatedWriteConflictException",
    }
)
# Refusals that retrying will not cure soon: say so in the log, not only to the client.
_CONFIGURATION_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ValidationException",
        "SerializationException",
        "IdempotentParameterMismatchException",
        "ItemCollectionSizeLimitExceededException",
        "NoSuchBucket",
    }
)


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def returned_item(error: ClientError) -> Item | None:
    """The item a failed condition returned (`ReturnValuesOnConditionCheckFailure=ALL_OLD`)."""
    item: Item | None = error.response.get("Item")  # type: ignore[assignment]
    return item


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn every transport failure and service-side refusal into a `StoreUnavailable`."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code in THROTTLING_CODES:
            raise StoreThrottled(f"the order store is throttling requests ({code})") from error
        if code in CONFLICT_CODES:
            raise StoreConflict(f"a concurrent transaction holds the item ({code})") from error
        if code in _CONFIGURATION_CODES:
            log.error("store refused the request", extra={"code": code, "reason": str(error)})
        raise StoreUnavailable(f"the order store refused the request ({code})") from error
    except BotoCoreError as error:
        raise StoreUnavailable(
            f"the order store is unreachable ({type(error).__name__})"
        ) from error
