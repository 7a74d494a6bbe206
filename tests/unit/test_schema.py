"""The table declaration: the single source for every consumer's CreateTable and CDK props."""

from __future__ import annotations

import pytest

from shared.schema import BOOK_INDEX, TABLE, GlobalIndex, KeyAttribute, TableSchema


def test_attribute_definitions_list_each_key_attribute_once() -> None:
    names = [definition["AttributeName"] for definition in TABLE.attribute_definitions()]
    assert sorted(names) == ["GSI1PK", "GSI1SK", "PK", "SK"]


def test_every_key_attribute_is_a_string() -> None:
    assert {d["AttributeType"] for d in TABLE.attribute_definitions()} == {"S"}


def test_attribute_shared_by_table_and_index_is_defined_once() -> None:
    schema = TableSchema(
        partition_key=KeyAttribute("PK", "S"),
        sort_key=KeyAttribute("SK", "S"),
        global_indexes=(GlobalIndex("ByPk", KeyAttribute("PK", "S"), KeyAttribute("other", "N")),),
        ttl_attribute="ttl",
    )
    assert schema.attribute_definitions() == [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
        {"AttributeName": "other", "AttributeType": "N"},
    ]


def test_table_key_schema_is_pk_hash_and_sk_range() -> None:
    assert TABLE.key_schema() == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]


def test_book_index_is_gsi1_on_gsi1pk_and_gsi1sk_projecting_all() -> None:
    (index,) = TABLE.global_secondary_indexes()
    assert index == {
        "IndexName": BOOK_INDEX,
        "KeySchema": [
            {"AttributeName": "GSI1PK", "KeyType": "HASH"},
            {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert BOOK_INDEX == "GSI1"


def test_index_is_found_by_name() -> None:
    index = TABLE.index(BOOK_INDEX)
    assert (index.partition_key.name, index.sort_key.name) == ("GSI1PK", "GSI1SK")
    assert index.projection == "ALL"


def test_unknown_index_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        TABLE.index("GSI9")


def test_ttl_attribute_is_expires_at_and_not_a_key() -> None:
    assert TABLE.ttl_attribute == "expiresAt"
    names = {d["AttributeName"] for d in TABLE.attribute_definitions()}
    assert TABLE.ttl_attribute not in names
