"""Upload keys: one per load, and only keys this flow issued name a load."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.batch_loads import load_id_from_key, upload_key

LOAD_ID = "0123456789abcdef0123456789abcdef"

load_ids = st.uuids().map(lambda value: value.hex)
prefixes = st.sampled_from(["uploads/", "", "a/b/c/", "loads-2024/"])


@given(prefix=prefixes, load_id=load_ids)
def test_load_id_survives_the_round_trip_through_its_upload_key(prefix: str, load_id: str) -> None:
    assert load_id_from_key(prefix, upload_key(prefix, load_id)) == load_id


def test_upload_key_is_the_prefix_the_load_id_and_csv() -> None:
    assert upload_key("uploads/", LOAD_ID) == f"uploads/{LOAD_ID}.csv"


def test_a_fresh_uuid_hex_names_a_load() -> None:
    load_id = uuid.uuid4().hex
    assert load_id_from_key("uploads/", f"uploads/{load_id}.csv") == load_id


@pytest.mark.parametrize(
    "key",
    [
        f"reports/{LOAD_ID}.csv",
        f"{LOAD_ID}.csv",
        f"other/uploads/{LOAD_ID}.csv",
        f"Uploads/{LOAD_ID}.csv",
        f"reports/{LOAD_ID}.errors.csv",
    ],
)
def test_key_outside_the_upload_prefix_names_no_load(key: str) -> None:
    assert load_id_from_key("uploads/", key) is None


@pytest.mark.parametrize(
    "key",
    [
        f"uploads/{LOAD_ID}",
        f"uploads/{LOAD_ID}.CSV",
        f"uploads/{LOAD_ID}.txt",
        f"uploads/{LOAD_ID}.csv.bak",
        f"uploads/{LOAD_ID}.csv/",
    ],
)
def test_key_without_the_csv_suffix_names_no_load(key: str) -> None:
    assert load_id_from_key("uploads/", key) is None


@pytest.mark.parametrize(
    "load_id",
    [
        "",
        LOAD_ID[:-1],
        LOAD_ID + "0",
        LOAD_ID.upper(),
        LOAD_ID[:-1] + "g",
        str(uuid.UUID(LOAD_ID)),
        f"sub/{LOAD_ID[4:]}",
        f"{LOAD_ID[:16]}.errors{LOAD_ID[23:]}",
        "\uff10" * 32,
    ],
)
def test_key_whose_id_is_not_32_lowercase_hex_digits_names_no_load(load_id: str) -> None:
    assert load_id_from_key("uploads/", f"uploads/{load_id}.csv") is None


def test_with_an_empty_prefix_only_the_bare_id_key_names_a_load() -> None:
    assert load_id_from_key("", f"{LOAD_ID}.csv") == LOAD_ID
    assert load_id_from_key("", f"uploads/{LOAD_ID}.csv") is None
