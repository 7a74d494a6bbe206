"""`om dev`'s development API key: which key, registered with every scope, kept in a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.devstack.dev_key import (
    DEV_ACCOUNT,
    check_given_key,
    key_file,
    register_dev_key,
    write_key_file,
)
from services.devstack.errors import StackError
from shared.access import ALL_SCOPES, key_id_of
from shared.repository.api_keys import ApiKeyRepository
from tests.conftest import Store

PICKED = "a-key-my-test-scripts-know-in-advance-0123"


def keys(store: Store) -> ApiKeyRepository:
    return ApiKeyRepository(store.clients.dynamodb, store.settings.table_name)


def test_the_key_file_sits_next_to_the_data_folder() -> None:
    assert key_file(Path(".om/dev/dynamodb")) == Path(".om/dev/api-key")


def test_a_picked_key_is_registered_for_dev_with_every_scope_and_written(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "api-key"
    issued = register_dev_key(store.settings, given=PICKED, path=path)
    assert issued.secret == PICKED
    record = keys(store).get(key_id_of(PICKED))
    assert record is not None
    assert (record.account, record.scopes, record.revoked_at) == (DEV_ACCOUNT, ALL_SCOPES, None)
    assert record.matches(PICKED)
    assert path.read_text() == PICKED + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_a_picked_key_the_files_key_is_kept_across_starts(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "api-key"
    first = register_dev_key(store.settings, given=None, path=path)
    keys(store).revoke(first.key_id)  # even a revoked one comes back at the next start
    again = register_dev_key(store.settings, given=None, path=path)
    assert again.secret == first.secret
    record = keys(store).get(first.key_id)
    assert record is not None and record.revoked_at is None


def test_a_picked_key_replaces_the_files_key(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    register_dev_key(store.settings, given=None, path=path)
    register_dev_key(store.settings, given=PICKED, path=path)
    assert path.read_text().strip() == PICKED


def test_a_file_holding_no_key_is_replaced_by_a_new_key(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.write_text("not a key\n")
    issued = register_dev_key(store.settings, given=None, path=path)
    assert issued.secret != "not a key"
    assert path.read_text().strip() == issued.secret


def test_the_key_file_is_private_even_if_it_was_not(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.write_text("old\n")
    path.chmod(0o644)
    write_key_file(path, PICKED)
    assert path.read_text() == PICKED + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["api-key"]


@pytest.mark.parametrize(
    "key", ["x" * 32, "x" * 128, "!~" * 20, PICKED], ids=["32", "128", "symbols", "picked"]
)
def test_any_32_to_128_printable_ascii_characters_are_a_key(key: str) -> None:
    check_given_key(key)


@pytest.mark.parametrize(
    "key",
    ["x" * 31, "x" * 129, "with a space in it, long enough to be a key", "é" * 40, "tab\t" * 10],
    ids=["31", "129", "space", "non-ascii", "tab"],
)
def test_anything_else_is_refused_with_exit_2(key: str) -> None:
    with pytest.raises(StackError, match="--api-key") as refused:
        check_given_key(key)
    assert refused.value.exit_code == 2
