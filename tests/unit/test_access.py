"""API keys: digests, verification, the bounded cache and the Authorization header."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.auth import KeyVerifier, Refusal, bearer_key
from shared.access import (
    ALL_SCOPES,
    KEY_ID_PATTERN,
    ApiKey,
    Principal,
    Scope,
    is_well_formed_key,
    key_id_of,
    key_verifier,
    new_key,
)

printable_keys = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=32, max_size=128
)


def test_new_keys_carry_256_random_bits_and_are_well_formed() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("om_") and len(key) == 46 and is_well_formed_key(key)


@given(key=printable_keys)
def test_any_printable_key_has_an_id_and_a_verifier_that_only_it_matches(key: str) -> None:
    stored = ApiKey(
        key_id=key_id_of(key),
        verifier=key_verifier(key),
        account="a",
        scopes=frozenset({Scope.READ}),
        name="",
        created_at=datetime(2024, 5, 16, tzinfo=UTC),
    )
    assert KEY_ID_PATTERN.fullmatch(stored.key_id)
    assert stored.matches(key)
    assert not stored.matches(key[:-1] + ("a" if key[-1] != "a" else "b"))
    assert key not in stored.verifier and stored.key_id not in stored.verifier


def test_id_and_verifier_are_different_digests() -> None:
    key = new_key()
    assert key_verifier(key)[: len(key_id_of(key))] != key_id_of(key)


@pytest.mark.parametrize(
    "key", ["", "short", "x" * 31, "x" * 129, "with space" * 4, "tab\t" * 10, "naïve" * 8]
)
def test_keys_of_the_wrong_length_or_alphabet_are_not_well_formed(key: str) -> None:
    assert not is_well_formed_key(key)


def test_admin_holds_every_scope_and_may_act_for_any_account() -> None:
    admin = Principal("k", "ops", frozenset({Scope.ADMIN}))
    reader = Principal("k", "desk", frozenset({Scope.READ}))
    assert all(admin.allows(scope) for scope in ALL_SCOPES)
    assert reader.allows(Scope.READ) and not reader.allows(Scope.TRADE)
    assert admin.may_act_for("desk") and reader.may_act_for("desk")
    assert not reader.may_act_for("other")


class FakeKeys:
    """The one method `KeyVerifier` uses, counting reads."""

    def __init__(self, *records: ApiKey) -> None:
        self.records = {record.key_id: record for record in records}
        self.reads = 0

    def get(self, key_id: str) -> ApiKey | None:
        self.reads += 1
        return self.records.get(key_id)


def stored(key: str, *, revoked: bool = False) -> ApiKey:
    return ApiKey(
        key_id=key_id_of(key),
        verifier=key_verifier(key),
        account="desk",
        scopes=frozenset({Scope.READ}),
        name="",
        created_at=datetime(2024, 5, 16, tzinfo=UTC),
        revoked_at=datetime(2024, 5, 17, tzinfo=UTC) if revoked else None,
    )


def test_a_verified_key_is_served_from_the_cache_until_it_expires() -> None:
    now = [100.0]
    key = new_key()
    keys = FakeKeys(stored(key))
    verifier = KeyVerifier(keys, cache_seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert verifier.verify(key) == Principal(key_id_of(key), "desk", frozenset({Scope.READ}))
    assert verifier.cached(key) is not None and keys.reads == 1
    now[0] += 59.9
    assert verifier.cached(key) is not None
    now[0] += 0.2
    assert verifier.cached(key) is None  # past 60 s: read again
    keys.records[key_id_of(key)] = stored(key, revoked=True)
    assert verifier.verify(key) is None and keys.reads == 2


def test_forgetting_a_key_takes_effect_at_once() -> None:
    key = new_key()
    keys = FakeKeys(stored(key))
    verifier = KeyVerifier(keys, cache_seconds=60)  # type: ignore[arg-type]
    assert verifier.verify(key) is not None
    keys.records[key_id_of(key)] = stored(key, revoked=True)
    verifier.forget(key_id_of(key))
    assert verifier.cached(key) is None and verifier.verify(key) is None


def test_unknown_revoked_or_malformed_keys_are_never_cached() -> None:
    key, revoked = new_key(), new_key()
    keys = FakeKeys(stored(revoked, revoked=True))
    verifier = KeyVerifier(keys, cache_seconds=60)  # type: ignore[arg-type]
    assert verifier.verify(key) is None and verifier.verify(revoked) is None
    assert verifier.verify("short") is None
    assert keys.reads == 2  # the malformed one never reached the table
    assert verifier.cached(key) is None and verifier.cached(revoked) is None


def test_a_key_whose_id_collides_but_whose_verifier_differs_is_refused() -> None:
    key, other = new_key(), new_key()
    keys = FakeKeys(replace(stored(other), key_id=key_id_of(key)))
    verifier = KeyVerifier(keys, cache_seconds=60)  # type: ignore[arg-type]
    assert verifier.verify(key) is None


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([], None),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], "invalid_request"),
        ([(b"authorization", b"Bearer")], "invalid_request"),
        ([(b"authorization", b"Bearer   ")], "invalid_request"),
        ([(b"authorization", b"Bearer short")], "invalid_token"),
        ([(b"authorization", b"Bearer " + b"x" * 200)], "invalid_token"),
        ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], "invalid_request"),
    ],
)
def test_unusable_authorization_headers_are_refusals_with_their_rfc6750_error(
    headers: list[tuple[bytes, bytes]], error: str | None
) -> None:
    refusal = bearer_key(headers)
    assert isinstance(refusal, Refusal)
    assert refusal.error == error
    assert refusal.challenge.startswith('Bearer realm="order-management"')
    assert (f'error="{error}"' in refusal.challenge) == (error is not None)


def test_the_bearer_scheme_is_case_insensitive_and_the_key_is_trimmed() -> None:
    key = new_key()
    assert bearer_key([(b"authorization", f"bearer  {key} ".encode())]) == key
