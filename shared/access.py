"""Who may do what: API keys, the accounts they belong to, and their scopes. Standard library only.

A key is shown to its holder once, when it is made; the table keeps only two digests of it:

* `key_id` — a digest of the key under one label, used as the table key of the key's item, so
  verifying a request costs one GetItem (never a scan) and any string can be a key: `om dev`
  accepts a key the user picks (`OM_DEV_API_KEY`), which carries no id of its own to parse.
* `verifier` — a digest of the key under another label, compared in constant time.

SHA-256 rather than a slow password hash on purpose: generated keys carry 256 random bits (and
user-picked ones at least 32 characters), so there is nothing to brute-force, and a slow hash
would cost every cold request milliseconds of CPU.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

KEY_PREFIX = "om_"
KEY_ID_HEX_DIGITS = 24
KEY_PATTERN = re.compile(r"[\x21-\x7e]{32,128}", re.ASCII)
KEY_ID_PATTERN = re.compile(rf"[0-9a-f]{{{KEY_ID_HEX_DIGITS}}}", re.ASCII)
_ID_LABEL = b"order-management api key id\x00"
_VERIFIER_LABEL = b"order-management api key verifier\x00"


class Scope(StrEnum):
    """What a key may do. `admin` implies every other scope."""

    READ = "read"
    ORDERS = "orders"
    TRADE = "trade"
    LOAD = "load"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a verified key stands for."""

    key_id: str
    account: str
    scopes: frozenset[Scope]

    @property
    def is_admin(self) -> bool:
        """True for keys with the `admin` scope."""
        return Scope.ADMIN in self.scopes

    def allows(self, scope: Scope) -> bool:
        """Whether the key holds `scope` (admin holds them all)."""
        return self.is_admin or scope in self.scopes

    def may_act_for(self, account: str) -> bool:
        """Whether the caller may change or see what `account` owns."""
        return self.is_admin or account == self.account


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: its digests and metadata, never the key itself."""

    key_id: str
    verifier: str
    account: str
    scopes: frozenset[Scope]
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def principal(self) -> Principal:
        """The caller this key stands for."""
        return Principal(key_id=self.key_id, account=self.account, scopes=self.scopes)

    def matches(self, key: str) -> bool:
        """Whether `key` is this key (constant-time comparison of the verifiers)."""
        return hmac.compare_digest(self.verifier, key_verifier(key))


def new_key() -> str:
    """A fresh key: a recognisable prefix and 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_well_formed_key(key: str) -> bool:
    """32-128 printable ASCII characters, no spaces: what any key, generated or picked, is."""
    return KEY_PATTERN.fullmatch(key) is not None


def key_id_of(key: str) -> str:
    """The id under which `key` is stored (a digest: nothing in the key is parsed)."""
    return hashlib.sha256(_ID_LABEL + key.encode()).hexdigest()[:KEY_ID_HEX_DIGITS]


def key_verifier(key: str) -> str:
    """The digest stored to verify `key`."""
    return hashlib.sha256(_VERIFIER_LABEL + key.encode()).hexdigest()
