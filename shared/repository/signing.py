"""AWS Signature Version 4 for the loader's JSON POSTs to DynamoDB, with the signing key cached.

botocore's `SigV4Auth` rebuilds everything for each request: the header map, the canonical request
through generic URL and header handling, and the signing key (four HMACs over the secret, the
day, the region and the service). The batch writer sends one kind of request, a POST of a JSON
body to one endpoint with three fixed headers, thousands of times a minute, so `RequestSigner`
writes that canonical request directly and derives the signing key once per (secret key, day):
the key depends only on those and on the region and service, which are fixed per signer, so it
is recomputed on the first request of a new UTC day and whenever the credentials change (a task
role's credentials rotate; they are frozen once per request, so one signature never mixes two
sets). The signature is the one botocore computes for the same request and instant:
`tests/unit/test_signing.py` compares them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from shared.errors import StoreUnavailable

_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


def host_header(url: str) -> str:
    """The Host header for `url` as SigV4 signs it: lower-case host, port unless the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class RequestSigner:
    """Signs POSTs of JSON bodies to one endpoint (`url`) of one service in one region.

    Thread-safe: the cached key is one tuple, replaced whole.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        url: str,
        region: str,
        service: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        self._now = now
        self.host = host_header(url)
        self.path = quote(normalize_url_path(urlsplit(url).path), safe="/~")
        self._key: tuple[str, str, bytes] | None = None
        """(secret key, day, signing key) of the last request."""

    def signing_key(self, secret_key: str, day: str) -> bytes:
        """The SigV4 signing key of `secret_key` for `day` (YYYYMMDD), this region and service."""
        cached = self._key
        if cached is not None and cached[0] == secret_key and cached[1] == day:
            return cached[2]
        key = _hmac(f"AWS4{secret_key}".encode(), day)
        for part in (self._region, self._service, "aws4_request"):
            key = _hmac(key, part)
        self._key = (secret_key, day, key)
        return key

    def headers(self, target: str, body: bytes) -> dict[str, str]:
        """Every header of the POST of `body` to `target` (X-Amz-Target), signed."""
        frozen = self._credentials.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise StoreUnavailable("the AWS credentials have no access key or secret key")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._now()))
        day = stamp[:8]
        headers = {
            "Content-Type": JSON_CONTENT_TYPE,
            "Host": self.host,
            "X-Amz-Date": stamp,
            "X-Amz-Target": target,
        }
        if frozen.token:
            headers["X-Amz-Security-Token"] = frozen.token
        # Canonical headers: lower-case names, sorted, values trimmed.
        signed = sorted((name.lower(), value.strip()) for name, value in headers.items())
        names = ";".join(name for name, _ in signed)
        canonical = "\n".join(
            (
                "POST",
                self.path,
                "",
                "".join(f"{name}:{value}\n" for name, value in signed),
                names,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = "\n".join(
            (_ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = self.signing_key(frozen.secret_key, day)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"{_ALGORITHM} Credential={frozen.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return headers


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
