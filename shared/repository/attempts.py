"""How our DynamoDB client behaves between attempts: deadline-aware retries, counts, a breaker.

botocore's `standard` retry mode decides *whether* an attempt may be retried (throttling, 5xx,
connection errors, up to a fixed number of attempts) and then sleeps up to 1 s, 2 s, ... between
attempts. For a request with a deadline (every API request) that is wrong twice over: a hung
table would hold the request for attempts × read timeout, and the pauses are far longer than a
DynamoDB blip. `install` replaces that handler on one client with one that

* asks botocore's own standard conditions whether the failure is retryable at all;
* within a request, ignores the attempt cap and instead retries only while the next attempt can
  still end before the request's deadline: after an error the service answered (a throttle, a
  5xx), while the pause leaves time; after no answer at all (a timeout, a reset), only while the
  pause plus a whole read timeout fit, since the next attempt may hang as long;
* outside a request (the loader, `om` commands), keeps the configured attempt cap;
* pauses with full jitter on a short exponential ceiling (tens of milliseconds);
* counts retries and throttles into the request's context (the request's metrics);
* consults a circuit breaker before each call and tells it how each call ended, so a table
  that keeps failing is not called at all until a probe succeeds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from botocore.retries import standard

from shared import request_context
from shared.circuit import CircuitBreaker
from shared.errors import StoreUnavailable
from shared.repository._translate import THROTTLING_CODES

UNBOUNDED_ATTEMPTS = 1000
BASE_DELAY_SECONDS = 0.02
MAX_DELAY_SECONDS = 0.5
MIN_ATTEMPT_SECONDS = 0.05  # what an answered attempt is given to be worth retrying


class RetryDecider:
    """The `needs-retry` handler: botocore's conditions, our pauses, the request's deadline."""

    def __init__(
        self,
        *,
        max_attempts: int,
        attempt_timeout_seconds: float,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._adapter = standard.RetryEventAdapter()
        self._capped = standard.StandardRetryConditions(max_attempts=max_attempts)
        self._uncapped = standard.StandardRetryConditions(max_attempts=UNBOUNDED_ATTEMPTS)
        self._attempt_timeout = attempt_timeout_seconds
        self._draw = draw

    def __call__(self, **kwargs: Any) -> float | bool | None:
        """None: no retry (the failure stands). A number: pause that long, then retry."""
        context = self._adapter.create_retry_context(**kwargs)
        left = request_context.time_left()
        conditions = self._capped if left is None else self._uncapped
        if not conditions.is_retryable(context):
            return None
        attempt = int(kwargs["attempts"])
        delay: float = self._draw() * min(
            MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2.0 ** min(attempt, 16)
        )
        if left is not None:
            answered = kwargs.get("response") is not None
            needed = delay + (MIN_ATTEMPT_SECONDS if answered else self._attempt_timeout)
            if needed > left:
                return False  # the next attempt could not finish in time: the failure stands
        request_context.count_store_retry(throttled=context.get_error_code() in THROTTLING_CODES)
        return delay


class BreakerHooks:
    """`before-call` / `after-call` / `after-call-error` handlers feeding a circuit breaker."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker

    def before_call(self, **_: Any) -> None:
        """Refuse the call while the breaker is open."""
        if not self.breaker.allow():
            raise StoreUnavailable("the order store is failing; not calling it for a moment")

    def after_call(self, http_response: Any, **_: Any) -> None:
        """A response came back: a 5xx (after retries) is a failure, anything else a success."""
        if http_response.status_code >= 500:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def after_call_error(self, exception: BaseException, **_: Any) -> None:
        """No response: timeouts and refused connections are failures; other errors prove nothing
        about the table, but must still end a half-open probe."""
        if isinstance(exception, BotoConnectionError | HTTPClientError):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()


def install(
    client: Any,
    *,
    max_attempts: int,
    attempt_timeout_seconds: float,
    breaker: CircuitBreaker | None,
) -> None:
    """Give `client` our retry decisions and, if given, the circuit breaker."""
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    events.unregister(f"needs-retry.{service}", unique_id=f"retry-config-{service}")
    events.register(
        f"needs-retry.{service}",
        RetryDecider(max_attempts=max_attempts, attempt_timeout_seconds=attempt_timeout_seconds),
        unique_id=f"om-retry-{service}",
    )
    if breaker is not None:
        hooks = BreakerHooks(breaker)
        events.register(f"before-call.{service}", hooks.before_call, unique_id="om-breaker-in")
        events.register(f"after-call.{service}", hooks.after_call, unique_id="om-breaker-out")
        events.register(
            f"after-call-error.{service}", hooks.after_call_error, unique_id="om-breaker-err"
        )
