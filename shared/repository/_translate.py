"""ClientError / BotoCoreError → domain errors, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import StoreThrottled, StoreUnavailable

_THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "UnrecognizedClientException",
        "AccessDeniedException",
        "LimitExceededException",
    }
)


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn transport failures and service-side refusals into `StoreUnavailable`.

    Conditional-check failures are not translated here: each call site knows what they mean.
    """
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code in _THROTTLING_CODES:
            raise StoreThrottled(f"the order store is throttling requests ({code})") from error
        if code in _UNAVAILABLE_CODES:
            raise StoreUnavailable(f"the order store refused the request ({code})") from error
        raise
    except BotoCoreError as error:
        raise StoreUnavailable(
            f"the order store is unreachable ({type(error).__name__})"
        ) from error
