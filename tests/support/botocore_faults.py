"""Faults injected on the real client, for tests that run on both engines.

`before-send` handlers run before a request leaves botocore; the first response one of them
returns replaces the send. botocore calls every handler, though, and on moto the request stub is
one of them (it would apply the refused write), so on moto the stub is wrapped, not fronted.
`refuse` answers with a DynamoDB error instead of sending; `lose_response` sends the request for
real and then answers 500 as if its response was lost (the write happened, the client cannot
know, and botocore retries it). The wire-level equivalent for DynamoDB Local is
`tests.support.fault_proxy`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse

from tests.conftest import Store, moto_one_at_a_time


class _Body:
    """What AWSResponse reads a body from."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def error_response(url: str, code: str, status: int = 400, **extra: Any) -> AWSResponse:
    """A DynamoDB JSON error response."""
    payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **extra}
    return AWSResponse(
        url,
        status,
        {"Content-Type": "application/x-amz-json-1.0"},
        _Body(json.dumps(payload).encode()),
    )


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", "")
    if isinstance(target, bytes):
        target = target.decode()
    return str(target).rsplit(".", 1)[-1]


@contextmanager
def _before_send(store: Store, decide: Any) -> Iterator[None]:
    """Install `decide(request, apply)`: a response, or None to send as usual."""
    client = store.clients.dynamodb
    events = client.meta.events

    def apply(request: Any, **kwargs: Any) -> Any:
        if store.engine == "moto":
            return moto_one_at_a_time(request=request, **kwargs)  # moto applies it
        return client._endpoint.http_session.send(request)  # DynamoDB Local applies it

    def handler(request: Any, **kwargs: Any) -> Any:
        decided = decide(request, lambda: apply(request, **kwargs))
        if decided is None and store.engine == "moto":
            return moto_one_at_a_time(request=request, **kwargs)
        return decided

    if store.engine == "moto":
        events.unregister("before-send", moto_one_at_a_time)
    events.register_first("before-send.dynamodb", handler)
    try:
        yield
    finally:
        events.unregister("before-send.dynamodb", handler)
        if store.engine == "moto":
            events.register("before-send", moto_one_at_a_time)


@contextmanager
def refuse(
    store: Store,
    operation: str,
    code: str,
    *,
    times: int | None = None,
    status: int = 400,
    **extra: Any,
) -> Iterator[list[int]]:
    """Answer `operation` with the error `code` (`times` times, or always); yields [count]."""
    count = [0]

    def decide(request: Any, _: Any) -> AWSResponse | None:
        if _operation(request) != operation or (times is not None and count[0] >= times):
            return None
        count[0] += 1
        return error_response(request.url, code, status, **extra)

    with _before_send(store, decide):
        yield count


@contextmanager
def lose_response(store: Store, operation: str, *, times: int = 1) -> Iterator[list[int]]:
    """Send `operation` for real, then answer 500 as if the response was lost (`times` times)."""
    count = [0]

    def decide(request: Any, apply: Any) -> AWSResponse | None:
        if _operation(request) != operation or count[0] >= times:
            return None
        count[0] += 1
        apply()
        return error_response(request.url, "InternalServerError", 500)

    with _before_send(store, decide):
        yield count
