"""`RequestSigner` signs exactly as botocore's `SigV4Auth` does, and caches its key correctly.

For each request the expected headers are botocore's for the same method, URL, headers, body,
credentials and instant (its clock is pinned to the signer's), so a difference in the canonical
request, the scope, the key derivation or the header format fails here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore import auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.errors import StoreUnavailable
from shared.repository.signing import RequestSigner, host_header

TARGET = "DynamoDB_20120810.TransactWriteItems"
BODY = b'{"TransactItems":[{"Put":{"TableName":"t","Item":{"PK":{"S":"\xc3\xa9"}}}}]}'
NOON = dt.datetime(2024, 5, 16, 12, 0, 0, tzinfo=dt.UTC).timestamp()
MIDNIGHT = dt.datetime(2024, 5, 17, 0, 0, 0, tzinfo=dt.UTC).timestamp()


def botocore_headers(
    credentials: Credentials, url: str, region: str, at: float, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """What botocore's SigV4 signer sends for the same POST at `at`."""
    moment = dt.datetime.fromtimestamp(at, dt.UTC).replace(tzinfo=None)
    monkeypatch.setattr(auth, "get_current_datetime", lambda *_: moment)
    request = AWSRequest(
        method="POST",
        url=url,
        data=BODY,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET},
    )
    auth.SigV4Auth(credentials, "dynamodb", region).add_auth(request)
    return {name: value for name, value in request.headers.items()}


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.mark.parametrize(
    "url",
    [
        "https://dynamodb.eu-west-1.amazonaws.com",
        "https://dynamodb.eu-west-1.amazonaws.com:443/",
        "http://127.0.0.1:8000",
        "http://LocalHost:8000/",
        "http://[::1]:8000",
        "https://proxy.example:8443/a path/../dynamodb",
    ],
)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////wEaDHpK+/=="])
def test_headers_are_botocores_for_the_same_request_and_instant(
    url: str, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    signer = RequestSigner(
        credentials, url=url, region="eu-west-1", service="dynamodb", now=Clock(NOON)
    )
    ours = signer.headers(TARGET, BODY)
    theirs = botocore_headers(credentials, url, "eu-west-1", NOON, monkeypatch)
    assert ours.pop("Host") == auth._host_from_url(url)  # type: ignore[attr-defined]
    assert ours == theirs


def test_the_key_is_derived_again_on_a_new_day_and_for_new_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = Credentials("AKID1", "secret-one", "token-1")
    clock = Clock(NOON)
    signer = RequestSigner(
        first, url="http://127.0.0.1:8000", region="us-east-1", service="dynamodb", now=clock
    )
    url = "http://127.0.0.1:8000"
    derived: list[Any] = []
    original = RequestSigner.signing_key

    def counting(self: RequestSigner, secret: str, day: str) -> bytes:
        key = original(self, secret, day)
        derived.append((secret, day, key))
        return key

    monkeypatch.setattr(RequestSigner, "signing_key", counting)
    signer.headers(TARGET, BODY)
    assert signer.headers(TARGET, BODY) == botocore_headers(
        first, url, "us-east-1", NOON, monkeypatch
    ) | {"Host": "127.0.0.1:8000"}
    clock.at = MIDNIGHT  # a new UTC day: a new scope and a new key
    assert signer.headers(TARGET, BODY) == botocore_headers(
        first, url, "us-east-1", MIDNIGHT, monkeypatch
    ) | {"Host": "127.0.0.1:8000"}
    # Rotated credentials (a task role's): the next request signs with the new ones.
    first.access_key, first.secret_key, first.token = "AKID2", "secret-two", "token-2"
    rotated = Credentials("AKID2", "secret-two", "token-2")
    assert signer.headers(TARGET, BODY) == botocore_headers(
        rotated, url, "us-east-1", MIDNIGHT, monkeypatch
    ) | {"Host": "127.0.0.1:8000"}
    keys = {(secret, day): key for secret, day, key in derived}
    assert list(keys) == [
        ("secret-one", "20240516"),
        ("secret-one", "20240517"),
        ("secret-two", "20240517"),
    ]
    assert len(set(keys.values())) == 3


def test_the_key_is_cached_within_a_day() -> None:
    signer = RequestSigner(
        Credentials("AKID", "secret"),
        url="http://127.0.0.1:8000",
        region="us-east-1",
        service="dynamodb",
        now=Clock(NOON),
    )
    key = signer.signing_key("secret", "20240516")
    assert signer.signing_key("secret", "20240516") is key
    assert signer.signing_key("secret", "20240517") != key


def test_credentials_without_a_secret_are_refused_before_anything_is_sent() -> None:
    signer = RequestSigner(
        Credentials("AKID", ""), url="http://h", region="us-east-1", service="dynamodb"
    )
    with pytest.raises(StoreUnavailable, match="no access key or secret key"):
        signer.headers(TARGET, BODY)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dynamodb.us-east-1.amazonaws.com", "dynamodb.us-east-1.amazonaws.com"),
        ("https://Example.COM:443", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("http://example.com:443/", "example.com:443"),
        ("http://[::1]:8000", "[::1]:8000"),
    ],
)
def test_host_header_drops_only_the_schemes_default_port(url: str, host: str) -> None:
    assert host_header(url) == host
